"""Tree and session txns through real Peers (tests/core harness): proposed, committed, applied
on every node, and carried by SNAP to a node that was away (zmqzab/state.py)."""

from __future__ import annotations

import pytest
from tests.core.harness import Cluster
from zmqzab.core.settings import CoreConfig
from zmqzab.messages import SyncStart
from zmqzab.state import TREE_APPLIED, ZkResult
from zmqzab.tree.acl import OPEN_ACL_UNSAFE
from zmqzab.tree.sessions import CloseSessionTxn, CreateSessionTxn
from zmqzab.tree.txns import CreateTxn, DeleteTxn

pytestmark = [pytest.mark.core, pytest.mark.zk]

S1 = 0x0100_0000_0001_0001


class Recording(Cluster):
    def __init__(self, *args, **kwargs) -> None:
        self.sent: list[object] = []
        super().__init__(*args, **kwargs)

    def execute(self, i: int, out) -> None:
        self.sent.extend(s.msg for s in out.sends)
        super().execute(i, out)


def test_equal_tree_txns_in_one_batch_are_all_logged_and_applied_everywhere() -> None:
    """Goal: tree txns have no exactly-once key, so the leader must not take two equal ones
    for a retry. Setup: 3 nodes; the leader proposes createSession, an ephemeral create, its
    delete and the same create again, in one batch. Expected: all four are committed and
    applied on every node in order (the second create succeeds), states equal."""
    c = Cluster(3, seed=1)
    c.run_until(c.serving)
    ld = c.leader()
    create = CreateTxn("/a", b"", OPEN_ACL_UNSAFE, S1, 1)
    ops = [CreateSessionTxn(S1, 5_000), create, DeleteTxn("/a"), create]
    c.execute(ld, c.peers[ld].submit(ops, ts_ms=1_000))
    c.settle()
    c.run_until(lambda: all(len(c.applied[i]) == 4 for i in c.ids))
    for i in c.ids:
        kinds = [r.kind for _, r in c.applied[i]]
        assert kinds == ["session_created", TREE_APPLIED, TREE_APPLIED, TREE_APPLIED], (i, kinds)
        assert "/a" in c.peers[i].state.tree.nodes
    snaps = {c.peers[i].state.snapshot() for i in c.ids}
    assert len(snaps) == 1


def test_snap_carries_the_tree_and_the_sessions_to_a_node_that_was_away() -> None:
    """Setup: 3 nodes, a small log window. Faults: a follower is crashed while the others
    log a session, its ephemeral, and more guesses than the window holds; the leader's disk is purged
    to its window; the follower restarts.
    Expected: it is brought up to date (SNAP) and holds the same tree and sessions, byte for
    byte; a closeSession after that deletes the ephemeral on every node."""
    c = Recording(3, seed=2, cfg=CoreConfig(log_window_txns=4))
    c.run_until(c.serving)
    ld = c.leader()
    away = next(i for i in c.ids if i != ld)
    c.crash(away)
    c.execute(ld, c.peers[ld].submit([CreateSessionTxn(S1, 5_000),
                                      CreateTxn("/e", b"x", OPEN_ACL_UNSAFE, S1, 1)], ts_ms=7))
    for seq in range(1, 12):
        c.submit(ld, seq % 100, client="g", seq=seq)
    c.tick(1)
    # The leader's disk purged to its memory window (as after a snapshot): SNAP, not DIFF.
    base = c.peers[ld].log.base
    c.disks[ld].purge(base)
    c.peers[ld].log_purged(base)
    c.start(away)
    c.run_until(lambda: c.serving() and c.peers[away].zxid_applied == c.peers[ld].zxid_applied)
    assert any(isinstance(m, SyncStart) and m.mode == "SNAP" for m in c.sent)
    assert c.peers[away].state.snapshot() == c.peers[ld].state.snapshot()
    assert c.peers[away].state.tree.stat("/e").ephemeralOwner == S1 and S1 in c.peers[away].state.sessions

    c.execute(ld, c.peers[ld].submit([CloseSessionTxn(S1)], ts_ms=8))
    c.settle()
    c.run_until(lambda: all("/e" not in c.peers[i].state.tree.nodes for i in c.ids))
    last = c.applied[away][-1][1]
    assert isinstance(last, ZkResult) and last.session.deleted == ("/e",)
