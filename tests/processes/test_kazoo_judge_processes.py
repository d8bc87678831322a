"""kazoo's own recipe tests and test_client, unchanged, against a 3-node zmqzab cluster.

Goal: the ZooKeeper client protocol as a real client's own test suite sees it (issue 13, "The
judge"): kazoo 2.11.0's tests of lock, election, barrier, queue, counter, party, partitioner,
lease, watchers, cache and test_client must pass against zmqzab as they pass against ZooKeeper.
Setup: kazoo's tests run in their own venv (tests/processes/kazoo_judge/run.py says why) with
the judge's plugin, which starts three zmqzab nodes with LocalCluster (free ports, temp dir) and
hands them to kazoo's harness in place of its ZooKeeper JVMs; the deselect list applies (none of
its entries is in these modules but test_client's reconfig and TLS classes).
Faults: those kazoo's tests make themselves (a member stopped and started, dropped connections,
expired sessions from the client side).
Expected: every selected test passes, and there are tests (an empty run is no pass); no node
dies. A test that fails is run once more by itself (kazoo's tests wait for fixed times, which a
loaded machine misses now and then, against ZooKeeper too): failing twice fails this test,
passing the second time is a warning that names it. The whole selection and the comparison
with ZooKeeper: bench/kazoo_judge.

Without the venv the test is skipped locally (`python bench/kazoo_judge --setup` makes it); with
CI=true it is made here, never skipped.
"""

from __future__ import annotations

import os
import warnings

import pytest

from tests.processes.kazoo_judge import run
from tests.processes.kazoo_judge.plugin import CRASH_PREFIX

pytestmark = [pytest.mark.zk]

#: The subset's wall time is a few minutes; this bound only stops a hung run.
SUBSET_TIMEOUT_S = 30 * 60


def test_kazoo_recipes_and_client_pass_against_zmqzab_processes(tmp_path):
    if not run.venv_ready():
        if not os.environ.get("CI"):
            pytest.skip(f"no kazoo judge venv at {run.VENV}: make it with `python bench/kazoo_judge --setup`")
        run.ensure_venv()
    junit, log = tmp_path / "zmqzab.xml", tmp_path / "zmqzab.log"
    code = run.run_suite("zmqzab", list(run.SUBSET), junit, run.VENV / "bin" / "python",
                         timeout_s=SUBSET_TIMEOUT_S, log=log)
    assert junit.exists(), f"kazoo's pytest exited {code} without results:\n{log.read_text()[-4000:]}"
    first = run.read_junit(junit)
    outcomes = run.rerun_failed("zmqzab", first, run.VENV / "bin" / "python", tmp_path / "rerun.xml",
                                timeout_s=SUBSET_TIMEOUT_S, log=tmp_path / "rerun.log")
    c = run.counts(outcomes)
    assert c["passed"] > 0, f"no kazoo test ran (pytest exit {code}):\n{log.read_text()[-3000:]}"
    # A node that died on its own is a failure whatever the tests said (plugin.py reports it).
    logs = [p for p in (log, tmp_path / "rerun.log") if p.exists()]
    crashes = [line for p in logs for line in p.read_text().splitlines() if CRASH_PREFIX in line]
    failed = sorted(f"{o.state} {t}: {o.message}" for t, o in outcomes.items() if o.state in ("failed", "error"))
    assert not failed and not crashes, (
        f"{len(failed)} of kazoo's tests fail against zmqzab twice ({c}); {len(crashes)} node crash(es):\n  " + "\n  ".join([*failed, *crashes])
        + f"\n(kazoo's pytest exited {code}; its output, with the node logs' dir: {log})")
    flaky = sorted(t for t, o in outcomes.items() if o.state == "flaky")
    if flaky:
        warnings.warn(f"kazoo tests that failed against zmqzab once and passed on a rerun: {flaky} "
                      f"(first run's output: {log})")
    assert code == 0 or flaky, f"kazoo's pytest exited {code} with no failed test:\n{log.read_text()[-3000:]}"
