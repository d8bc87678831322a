"""`zmqzab chaos --netns` on real processes (the error paths are tests/unit/test_netns.py).

Goal: partitions cut real TCP connections between namespaces and the history still checks out.
Setup: 3 nodes, 2 clients, 10 s, seed 20, the nemesis dealing only isolate_leader, split and
bridge (--faults). Faults: the nemesis; the run needs root and `ip netns`, else it is skipped.
Expected: exit 0, verdict ok, partitions made by netns routes, a new leader elected after the
leader was isolated, no namespace or link of the run left.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import zmqzab.chaos.netns as netns

pytestmark = [pytest.mark.chaos]

SEED = 20  # first three faults: isolate_leader, split, bridge (a 1 | 2 split with 3 nodes)


@pytest.fixture
def netns_machine():
    try:
        netns.check_available()
    except netns.NetnsError as exc:
        pytest.skip(f"this machine cannot run --netns: {exc}")


def test_processes_netns_run_partitions_real_connections(tmp_path, netns_machine):
    report = tmp_path / "report"
    p = subprocess.run([sys.executable, "-m", "zmqzab", "chaos", "--netns", "--nodes", "3", "--clients", "2",
                        "--duration", "10", "--seed", str(SEED), "--report", str(report),
                        "--faults", "isolate_leader,split,bridge"],
                       capture_output=True, text=True, timeout=120)
    print(p.stdout[-2000:], p.stderr[-2000:])
    doc = json.loads((report / "report.json").read_text())
    assert p.returncode == 0, doc["violations"]
    stats = doc["stats"]
    assert doc["verdict"] == "ok" and stats["partitions_by"] == "netns routes"
    kinds = stats["faults_by_kind"]
    assert kinds["isolate_leader"] >= 1 and kinds["isolate_leader"] + kinds["split"] + kinds["bridge"] >= 2
    assert stats["elections"] >= 2  # the isolated leader lost its followers: a new epoch
    assert stats["ok"] >= 10
    run_line = next(line for line in p.stdout.splitlines() if "network namespaces" in line)
    prefix = run_line.split("network namespaces ")[1].split("-n")[0]
    assert prefix not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert prefix not in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
