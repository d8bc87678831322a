"""A write too far ahead is never refused at a node's intake (session 9's outside attacks on the
too-old refusal): "too far ahead" is true only on a game that holds the client's latest write,
and a node restarted from an old snapshot, a follower one COMMIT behind, or a leader cut off
would refuse for good a write the cluster applies. It is logged; apply refuses it on every node
without moving the record. A too-old write is refused at once everywhere (too old stays too
old). Pure core and host."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from tests.core.harness import Cluster, make_state
from zmqzab.core.peer import Peer, Recovered
from zmqzab.core.roles import Phase
from zmqzab.core.settings import CoreConfig
from zmqzab.game.rules import SEQ_AHEAD_MAX, SEQ_WINDOW, SESSION_EXPIRED
from zmqzab.host.replica import Replica
from zmqzab.messages import Guess, Txn
from zmqzab.zxid import make_zxid

pytestmark = [pytest.mark.core]


def v(seq: int) -> Guess:
    return Guess("v", seq, 5, 3, 1, 0)  # client v's session began at seq 1


def v_at_seq_1(c: Cluster) -> tuple[int, int]:
    """Run ``c`` until it serves and commit client v's seq 1 on every node; (leader, a follower)."""
    c.run_until(c.serving)
    ld = c.leader()
    c.execute(ld, c.replicas[ld].submit([v(1)], [None], ts_ms=0))
    c.settle()
    c.tick(2)
    assert all(c.peers[i].state.game.answer_of("v", 1) is not None for i in c.ids)
    return ld, next(i for i in c.ids if i != ld)


def _io() -> SimpleNamespace:
    nothing = lambda *a: None  # noqa: E731 - the refusal reads the peer only
    return SimpleNamespace(write_epochs=nothing, durable_zxid=lambda: 0, send=nothing,
                           publish=nothing, trace=nothing)


def test_a_restarted_node_still_electing_never_refuses_as_too_far_ahead():
    """Goal: a refusal at once is true for the cluster, not only for a node's stale game.
    Setup: a node restarted from its snapshot at 1:2, where client v is at seq 2 + SEQ_WINDOW;
    meanwhile (elsewhere) v went on past it by more than SEQ_AHEAD_MAX. Faults: v's next write
    reaches the node while it is LOOKING. Expected: not refused at once; a seq too old for its
    game is (too old stays too old on every later state)."""
    state = make_state(None)
    state.apply(Txn(make_zxid(1, 1), v(1)))
    state.apply(Txn(make_zxid(1, 2), v(2 + SEQ_WINDOW)))
    peer = Peer(0, [0, 1, 2], CoreConfig(), random.Random(0), make_state,
                Recovered(1, 1, make_zxid(1, 2), state.snapshot(), [], log_start=0))
    peer.start()
    replica = Replica(peer, _io())
    assert peer.phase is not Phase.BROADCAST
    assert replica.refusal(v(3 + SEQ_WINDOW + SEQ_AHEAD_MAX)) is None
    old = replica.refusal(v(1))
    assert old is not None and "too old" in old.message, old


def test_a_write_too_far_ahead_is_logged_and_refused_by_apply_on_every_node():
    """Goal: the lock-out of issue 17 stays closed without an intake refusal. Setup: 3 nodes
    serving; client v commits seq 1 through the leader. Faults: seq 2 + SEQ_AHEAD_MAX (a
    hostile sender under v's id) through a follower. Expected: no node refuses it at once; it
    is logged once, and every node's apply answers it "session expired: ... ahead" without
    moving v's record: v's seq 2 then commits as a normal guess."""
    c = Cluster(3)
    ld, f = v_at_seq_1(c)
    far = v(2 + SEQ_AHEAD_MAX)
    assert all(c.replicas[i].refusal(far) is None for i in c.ids)
    before = c.peers[ld].zxid_committed
    c.execute(f, c.replicas[f].submit([far], [None], ts_ms=0))  # f forwards it
    c.settle()
    c.tick(2)
    assert c.peers[ld].zxid_committed == before + 1  # logged once
    for i in c.ids:
        [(_, result)] = [(z, r) for z, r in c.applied[i] if z == before + 1]
        assert result.kind == SESSION_EXPIRED and "ahead" in result.message, (i, result)
        assert c.peers[i].state.game.answer_of("v", 2 + SEQ_AHEAD_MAX) is None  # record unmoved
    c.execute(ld, c.replicas[ld].submit([v(2)], [None], ts_ms=0))
    c.settle()
    c.tick(2)
    for i in c.ids:
        got = c.peers[i].state.game.answer_of("v", 2)
        assert got is not None and got[1].kind != SESSION_EXPIRED, (i, got)
