"""Real processes: five `zmqzab node` processes on loopback ports from the OS, data in a temp
dir. Every wait polls a condition with a deadline. Marked ``processes``.
"""

from __future__ import annotations

import itertools
import signal
import threading
import time

import pytest

from tests.polling import wait_for
from tests.processes.procs import ProcCluster
from zmqzab.game.rules import Game
from zmqzab.messages import Guess, NewGame, Txn
from zmqzab.storage.store import open_storage
from zmqzab.zxid import fmt_zxid


@pytest.fixture
def cluster(tmp_path):
    # These tests read each node's whole log after a clean stop (committed_log): no snapshot at
    # exit, which would purge it.
    c = ProcCluster(tmp_path, storage_extra={"snapshot_on_exit": False})
    c.start_all()
    yield c
    c.close()


def committed_log(c: ProcCluster, i: int) -> list[Txn]:
    """Node i's durable log, read from its data dir (the node must be stopped)."""
    storage, rec = open_storage(c.config.storage.data_dir / f"node-{i}", readonly=True)
    storage.close()
    return list(rec.txns)


def test_processes_elect_one_leader_and_commit_through_any_node(cluster):
    ld = cluster.wait_leader()
    follower = next(i for i in cluster.ids if i != ld)
    r1 = cluster.guess(ld, 42, "alice", 1)
    assert r1 is not None and r1.ok and r1.result.kind == "target_set", r1
    r2 = cluster.guess(follower, 40, "bob", 1)
    assert r2 is not None and r2.ok and r2.result.kind == "guess_recorded", r2
    assert r2.node == follower and r2.zxid > r1.zxid
    z = cluster.wait_same_committed()
    assert z == fmt_zxid(r2.zxid)
    states = [cluster.status(i)["game"] for i in cluster.ids]
    assert all(s == states[0] for s in states) and states[0]["target"] == 42


def test_processes_kill_leader_during_writes_loses_nothing_and_applies_once(cluster):
    """Goal: acknowledged guesses survive a leader crash; a retried request applies once.
    Setup: 5 nodes; one client writes sequential guesses through a follower, retrying the same
    (client, seq) on other nodes when an answer does not come. Fault: kill -9 of the leader
    after a few writes. Expected: a new leader; every acknowledged guess in the log; every
    (client, seq) applied once; the restarted old leader catches up to the same zxid."""
    ld = cluster.wait_leader()
    entry = next(i for i in cluster.ids if i != ld)
    acked: dict[int, int] = {}
    killed = threading.Event()

    def writer():
        seq = 1
        while seq <= 40:
            # Bounded by time, not by attempts: refusals ("no leader") come back at once, and
            # a count of them ran out before the new leader was elected on a fast machine.
            deadline = time.monotonic() + 30
            for attempt in itertools.count():
                if time.monotonic() > deadline:
                    raise AssertionError(f"seq {seq} never acknowledged")
                node = entry if attempt % 2 == 0 else (entry + attempt) % 5
                if node == ld and killed.is_set():
                    continue
                r = cluster.guess(node, seq % 101, "w", seq, timeout=1.0)
                if r is not None and r.ok:
                    acked[seq] = r.zxid
                    break
                if r is not None:
                    time.sleep(0.02)  # polling interval while the cluster elects a leader
            if seq == 10:
                cluster.kill(ld)  # kill -9 mid-stream
                killed.set()
            seq += 1

    t = threading.Thread(target=writer)
    t.start()
    t.join(timeout=120)
    assert not t.is_alive() and len(acked) == 40
    ld2 = cluster.wait_leader()
    assert ld2 != ld
    cluster.start(ld)
    z = cluster.wait_same_committed(timeout=20)
    st = {i: cluster.status(i) for i in cluster.ids}
    assert st[ld]["zxid_committed"] == st[ld2]["zxid_committed"] == z
    assert st[ld]["role"] == "FOLLOWING"
    cluster.stop_all()
    log = committed_log(cluster, ld2)
    seqs = [t.op.seq for t in log if t.op.client_id == "w"]
    assert set(acked) <= set(seqs)
    for seq, zxid in acked.items():
        assert any(t.zxid == zxid and t.op.seq == seq for t in log), f"seq {seq} not at {fmt_zxid(zxid)}"
    game = Game()
    results = {}
    for txn in log:
        r = game.apply(txn)
        results.setdefault((txn.op.client_id, txn.op.seq), r)
        assert r == results[(txn.op.client_id, txn.op.seq)]  # a duplicate returns the first answer
    applied_guesses = (1 if game.target is not None else 0) + sum(1 for _ in game.view(100)["history"]) * 3 \
        + len(game.view()["guesses"])
    assert applied_guesses == len(set(seqs)) == 40
    assert len(seqs) == len(set(seqs)), "a retried request was logged twice"
    assert committed_log(cluster, ld) == log


def test_processes_far_behind_node_catches_up_by_snap(tmp_path):
    # Its txns are neither in the leader's memory window nor on its disk (purged after the
    # snapshots): a DIFF from disk cannot serve it.
    c = ProcCluster(tmp_path, storage_extra={"log_window_txns": 20, "snapshot_every_txns": 10,
                                             "snapshots_kept": 1})
    try:
        c.start_all()
        ld = c.wait_leader()
        lagger = next(i for i in c.ids if i != ld)
        c.kill(lagger)
        for seq in range(1, 61):
            r = c.guess(ld, seq % 101, "s", seq)
            assert r is not None and r.ok
        c.start(lagger)
        c.wait_same_committed(timeout=20)
        st = c.status(lagger)
        assert st["last_sync"]["mode"] == "SNAP", st["last_sync"]
        assert st["game"] == c.status(ld)["game"]
    finally:
        c.close()


def test_processes_whole_cluster_restart_recovers_game_and_epochs_never_go_back(cluster):
    ld = cluster.wait_leader()
    for seq, v in enumerate([10, 20, 30, 40], 1):
        assert cluster.guess(ld, v, "r", seq).ok
    cluster.wait_same_committed()
    before = {i: cluster.status(i) for i in cluster.ids}
    cluster.stop_all()
    cluster.start_all()
    ld2 = cluster.wait_leader()
    z = cluster.wait_same_committed()
    after = {i: cluster.status(i) for i in cluster.ids}
    assert z == before[ld]["zxid_committed"]
    for i in cluster.ids:
        assert after[i]["game"] == before[ld]["game"] and after[i]["game"]["target"] == 20
        assert after[i]["current_epoch"] > before[i]["current_epoch"]
        assert after[i]["accepted_epoch"] >= after[i]["current_epoch"]
    r = cluster.write(ld2, NewGame("r", 5))
    assert r.ok and r.result.kind == "new_game"


def test_processes_two_of_five_refuse_writes_with_a_clear_error(cluster):
    ld = cluster.wait_leader()
    for i in [i for i in cluster.ids if i != ld][:3]:
        cluster.kill(i)
    survivors = sorted(cluster.procs)
    wait_for(lambda: all((cluster.status(i) or {}).get("role") == "LOOKING" for i in survivors), 10,
             "survivors back to LOOKING")
    from zmqzab.client import Client, NoQuorumError

    with Client(cluster.config, timeout=3.0) as client:
        with pytest.raises(NoQuorumError) as err:
            client.guess(50)
    assert "2 of 5" in str(err.value)


def test_processes_port_in_use_is_named_at_start(tmp_path):
    import socket
    import subprocess
    import sys

    c = ProcCluster(tmp_path, n=3)
    try:
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", c.config.node(1).peer_port))
        blocker.listen()
        p = subprocess.run([sys.executable, "-m", "zmqzab", "node", "--id", "1", "--config", str(c.config_path)],
                           cwd=tmp_path, capture_output=True, text=True, timeout=30)
        blocker.close()
        assert p.returncode == 2
        assert f"peer_port {c.config.node(1).peer_port}" in p.stderr and "already in use" in p.stderr
    finally:
        c.close()
