"""Attack on commit 76559cc (sim/network.py, then ``Deliver.waits_in``): what waited in a paused
node's socket now dies with that process. The same ghost still reaches a node's next
incarnation by the other road: a message in flight to a process when it dies.

A point-to-point message travels on one TCP connection of its receiver's process (the sender's
DEALER connects to the receiver's ROUTER). Written to TCP before the receiver dies, it is lost
with that connection (in the dead process's receive buffer, or answered by a reset); the
sender's DEALER reconnects to the next incarnation and sends only what was still in its own
queue (the simulator's ``held`` DEALER queues model that, and release them at the restart). A
PUB message is likewise lost with the subscriber's connection. But ``Deliver`` names neither
the receiver's incarnation nor a connection that a death ends: ``node_died`` bumps no
connection generation, and ``arrive`` delivers to whatever incarnation is up when the latency
runs out. A delay spike (up to 8 ticks), a reorder (up to latency_max + 2 ticks), a duplicate
(up to 3 latency_max + 1 tick) or a stale delivery outlasts a downtime of one tick, so the
random runs hand dead connections' messages to new incarnations: the class of seed 251064
(a dead incarnation's vote making a synced follower look), which 76559cc closed only for
paused receivers. Counted over seeds 640000-640059 at 76559cc: 30 of 60 runs delivered such
ghosts (68 votes; PINGs, FOLLOWERINFOs, ACKEPOCHs, LEADERINFOs, SyncTxns, a SNAPCHUNK, ...).

The fix: ``Deliver.to_inc`` names the incarnation whose connection the message was written to
(PUB's, or a DEALER whose handshake is done); ``arrive`` drops it once that incarnation is
gone; a message waiting in a paused receiver's socket takes that receiver's incarnation too
(the one field replaced ``waits_in``). A message sent while no connection was up waits in its
sender's queue and still reaches whichever incarnation connects.
"""

from __future__ import annotations

import pytest

from tests.sim.helpers import calm, followers, wait_serving
from zmqzab.core.roles import Role
from zmqzab.messages import Notification, Vote
from zmqzab.sim.trace import TICK

pytestmark = [pytest.mark.election]


def test_a_message_in_flight_to_a_process_that_dies_never_reaches_its_next_incarnation():
    """Goal: a dead process's connections take their in-flight messages with them. Setup: 5
    calm nodes, a leader established. Faults: a marked LOOKING vote (round 999) from the
    leader to follower f is delayed 5 ticks in the network (as a delay spike); f crashes at once
    and restarts a tick later, before the vote's arrival. Expected: f's new incarnation never
    receives the marked vote (its sender's DEALER had written it to the dead connection)."""
    sim = calm(seed=5)
    with sim:
        ld = wait_serving(sim)
        f = followers(sim, ld)[0]
        marked = Notification(999, Role.LOOKING, Vote(ld, 0, 0))
        sim.rules.append(lambda src, dst, msg: 5 * TICK if msg is marked else None)
        sim.net_send(ld, f, marked, False)
        sim.crash(f)
        sim.run_until_time(sim.now + TICK)
        sim.restart(f)
        sim.run_until_time(sim.now + 10 * TICK)  # past the vote's arrival
        got = [e for e in sim.trace.entries if e[1] == "msg" and e[3] == f and e[4] == marked]
        assert not got, f"n{f}'s new incarnation received a message of its dead connection: {got}"
