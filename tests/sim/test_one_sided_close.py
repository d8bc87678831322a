"""A connection close seen by one end only (node.py's monitors watch each node's own DEALER:
a pair of nodes has two connections, and each end is told about its own).

The simulator's ``flap`` always tells both ends; these scenarios close one side by hand.
"""

from __future__ import annotations

import pytest
from tests.sim.helpers import LIVENESS_TICKS, calm, followers, wait_serving
from zmqzab.core.roles import Phase, Role
from zmqzab.messages import AckEpoch
from zmqzab.sim.events import ConnectionClosed

pytestmark = [pytest.mark.transport]


def test_leader_side_close_while_a_counting_ackepoch_is_on_its_way():
    """Goal: a promise is not thrown away because the leader's own connection to that
    follower closed after the epoch was decided (issue 11 defect 1's learner_gone).

    Setup: 3 nodes, calm network, an established leader; one follower (X) crashes, so the
    other follower (F) and the leader are a bare quorum; the leader is told to start an
    election (force_election), and the two re-elect and go through discovery.
    Faults: the moment F's counting ACKEPOCH leaves, the leader's monitor reports its DEALER
    to F closed (F's own connection, which carries the ACKEPOCH, is fine; F is told nothing).
    Expected: the ACKEPOCH counts and the new leader is serving within a few ticks, not
    after initLimit and another election.
    """
    with calm(seed=7, nodes=3) as sim:
        ld = wait_serving(sim)
        x, f = followers(sim, ld)
        sim.crash(x)
        fired: list[int] = []

        def close_leader_side(src, dst, msg):
            if not fired and isinstance(msg, AckEpoch) and msg.current_epoch != -1:
                fired.append(src)
                node = sim.nodes[dst]
                sim.push(sim.now, ConnectionClosed(dst, node.incarnation, src))  # before the ACKEPOCH lands
            return None

        sim.rules.append(close_leader_side)
        node = sim.nodes[ld]
        sim._run_step(node, lambda: node.peer.force_election("scenario"))
        start = sim.tick

        def serving() -> bool:
            new = sim.established_leader()
            return new is not None and all(
                n.peer.role == Role.FOLLOWING and n.peer.phase == Phase.BROADCAST
                for n in sim.nodes.values() if n.up and n.id != new)

        sim.run_until(serving, 2 * sim.core.init_limit_ticks + 20)
        assert fired, "no counting ACKEPOCH was sent"
        took = sim.tick - start
        assert any(e[1] == "node" and "connection to n" in e[3] for e in sim.trace.entries)
        assert took < sim.core.init_limit_ticks, f"serving only {took} ticks after the election started"
        sim.rules.clear()
        sim.check_liveness(LIVENESS_TICKS)
