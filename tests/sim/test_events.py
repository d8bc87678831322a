"""The simulator's event queue (zmqzab/sim/events.py, Simulation.push): the order a seed's trace
depends on."""

from __future__ import annotations

from tests.sim.helpers import calm, followers, wait_serving
from zmqzab.sim.events import ConnectionClosed
from zmqzab.sim.trace import TICK


def closes_seen(sim, node: int) -> list[tuple[int, str]]:
    """(time, text) of node's "connection to nX closed" trace lines."""
    return [(e[0], e[3]) for e in sim.trace.entries
            if e[1] == "node" and e[2] == node and e[3].startswith("connection to n")
            and e[3].endswith(" closed")]


def test_events_at_one_time_run_in_push_order_wait_out_a_pause_and_die_with_their_incarnation():
    """Goal: events due at the same time run in the order they were pushed, also when they
    wait for a paused node, and an event of a node's earlier incarnation never runs (the
    trace of a seed, byte for byte, rests on this).

    Setup: 5 nodes on a calm network, an established leader; a follower F and three other
    followers a, b, c.
    Faults: ConnectionClosed events for F, pushed for one moment about a, then b; then F is
    paused for 3 ticks, and events are pushed about a (now), b (a unit later) and, for F's
    previous incarnation, c (now).
    Expected: the first two reach F at once, a before b; the next two when F resumes, a before
    b; the one for the dead incarnation never does.
    """
    with calm(seed=5, nodes=5) as sim:
        ld = wait_serving(sim)
        f, a, b, c = followers(sim, ld)
        node = sim.nodes[f]
        expected = [f"connection to n{a} closed", f"connection to n{b} closed"]
        now = sim.now
        sim.push(now, ConnectionClosed(f, node.incarnation, a))
        sim.push(now, ConnectionClosed(f, node.incarnation, b))
        sim.run_ticks(1)
        assert closes_seen(sim, f) == [(now, text) for text in expected]

        sim.trace.entries.clear()
        sim.pause(f, 3)
        now = sim.now
        resume = now + 3 * TICK
        sim.push(now, ConnectionClosed(f, node.incarnation, a))
        sim.push(now + 1, ConnectionClosed(f, node.incarnation, b))
        sim.push(now, ConnectionClosed(f, node.incarnation - 1, c))
        sim.run_ticks(5)
        assert closes_seen(sim, f) == [(resume, text) for text in expected]
