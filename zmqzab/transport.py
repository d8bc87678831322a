"""ZeroMQ sockets of one node (ARCHITECTURE §4) and the framing on them.

| socket        | kind                              | carries                                        |
|---------------|-----------------------------------|------------------------------------------------|
| peer_port     | ROUTER, bound                     | everything peers send to this node             |
| one per peer  | DEALER -> that peer's ROUTER,     | everything this node sends to that peer        |
|               | routing_id = our node id          |                                                |
| pub_port      | PUB, bound                        | the leader's PROPOSAL, COMMIT and PING         |
| SUB           | SUB -> every peer's PUB           | the leader's broadcast (topic = sender id)     |
| client_port   | ROUTER, bound                     | client requests and replies                    |

Sends never block the node: a DEALER with IMMEDIATE set queues nothing for a peer that is not
connected, and a full queue drops the message (counted). ZAB tolerates both: every message
carries its epoch and zxid, lost ACKs are repeated by PINGs and gaps are repaired by fetch.
A frame that does not decode is a remote error: dropped and counted, never fatal.

``FaultRules`` drop traffic to or from chosen peers (partitions for tests and demos): a node
drops what it would send to a blocked peer and what arrives from one, on the ROUTER and on the
SUB path, so a partition set on both sides cuts a link both ways. ``message_delay_ms`` (a
classroom switch, config [timing]) holds every outgoing peer message that long in a FIFO; the
driver's loop calls ``flush_delayed`` and wakes at ``next_due``. One delay for every message
keeps the order per link.
"""

from __future__ import annotations

import errno
import time
from collections import deque
from dataclasses import dataclass, field

import zmq
from zmq.utils.monitor import recv_monitor_message

from zmqzab.config import ClusterConfig, NodeAddress
from zmqzab.messages import DecodeError, PeerMessage, decode_peer, encode

#: Frames above this are refused by ZeroMQ itself (a SNAP of the game is far smaller).
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
#: Messages queued per peer before sends drop (a follower that far behind gets re-synced).
PEER_HWM = 100_000
#: pyzmq's flags are enums; an int keeps the hot path free of enum arithmetic.
NOBLOCK = int(zmq.NOBLOCK)
#: Delayed messages held at most (message_delay_ms); beyond, new sends drop (counted).
DELAYED_MAX = 100_000
#: ``_delayed`` target meaning "our PUB socket".
_PUB = -1


class PortInUseError(RuntimeError):
    pass


@dataclass
class FaultRules:
    """Peers we neither send to nor accept from (a partition, seen from this node)."""

    blocked: set[int] = field(default_factory=set)

    def allows(self, peer: int) -> bool:
        return peer not in self.blocked

    def block(self, peers: set[int] | frozenset[int]) -> None:
        """Replace the blocked set (an empty set heals); from the socket thread only."""
        self.blocked = set(peers)


@dataclass
class Counters:
    sent: int = 0
    received: int = 0
    dropped_send: int = 0
    dropped_bad_frame: int = 0
    dropped_by_fault_rules: int = 0
    dropped_delay_queue_full: int = 0


class Transport:
    def __init__(self, ctx: zmq.Context, config: ClusterConfig, node_id: int) -> None:
        self.id = node_id
        self.me: NodeAddress = config.node(node_id)
        self.config_path = config.path
        self.faults = FaultRules()
        self.counters = Counters()
        self._topic = str(node_id).encode()
        self.delay_s = config.timing.message_delay_ms / 1000.0
        #: (due monotonic time, target peer or _PUB, frame): FIFO, one delay for all.
        self._delayed: deque[tuple[float, int, bytes]] = deque()

        self.router = self._bound(ctx, zmq.ROUTER, self.me.peer_port, "peer_port")
        self.pub = self._bound(ctx, zmq.PUB, self.me.pub_port, "pub_port")
        self.pub.setsockopt(zmq.SNDHWM, PEER_HWM)
        self.client = self._bound(ctx, zmq.ROUTER, self.me.client_port, "client_port")
        self.client.setsockopt(zmq.ROUTER_MANDATORY, 1)

        self.sub = ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        self.sub.setsockopt(zmq.RCVHWM, PEER_HWM)
        self.sub.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.dealers: dict[int, zmq.Socket] = {}
        for node in config.nodes:
            if node.id == node_id:
                continue
            self.sub.connect(node.pub_endpoint)
            d = ctx.socket(zmq.DEALER)
            d.setsockopt(zmq.ROUTING_ID, self._topic)
            d.setsockopt(zmq.LINGER, 0)
            d.setsockopt(zmq.IMMEDIATE, 1)
            d.setsockopt(zmq.SNDHWM, PEER_HWM)
            d.setsockopt(zmq.RECONNECT_IVL, 20)
            d.setsockopt(zmq.RECONNECT_IVL_MAX, 500)
            d.connect(node.peer_endpoint)
            self.dealers[node.id] = d
        #: One monitor per DEALER: a closed connection means that peer's process is gone.
        self.monitors: dict[zmq.Socket, int] = {
            d.get_monitor_socket(zmq.EVENT_DISCONNECTED): peer for peer, d in self.dealers.items()
        }

    def _bound(self, ctx: zmq.Context, kind: int, port: int, key: str) -> zmq.Socket:
        sock = ctx.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        if kind == zmq.ROUTER:
            sock.setsockopt(zmq.RCVHWM, PEER_HWM)
        try:
            sock.bind(f"tcp://{self.me.host}:{port}")
        except zmq.ZMQError as exc:
            sock.close()
            if exc.errno == errno.EADDRINUSE:
                raise PortInUseError(
                    f"node {self.id}: {key} {port} on {self.me.host} is already in use (another zmqzab "
                    f"node or another program?): stop it, or change {key} in {self.config_path}"
                ) from None
            raise PortInUseError(f"node {self.id}: cannot bind {key} {self.me.host}:{port}: {exc}") from None
        return sock

    # ------------------------------------------------------------------ sending

    def send(self, to: int, msg: PeerMessage) -> None:
        if not self.faults.allows(to):
            self.counters.dropped_by_fault_rules += 1
            return
        if self.delay_s:
            self._hold(to, encode(msg))
            return
        self._send_now(to, encode(msg))

    def _send_now(self, to: int, frame: bytes) -> None:
        try:
            self.dealers[to].send(frame, NOBLOCK)
            self.counters.sent += 1
        except zmq.Again:
            self.counters.dropped_send += 1

    def publish(self, msg: PeerMessage) -> None:
        if self.delay_s:
            self._hold(_PUB, encode(msg))
            return
        self._publish_now(encode(msg))

    def _publish_now(self, frame: bytes) -> None:
        # PUB never blocks; a slow subscriber loses messages and repairs the gap by fetch.
        self.pub.send_multipart((self._topic, frame), NOBLOCK)
        self.counters.sent += 1

    # ------------------------------------------------------------------ classroom delay

    def _hold(self, to: int, frame: bytes) -> None:
        if len(self._delayed) >= DELAYED_MAX:
            self.counters.dropped_delay_queue_full += 1
            return
        self._delayed.append((time.monotonic() + self.delay_s, to, frame))

    def next_due(self) -> float | None:
        """When the oldest held message is due (monotonic seconds), or None if none is held."""
        return self._delayed[0][0] if self._delayed else None

    def flush_delayed(self, now: float) -> None:
        """Send every held message that is due. A partition set meanwhile still applies."""
        held = self._delayed
        while held and held[0][0] <= now:
            _, to, frame = held.popleft()
            if to == _PUB:
                self._publish_now(frame)
            elif self.faults.allows(to):
                self._send_now(to, frame)
            else:
                self.counters.dropped_by_fault_rules += 1

    # ------------------------------------------------------------------ receiving

    def _decode(self, sender_frame: bytes, payload: bytes) -> tuple[int, PeerMessage] | None:
        try:
            sender = int(sender_frame)
            msg = decode_peer(payload)
        except (ValueError, DecodeError):
            self.counters.dropped_bad_frame += 1
            return None
        if not self.faults.allows(sender):
            self.counters.dropped_by_fault_rules += 1
            return None
        self.counters.received += 1
        return sender, msg

    def recv_peer(self, sock: zmq.Socket, limit: int) -> list[tuple[int, PeerMessage]]:
        """Drain up to ``limit`` messages from the peer ROUTER or the SUB socket."""
        got: list[tuple[int, PeerMessage]] = []
        for _ in range(limit):
            try:
                frames = sock.recv_multipart(NOBLOCK)
            except zmq.Again:
                break
            if len(frames) != 2:
                self.counters.dropped_bad_frame += 1
                continue
            item = self._decode(frames[0], frames[1])
            if item is not None:
                got.append(item)
        return got

    def disconnected(self, monitor: zmq.Socket) -> int | None:
        """Read one monitor event; the peer whose connection closed, if that is what it says."""
        try:
            event = recv_monitor_message(monitor, NOBLOCK)
        except zmq.Again:
            return None
        return self.monitors[monitor] if event["event"] == zmq.EVENT_DISCONNECTED else None

    def close(self) -> None:
        for d in self.dealers.values():
            d.disable_monitor()
        for sock in [self.router, self.pub, self.client, self.sub, *self.dealers.values(), *self.monitors]:
            sock.close(0)
