"""A short mutation run of the real thing (marker ``processes``): `zmqzab chaos` against nodes
built with a deliberate core bug must report a violation.

Goal: the chaos checker is not vacuous on real processes, not only on hand-made histories.
Setup: `zmqzab chaos --inject-bug diff_instead_of_trunc` (the test-only switch reaches the
nodes through ZMQZAB_TEST_ONLY_INJECT_BUGS, which only node.core_config reads), 5 nodes,
3 clients, 20 s, seeds from SEEDS until one fails.
Faults: the nemesis's usual deck; an isolated or killed leader that comes back with proposals
nobody else has must be TRUNCed, and the bug DIFFs it instead.
Expected: exit 1 and the report names a broken log property (the other nodes lack what the
wrongly DIFFed node kept; its requests are logged twice). The other switches are run by hand:
see README, "Which check catches which bug".
"""

import json
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.chaos]


#: Seeds tried in order; each caught the bug in the runs made when this test was written
#: (seed 1 by logs_identical after an isolated leader came back; seed 2 after kill_leader).
#: Real processes are timed by the machine: a seed's faults need not reach the TRUNC case on
#: every run (seed 1 once passed clean in CI, and the test then failed on the reproduce line
#: printed only with a violation instead of trying seed 2), so a third seed is kept in reserve.
SEEDS = (1, 2, 3)
BUG = "diff_instead_of_trunc"
EXPECTED = {"logs_identical", "no_duplicates", "ok_in_log_once"}


def test_processes_chaos_catches_an_injected_bug(tmp_path):
    seen = []
    for seed in SEEDS:
        report = tmp_path / f"report-{seed}"
        p = subprocess.run([sys.executable, "-m", "zmqzab", "chaos", "--duration", "20", "--clients", "3",
                            "--nodes", "5", "--seed", str(seed), "--report", str(report), "--inject-bug", BUG],
                           capture_output=True, text=True, timeout=400)
        print(f"seed {seed}: exit {p.returncode}\n", p.stdout[-2000:], p.stderr[-2000:])
        doc = json.loads((report / "report.json").read_text())
        assert f"--inject-bug {BUG}" in doc["reproduce"]  # the reproduce line turns the bug on again
        props = {v["prop"] for v in doc["violations"]}
        seen.append((seed, p.returncode, sorted(props)))
        if props:
            # Printed only with a violation (a passing seed goes on to the next one).
            assert f"--inject-bug {BUG}" in p.stdout
            assert p.returncode == 1 and doc["verdict"] == "violations"
            assert props & EXPECTED, doc["violations"]
            return
    pytest.fail(f"{BUG}: no violation with seeds {SEEDS}: {seen}")
