"""The simulator makes connections as the real transport does, and tells the nodes
(``Peer.peer_connected``, network.py "Connections"): at start-up, after a restart, a flap or a
heal. The path ran only in real processes before (node.py's monitors)."""

from __future__ import annotations

import pytest
from tests.sim.helpers import LIVENESS_TICKS, calm, followers, wait_serving
from zmqzab.core.output import Output
from zmqzab.core.peer import Peer
from zmqzab.core.roles import Phase, Role
from zmqzab.messages import Notification
from zmqzab.sim.events import Tick

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


def _record_ticks(sim, f: int) -> list[int]:
    """The times of ``f``'s ticks from now on (each may resend its vote)."""
    times: list[int] = []
    on_tick = sim._handlers[Tick]

    def recorded(ev: Tick) -> None:
        if ev.node == f and sim.nodes[f].up and sim.nodes[f].incarnation == ev.incarnation:
            times.append(sim.now)
        on_tick(ev)

    sim._handlers[Tick] = recorded
    return times


def _following(sim, f: int, ld: int) -> bool:
    p = sim.nodes[f].peer
    return p is not None and p.role == Role.FOLLOWING and p.leader_id == ld and p.phase == Phase.BROADCAST


def _restart_and_join(seed: int) -> tuple[int, int]:
    """Crash a follower of a serving 5-node cluster, restart it with IMMEDIATE; returns (units
    from the connection that gave it a quorum of notifications to its decision, its ticks
    between its restart and its decision)."""
    with calm(seed=seed) as sim:
        ld = wait_serving(sim)
        f = followers(sim, ld)[-1]
        sim.crash(f)
        sim.run_ticks(3)
        ticks = _record_ticks(sim, f)
        restarted = _restart_with_immediate(sim, f)
        sim.run_until(lambda: _following(sim, f, ld), 4 * sim.core.vote_resend_ticks + 20)
        joined = _joined_at(sim, f, restarted)
        to_f = sorted(t for t, _, _ in _made(sim, peer=f) if t >= restarted)
        quorum_at = to_f[sim.nodes[f].peer.quorum - 1]
        before = sum(1 for t in ticks if t <= joined)
        print(f"seed {seed}: restart t={restarted}u, quorum of connections to n{f} t={quorum_at}u, "
              f"joined t={joined}u, after {before} tick(s) of its own")
        sim.rules.clear()
        sim.check_liveness(LIVENESS_TICKS)
        return joined - quorum_at, before


def _stale_own_vote(self: Peer, peer_id: int) -> Output:
    """A plausible bug: "our vote" taken as the vote we started with, LOOKING, whatever we are now."""
    out = Output()
    if peer_id in self.peers:
        self.send(out, peer_id, Notification(round=self.round, state=Role.LOOKING, vote=self.own_vote()))
    return out


@pytest.mark.parametrize("seed", [11, 12, 14])
def test_restarted_follower_joins_as_its_peers_connections_are_made(seed):
    """Goal: a restarted follower joins the established leader as soon as its peers'
    connections to it are made (their peer_connected notifications), not at its vote resend.
    Setup: 5 nodes, calm network (latency at most 10 units, a tick is 100), an established
    leader; a follower crashes and restarts.
    Faults: what is sent on a connection not made yet is lost (IMMEDIATE), so the restarted
    node's start-up votes and anything sent to it before its peers reconnect vanish.
    Expected: it decides (joins the leader) within one message latency of the connection that
    gives it a quorum of FOLLOWING/LEADING notifications (0 ticks after it), before its first
    tick (no vote resend needed). Controls, same seed: with peer_connected doing nothing, or
    sending a stale notification (our start-up vote, LOOKING), it joins later than one latency
    after that connection: only once a vote of its own (a resend at its tick, or a switch to a
    peer's stale vote) has drawn its peers' answers."""
    latency_max = 10
    took, ticks = _restart_and_join(seed)
    assert 0 < took <= latency_max and ticks == 0
    real = Peer.peer_connected
    for broken in (lambda self, peer_id: Output(), _stale_own_vote):
        try:
            Peer.peer_connected = broken  # type: ignore[method-assign]
            took, ticks = _restart_and_join(seed)
        finally:
            Peer.peer_connected = real  # type: ignore[method-assign]
        assert took > latency_max  # a round trip of its own at least (its vote, their answer)


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


def test_a_flap_during_a_handshake_ends_connected():
    """Goal: a flap while a connection is still being made leaves it made, and the node is told
    so last (a handshake pushed before the flap once completed before the close report: the
    node heard "made" then "closed" while the simulator held the connection up).
    Setup: 3 nodes, calm network, an established leader; a follower crashes and restarts.
    Faults: at the restart, before any of its connections is made, its connections with the
    leader flap. Expected: for that pair each end hears "closed" then "made", the connection is
    up at the end, and the cluster serves."""
    with calm(seed=4, nodes=3) as sim:
        ld = wait_serving(sim)
        f = followers(sim, ld)[0]
        sim.crash(f)
        sim.run_ticks(1)
        start = sim.now
        sim.restart(f)
        assert (f, ld) in sim.net.connecting and (ld, f) in sim.net.connecting
        sim.flap(f, ld, "scripted, during the handshake")
        sim.run_ticks(2)
        for me, other in ((ld, f), (f, ld)):
            seen = [e[3] for e in sim.trace.entries if e[0] >= start and e[1] == "node" and e[2] == me
                    and e[3] in (f"connection to n{other} closed", f"connection to n{other} made")]
            assert seen == [f"connection to n{other} closed", f"connection to n{other} made"], (me, seen)
            assert (me, other) in sim.net.linked
        sim.check_liveness(LIVENESS_TICKS)
