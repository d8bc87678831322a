"""Attack on commit 7663c01 (host/replica.py ``Replica.refusal``): a write too far ahead was
refused at once, for good, by any node in BROADCAST. A follower in BROADCAST is not up to date:
it applies a commit only when the leader's COMMIT reaches it, after the leader (and the client
the leader answered) have moved on. "Too far ahead" is not monotone, unlike "too old": on a
state that lags it is false for the cluster. Nor is the leader safe from it: one cut off serves
on until syncLimit while a new leader commits.

The client library makes the leap legitimately: it numbers a write before sending it, so each
write that timed out (a long outage, a CLI run with a short --timeout) burns a seq, and the next
write that commits leaps the record forward by up to SEQ_AHEAD_MAX. Its following write, sent
to a follower that has not yet applied the leap (one COMMIT in flight), was refused there as
"session expired: too far ahead", while the leader logs and applies it. The library then starts
a new session (sent once) or raises SessionExpiredError, "outcome unknown" (sent more than once)
for a write that was never in doubt.

The simulator's check (``Checkers.on_refused_at_once``) cannot see this: it compares the
refusal with apply on the refusing node's own game, which is exactly the lagging one.

Fixed in session 9 by refusing at once only what is too old (true on every later state); a seq
too far ahead is logged and refused by apply on every node, the record unmoved.
"""

from __future__ import annotations

import pytest

from tests.core.harness import Cluster, HoldingCluster
from tests.core.test_refusal_serving import v, v_at_seq_1
from zmqzab.core.roles import Phase
from zmqzab.game.rules import SEQ_AHEAD_MAX, SESSION_EXPIRED
from zmqzab.messages import Commit

pytestmark = [pytest.mark.core]



def test_a_broadcast_follower_one_commit_behind_does_not_refuse_for_good_a_write_the_leader_applies():
    """Goal: a refusal at once is true for the cluster, not only for a follower's lagging game.
    Setup: 3 nodes serving; client v commits seq 1 everywhere. Then v's writes 2..1024 time out
    (burnt seqs) and seq 1 + SEQ_AHEAD_MAX (the last allowed leap) commits through the leader;
    its COMMIT to follower f is still in flight. Faults: none but that delay. v's next write,
    seq 2 + SEQ_AHEAD_MAX, reaches f. Expected: f, in BROADCAST, does not refuse it at once (it
    forwards it, or answers something retryable); the leader applies it as a normal guess."""
    c = HoldingCluster(3)
    ld, f = v_at_seq_1(c)

    leap = 1 + SEQ_AHEAD_MAX
    c.hold = lambda src, dst, msg: dst == f and isinstance(msg, Commit)
    c.execute(ld, c.replicas[ld].submit([v(leap)], [None], ts_ms=0))
    c.settle()
    assert c.peers[ld].state.game.answer_of("v", leap) is not None, "the leap commits at the leader"
    assert c.peers[f].state.game.answer_of("v", leap) is None, "f has not applied it yet"
    assert c.peers[f].phase is Phase.BROADCAST

    nxt = v(leap + 1)
    assert c.replicas[ld].refusal(nxt) is None  # the leader takes it
    refusal = c.replicas[f].refusal(nxt)
    assert refusal is None, (
        f"f (BROADCAST, one COMMIT behind) refuses for good: {refusal.kind}: {refusal.message}")

    # ... and the leader applies it as a normal write (not a session refusal).
    c.execute(f, c.replicas[f].submit([nxt], [None], ts_ms=0))  # f forwards it
    c.hold = None
    c.queue.extend(c.held)
    c.settle()
    c.tick(2)
    got = c.peers[ld].state.game.answer_of("v", leap + 1)
    assert got is not None and got[1].kind != SESSION_EXPIRED, got


def test_a_leader_cut_off_does_not_refuse_for_good_a_write_the_new_leader_applies():
    """Goal: the same for the leader, which refused "ahead" at once for a while. Setup: 3
    nodes serving; client v commits seq 1. Faults: the leader is cut off; the other two elect a
    new leader at once (forced) while the old one still serves (its syncLimit has not run out).
    v's leap (seq 1 + SEQ_AHEAD_MAX) commits through the new leader; v's next write reaches the
    old leader. Expected: the old leader does not refuse it for good (no_leader, or it takes it
    and the client times out): the new leader applies it."""
    c = Cluster(3)
    c.run_until(c.serving)
    old = c.leader()
    c.execute(old, c.replicas[old].submit([v(1)], [None], ts_ms=0))
    c.settle()
    c.tick(2)
    rest = [i for i in c.ids if i != old]
    c.partition({old}, set(rest))
    for i in rest:
        c.execute(i, c.peers[i].force_election("the leader is cut off"))
    c.settle()

    def new_leader() -> int | None:
        for i in rest:
            p = c.peers[i]
            if p.leading is not None and p.phase is Phase.BROADCAST:
                return i
        return None

    for _ in range(c.cfg.sync_limit_ticks - 2):
        if new_leader() is not None:
            break
        c.tick()
    nl = new_leader()
    assert nl is not None, c.roles()
    leap = 1 + SEQ_AHEAD_MAX
    c.execute(nl, c.replicas[nl].submit([v(leap)], [None], ts_ms=0))
    c.settle()
    c.tick(1)
    assert c.peers[nl].state.game.answer_of("v", leap) is not None
    assert c.peers[old].leading is not None and c.peers[old].phase is Phase.BROADCAST, c.roles()

    nxt = v(leap + 1)
    assert c.replicas[nl].refusal(nxt) is None  # the new leader takes it
    refusal = c.replicas[old].refusal(nxt)
    assert refusal is None, f"the old leader refuses for good: {refusal.kind}: {refusal.message}"
