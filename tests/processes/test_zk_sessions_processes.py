"""ZooKeeper sessions across real failures: kazoo against real nodes.

Each test: goal, setup, faults, expected, in its docstring. Ports from the OS; waits poll a
condition with a deadline.
"""

from __future__ import annotations

import threading
import time

import pytest

from zmqzab.config import load_config
from zmqzab.up.localcluster import LocalCluster, make_config

pytestmark = [pytest.mark.zk]


def _cluster(tmp_path, n=3):
    path = make_config(tmp_path, n)
    cfg = load_config(path)
    lc = LocalCluster(path, tmp_path)
    for i in range(n):
        lc.start(i)
    assert lc.wait(lc.converged, 30) is not None
    return cfg, lc


def _until(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)  # polling a condition with a deadline, not a fixed wait
    raise AssertionError(f"not reached in {timeout} s: {what}")


def test_processes_a_session_and_its_ephemeral_survive_a_whole_cluster_restart(tmp_path):
    """Goal: sessions are replicated state. Setup: 3 nodes; a kazoo client (timeout 20 s) holds
    an ephemeral and a watch. Fault: every node stopped, then started again. Expected: the
    client reconnects with the SAME session (no expiry), the ephemeral is still there, and the
    session can write; a second client sees the ephemeral too."""
    kazoo = pytest.importorskip("kazoo.client")
    cfg, lc = _cluster(tmp_path)
    hosts = ",".join(f"127.0.0.1:{n.zk_port}" for n in cfg.nodes)
    zk = kazoo.KazooClient(hosts=hosts, timeout=20)
    other = None
    try:
        zk.start(timeout=30)
        sid = zk.client_id[0]
        zk.create("/keep", b"x", ephemeral=True)
        lost = threading.Event()
        zk.add_listener(lambda state: lost.set() if state == "LOST" else None)
        lc.stop_all()
        for i in range(3):
            lc.start(i)
        assert lc.wait(lc.converged, 30) is not None
        _until(lambda: zk.connected, 30, "the client reconnected")
        assert zk.client_id[0] == sid and not lost.is_set()
        assert zk.exists("/keep") is not None
        zk.create("/after-restart", b"y")
        other = kazoo.KazooClient(hosts=hosts, timeout=20)
        other.start(timeout=30)
        assert other.get("/keep")[1].ephemeralOwner == sid
    finally:
        for c in (zk, other):
            if c is not None:
                c.stop()
                c.close()
        lc.close()


def test_processes_the_client_of_a_killed_leader_keeps_its_session_on_another_node(tmp_path):
    """Goal: sessions outlive leaders. Setup: 3 nodes; a kazoo client connected only to the
    leader's zk_port and one other node's, holding an ephemeral. Fault: kill -9 the leader.
    Expected: the client resumes on the other node with the same session; the ephemeral is
    still there; a write works; nothing expired."""
    kazoo = pytest.importorskip("kazoo.client")
    cfg, lc = _cluster(tmp_path)
    leader = lc.leader()
    other = next(n for n in cfg.nodes if n.id != leader)
    lead = cfg.node(leader)
    zk = kazoo.KazooClient(hosts=f"127.0.0.1:{lead.zk_port}", timeout=20)
    try:
        zk.start(timeout=30)
        sid = zk.client_id[0]
        zk.create("/mine", b"", ephemeral=True)
        zk.set_hosts(f"127.0.0.1:{lead.zk_port},127.0.0.1:{other.zk_port}")
        lc.kill(leader)
        _until(lambda: lc.leader() not in (None, leader), 30, "a new leader")
        _until(lambda: zk.connected and zk.exists("/mine") is not None, 30, "resumed on the other node")
        assert zk.client_id[0] == sid
        zk.create("/written-after", b"")
    finally:
        zk.stop()
        zk.close()
        lc.close()
