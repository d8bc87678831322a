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
A peer that restarts is heard on our ROUTER before our DEALER's backoff (up to
RECONNECT_IVL_MAX) has reconnected to it: that DEALER then connects at once (``_reconnect_now``),
and the node's loop tells the core when it is up (``connection_event``, ``Peer.peer_connected``).
A frame that does not decode is a remote error: dropped and counted, never fatal.

``FaultRules`` drop traffic to or from chosen peers (partitions for tests and demos): a node
drops what it would send to a blocked peer and what arrives from one, on the ROUTER and on the
SUB path, so a partition set on both sides cuts a link both ways; they also cut one way, lose,
duplicate and delay messages (the chaos nemesis, see FaultRules). ``message_delay_ms`` (a
classroom switch, config [timing]) holds every outgoing peer message that long in a FIFO; the
driver's loop calls ``flush_delayed`` and wakes at ``next_due``. One delay for every message
keeps the order per link.

Hostile input (zmqzab/security/): every inbound frame is bounded by MAXMSGSIZE (ZeroMQ closes a
connection that sends a larger one). A message is dropped and counted, with one rate-limited
warning per kind, when it does not decode (``dropped_bad_frame``), names a sender that is not
another node of the config (``dropped_unknown_sender``), holds values no correct peer sends
(``dropped_implausible``, security/plausible.py) or comes from someone other than the node it
claims (``dropped_impostor``). There is one SUB per peer, so what arrives on SUB k was published
by whoever holds k's PUB port (with CURVE: k's secret key): a topic frame naming another node is
an impostor. With ``[security] curve = true`` every socket is CURVE (security/curve.py) and the
peer ROUTER compares each message's ZAP ``User-Id`` with the routing id (the node id the sending
DEALER claims, then ``:`` and a random suffix, see ``_routing_id``); keyless, the routing id is
taken on trust (the loopback demo).
"""

from __future__ import annotations

import errno
import os
import random
import sys
import time
from collections import deque
from dataclasses import dataclass, field

import zmq

from zmqzab.config import ClusterConfig, NodeAddress
from zmqzab.messages import DecodeError, PeerMessage, decode_peer, encode
from zmqzab.security.curve import NodeKeys, make_client, make_server
from zmqzab.security.drops import DropWarnings
from zmqzab.security.plausible import plausible
from zmqzab.security.zap import CLIENTS_DOMAIN, PEERS_DOMAIN, node_user_id

#: Frames above this are refused by ZeroMQ itself (a SNAP of the game is far smaller).
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
#: A client request is a few hundred bytes; a frame above this closes that client's connection.
CLIENT_MAX_MESSAGE_BYTES = 64 * 1024
#: Messages queued per peer before sends drop (a follower that far behind gets re-synced).
PEER_HWM = 100_000
#: Reconnect to a peer after 20 ms, backing off to at most every 100 ms (see _reconnect_fast).
RECONNECT_IVL_MS, RECONNECT_IVL_MAX_MS = 20, 100
# Plain ints: pyzmq's constants are enum.IntFlag, and `flag | flag` on them runs Python code;
# pyzmq's own send_multipart does that once per frame (a reply batch has up to 256 frames).
NOBLOCK = int(zmq.NOBLOCK)
_EVENTS, _POLLIN, _POLLOUT = int(zmq.EVENTS), int(zmq.POLLIN), int(zmq.POLLOUT)
_SNDMORE, _RCVMORE = int(zmq.SNDMORE), int(zmq.RCVMORE)
#: Delayed messages held at most (message_delay_ms); beyond, new sends drop (counted).
DELAYED_MAX = 100_000
#: Messages the node's loop handles per socket per pass, so one busy socket cannot starve the others.
DRAIN_LIMIT = 2000
#: ``_delayed`` target meaning "our PUB socket".
_PUB = -1


def drain(sock: zmq.Socket, limit: int, copy: bool = True) -> list:
    """Up to ``limit`` waiting messages (each a list of frames), without blocking.

    Why not loop on ``recv(NOBLOCK)`` until ``zmq.Again``: that raises once per drain, and a
    raised ZMQError costs more than the message it ends (2-3x a ZMQ_EVENTS query, measured);
    a node drains a socket several times per write."""
    got: list = []
    recv, opt = sock.recv, sock.getsockopt
    while len(got) < limit and opt(_EVENTS) & _POLLIN:
        try:
            frames = [recv(NOBLOCK, copy=copy)]
        except zmq.Again:  # EVENTS said readable; kept in case a message was withdrawn
            break
        while opt(_RCVMORE):  # the parts of one message arrive together
            frames.append(recv(NOBLOCK, copy=copy))
        got.append(frames)
    return got


def send_frames(sock: zmq.Socket, frames, flags: int = 0) -> None:
    """``send_multipart`` with int flags (see NOBLOCK above); raises what ``send`` raises."""
    send = sock.send
    more = flags | _SNDMORE
    for frame in frames[:-1]:
        send(frame, more)
    send(frames[-1], flags)


class PortInUseError(RuntimeError):
    pass


@dataclass
class FaultRules:
    """The faults this node's links suffer (set by `zmqzab chaos` and `zmqzab up`, never by config).

    ``blocked``: peers we neither send to nor accept from (a partition, seen from this node).
    ``blocked_out`` / ``blocked_in``: one way only (we do not send to / we drop what comes from).
    ``loss``: the chance that a message from a peer is dropped on arrival; ``duplicate``: the
    chance that it is handed to the node twice (a retransmission the protocol must tolerate);
    ``delay_ms``: every outgoing peer message held this long (added to the config's
    ``message_delay_ms``; one delay for all keeps each link FIFO, as TCP is). Loss and
    duplication are drawn from this process's own rng: the nemesis' seed fixes which faults
    happen, not which message is hit.
    """

    blocked: set[int] = field(default_factory=set)
    blocked_out: set[int] = field(default_factory=set)
    blocked_in: set[int] = field(default_factory=set)
    loss: float = 0.0
    duplicate: float = 0.0
    delay_ms: float = 0.0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def allows(self, peer: int) -> bool:
        return peer not in self.blocked

    def allows_out(self, peer: int) -> bool:
        return peer not in self.blocked and peer not in self.blocked_out

    def allows_in(self, peer: int) -> bool:
        return peer not in self.blocked and peer not in self.blocked_in

    def block(self, peers: set[int] | frozenset[int]) -> None:
        """Replace the blocked set (an empty set heals); from the socket thread only."""
        self.blocked = set(peers)

    def set(self, rules: dict) -> None:
        """Replace every rule from a dict checked by ``check_rules`` (missing keys: no fault)."""
        self.blocked = set(rules.get("blocked", ()))
        self.blocked_out = set(rules.get("blocked_out", ()))
        self.blocked_in = set(rules.get("blocked_in", ()))
        self.loss = float(rules.get("loss", 0.0))
        self.duplicate = float(rules.get("duplicate", 0.0))
        self.delay_ms = float(rules.get("delay_ms", 0.0))

    def to_json(self) -> dict:
        return {"blocked": sorted(self.blocked), "blocked_out": sorted(self.blocked_out),
                "blocked_in": sorted(self.blocked_in), "loss": self.loss, "duplicate": self.duplicate,
                "delay_ms": self.delay_ms}

    def copies(self) -> int:
        """How many times an arriving message is handed on: 0 (lost), 1, or 2 (duplicated)."""
        if self.loss and self.rng.random() < self.loss:
            return 0
        if self.duplicate and self.rng.random() < self.duplicate:
            return 2
        return 1


#: The limits ``check_rules`` enforces: a node that drops everything is a partition, not loss.
MAX_LOSS, MAX_DUPLICATE, MAX_DELAY_MS = 0.9, 0.9, 10_000.0
RULE_KEYS = ("blocked", "blocked_out", "blocked_in", "loss", "duplicate", "delay_ms")


def check_rules(rules: object, ids) -> dict:
    """Fault rules as sent over the control route or in ZMQZAB_FAULT_RULES, validated: the keys
    given (``FaultRules.set`` takes a missing one as "no such fault"), or ValueError naming what
    is wrong."""
    if not isinstance(rules, dict):
        raise ValueError("fault rules must be a JSON object")
    unknown_keys = sorted(set(rules) - set(RULE_KEYS))
    if unknown_keys:
        raise ValueError(f"unknown fault rules {unknown_keys} (known: {', '.join(RULE_KEYS)})")
    out: dict = {}
    for key in ("blocked", "blocked_out", "blocked_in"):
        if key not in rules:
            continue
        peers = rules[key]
        if not isinstance(peers, list) or not all(type(i) is int for i in peers):
            raise ValueError(f"{key} must be a list of node ids")
        unknown = sorted(set(peers) - set(ids))
        if unknown:
            raise ValueError(f"{key}: unknown node ids {unknown} (valid: {list(ids)})")
        out[key] = sorted(set(peers))
    for key, top in (("loss", MAX_LOSS), ("duplicate", MAX_DUPLICATE), ("delay_ms", MAX_DELAY_MS)):
        if key not in rules:
            continue
        v = rules[key]
        if type(v) not in (int, float) or not 0.0 <= v <= top:
            raise ValueError(f"{key} must be a number from 0 to {top:g}")
        out[key] = float(v)
    return out


@dataclass
class Counters:
    sent: int = 0
    received: int = 0
    dropped_send: int = 0
    #: DEALERs made to connect at once to a peer heard from (Transport._reconnect_now).
    reconnects_now: int = 0
    dropped_bad_frame: int = 0
    dropped_by_fault_rules: int = 0
    dropped_delay_queue_full: int = 0
    dropped_unknown_sender: int = 0
    dropped_implausible: int = 0
    dropped_impostor: int = 0


class Transport:
    def __init__(self, ctx: zmq.Context, config: ClusterConfig, node_id: int, keys: NodeKeys | None = None,
                 warn=None) -> None:
        self.id = node_id
        self.me: NodeAddress = config.node(node_id)
        self.config_path = config.path
        self.faults = FaultRules()
        self.counters = Counters()
        self.drops = DropWarnings(warn)
        self.keys = keys
        self._topic = str(node_id).encode()
        self._ids = frozenset(config.ids)
        #: Routing id / topic frame -> node id, for every other node (anything else is unknown).
        self._peer_of: dict[bytes, int] = {str(n.id).encode(): n.id for n in config.nodes if n.id != node_id}
        #: The ZAP user id each peer's key authenticates as (security/zap.py).
        self._user_of: dict[int, str] = {i: node_user_id(i) for i in self._peer_of.values()}
        self.delay_s = config.timing.message_delay_ms / 1000.0
        #: (due monotonic time, target peer or _PUB, frame): FIFO, one delay for all.
        self._delayed: deque[tuple[float, int, bytes]] = deque()
        #: Sockets a recv_* stopped reading at its limit: messages still wait there, and their
        #: ZMQ_FD will not fire for them (the loop's poller must look again, server/poller.py).
        self.unfinished: list[zmq.Socket] = []

        self.router = self._bound(ctx, zmq.ROUTER, self.me.peer_port, "peer_port", PEERS_DOMAIN, handover=True)
        self.pub = self._bound(ctx, zmq.PUB, self.me.pub_port, "pub_port", PEERS_DOMAIN)
        self.pub.setsockopt(zmq.SNDHWM, PEER_HWM)
        self.client = self._bound(ctx, zmq.ROUTER, self.me.client_port, "client_port", CLIENTS_DOMAIN,
                                  CLIENT_MAX_MESSAGE_BYTES)
        self.client.setsockopt(zmq.ROUTER_MANDATORY, 1)

        #: One SUB per peer: what arrives on it comes from that peer's PUB port (the topic frame
        #: is only checked against it), and with CURVE from the holder of that peer's key.
        self.subs: dict[zmq.Socket, int] = {}
        self.dealers: dict[int, zmq.Socket] = {}
        #: One monitor per DEALER, made before it connects (an event before that is lost): a
        #: closed connection means that peer's process is gone; a new one, that it can hear us
        #: again (connection_event).
        self.monitors: dict[zmq.Socket, int] = {}
        self._endpoint_of: dict[int, str] = {}
        for node in config.nodes:
            if node.id == node_id:
                continue
            sub = ctx.socket(zmq.SUB)
            sub.setsockopt(zmq.LINGER, 0)
            sub.setsockopt(zmq.RCVHWM, PEER_HWM)
            sub.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
            sub.setsockopt(zmq.SUBSCRIBE, b"")
            self._reconnect_fast(sub)
            self._as_client(sub, node.id)
            sub.connect(node.pub_endpoint)
            self.subs[sub] = node.id
            d = ctx.socket(zmq.DEALER)
            d.setsockopt(zmq.ROUTING_ID, self._routing_id())
            d.setsockopt(zmq.LINGER, 0)
            d.setsockopt(zmq.IMMEDIATE, 1)
            d.setsockopt(zmq.SNDHWM, PEER_HWM)
            d.setsockopt(zmq.MAXMSGSIZE, CLIENT_MAX_MESSAGE_BYTES)  # a peer's ROUTER never answers
            self._reconnect_fast(d)
            self._as_client(d, node.id)
            self.monitors[d.get_monitor_socket(zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED)] = node.id
            d.connect(node.peer_endpoint)
            self.dealers[node.id] = d
            self._endpoint_of[node.id] = node.peer_endpoint
        #: Peers whose DEALER has not connected since it started or last lost its connection,
        #: and has not been made to reconnect at once yet (_reconnect_now: once per loss).
        self.reconnect_due: set[int] = set(self.dealers)
        #: Peers whose DEALER has a made connection (EVENT_HANDSHAKE_SUCCEEDED read, no
        #: EVENT_DISCONNECTED since). Only the loss of one re-arms ``reconnect_due``: ZeroMQ also
        #: reports EVENT_DISCONNECTED for every failed handshake, and a peer heard while its port
        #: refuses ours would otherwise be reconnected once per message heard (thousands a second,
        #: tests/unit/test_transport_reconnect_now_attack.py) instead of at ZeroMQ's backoff.
        self._connected: set[int] = set()

    @staticmethod
    def _reconnect_fast(sock: zmq.Socket) -> None:
        # A peer that is down is retried every RECONNECT_IVL_MAX ms. With 500 ms a restarted
        # node waited up to half a second for its peers to reconnect before its votes reached
        # them (a catch-up bench spent most of its time there); 100 ms costs at most ten refused
        # connects a second per dead peer, on loopback or a LAN nothing.
        sock.setsockopt(zmq.RECONNECT_IVL, RECONNECT_IVL_MS)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, RECONNECT_IVL_MAX_MS)

    def _reconnect_now(self, peer: int) -> None:
        """``peer`` just sent us a message, so it is up; if our DEALER to it has no connection,
        connect now instead of at its next backoff retry (up to RECONNECT_IVL_MAX away: a
        restarted node's vote was answered into the void and it waited a tick to ask again).

        Safe: with IMMEDIATE, a DEALER that cannot send holds nothing that disconnect() could
        discard, and disconnect() reports no EVENT_DISCONNECTED (no false peer_unreachable).
        Once per lost connection (``reconnect_due``): a slow handshake is never cut short by
        the next message from that peer."""
        self.reconnect_due.discard(peer)
        d = self.dealers[peer]
        if d.getsockopt(_EVENTS) & _POLLOUT:
            return  # connected already (its monitor's report of it is still to be read)
        endpoint = self._endpoint_of[peer]
        d.disconnect(endpoint)
        d.connect(endpoint)
        self.counters.reconnects_now += 1

    def _routing_id(self) -> bytes:
        """Our node id, and with CURVE a random suffix per connection ("2:9f3a..."): the peer
        ROUTER gives an id to one connection at a time (the newest: ROUTER_HANDOVER, see
        _bound), so a key holder claiming "2" would cut the real node 2 off each time it
        connected; with a suffix nobody can guess, ids never collide. The peer ROUTER only
        receives, so its routing ids need not be stable."""
        if self.keys is None:
            return self._topic
        return self._topic + b":" + os.urandom(8).hex().encode()

    def _as_client(self, sock: zmq.Socket, peer: int) -> None:
        if self.keys is not None:
            make_client(sock, self.keys.public, self.keys.secret, self.keys.keyring.node_public[peer])

    def _bound(self, ctx: zmq.Context, kind: int, port: int, key: str, domain: str,
               max_bytes: int = MAX_MESSAGE_BYTES, handover: bool = False) -> zmq.Socket:
        sock = ctx.socket(kind)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, max_bytes)
        if self.keys is not None:
            make_server(sock, self.keys.public, self.keys.secret, domain)

        if kind == zmq.ROUTER:
            sock.setsockopt(zmq.RCVHWM, PEER_HWM)
        if handover:
            # A peer's newest connection takes over its routing id (issue 11, defect 5). Without
            # this the ROUTER keeps the first holder of an id and parks a second connection with
            # it unread, for good (libzmq takes its id frame while refusing it, and the pipe is
            # never looked at again, even after the first holder closes: measured); a
            # peer whose old connection we had not seen close (we were SIGSTOPped when it died,
            # or a partition ate its FIN) then reached us on a connection that looked up from
            # its side while everything it sent was lost, and we stayed LOOKING. libzmq does not
            # close the older connection: it renames and terminates its pipe, so what it held
            # unread is never read as that peer's (tests/unit/test_transport_routing.py), and
            # leaves the TCP connection open and unread. For a dead peer that is harmless (its
            # FIN still ends it); a LIVE older holder is black-holed for good, unaware (no
            # disconnect, no reconnect): keyless, anyone who connects claiming a running node's
            # id silences that node here until one of the two restarts
            # (tests/unit/test_transport_handover_attack.py). With CURVE ids carry a secret
            # random suffix per process, so a restarted peer never shares its dead incarnation's
            # id: handover does not apply, and the dead connection's backlog IS read as the
            # peer's, fair-queued with the new incarnation's messages (same test file).
            sock.setsockopt(zmq.ROUTER_HANDOVER, 1)
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
        if not self.faults.allows_out(to):
            self.counters.dropped_by_fault_rules += 1
            return
        if self.delay_s or self.faults.delay_ms or self._delayed:  # behind held ones: FIFO
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
        if self.delay_s or self.faults.delay_ms or self._delayed:
            self._hold(_PUB, encode(msg))
            return
        self._publish_now(encode(msg))

    def _publish_now(self, frame: bytes) -> None:
        # PUB never blocks; a slow subscriber loses messages and repairs the gap by fetch.
        send_frames(self.pub, (self._topic, frame), NOBLOCK)
        self.counters.sent += 1

    # ------------------------------------------------------------------ classroom delay

    def _hold(self, to: int, frame: bytes) -> None:
        if len(self._delayed) >= DELAYED_MAX:
            self.counters.dropped_delay_queue_full += 1
            return
        self._delayed.append((time.monotonic() + self.delay_s + self.faults.delay_ms / 1000.0, to, frame))

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
            elif self.faults.allows_out(to):
                self._send_now(to, frame)
            else:
                self.counters.dropped_by_fault_rules += 1

    # ------------------------------------------------------------------ receiving

    def _drain(self, sock: zmq.Socket, limit: int, copy: bool = True) -> list:
        got = drain(sock, limit, copy)
        if len(got) >= limit:
            self.unfinished.append(sock)
        return got

    def dropped(self, kind: str, detail) -> None:
        """Count one dropped input (``dropped_<kind>``) and warn, at most once per interval."""
        field_name = f"dropped_{kind}"
        setattr(self.counters, field_name, getattr(self.counters, field_name) + 1)
        self.drops.dropped(kind, detail)

    def _accept(self, sender: int, payload: bytes, where: str) -> PeerMessage | None:
        try:
            msg = decode_peer(payload)
        except DecodeError as exc:
            reason = exc  # `exc` itself is unbound when the except block ends
            self.dropped("bad_frame", lambda: f"{len(payload)} bytes from node {sender} on {where} do not "
                                              f"decode ({str(reason)[:80]})")
            return None
        if not plausible(msg, self._ids):
            self.dropped("implausible", lambda: f"{type(msg).__name__} from node {sender} on {where} holds "
                                                f"values no node sends: {str(msg)[:160]}")
            return None
        if not self.faults.allows_in(sender):
            self.counters.dropped_by_fault_rules += 1
            return None
        self.counters.received += 1
        return msg

    def _take(self, got: list, sender: int, msg: PeerMessage) -> None:
        """Hand an accepted message on: once, or as the fault rules' loss/duplication say."""
        f = self.faults
        copies = f.copies() if f.loss or f.duplicate else 1
        if copies == 0:
            self.counters.dropped_by_fault_rules += 1
        for _ in range(copies):
            got.append((sender, msg))

    def recv_router(self, limit: int) -> list[tuple[int, PeerMessage]]:
        """Drain up to ``limit`` messages from the peer ROUTER: [routing id (sender), payload]."""
        if self.keys is not None:
            return self._recv_router_curve(limit)
        got: list[tuple[int, PeerMessage]] = []
        sock, peer_of, reconnect_due = self.router, self._peer_of, self.reconnect_due
        for frames in self._drain(sock, limit):
            if len(frames) != 2:
                self.dropped("bad_frame", f"a message of {len(frames)} frames on peer_port (2 expected)")
                continue
            sender = peer_of.get(frames[0])
            if sender is None:
                self.dropped("unknown_sender", f"routing id {frames[0][:16]!r} on peer_port is not another "
                                               "node of the config")
                continue
            msg = self._accept(sender, frames[1], "peer_port")
            if msg is not None:
                if sender in reconnect_due:  # it is up and we cannot answer it yet
                    self._reconnect_now(sender)
                self._take(got, sender, msg)
        return got

    def _recv_router_curve(self, limit: int) -> list[tuple[int, PeerMessage]]:
        got: list[tuple[int, PeerMessage]] = []
        sock, peer_of, reconnect_due = self.router, self._peer_of, self.reconnect_due
        for frames in self._drain(sock, limit, copy=False):
            if len(frames) != 2:
                self.dropped("bad_frame", f"a message of {len(frames)} frames on peer_port (2 expected)")
                continue
            claimed = frames[0].bytes
            sender = peer_of.get(claimed.split(b":", 1)[0])
            if sender is None:
                self.dropped("unknown_sender", f"routing id {claimed[:16]!r} on peer_port is not another "
                                               "node of the config")
                continue
            user = frames[1].get("User-Id")
            if user != self._user_of[sender]:
                self.dropped("impostor", f"a connection authenticated as {user!r} claims to be node {sender} "
                                         "on peer_port")
                continue
            msg = self._accept(sender, frames[1].bytes, "peer_port")
            if msg is not None:
                if sender in reconnect_due:  # it is up and we cannot answer it yet
                    self._reconnect_now(sender)
                self._take(got, sender, msg)
        return got

    def recv_sub(self, sock: zmq.Socket, limit: int) -> list[tuple[int, PeerMessage]]:
        """Drain up to ``limit`` messages from the SUB connected to one peer: [topic, payload]."""
        peer = self.subs[sock]
        topic = str(peer).encode()
        got: list[tuple[int, PeerMessage]] = []
        for frames in self._drain(sock, limit):
            if len(frames) != 2:
                self.dropped("bad_frame", f"a message of {len(frames)} frames from node {peer}'s PUB "
                                          "(2 expected)")
                continue
            if frames[0] != topic:
                self.dropped("impostor", f"topic {frames[0][:16]!r} published on node {peer}'s pub_port")
                continue
            msg = self._accept(peer, frames[1], f"node {peer}'s PUB")
            if msg is not None:
                self._take(got, peer, msg)
        return got

    def connection_event(self, monitor: zmq.Socket) -> tuple[int, bool] | None:
        """Read one monitor event: (peer, False) if our connection to that peer closed,
        (peer, True) if one is made, None for anything else."""
        try:
            frames = monitor.recv_multipart(NOBLOCK)
        except zmq.Again:
            return None
        # libzmq's event frame: a 16-bit event id then a 32-bit value, in the host's order. Read
        # here rather than with zmq.utils.monitor, which imports asyncio (~20 ms of a node's start).
        event = int.from_bytes(frames[0][:2], sys.byteorder)
        peer = self.monitors[monitor]
        if event == zmq.EVENT_DISCONNECTED:
            if peer in self._connected:  # a made connection lost, not a failed handshake
                self._connected.discard(peer)
                self.reconnect_due.add(peer)
            return peer, False
        if event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            self._connected.add(peer)
            self.reconnect_due.discard(peer)
            # libzmq queued the new connection's pipe to the socket before this event; a send
            # takes the socket's queued commands only about once a millisecond, so the first
            # send after the event could still find no pipe (dropped, IMMEDIATE). Reading
            # EVENTS takes them now.
            self.dealers[peer].getsockopt(_EVENTS)
            return peer, True
        return None

    def close(self) -> None:
        for d in self.dealers.values():
            d.disable_monitor()
        for sock in [self.router, self.pub, self.client, *self.subs, *self.dealers.values(), *self.monitors]:
            sock.close(0)
