"""The simulator's events: what can happen at a point of simulated time, one type per kind.

The event queue (``Simulation.push``) is a heap of ``(time, seq, event)``: ``seq`` counts every
push, so two events at the same time run in the order they were pushed and the heap never
compares two events. Nothing else decides the order, so a seed fixes the whole run.

A node's events carry the ``incarnation`` they were pushed for: one that finds the node crashed,
or restarted since (a new incarnation), is dropped, as a dead process's timers and writes are.
Events are immutable; one that must wait (its node is paused, its disk stalls) is pushed again
as it is, at a later time.

``gc=False``: events hold messages and ints, never themselves, so they form no reference cycle;
left out of the garbage collector's tracking, the hundreds of thousands of them a sweep makes
cost it nothing.
"""

from __future__ import annotations

import msgspec

from zmqzab.host.reads import DiskStream
from zmqzab.messages import PeerMessage


class Deliver(msgspec.Struct, frozen=True, gc=False):
    """A message from ``src`` arrives at ``dst``: ``Peer.step(src, msg)``. ``pub``: sent on the
    PUB socket (else the sender's DEALER). ``gen``: the pair's connection generation when it
    was sent (a flap since makes it a message of the old connection). ``note``: shown in the
    trace ("[duplicate]", "[held, now delivered]", ...)."""

    src: int
    dst: int
    pub: bool
    gen: int
    msg: PeerMessage
    note: str
    #: The receiver's incarnation whose connection it was written to, or whose socket it waits
    #: in while that process is paused (-1: neither, the receiver was down or the DEALER not yet
    #: connected: it waits in the sender's queue); it dies with that incarnation.
    to_inc: int = -1


class NodeEvent(msgspec.Struct, frozen=True, gc=False):
    """An event of one incarnation of one node (the base of every event that names a node)."""

    node: int
    incarnation: int


class Tick(NodeEvent):
    """A node's timer: ``Peer.tick()``, then the next Tick one tick later."""


class FsyncDone(NodeEvent):
    """The node's simulated writer finished the fsync of its batch: ``Peer.persisted``."""


class ReportWake(NodeEvent):
    """With report schedules (reports.py): the node's loop wakes up and hands its host the
    writer's report waiting, or the last one again."""


class ReadDone(NodeEvent):
    """A disk read the core asked for (a DIFF streamed from disk, the host's ``DiskStream``)
    completes."""

    stream: DiskStream


class ConnectionClosed(NodeEvent):
    """The node's socket monitor reports its connection to ``peer`` closed (the peer crashed, or
    the connection flapped): ``Peer.peer_unreachable(peer)``."""

    peer: int


class ConnectionMade(NodeEvent):
    """The node's DEALER to ``peer`` (incarnation ``peer_incarnation``) completes its handshake:
    the socket monitor's EVENT_HANDSHAKE_SUCCEEDED, ``Peer.peer_connected(peer)``. ``gen``: the
    pair's connection generation when it was pushed (a flap since voids it)."""

    peer: int
    peer_incarnation: int
    gen: int


class Restart(NodeEvent):
    """The fault phase restarts a crashed node (if it is still that incarnation, and down)."""


class Resync(msgspec.Struct, frozen=True, gc=False):
    """The operator's ``zmqzab node --resync`` of a node that refused its damaged data dir,
    carried out when the others can take over its history (faults.resync), else retried."""

    node: int


class Heal(msgspec.Struct, frozen=True, gc=False):
    """A partition of the fault phase ends: every link works again."""


class Control(msgspec.Struct, frozen=True, gc=False):
    """The tick boundary: the fault scheduler (crashes, partitions, ...) and the clients."""


class ZkToServer(NodeEvent):
    """Bytes of a simulated ZooKeeper client reach the node's zk_port (zkclients.py): ``kind``
    "open" (the TCP connection is accepted), "data" or "close" (the client closed it)."""

    conn: int
    kind: str
    data: bytes


class ZkToClient(msgspec.Struct, frozen=True, gc=False):
    """Frames of a node's ZkServer reach the simulated ZooKeeper client on connection
    ``conn``; ``closed``: the node closed the connection (after the frames)."""

    conn: int
    frames: tuple[bytes, ...]
    closed: bool


Event = (Deliver | Tick | FsyncDone | ReadDone | ConnectionClosed | ConnectionMade | Restart | Resync | Heal
         | Control | ZkToServer | ZkToClient)
