"""The simulator makes connections as the real transport does, and tells the nodes
(``Peer.peer_connected``, network.py "Connections"): at start-up, after a restart, a flap or a
heal. The path ran only in real processes before (node.py's monitors)."""

from __future__ import annotations

import pytest
from tests.sim.helpers import LIVENESS_TICKS, calm, followers, wait_serving
from zmqzab.core.output import Output
from zmqzab.core.peer import Peer
from zmqzab.core.roles import Phase, Role

pytestmark = [pytest.mark.transport]


def _made(sim, node: int | None = None, peer: int | None = None) -> list[tuple[int, int, int]]:
    """(time, node, peer) of every "connection to nX made" in the trace."""
    found = []
    for entry in sim.trace.entries:
        if entry[1] == "node" and entry[3].startswith("connection to n") and entry[3].endswith(" made"):
            me, other = entry[2], int(entry[3].split()[2][1:])
            if (node is None or me == node) and (peer is None or other == peer):
                found.append((entry[0], me, other))
    return found


def test_every_pair_connects_at_start_up_and_again_after_a_restart():
    """Goal: the simulated cluster runs ``Peer.peer_connected``.
    Setup: 5 nodes, calm network. Faults: one follower crashes and restarts.
    Expected: at start-up each node's DEALER connects to each other node once (20 connections);
    the restart makes 8 more (the restarted node to its 4 peers and theirs to it), each after
    the restart, and the cluster serves again."""
    with calm(seed=3) as sim:
        ld = wait_serving(sim)
        assert sim.net.connects == 20 and len(_made(sim)) == 20
        assert sim.net.linked == {(a, b) for a in sim.ids for b in sim.ids if a != b}
        f = followers(sim, ld)[0]
        sim.crash(f)
        assert not any(f in pair for pair in sim.net.linked)
        sim.run_ticks(2)
        restarted_at = sim.now
        sim.restart(f)
        wait_serving(sim)
        again = [m for m in _made(sim) if m[0] >= restarted_at]
        assert sorted((a, b) for _, a, b in again) == sorted(
            [(f, j) for j in sim.ids if j != f] + [(j, f) for j in sim.ids if j != f])
        assert sim.net.connects == 28


def _restart_with_immediate(sim, f: int) -> int:
    """Restart ``f`` while every message sent on a connection not made yet is lost (ZeroMQ's
    IMMEDIATE, as transport.py: a DEALER queues nothing for a peer it is not connected to).
    Returns the time of the restart."""

    def immediate(src: int, dst: int, msg) -> str | None:
        if f in (src, dst) and (src, dst) not in sim.net.linked:
            return "drop"
        return None

    sim.rules.append(immediate)
    at = sim.now
    sim.restart(f)
    return at


def _joined_at(sim, f: int, since: int) -> int:
    for entry in sim.trace.entries:
        if entry[0] >= since and entry[1] == "node" and entry[2] == f and entry[3].startswith("elected: "):
            assert "joined the established leader" in entry[3], entry[3]
            return entry[0]
    raise AssertionError(f"n{f} never decided")


def _following(sim, f: int, ld: int) -> bool:
    p = sim.nodes[f].peer
    return p is not None and p.role == Role.FOLLOWING and p.leader_id == ld and p.phase == Phase.BROADCAST


def test_restarted_follower_joins_as_its_peers_connections_are_made():
    """Goal: a restarted follower joins the established leader as soon as its peers'
    connections to it are made (their peer_connected notifications), not at its vote resend.
    Setup: 5 nodes, calm network, an established leader; a follower crashes and restarts.
    Faults: what is sent on a connection not made yet is lost (IMMEDIATE), so the restarted
    node's start-up votes and anything sent to it before its peers reconnect vanish.
    Expected: it decides (joins the leader) in the same tick as the connection that gives it a
    quorum of FOLLOWING/LEADING notifications, i.e. 0 ticks after it; with peer_connected
    doing nothing (the control run) it decides a tick or more later."""

    def run(connected: bool) -> int:
        with calm(seed=11) as sim:
            ld = wait_serving(sim)
            f = followers(sim, ld)[-1]
            sim.crash(f)
            sim.run_ticks(3)
            restarted = _restart_with_immediate(sim, f)
            sim.run_until(lambda: _following(sim, f, ld), 4 * sim.core.vote_resend_ticks + 20)
            joined = _joined_at(sim, f, restarted)
            to_f = sorted(t for t, _, _ in _made(sim, peer=f) if t >= restarted)
            quorum_at = to_f[sim.nodes[f].peer.quorum - 1]
            print(f"connected={connected}: restart t={restarted}, quorum of connections to n{f} "
                  f"t={quorum_at}, joined t={joined}")
            sim.rules.clear()
            sim.check_liveness(LIVENESS_TICKS)
            return (joined - quorum_at) // 100 if joined >= quorum_at else -1

    assert run(True) == 0
    real = Peer.peer_connected
    try:
        Peer.peer_connected = lambda self, peer_id: Output()  # type: ignore[method-assign]
        assert run(False) >= 1
    finally:
        Peer.peer_connected = real  # type: ignore[method-assign]


def test_a_heal_connects_what_the_partition_kept_apart():
    """Goal: a connection that could not be made during a partition is made at the heal.
    Setup: 5 nodes, calm network, an established leader. Faults: a follower is cut off from
    everyone, crashes and restarts inside the partition.
    Expected: no connection to or from it is made while the cut holds; at the heal each of its
    8 connections is made (peer_connected on both sides) and it follows the leader again."""
    with calm(seed=5) as sim:
        ld = wait_serving(sim)
        f = followers(sim, ld)[0]
        others = [i for i in sim.ids if i != f]
        sim.partition([[f], others])
        sim.crash(f)
        sim.run_ticks(1)
        sim.restart(f)
        start = sim.now
        sim.run_ticks(5)
        assert not [m for m in _made(sim) if m[0] >= start and f in m[1:]]
        healed = sim.now
        sim.heal()
        sim.run_until(lambda: _following(sim, f, sim.established_leader() or 0), 60)
        made = sorted((a, b) for t, a, b in _made(sim) if t >= healed)
        assert made == sorted([(f, j) for j in others] + [(j, f) for j in others])
        sim.check_liveness(LIVENESS_TICKS)


def test_a_flap_reconnects_after_the_close_is_reported():
    """Goal: a flapped connection is made again, after both ends were told it closed.
    Setup: 3 nodes, calm network, an established leader. Faults: the leader's connections to a
    follower flap. Expected: each end hears "closed" then "made" for the other, in that order,
    and the cluster serves."""
    with calm(seed=2, nodes=3) as sim:
        ld = wait_serving(sim)
        f = followers(sim, ld)[0]
        start = sim.now
        sim.flap(ld, f)
        sim.run_ticks(3)
        for me, other in ((ld, f), (f, ld)):
            seen = [e[3] for e in sim.trace.entries if e[0] >= start and e[1] == "node" and e[2] == me
                    and e[3] in (f"connection to n{other} closed", f"connection to n{other} made")]
            assert seen == [f"connection to n{other} closed", f"connection to n{other} made"], seen
        sim.check_liveness(LIVENESS_TICKS)
