"""A leader forgets a learner gone in discovery (issue 11, defect 1) only while its
FOLLOWERINFO can still decide the epoch.

node.py reports ``peer_unreachable`` from the monitor of the leader's own DEALER to that
follower: one of the pair's two connections. The follower's DEALER to the leader (which carries
its FOLLOWERINFO and ACKEPOCH) may be fine, and the follower, told nothing, stays in SYNC. If the
leader has already decided the epoch and sent LEADERINFO, forgetting the learner then throws
away its ACKEPOCH, a fresh durable promise of this very epoch that this leader alone can ever
count (the follower's next answer to this epoch is NOT_COUNTED): with a bare quorum up the
epoch cannot be established and the cluster waits out initLimit and a new election.
"""

import random

import pytest
from tests.core.harness import make_state
from zmqzab.core.peer import Peer
from zmqzab.core.roles import Phase, Role
from zmqzab.core.settings import CoreConfig
from zmqzab.messages import AckEpoch, FollowerInfo, LeaderInfo, Notification, SyncStart, Vote

pytestmark = [pytest.mark.election]

VOTERS = [0, 1, 2]


def leading() -> Peer:
    """Node 0 of 3 (node 2 down), just elected, no FOLLOWERINFO yet."""
    p = Peer(0, VOTERS, CoreConfig(), random.Random(0), make_state)
    p.start()
    p.step(1, Notification(1, Role.LOOKING, Vote(0, 0, 0)))
    for _ in range(3):
        p.tick()
    assert p.role == Role.LEADING and p.leading.epoch == 0
    return p


def test_a_promise_arriving_after_the_leaders_connection_closed_still_counts():
    """Goal: a fresh ACKEPOCH is not lost to a connection close once the epoch is decided.
    Setup: 3 nodes, node 2 down; leader 0 gets node 1's FOLLOWERINFO (acceptedEpoch 0) and
    decides epoch 1, LEADERINFO out. Faults: the leader's connection to node 1 closes (its
    monitor reports node 1 unreachable) while node 1's ACKEPOCH, a counting one, is on its way
    on node 1's own connection. Expected: the ACKEPOCH counts, the epoch stands with {0, 1},
    node 1 is synced: no wait for initLimit and a new election."""
    p = leading()
    out = p.step(1, FollowerInfo(session=11, accepted_epoch=0, zxid_last=0))
    assert p.leading.epoch == 1
    assert any(s.to == 1 and isinstance(s.msg, LeaderInfo) for s in out.sends)
    p.peer_unreachable(1)
    assert p.role == Role.LEADING
    out = p.step(1, AckEpoch(session=11, epoch=1, current_epoch=0, zxid_last=0))
    assert p.leading.epoch_acked and p.phase == Phase.SYNC
    assert any(s.to == 1 and isinstance(s.msg, SyncStart) for s in out.sends)


def test_a_followerinfo_whose_connection_closed_before_the_epoch_is_decided_is_still_forgotten():
    """The part of the fix this must keep: before the epoch is decided, a gone learner's
    FOLLOWERINFO neither makes the quorum nor feeds max(acceptedEpoch)."""
    p = Peer(0, [0, 1, 2, 3, 4], CoreConfig(), random.Random(0), make_state)
    p.start()
    for i in (1, 2):
        p.step(i, Notification(1, Role.LOOKING, Vote(0, 0, 0)))
    for _ in range(3):
        p.tick()
    p.step(1, FollowerInfo(session=11, accepted_epoch=0, zxid_last=0))
    p.peer_unreachable(1)
    p.step(2, FollowerInfo(session=12, accepted_epoch=0, zxid_last=0))
    assert p.leading.epoch == 0 and 1 not in p.leading.learners
