"""A chaos run with snapshots and purge on (marker ``processes``).

Goal: the checker understands snapshots: a node's history is its snapshot plus the log after
it. Before issue 16 a run where every node had a snapshot failed with "no node holds the full
history", so chaos could never exercise snapshots, purge, or SNAP after a purge.
Setup: `zmqzab chaos --config FILE` where FILE snapshots every 300 txns, keeps 1 snapshot (so
the log before it is purged) and keeps 200 txns in memory for DIFF; 5 nodes, 3 clients, 25 s,
a fixed seed.
Faults: the nemesis's usual deck.
Expected: exit 0; every node purged (the history the checker holds starts after zxid 0);
snapshots compared with a replay; every node's live state compared with a replay of its own
snapshot and log.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from zmqzab.up.localcluster import make_config

pytestmark = [pytest.mark.chaos, pytest.mark.snapshots]


SEED = 1


def test_processes_chaos_with_snapshots_and_purge_passes(tmp_path):
    path = make_config(tmp_path, 5)
    text = path.read_text()
    for key, value in (("snapshot_every_txns", 300), ("snapshots_kept", 1), ("log_window_txns", 200)):
        text, n = re.subn(rf"^{key} = \d+$", f"{key} = {value}", text, flags=re.M)
        assert n == 1, key
    path.write_text(text)
    report = tmp_path / "report"
    p = subprocess.run([sys.executable, "-m", "zmqzab", "chaos", "--config", str(path), "--duration", "25",
                        "--clients", "3", "--seed", str(SEED), "--report", str(report)],
                       capture_output=True, text=True, timeout=400)
    print(p.stdout[-3000:], p.stderr[-3000:])
    doc = json.loads((Path(report) / "report.json").read_text())
    assert p.returncode == 0, doc["violations"]
    checked = doc["checked"]
    assert checked["history_start"] > 0  # every node purged its log before its snapshot
    assert checked["snapshots_compared"] >= 1
    assert checked["states_replayed"] == 5
    assert checked["ok"] == doc["stats"]["ok"] >= 500
