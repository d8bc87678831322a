"""A real chaos run in the suite (marker ``processes``).

Goal: the history checker passes on a real cluster under faults, and the faults really happened.
Setup: `zmqzab chaos` with a fixed seed, 5 nodes, 4 clients, 60 s.
Faults: the nemesis deals every kind from a shuffled deck: kill -9 (also the leader, also two
nodes), SIGSTOP beyond the sync limit, partitions (leader alone, 2 | 3, bridge).
Expected: exit 0; verdict ok; at least 10 faults, with a leader kill, a pause and a partition;
several elections; many requests answered.
"""

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.processes

SEED = 3


def test_processes_chaos_run_passes_every_check(tmp_path):
    report = tmp_path / "report"
    p = subprocess.run([sys.executable, "-m", "zmqzab", "chaos", "--duration", "60", "--clients", "4",
                        "--nodes", "5", "--seed", str(SEED), "--report", str(report)],
                       capture_output=True, text=True, timeout=400)
    print(p.stdout[-3000:], p.stderr[-3000:])
    doc = json.loads((report / "report.json").read_text())
    assert p.returncode == 0, doc["violations"]
    assert doc["verdict"] == "ok"
    stats = doc["stats"]
    kinds = stats["faults_by_kind"]
    assert stats["faults"] >= 10
    assert kinds["kill_leader"] >= 1
    assert kinds["pause"] + kinds["pause_leader"] >= 1
    assert kinds["isolate_leader"] + kinds["split"] + kinds["bridge"] >= 1
    assert stats["elections"] >= 3
    assert stats["ok"] >= 1000 and doc["checked"]["ok"] == stats["ok"]
    # one shaded rect per fault, and at least one bar per client lane
    assert (report / "timeline.html").read_text().count("<rect") >= stats["faults"] + 4
