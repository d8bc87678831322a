"""Issue 11, defects 1 and 4, at the core's interface (no network, no disk).

Defect 1: a follower acknowledges a given epoch at most once (Zab; ZooKeeper's
Learner.registerWithLeader answers -1 and Leader.waitForEpochAck skips it), and a leader's
epoch is decided only from followers that are still with it. Defect 4: the ZK-1277 step-down's
own Output (votes, role change) reaches the driver through NotReady.
"""

import random

import pytest

from tests.core.harness import Cluster, make_state
from zmqzab.core.errors import NotReady
from zmqzab.core.peer import Peer, Recovered
from zmqzab.core.roles import Phase, Role
from zmqzab.core.settings import CoreConfig
from zmqzab.messages import (NOT_COUNTED, AckEpoch, FollowerInfo, Guess, LeaderInfo, Notification, SyncStart,
                             Vote)

pytestmark = [pytest.mark.election]

VOTERS = [0, 1, 2, 3, 4]


def following(accepted: int, current: int = 0) -> Peer:
    """Node 1 of 5, following node 0 (still in discovery), with the given epochs on disk."""
    p = Peer(1, VOTERS, CoreConfig(), random.Random(1), make_state,
             Recovered(accepted_epoch=accepted, current_epoch=current))
    p.start()
    p.step(0, Notification(1, Role.LEADING, Vote(0, 0, 0)))
    for i in (2, 3):
        p.step(i, Notification(1, Role.FOLLOWING, Vote(0, 0, 0)))
    assert p.role == Role.FOLLOWING and p.leader_id == 0
    return p


def leading() -> Peer:
    """Node 0 of 5, just elected, no FOLLOWERINFO yet."""
    p = Peer(0, VOTERS, CoreConfig(), random.Random(0), make_state)
    p.start()
    for i in (1, 2):
        p.step(i, Notification(1, Role.LOOKING, Vote(0, 0, 0)))
    for _ in range(3):
        p.tick()
    assert p.role == Role.LEADING and p.leading.epoch == 0
    return p


def syncs_to(out, node: int) -> bool:
    return any(s.to == node and isinstance(s.msg, SyncStart) for s in out.sends)


def test_follower_acknowledges_an_epoch_it_already_accepted_without_counting():
    """Goal: a second promise of one epoch is never a counting ACKEPOCH. Setup: a follower that
    accepted epoch 1 (from another would-be leader) gets LEADERINFO(1). Expected: it answers
    ACKEPOCH with current_epoch NOT_COUNTED and writes no epoch; a LEADERINFO(2) is a fresh
    promise: acceptedEpoch 2 written, ACKEPOCH with its real currentEpoch."""
    p = following(accepted=1)
    out = p.step(0, LeaderInfo(session=p.following.session, epoch=1))
    [ack] = [s.msg for s in out.sends if isinstance(s.msg, AckEpoch)]
    assert ack.epoch == 1 and ack.current_epoch == NOT_COUNTED
    assert out.epochs is None and p.accepted_epoch == 1
    assert p.phase == Phase.SYNC  # it still expects to be synced

    fresh = following(accepted=1)
    out = fresh.step(0, LeaderInfo(session=fresh.following.session, epoch=2))
    [ack] = [s.msg for s in out.sends if isinstance(s.msg, AckEpoch)]
    assert ack.current_epoch == 0 and out.epochs.accepted_epoch == 2


def test_leader_does_not_count_a_repeated_promise_but_syncs_that_follower():
    """Goal: the epoch's quorum counts fresh promises only, and a follower whose ACKEPOCH does
    not count is still synced once the epoch stands. Setup: leader 0 of 5; FOLLOWERINFO from 1,
    2, 3 (epoch 1 decided); node 1 answers NOT_COUNTED, node 2 a counting ACKEPOCH. Expected:
    leader + node 2 is no quorum, so nothing is synced; node 3's counting ACKEPOCH completes
    it and all three, node 1 included, get their SYNC. Node 1's history (newer than the
    leader's) is not held against the leader: it is not in the quorum (#9 only checks that)."""
    p = leading()
    for i in (1, 2, 3):
        p.step(i, FollowerInfo(session=10 + i, accepted_epoch=0, zxid_last=0))
    assert p.leading.epoch == 1
    out = p.step(1, AckEpoch(session=11, epoch=1, current_epoch=NOT_COUNTED, zxid_last=7))
    assert p.role == Role.LEADING
    out = p.step(2, AckEpoch(session=12, epoch=1, current_epoch=0, zxid_last=0))
    assert p.phase == Phase.DISCOVERY and not p.leading.epoch_acked and not syncs_to(out, 1)
    out = p.step(3, AckEpoch(session=13, epoch=1, current_epoch=0, zxid_last=0))
    assert p.leading.epoch_acked and p.phase == Phase.SYNC
    assert all(syncs_to(out, i) for i in (1, 2, 3))


def test_leader_forgets_a_followerinfo_whose_connection_closed():
    """Goal: a follower that left during discovery does not decide the leader's epoch.
    Setup: leader 0 of 5; node 1's FOLLOWERINFO (acceptedEpoch 0) arrives, then node 1's
    connection closes (it went to another would-be leader and accepted epoch 1 there); node 2's
    FOLLOWERINFO arrives. Expected: no epoch yet (leader + node 2 only). Node 1 comes back with
    acceptedEpoch 1 (a new session): the epoch is max + 1 = 2, which node 1 can promise fresh.
    Before the fix the stale entry made epoch 1, which node 1 had promised elsewhere."""
    p = leading()
    p.step(1, FollowerInfo(session=11, accepted_epoch=0, zxid_last=0))
    p.peer_unreachable(1)
    p.step(2, FollowerInfo(session=12, accepted_epoch=0, zxid_last=0))
    assert p.leading.epoch == 0
    p.step(1, FollowerInfo(session=21, accepted_epoch=1, zxid_last=0))
    assert p.leading.epoch == 2


def test_zxid_counter_step_down_hands_its_output_to_the_driver():
    """Goal (ZK-1277 step-down, issue 11 defect 4): the leader that gives up its epoch because
    the zxid counter ran out tells everyone at once. Setup: 3 nodes, counter max 3, three
    writes. Faults: none. Expected: the fourth write is refused with NotReady whose Output
    holds the role change and a vote to each peer; carried out without any tick, both
    followers have received the old leader's LOOKING vote."""
    c = Cluster(3, cfg=CoreConfig(zxid_counter_max=3))
    c.run_until(c.serving, 200)
    ld = c.leader()
    for s in range(1, 4):
        c.submit(ld, s, "a", s)
    with pytest.raises(NotReady) as refused:
        c.peers[ld].submit([Guess("a", 4, 4)])
    out = refused.value.output
    assert out is not None
    assert any(t.event == "role" and "LOOKING" in t.text for t in out.traces)
    voted = {s.to for s in out.sends if isinstance(s.msg, Notification) and s.msg.state == Role.LOOKING}
    assert voted == {i for i in c.ids if i != ld}
    c.delivered.clear()
    c.execute(ld, out)
    c.settle()
    heard = {dst for src, dst, msg in c.delivered
             if src == ld and isinstance(msg, Notification) and msg.state == Role.LOOKING}
    assert heard == voted
    c.run_until(c.serving, 100)
    assert c.peers[c.leader()].epoch == 2


def test_followerinfo_received_while_deciding_is_forgotten_when_its_connection_closes():
    """Goal: the same rule for a FOLLOWERINFO that arrived before we decided (finalize wait).
    Setup: node 0 of 5, LOOKING with a quorum on its own vote; node 1 decided first and its
    FOLLOWERINFO (acceptedEpoch 0) arrives; node 1's connection closes; node 0 decides.
    Expected: the new leader has no learner 1; node 2's FOLLOWERINFO alone decides nothing."""
    p = Peer(0, VOTERS, CoreConfig(), random.Random(0), make_state)
    p.start()
    for i in (1, 2):
        p.step(i, Notification(1, Role.LOOKING, Vote(0, 0, 0)))
    p.step(1, FollowerInfo(session=11, accepted_epoch=0, zxid_last=0))
    p.peer_unreachable(1)
    for _ in range(3):
        p.tick()
    assert p.role == Role.LEADING and 1 not in p.leading.learners
    p.step(2, FollowerInfo(session=12, accepted_epoch=0, zxid_last=0))
    assert p.leading.epoch == 0


def test_a_leader_stepping_down_for_a_higher_accepted_epoch_takes_it_as_its_own_first():
    """Goal: one step-down per stale promise, not one per epoch below it (seed 140249 churned:
    quorums without the promised nodes decided 22, then 23, each leader stepping down when one
    joined). Setup: leader 0 of 5 decides epoch 1 from nodes 1, 2; node 3 then joins with
    acceptedEpoch 5 (another would-be leader's failed attempt). Expected: node 0 looks, and
    the same Output writes acceptedEpoch 5 (persisted before the votes go out); as the next
    would-be leader it decides epoch 6 even from followers that accepted less."""
    p = leading()
    for i in (1, 2):
        p.step(i, FollowerInfo(session=10 + i, accepted_epoch=0, zxid_last=0))
    assert p.leading.epoch == 1
    out = p.step(3, FollowerInfo(session=13, accepted_epoch=5, zxid_last=0))
    assert p.role == Role.LOOKING
    assert out.epochs is not None and out.epochs.accepted_epoch == 5 and p.accepted_epoch == 5
    assert p.current_epoch == 0  # a promise only: nothing it vouches for changed
    for i in (1, 2):  # re-elected by nodes that accepted epoch 1 only
        p.step(i, Notification(p.round, Role.LOOKING, Vote(0, 0, 0)))
    for _ in range(3):
        p.tick()
    assert p.role == Role.LEADING
    for i in (1, 2):
        p.step(i, FollowerInfo(session=30 + i, accepted_epoch=1, zxid_last=0))
    assert p.leading.epoch == 6


def test_a_follower_looks_as_soon_as_its_leader_looks_in_a_later_round():
    """Goal: a leader's step-down reaches its followers at once, not after syncLimit of silence
    (ZooKeeper's leader closes its connections). Setup: node 1 follows node 0, elected in round
    1. Faults: node 0's LOOKING vote of round 1 arrives late (sent before it decided), then one
    of round 2. Expected: the stale one changes nothing (node 1 answers whom it follows); the
    round-2 one makes node 1 look, in round 2, with node 0's vote taken in."""
    p = following(accepted=0)
    out = p.step(0, Notification(1, Role.LOOKING, Vote(0, 0, 0)))
    assert p.role == Role.FOLLOWING and p.leader_id == 0
    assert any(s.to == 0 and isinstance(s.msg, Notification) and s.msg.state == Role.FOLLOWING
               for s in out.sends)
    p.step(0, Notification(2, Role.LOOKING, Vote(0, 0, 0)))
    assert p.role == Role.LOOKING and p.round == 2
    assert p.role_state.received.get(0) == Vote(0, 0, 0)
