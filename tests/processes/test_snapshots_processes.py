"""Real node processes: periodic snapshots and purge on disk, DIFF from disk, restart after
purges, and the log tools on the data dir they leave. Marked ``processes``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.polling import wait_for
from tests.processes.procs import ProcCluster
from zmqzab.storage.txnlog import list_segments
from zmqzab.zxid import parse_zxid

pytestmark = [pytest.mark.snapshots]


STORAGE = {"log_window_txns": 10, "snapshot_every_txns": 20, "snapshots_kept": 3}


def zmqzab(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zmqzab", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def write(c: ProcCluster, node: int, client: str, seqs: range) -> None:
    for seq in seqs:
        r = c.guess(node, seq % 101, client, seq)
        assert r is not None and r.ok, r


def test_processes_snapshots_purge_diff_from_disk_restart_and_tools(tmp_path):
    """Goal: on real processes, snapshots bound the disk, a follower just behind the memory
    window gets a DIFF read from disk, a restart after purges recovers the same game, and the
    tools read the data dir.

    Setup: 3 nodes, window 10 txns, a snapshot every 20 txns, 3 kept. Faults: a follower is
    killed while 15 guesses commit (more than the window, less than the kept snapshots span),
    then restarted; later the whole cluster is stopped and started again.
    Expected: DIFF with its older txns from disk; at most 3 snapshots and 4 segments per node;
    the same game after the restart; `zmqzab log` prints the txns after the oldest snapshot and
    `--verify` passes; `zmqzab snapshot --show` names the newest snapshot and its game."""
    c = ProcCluster(tmp_path, n=3, storage_extra=STORAGE)
    try:
        c.start_all()
        ld = c.wait_leader()
        write(c, ld, "a", range(1, 101))
        # Every node holds all 100 first: a follower whose SUB joined late may still be repairing
        # a gap, and killed then it would restart far behind (SNAP, not the DIFF tested here).
        c.wait_same_committed(timeout=20)
        lagger = next(i for i in c.ids if i != ld)
        c.kill(lagger)
        write(c, ld, "b", range(1, 16))
        c.start(lagger)
        c.wait_same_committed(timeout=20)
        sync = c.status(lagger)["last_sync"]
        assert sync["mode"] == "DIFF" and "from disk" in sync["reason"], sync
        leader_status = c.status(ld)
        snaps = leader_status["snapshots"]
        assert parse_zxid(snaps["log_start"]) > 0 and parse_zxid(snaps["zxid"]) >= parse_zxid(snaps["log_start"])
        game_before = leader_status["game"]
        committed = leader_status["zxid_committed"]
        c.stop_all()
        for i in c.ids:
            d = c.config.storage.data_dir / f"node-{i}"
            # A .tmp is a snapshot a child was still writing at the stop: deleted at the next start.
            assert len([p for p in (d / "snap").iterdir() if not p.name.endswith(".tmp")]) <= 3
            assert len(list_segments(d / "log")) <= 4
        # A restart after purges: every node recovers from its newest snapshot.
        c.start_all()
        c.wait_leader()
        assert c.wait_same_committed(timeout=20) == committed
        for i in c.ids:
            assert c.status(i)["game"] == game_before
        c.stop_all()

        cfg = str(c.config_path)
        out = zmqzab("log", "--node", str(ld), "--config", cfg, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.splitlines()
        assert lines and lines[-1].split()[0] == committed
        zxid, _date, _time, client, command, *_ = lines[-1].split()
        assert (client, command) == ("b", "guess")  # the last write before the restart
        js = zmqzab("log", "--node", str(ld), "--config", cfg, "--json", "--from", lines[-3].split()[0], cwd=tmp_path)
        assert [json.loads(x)["zxid"] for x in js.stdout.splitlines()] == [x.split()[0] for x in lines[-3:]]
        ok = zmqzab("log", "--node", str(ld), "--config", cfg, "--verify", cwd=tmp_path)
        assert ok.returncode == 0 and ok.stdout.splitlines()[-1].startswith("OK:"), ok.stdout + ok.stderr
        shown = zmqzab("snapshot", "--show", "--node", str(ld), "--config", cfg, "--json", cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        snap = json.loads(shown.stdout)
        assert snap["checksum"] == "ok" and snap["game"]["zxid_applied"] == snap["zxid"]
        text = zmqzab("snapshot", "--show", "--data-dir", str(c.config.storage.data_dir / f"node-{ld}"),
                      cwd=tmp_path)
        assert text.returncode == 0 and f"zxid {snap['zxid']}" in text.stdout
    finally:
        c.close()


def test_processes_progress_of_a_sync_is_in_status_and_the_log(tmp_path):
    """Goal: a SNAP's progress is visible in /status (last_sync) and in the node's log.
    Setup: 3 nodes, a snapshot every 20 txns, 1 kept. Faults: a follower's data dir is wiped
    (--resync) while 60 guesses commit. Expected: SNAP with snapshot_bytes ==
    snapshot_received in last_sync, and the sync in the follower's log."""
    c = ProcCluster(tmp_path, n=3, storage_extra={**STORAGE, "snapshots_kept": 1})
    try:
        c.start_all()
        ld = c.wait_leader()
        lagger = next(i for i in c.ids if i != ld)
        c.kill(lagger)
        write(c, ld, "a", range(1, 61))
        c.start(lagger, "--resync")
        c.wait_same_committed(timeout=20)
        sync = c.status(lagger)["last_sync"]
        assert sync["mode"] == "SNAP" and sync["done"], sync
        assert sync["snapshot_received"] == sync["snapshot_bytes"] > 0
        wait_for(lambda: "SNAP from node" in c.console(lagger), 5, "the sync in the follower's log")
    finally:
        c.close()
