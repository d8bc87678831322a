"""The simulated network between the nodes: latency, FIFO per connection, message faults,
partitions, held DEALER queues and connection flaps.

Theory of operation
-------------------
A message gets a latency of 1..latency_max units and, per link and socket kind (DEALER or PUB),
keeps FIFO order, like one TCP connection. Faults (from the seed's profile): drop, duplicate,
reorder (the message ignores FIFO and is overtaken or overtakes), delay spikes, partitions (both
ways, one way, or a bridge: two halves cut from each other and one node that reaches both) that
heal after a while. A point-to-point message that finds its peer down or cut off either is lost
or waits in the sender's DEALER queue and arrives after the heal or restart (ZAB_CHECKLIST #6);
PUB messages are simply lost, as on a real PUB socket. Connection flaps: the connections between
two running nodes close and reopen (``flap``); both ends are told, as by their socket monitors,
and a message sent before the flap belongs to the old connection: it is lost, or arrives late,
after the new connection's messages (each message carries the pair's connection generation).
Flaps, stale deliveries and bridges draw from their own random stream (``rng_conn``), latency
and message faults from ``rng``.

Connections. Each node's DEALER to each peer is a connection that is made (``ConnectionMade``:
the monitor's EVENT_HANDSHAKE_SUCCEEDED, ``Peer.peer_connected``) a short delay after both
processes are up and no partition lies between them: when a node starts (to and from every
running peer), after a flap (after the close was reported), and at a heal (the pairs the
partition kept from connecting). A connection is lost when either process dies (the survivor's
monitor reports it, ``Peer.peer_unreachable``) or in a flap; what was written to it and
not yet read dies with the receiving process (``Deliver.to_inc``). A partition closes nothing: as
with ``zmqzab chaos --netns`` (routes) an established TCP connection goes silent, and a new one
cannot be made until the heal (a one-way cut blocks it too: a handshake needs both ways). A
paused process keeps its connections; a handshake with it completes when it resumes. The
connect delays draw from their own stream (``rng_link``), so the other streams draw what they
drew before.

Scripted scenarios add ``rules``, looked at on every send. Which partitions and flaps happen,
and when, is faults.py's decision; this module carries them out.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Callable

import msgspec

from zmqzab.messages import PeerMessage
from zmqzab.sim.events import ConnectionClosed, ConnectionMade, Deliver
from zmqzab.sim.trace import TICK

if TYPE_CHECKING:
    from zmqzab.sim.simulation import Simulation

#: A DEALER queue for an unreachable peer holds at most this many messages (ZeroMQ's HWM).
HELD_MAX = 1000

#: A scenario's rule, asked on every send: "drop", "dup", an int (extra delay in units, FIFO
#: ignored) or None (no say).
Rule = Callable[[int, int, PeerMessage], "str | int | None"]


class Network:
    def __init__(self, sim: Simulation, rng: random.Random, rng_conn: random.Random,
                 rng_link: random.Random) -> None:
        self.sim = sim
        self.nodes = sim.nodes
        self.rng = rng
        self.rng_conn = rng_conn
        self.rng_link = rng_link
        #: Directed (node, peer) pairs whose DEALER connection is up (handshake done).
        self.linked: set[tuple[int, int]] = set()
        #: Directed pairs with a ConnectionMade pushed and not yet handled.
        self.connecting: set[tuple[int, int]] = set()
        #: (node, peer) -> when node's monitor reports that connection closed: a new one is
        #: made after that (ZeroMQ reconnects after reporting the loss).
        self._closed_at: dict[tuple[int, int], int] = {}
        #: Connections made (``Peer.peer_connected`` calls), for the run's tests.
        self.connects = 0
        #: Messages sent (the run's result reports it).
        self.messages = 0
        #: Scripted scenarios: rules on every send (see ``Rule``).
        self.rules: list[Rule] = []
        #: Directed (src, dst) pairs that are cut.
        self.cut: set[tuple[int, int]] = set()
        self.partitioned = False
        #: (src, dst) -> messages waiting in src's DEALER queue for dst.
        self.held: dict[tuple[int, int], list[PeerMessage]] = {}
        #: (low id, high id) -> how many times the connections between the two flapped; a
        #: message carries the count of its sending time, so one from an older connection is
        #: recognised when it arrives.
        self.conn_gen: dict[tuple[int, int], int] = {}
        #: (src, dst, pub) -> the arrival time of the link's last FIFO message.
        self._link_last: dict[tuple[int, int, bool], int] = {}

    # ------------------------------------------------------------------ partitions

    def partition(self, groups: list[list[int]] | list[set[int]], one_way: bool = False) -> None:
        """Cut every link between different groups (``one_way``: only from earlier to later)."""
        cut = set()
        for gi, g in enumerate(groups):
            for hi, h in enumerate(groups):
                if gi == hi or (one_way and hi < gi):
                    continue
                for a in sorted(g):
                    for b in sorted(h):
                        cut.add((a, b))
        self.cut = cut
        self.partitioned = bool(cut)
        shown = " | ".join("{" + ",".join(f"n{x}" for x in sorted(g)) + "}" for g in groups)
        sim = self.sim
        sim.trace.add(sim.now, "fault", f"partition {shown}{' (one way, left to right)' if one_way else ''}")

    def bridge(self, left: list[int], right: list[int], middle: int) -> None:
        """Cut ``left`` from ``right`` both ways; ``middle`` still reaches both halves."""
        self.cut = {(x, y) for x in left for y in right} | {(y, x) for x in left for y in right}
        self.partitioned = True
        sim = self.sim
        sim.trace.add(sim.now, "fault", "bridge partition {" + ",".join(f"n{x}" for x in left)
                      + "} | {" + ",".join(f"n{x}" for x in right) + f"}}, n{middle} reaches both")

    def heal(self) -> None:
        if self.partitioned:
            self.sim.trace.add(self.sim.now, "fault", "heal: every link works again")
        self.cut = set()
        self.partitioned = False
        self.release_held()
        for a in self.sim.ids:
            for b in self.sim.ids:
                if a != b:
                    self.connect(a, b)  # the pairs the partition kept from connecting

    def release_held(self, dst: int | None = None) -> None:
        """Reconnected: DEALER queues flush, in order."""
        for key in sorted(self.held):
            src, to = key
            if (dst is not None and to != dst) or key in self.cut or not self.nodes[to].up:
                continue
            msgs = self.held.pop(key)
            for msg in msgs:
                self._schedule(src, to, msg, False, " [held, now delivered]")

    # ------------------------------------------------------------------ connections

    def flap(self, a: int, b: int, why: str = "") -> None:
        """The connections between ``a`` and ``b`` close and reopen at once (a network blip):
        each end's socket monitor reports the close (``Peer.peer_unreachable``) after a
        latency, and what was in flight between them belongs to the old connection: lost, or
        (``stale_delivery``) arriving late, after what the new connection carries."""
        sim = self.sim
        key = (a, b) if a < b else (b, a)
        self.conn_gen[key] = self.conn_gen.get(key, 0) + 1
        sim.counters["flap"] += 1
        sim.trace.add(sim.now, "fault", f"connection n{a}-n{b} flaps{f' ({why})' if why else ''}")
        for me, other in ((a, b), (b, a)):
            node = self.nodes[me]
            if node.up:
                delay = self.rng_conn.randint(1, sim.profile.latency_max)
                sim.push(sim.now + delay, ConnectionClosed(me, node.incarnation, other))
                self._closed_at[(me, other)] = sim.now + delay
                self.linked.discard((me, other))
                self.connecting.discard((me, other))  # a handshake under way fails too
        for me, other in ((a, b), (b, a)):
            self.connect(me, other)  # reopens, after the close was reported

    def node_died(self, i: int) -> None:
        """Node ``i``'s process died: its DEALER queues die with it, and its TCP connections
        close: each running peer's socket monitor reports it soon after (node.py feeds that to
        ``Peer.peer_unreachable``). A pause or a partition closes nothing."""
        for key in [k for k in sorted(self.held) if k[0] == i]:
            del self.held[key]
        sim = self.sim
        for other in sim.up_nodes():
            delay = self.rng.randint(1, sim.profile.latency_max)
            sim.push(sim.now + delay, ConnectionClosed(other.id, other.incarnation, i))
            self._closed_at[(other.id, i)] = sim.now + delay
        for pairs in (self.linked, self.connecting):
            pairs.difference_update([k for k in pairs if i in k])

    def node_started(self, i: int) -> None:
        """Node ``i``'s process is up: its DEALERs connect to every running peer, and theirs to it."""
        for other in self.sim.up_nodes():
            if other.id != i:
                self.connect(i, other.id)
                self.connect(other.id, i)

    def connect(self, a: int, b: int) -> None:
        """``a``'s DEALER to ``b`` connects, if it is not connected or connecting, both are up
        and no cut lies between them: ConnectionMade after a delay, after any close of that
        connection ``a`` has yet to be told of."""
        sim = self.sim
        key = (a, b)
        na, nb = self.nodes[a], self.nodes[b]
        if (key in self.linked or key in self.connecting or not na.up or not nb.up
                or key in self.cut or (b, a) in self.cut):
            return
        at = max(sim.now + self.rng_link.randint(1, sim.profile.latency_max),
                 self._closed_at.get(key, 0) + 1)
        self.connecting.add(key)
        sim.push(at, ConnectionMade(a, na.incarnation, b, nb.incarnation, self._gen(a, b)))

    def made(self, ev: ConnectionMade) -> bool:
        """A ConnectionMade is due: True when the connection is now up (the node is to be told,
        ``Peer.peer_connected``). A handshake with a paused process waits for it to resume; one
        through a cut made since fails (the heal connects again); one with a process that died
        since is void."""
        sim = self.sim
        a, b = ev.node, ev.peer
        na, nb = self.nodes[a], self.nodes[b]
        if not (na.up and nb.up and na.incarnation == ev.incarnation and nb.incarnation == ev.peer_incarnation
                and ev.gen == self._gen(a, b)):
            return False  # node_died or a flap forgot the attempt
        resume = max(na.paused_until, nb.paused_until)
        if resume > sim.now:
            sim.push(resume, ev)
            return False
        self.connecting.discard((a, b))
        if (a, b) in self.cut or (b, a) in self.cut:
            return False
        self.linked.add((a, b))
        self.connects += 1
        return True

    # ------------------------------------------------------------------ sending

    def send(self, src: int, dst: int, msg: PeerMessage, pub: bool) -> None:
        """``src`` sends ``msg`` to ``dst`` (``pub``: on its PUB socket, else its DEALER)."""
        sim = self.sim
        self.messages += 1
        prof = sim.profile
        rng = self.rng
        extra: int | None = None
        dup = False
        for rule in self.rules:
            verdict = rule(src, dst, msg)
            if verdict == "drop":
                sim.trace.add(sim.now, "lost", src, dst, msg, "dropped by the scenario")
                return
            if verdict == "dup":
                dup = True
            elif isinstance(verdict, int):
                extra = verdict
        if sim.faults_on and not sim.liveness:
            if prof.drop and rng.random() < prof.drop:
                sim.counters["drop"] += 1
                sim.trace.add(sim.now, "lost", src, dst, msg, "dropped")
                return
            if prof.reorder and rng.random() < prof.reorder:
                sim.counters["reorder"] += 1
                extra = rng.randint(1, prof.latency_max + 2 * TICK)
            if prof.delay_spike and rng.random() < prof.delay_spike:
                sim.counters["delay_spike"] += 1
                extra = (extra or 0) + rng.randint(TICK, 8 * TICK)
            if prof.duplicate and rng.random() < prof.duplicate:
                sim.counters["duplicate"] += 1
                dup = True
        self._schedule(src, dst, msg, pub, "", extra)
        if dup:
            self._schedule(src, dst, msg, pub, " [duplicate]", rng.randint(1, 3 * prof.latency_max + TICK))

    def _schedule(self, src: int, dst: int, msg: PeerMessage, pub: bool, note: str,
                  extra: int | None = None) -> None:
        sim = self.sim
        t = sim.now + self.rng.randint(1, sim.profile.latency_max)
        if extra is None:
            key = (src, dst, pub)
            last = self._link_last.get(key, 0)
            if t < last:
                t = last  # one connection: FIFO
            self._link_last[key] = t
        else:
            t += extra  # reordered / held up: outside the link's FIFO order
        gen = self.conn_gen.get((src, dst) if src < dst else (dst, src), 0)
        # Written to a connection of the receiver's process (PUB's, or a DEALER whose
        # handshake is done), it dies with that process; else it waits in the sender's queue
        # and goes to whichever incarnation the DEALER connects to.
        node = self.nodes[dst]
        to_inc = node.incarnation if node.up and (pub or (src, dst) in self.linked) else -1
        sim.push(t, Deliver(src, dst, pub, gen, msg, note, to_inc=to_inc))

    def _gen(self, a: int, b: int) -> int:
        """How many times the connections between ``a`` and ``b`` flapped."""
        return self.conn_gen.get((a, b) if a < b else (b, a), 0)

    # ------------------------------------------------------------------ arriving

    def arrive(self, ev: Deliver) -> None:
        """A Deliver event is due."""
        sim = self.sim
        node = self.nodes[ev.dst]
        if ev.to_inc >= 0 and (not node.up or node.incarnation != ev.to_inc):
            # Written to a connection, or waiting in the socket, of a process that died since.
            sim.trace.add(sim.now, "lost", ev.src, ev.dst, ev.msg,
                          "it died with the process it was sent to")
            return
        resume = node.paused_until
        if resume > sim.now:
            # waits in its socket, order kept, and dies with this process
            sim.push(resume, ev if ev.to_inc >= 0 else msgspec.structs.replace(ev, to_inc=node.incarnation))
        elif ev.gen != self.conn_gen.get((ev.src, ev.dst) if ev.src < ev.dst else (ev.dst, ev.src), 0):
            self._old_connection(ev)
        else:
            self.deliver(ev.src, ev.dst, ev.pub, ev.msg, ev.note)

    def _old_connection(self, ev: Deliver) -> None:
        """A message sent on a connection that has flapped since: lost, or late."""
        sim = self.sim
        src, dst = ev.src, ev.dst
        if sim.profile.stale_delivery and self.rng_conn.random() < sim.profile.stale_delivery:
            sim.counters["stale_delivery"] += 1
            key = (src, dst) if src < dst else (dst, src)
            late = Deliver(src, dst, ev.pub, self.conn_gen.get(key, 0), ev.msg,
                           ev.note + " [old connection, late]", ev.to_inc)
            sim.push(sim.now + self.rng_conn.randint(1, 2 * TICK), late)
            return
        sim.trace.add(sim.now, "lost", src, dst, ev.msg, "its connection flapped")

    def inject(self, src: int, dst: int, msg: PeerMessage) -> None:
        """Scripted: deliver ``msg`` from ``src`` to ``dst`` now, as if it had just arrived."""
        self.deliver(src, dst, False, msg, " [injected by the scenario]")

    def deliver(self, src: int, dst: int, pub: bool, msg: PeerMessage, note: str) -> None:
        """``msg`` reaches ``dst``'s socket: ``Peer.step``, unless the link is cut or ``dst`` is
        down (then lost, or held in ``src``'s DEALER queue)."""
        sim = self.sim
        node = self.nodes[dst]
        why = ("partition" if (src, dst) in self.cut else
               f"n{dst} is down" if not node.up else "")
        if why:
            if not pub and sim.profile.hold and self.rng.random() < sim.profile.hold:
                queue = self.held.setdefault((src, dst), [])
                if len(queue) < HELD_MAX:
                    queue.append(msg)
                    sim.counters["held"] += 1
                    sim.trace.add(sim.now, "lost", src, dst, msg, f"{why}; held in the DEALER queue")
                    return
            sim.trace.add(sim.now, "lost", src, dst, msg, why)
            return
        peer = node.peer
        assert peer is not None
        sim.trace.add(sim.now, "msg", src, dst, msg, note)
        sim._run_step(node, lambda: peer.step(src, msg))
