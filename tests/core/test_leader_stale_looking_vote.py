"""Attack on commit 37e8df4, change 2 (core/peer.py ``_on_notification``): a FOLLOWING node
whose leader sends a LOOKING vote of a round above the one it followed it in looks at once,
on the premise that the leader "gave up leading".

The premise fails when the follower decided in a lower round than its leader: the leader was
still LOOKING when the follower's finalize wait ended, moved to a later round (a third node's
vote) and decided there. Its LOOKING votes of that later round were sent to the follower
before it led; FIFO delivers them before its LEADERINFO (the follower looks then, harmless), but
a reordered or held one (the simulator reorders, delays and delivers old-connection messages
late) arrives after the follower has synced and serves: the follower abandons a leader that
never stopped leading, re-registers and is synced again.

Such a vote is recognisable: a leader writes currentEpoch = its epoch before it sends any sync
stream (leader._progress), and its LOOKING votes order by currentEpoch first, so every vote it
sends after it stepped down names an epoch >= that one. A LOOKING vote of our leader naming an
epoch below the epoch it is syncing us into (or serving) was sent before it led: stale.
"""

from __future__ import annotations

import pytest

from tests.core.harness import HoldingCluster
from zmqzab.core.roles import Phase, Role
from zmqzab.messages import Notification

pytestmark = [pytest.mark.election]



def test_a_reordered_looking_vote_of_the_leader_does_not_make_a_serving_follower_look():
    """Goal: change 2 must not make a follower abandon a leader that is still leading.
    Setup: 3 nodes, all starting in round 1; node 0 starts round 2 at once (a forced election).
    Faults: the LOOKING votes of round 2 to node 1 are held back (reordered), so node 1 decides
    for node 2 in round 1 while node 2 moves to round 2 and decides there. Node 1 syncs and
    serves; a write commits. Then the held votes arrive (node 2's round-2 LOOKING vote among
    them, sent before it led). Expected: node 1 answers whom it follows and keeps serving under
    node 2; nobody looks."""
    c = HoldingCluster(3)
    c.execute(0, c.peers[0].force_election("a forced election: round 2"))
    c.hold = lambda src, dst, msg: (dst == 1 and isinstance(msg, Notification)
                                    and msg.state == Role.LOOKING and msg.round >= 2)
    c.run_until(c.serving, 100)
    assert c.leader() == 2 and c.peers[1].following.decided.round == 1
    assert c.peers[2].leading.decided.round == 2
    assert any(src == 2 for src, _, _ in c.held), "the scenario needs node 2's round-2 vote held"
    c.submit(1, 7)
    c.tick(2)
    assert c.peers[1].zxid_committed == c.peers[2].zxid_committed > 0
    looks_before = sum(1 for _, i, t in c.traces if t.event == "election" and i == 1)

    c.hold = None
    c.queue.extend(c.held)  # the reordered votes arrive now
    c.settle()

    f = c.peers[1]
    looks = [t.text for _, i, t in c.traces if t.event == "election" and i == 1][looks_before:]
    assert not looks, f"node 1 looked: {looks}"
    assert f.role == Role.FOLLOWING and f.leader_id == 2 and f.phase == Phase.BROADCAST
