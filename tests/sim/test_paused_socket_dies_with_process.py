"""What waits in a paused process's socket dies with the process (found by an attacker of
commit 37e8df4: seed 251064).

``Network.arrive`` holds a message for a paused node until it resumes ("waits in its socket").
A crash while paused reset ``paused_until`` but left those messages scheduled at the old resume
time, and ``Deliver`` names no incarnation of its receiver: they reached the node's next
incarnation, which never had a connection to their sender's socket. In seed 251064 (5 nodes) n3
was paused at t=122 for 23 ticks and crashed at t=123; n5's round-10 LOOKING vote, sent at t=121
by an incarnation of n5 that itself died at t=125, reached n3's new incarnation at t=145, after
it had joined n5's new incarnation (epoch 8, elected in round 2) and synced: n3 looked (commit
37e8df4's "leader looks in a later round").
"""

from __future__ import annotations

import pytest

from tests.sim.helpers import calm, followers, wait_serving
from zmqzab.core.roles import Role
from zmqzab.messages import Notification, Vote
from zmqzab.sim.trace import TICK

pytestmark = [pytest.mark.election]


def test_a_message_waiting_for_a_paused_node_is_lost_when_it_crashes():
    """Goal: a crashed process's socket buffers are not handed to its next incarnation.
    Setup: 5 calm nodes, a leader established. Faults: follower f is paused for 20 ticks; a
    marked LOOKING vote (round 999) is sent to it and waits; f crashes and restarts at once.
    Expected: f's new incarnation never receives the marked vote, even after the old resume
    time."""
    sim = calm(seed=5)
    with sim:
        ld = wait_serving(sim)
        f = followers(sim, ld)[0]
        sim.pause(f, 20)
        marked = Notification(999, Role.LOOKING, Vote(ld, 0, 0))
        sim.net_send(ld, f, marked, False)
        sim.run_until_time(sim.now + 3 * TICK)  # arrived: it waits in f's socket
        sim.crash(f)
        sim.restart(f)
        sim.run_until_time(sim.now + 25 * TICK)  # past the old resume time
        got = [e for e in sim.trace.entries if e[1] == "msg" and e[3] == f and e[4] == marked]
        assert not got, f"n{f}'s new incarnation received what waited in its dead socket: {got}"
