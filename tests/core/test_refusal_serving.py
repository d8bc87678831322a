"""A write refused at once as "too far ahead" is refused only by a node that serves (session
9's outside attack on the too-old refusal): a node whose game lags (restarted from an old
snapshot, still electing or syncing) would otherwise refuse, for good, a write the leader logs
and applies, and the client library would start a new session for nothing. Pure core and host."""

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


def _v(seq: int) -> Guess:
    return Guess("v", seq, 5, 3, 1, 0)  # client v's session began at seq 1


def _io() -> SimpleNamespace:
    nothing = lambda *a: None  # noqa: E731 - the refusal reads the peer only
    return SimpleNamespace(write_epochs=nothing, durable_zxid=lambda: 0, send=nothing,
                           publish=nothing, trace=nothing)


def test_a_restarted_node_still_electing_never_refuses_as_too_far_ahead():
    """Goal: a refusal at once is true for the cluster, not only for a node's stale game.
    Setup: a node restarted from its snapshot at 1:1, where client v is at seq 1 and 1:2 is
    v's seq 1 + SEQ_WINDOW + 1; meanwhile (elsewhere) v went on past 1 + SEQ_AHEAD_MAX. Faults:
    v's next write reaches the node while it is LOOKING. Expected: its game alone would refuse
    it as too far ahead, the node does not (no leader: the client tries elsewhere); a seq too old
    for its game is still refused (too old stays too old on every later state)."""
    state = make_state(None)
    state.apply(Txn(make_zxid(1, 1), _v(1)))
    state.apply(Txn(make_zxid(1, 2), _v(2 + SEQ_WINDOW)))
    peer = Peer(0, [0, 1, 2], CoreConfig(), random.Random(0), make_state,
                Recovered(1, 1, make_zxid(1, 2), state.snapshot(), [], log_start=0))
    peer.start()
    replica = Replica(peer, _io())
    nxt = _v(3 + SEQ_WINDOW + SEQ_AHEAD_MAX)
    assert peer.phase is not Phase.BROADCAST
    assert peer.state.game.refusal_at_once(nxt) is not None  # its game lags: it alone would refuse
    assert replica.refusal(nxt) is None
    old = replica.refusal(_v(1))
    assert old is not None and "too old" in old.message, old


def test_a_serving_leader_still_refuses_a_write_too_far_ahead_as_apply_would():
    """Goal: the defence stays where it is true. Setup: 3 nodes serving; client v commits seq 1
    through the leader. Expected: the leader and a follower in BROADCAST refuse seq 2 +
    SEQ_AHEAD_MAX at once, "session expired", with what apply gives it; seq 1 + SEQ_AHEAD_MAX
    (the last allowed) is not refused."""
    c = Cluster(3)
    for i in c.ids:
        c.start(i)
    c.run_until(c.serving)
    ld = c.leader()
    c.execute(ld, c.peers[ld].submit([_v(1)], ts_ms=0))
    c.settle()
    c.tick(2)
    for i in c.ids:
        assert c.peers[i].phase is Phase.BROADCAST
        far = c.replicas[i].refusal(_v(2 + SEQ_AHEAD_MAX))
        assert far is not None and far.kind == SESSION_EXPIRED and "ahead" in far.message, (i, far)
        assert c.replicas[i].refusal(_v(1 + SEQ_AHEAD_MAX)) is None
