"""Simulated ZooKeeper clients: real frames to every node's ``ZkServer`` (host/zk.py), sessions
that move between nodes, and a small random workload.

Theory of operation
-------------------
``ZkWorld`` gives every simulated node a ``ZkServer``, driven as server/node.py drives it:
``applied`` from the node's ``HostIO.applied``, ``tick(replica.ticks)`` after each replica
tick (with ``wall_ms`` from simulated time), ``flush()`` after every event; what the server
submits goes through the simulation's ``_run_step`` (crash points and checkers included). A
new incarnation gets a new server; a crashed node's connections close (the clients hear it
after a delay).

Client and server talk through events (events.py ``ZkToServer`` / ``ZkToClient``) with a
delay drawn per send and FIFO per connection and direction (one TCP connection); the client's
bytes are cut at random points, as TCP may cut them, so the server's frame decoder sees
partial frames. A connection can also be cut by the network (both ends learn it).

Each ``ZkClient`` behaves like kazoo or the Java client: a ConnectRequest (session id 0, or
its session id, password and lastZxidSeen when it reconnects), requests with increasing xids,
a ping every third of its timeout, and, with nothing heard for two thirds of it, the
connection is dropped and another node tried; requests in flight then fail with
CONNECTIONLOSS (their outcome unknown to the client). After a reconnect it sends setWatches
with the watches it holds. A ConnectResponse with session id 0 says the session expired: the
client starts a new one. Its workload (``_pick``): creates of every mode under a few parents,
setData and delete with and without versions, getData / exists / getChildren(2) with
watches, multi, sync, closeSession, and pauses of the client's process (no timers, no pings)
long enough for the leader to expire the session.

Every reply, event and session change goes to the ZooKeeper checkers (zk_checkers.py).
Every random choice is drawn from the seed's streams "zk-clients" and "zk-net": with no
ZooKeeper clients nothing here exists and no other stream is touched.
"""

from __future__ import annotations

import random
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from zmqzab.core.output import Output
from zmqzab.host.zk import ZkServer, ZkSettings
from zmqzab.messages import Txn
from zmqzab.sim.checkers import Violation
from zmqzab.sim.events import ZkToClient, ZkToServer
from zmqzab.sim.trace import TICK
from zmqzab.sim.zk_checkers import ZkCheckers, op_name
from zmqzab.state import Result
from zmqzab.tree.errors import Code
from zmqzab.tree.sessions import fmt_session_id
from zmqzab.zk import records as r
from zmqzab.zk.jute import DecodeError
from zmqzab.zk.opcodes import AddWatchMode, EventType, OpCode, Xid
from zmqzab.zk.protocol import (decode_connect_response, decode_reply, encode_connect_request,
                                encode_request)
from zmqzab.zxid import fmt_zxid

if TYPE_CHECKING:
    from zmqzab.sim.simulation import SimNode, Simulation

#: Milliseconds per tick in the simulation (the default config's tick_ms).
TICK_MS = 50
#: The simulated cluster's [zookeeper] session bounds: short, so expiry happens within a run.
MIN_TIMEOUT_MS = 500
MAX_TIMEOUT_MS = 4_000
#: What the clients ask for (ms): 16 to 40 ticks.
ASKED_TIMEOUT_MS = (800, 2_000)
#: A connect that gets no ConnectResponse within this many ticks is given up.
CONNECT_TIMEOUT_TICKS = 8
#: The leader looks for empty containers to delete this often (ZooKeeper: 60 s; here within
#: a run's few hundred ticks).
CONTAINER_CHECK_MS = 1_000
#: Requests a client keeps in flight at most.
INFLIGHT_MAX = 3
PARENTS = ("/p0", "/p1", "/p2")
NAMES = ("a", "b", "c", "d")
OPEN_ACL = (r.ACL(31, r.Id("world", "anyone")),)
#: CreateMode flags.
EPHEMERAL, SEQUENTIAL, CONTAINER = 1, 2, 4
#: Opcodes whose reply comes from a committed txn.
WRITES = frozenset(int(o) for o in (OpCode.create, OpCode.create2, OpCode.delete, OpCode.setData,
                                    OpCode.multi, OpCode.closeSession))


def _self_and_parents(path: str) -> list[str]:
    out = [path]
    while path not in ("/", ""):
        path = path.rsplit("/", 1)[0] or "/"
        out.append(path)
    return out


@dataclass(slots=True)
class Sent:
    """A request in flight: its xid, opcode and body (the checkers judge the reply by them)."""

    xid: int
    opcode: int
    body: object
    tick: int


@dataclass(slots=True)
class ConnInfo:
    client: ZkClient
    node: int
    incarnation: int


class _ServerIO:
    """A node incarnation's ``ZkIO``: frames and closes travel back to the clients."""

    __slots__ = ("world", "node", "incarnation")

    def __init__(self, world: ZkWorld, node: int, incarnation: int) -> None:
        self.world = world
        self.node = node
        self.incarnation = incarnation

    def zk_send(self, conn: int, frames: list[bytes]) -> None:
        if frames:
            self.world.to_client(conn, tuple(frames), False)

    def zk_close(self, conn: int) -> None:
        self.world.to_client(conn, (), True)


class ZkWorld:
    """The simulation's ZooKeeper side: the nodes' servers, the clients, their links."""

    def __init__(self, sim: Simulation, count: int, rng: random.Random, net_rng: random.Random) -> None:
        self.sim = sim
        self.rng = rng
        self.net_rng = net_rng
        self.servers: dict[int, ZkServer] = {}
        self.conns: dict[int, ConnInfo] = {}
        #: (conn, towards the server) -> time of the last delivery scheduled (FIFO per direction)
        self._last_at: dict[tuple[int, bool], int] = {}
        self._next_conn = 0
        self.checkers = ZkCheckers(sim.checkers)
        self.clients = [ZkClient(self, f"z{i}", random.Random(rng.random())) for i in range(1, count + 1)]
        for client in self.clients:  # half number their requests as kazoo, half as Java
            client.xids_per_connection = client.rng.random() < 0.5
        #: False in the liveness phase: clients keep their sessions but start no new request.
        self.new_requests = True
        self.stats: dict[str, int] = {}

    def count(self, what: str) -> None:
        self.stats[what] = self.stats.get(what, 0) + 1

    def summary(self) -> str:
        """One line for people: what the ZooKeeper clients did and met."""
        got = {k.replace("zk_", "").replace("_", " "): v
               for k, v in {**self.checkers.counts, **self.stats}.items()}
        return ", ".join(f"{k} {v}" for k, v in sorted(got.items())) or "nothing"

    def wall_ms(self) -> int:
        return self.sim.now * TICK_MS // TICK

    # ------------------------------------------------------------------ the nodes (node.py's part)

    def node_started(self, node: SimNode) -> None:
        assert node.replica is not None
        sim, inc = self.sim, node.incarnation

        def execute(out: Output) -> None:
            if node.up and node.incarnation == inc:
                sim._run_step(node, lambda: out)

        self.servers[node.id] = ZkServer(
            node.replica, _ServerIO(self, node.id, inc),
            ZkSettings(node.id, TICK_MS, MIN_TIMEOUT_MS, MAX_TIMEOUT_MS,
                       container_check_ms=CONTAINER_CHECK_MS), execute, self.wall_ms())

    def node_died(self, i: int) -> None:
        self.servers.pop(i, None)
        for conn in sorted(c for c, info in self.conns.items() if info.node == i):
            self.to_client(conn, (), True)

    def _guard(self, node: int, what: str, call: Callable[[], None]) -> None:
        """Run a ZkServer entry; an exception out of it would stop the node process (node.py
        catches none of them): a violation, with the place it came from."""
        try:
            call()
        except Violation:
            raise
        except Exception as exc:
            where = traceback.extract_tb(exc.__traceback__)[-1]
            raise Violation("the zk port never raises",
                            f"n{node}'s ZkServer.{what} raised {type(exc).__name__}: {exc} "
                            f"({Path(where.filename).name}:{where.lineno}); the node process "
                            "would die of it") from None

    def applied(self, node: SimNode, txn: Txn, result: Result, new: bool) -> None:
        server = self.servers.get(node.id)
        if server is not None and server.replica is node.replica:
            self._guard(node.id, "applied", lambda: server.applied(txn, result))
        assert node.peer is not None
        self.checkers.on_applied(node.id, node.peer.state, txn, result, new)

    def ticked(self, node: SimNode) -> None:
        server = self.servers.get(node.id)
        if server is not None and node.up and node.replica is server.replica:
            server.wall_ms = self.wall_ms()
            node.peer.wall_ms = server.wall_ms  # type: ignore[union-attr]  # as node.py sets it
            ticks = node.replica.ticks
            self._guard(node.id, "tick", lambda: server.tick(ticks))

    def flush(self) -> None:
        for i in sorted(self.servers):
            server = self.servers.get(i)
            if server is not None and server._dirty:
                self._guard(i, "flush", server.flush)

    def tick(self, tick: int) -> None:
        for client in self.clients:
            client.tick(tick)

    def abandoned(self) -> list[int]:
        """Open sessions (on the leader) that no client holds: a session whose closeSession's
        reply was lost, or whose ConnectResponse never came, or that the client gave up."""
        ld = self.sim.established_leader()
        if ld is None:
            return []
        held = {c.session_id for c in self.clients}
        state = self.sim.nodes[ld].peer.state  # type: ignore[union-attr]
        return [r.session_id for r in state.sessions.open_sessions() if r.session_id not in held]

    def check_abandoned_sessions_expire(self) -> None:
        """After the liveness phase: the leader expires every session no client holds, within
        the longest session timeout and a few ticks (a client that is connecting may hold one
        it does not know yet)."""
        limit = MAX_TIMEOUT_MS // TICK_MS + 3 * CONNECT_TIMEOUT_TICKS
        start = self.sim.tick
        while True:
            left = self.abandoned()
            if not left:
                return
            if self.sim.tick - start >= limit:
                raise Violation("the leader expires abandoned sessions",
                                f"{limit} ticks after the liveness phase, {len(left)} session(s) "
                                f"no client holds are still open, e.g. {fmt_session_id(left[0])}")
            self.sim.run_ticks(1)

    # ------------------------------------------------------------------ the links

    def _delay(self) -> int:
        rng = self.net_rng
        if rng.random() < 0.05:
            return rng.randint(TICK // 2, 2 * TICK)
        return rng.randint(1, TICK // 3)

    def _at(self, conn: int, to_server: bool) -> int:
        at = max(self.sim.now + self._delay(), self._last_at.get((conn, to_server), 0))
        self._last_at[(conn, to_server)] = at
        return at

    def connect(self, client: ZkClient, node_id: int) -> int:
        self._next_conn += 1
        conn = self._next_conn
        node = self.sim.nodes[node_id]
        self.conns[conn] = ConnInfo(client, node_id, node.incarnation)
        if not node.up:
            self.to_client(conn, (), True)  # connection refused
        else:
            self.sim.push(self._at(conn, True), ZkToServer(node_id, node.incarnation, conn, "open", b""))
        return conn

    def to_server(self, conn: int, data: bytes) -> None:
        info = self.conns.get(conn)
        if info is None:
            return
        rng = self.net_rng
        # TCP may cut the bytes anywhere: the server's frame decoder must put them together.
        pieces = [data]
        if len(data) > 8 and rng.random() < 0.2:
            cut = rng.randint(1, len(data) - 1)
            pieces = [data[:cut], data[cut:]]
        for piece in pieces:
            self.sim.push(self._at(conn, True), ZkToServer(info.node, info.incarnation, conn, "data", piece))

    def client_closed(self, conn: int) -> None:
        info = self.conns.pop(conn, None)
        if info is not None:
            self.sim.push(self._at(conn, True), ZkToServer(info.node, info.incarnation, conn, "close", b""))

    def to_client(self, conn: int, frames: tuple[bytes, ...], closed: bool) -> None:
        if conn in self.conns:
            self.sim.push(self._at(conn, False), ZkToClient(conn, frames, closed))

    def cut(self, conn: int) -> None:
        """The network cuts the connection: both ends hear it."""
        self.to_client(conn, (), True)
        info = self.conns.get(conn)
        if info is not None:
            self.sim.push(self._at(conn, True), ZkToServer(info.node, info.incarnation, conn, "close", b""))

    def on_to_server(self, ev: ZkToServer) -> None:
        sim = self.sim
        node = sim.nodes[ev.node]
        if not node.up or node.incarnation != ev.incarnation:
            return
        if node.paused_until > sim.now:
            sim.push(node.paused_until, ev)
            return
        server = self.servers.get(ev.node)
        if server is None:
            return
        if ev.kind == "open":
            info = self.conns.get(ev.conn)
            self._guard(ev.node, "opened", lambda: server.opened(ev.conn, info.client.name if info else "?"))
        elif ev.kind == "data":
            self._guard(ev.node, "received", lambda: server.received(ev.conn, ev.data))
        else:
            self._guard(ev.node, "closed", lambda: server.closed(ev.conn))

    def on_to_client(self, ev: ZkToClient) -> None:
        info = self.conns.get(ev.conn)
        if info is None:
            return
        client = info.client
        for frame in ev.frames:
            client.received(ev.conn, frame[4:])
        if ev.closed and self.conns.get(ev.conn) is info:
            self.conns.pop(ev.conn, None)
            client.lost(ev.conn, f"n{info.node} closed the connection")


@dataclass
class ZkClient:
    world: ZkWorld
    name: str
    rng: random.Random
    conn: int | None = None
    node: int | None = None
    #: "down" (no connection), "connecting" (ConnectRequest sent), "connected"
    phase: str = "down"
    session_id: int = 0
    passwd: bytes = b"\0" * 16
    timeout_ms: int = 0
    last_zxid: int = 0
    xid: int = 0
    inflight: deque = field(default_factory=deque)
    connect_tick: int = 0
    last_heard: int = 0
    last_sent: int = 0
    next_try: int = 0
    #: While the tick is below this, the client's process is stopped (no timers, no reading).
    paused_until: int = 0
    inbox: list = field(default_factory=list)
    watches: dict = field(default_factory=lambda: {"data": set(), "exist": set(), "child": set()})
    #: Paths this client believes exist, with the last version it saw.
    known: dict = field(default_factory=dict)
    writes: int = 0
    closing: bool = False
    #: path -> the AddWatchModes of the persistent watches this client set there (both may be
    #: held at once, as in ZooKeeper since ZOOKEEPER-4466; they never fire out)
    persistent: dict = field(default_factory=dict)
    #: A reconnect that must be refused ("wrong password", "unknown session"), or None.
    probe: str | None = None
    #: kazoo starts its xids at 1 on every connection; the Java client keeps counting.
    xids_per_connection: bool = False
    #: The session timeout to ask for (0: drawn per session), and the node to connect to next
    #: (None: drawn): scripted scenarios set them.
    ask_ms: int = 0
    next_node: int | None = None
    #: xid -> (reply header, body) of every reply, and every watch event (session, event):
    #: what scripted scenarios look at.
    replies: dict = field(default_factory=dict)
    events: list = field(default_factory=list)
    #: Sessions this client has had, in order.
    sessions: list = field(default_factory=list)

    # ------------------------------------------------------------------ timers

    @property
    def checkers(self) -> ZkCheckers:
        return self.world.checkers

    def _trace(self, text: str) -> None:
        sim = self.world.sim
        sim.trace.add(sim.now, "client", f"{self.name} {text}")

    def _ticks(self, ms: int) -> int:
        return max(1, ms // TICK_MS)

    def tick(self, tick: int) -> None:
        if tick < self.paused_until:
            return
        if self.inbox:
            inbox, self.inbox = self.inbox, []
            for conn, item in inbox:
                if isinstance(item, str):
                    self.lost(conn, item)
                else:
                    self.received(conn, item)
        if self.phase == "down":
            if tick >= self.next_try:
                self._connect(tick)
            return
        if self.phase == "connecting":
            if tick - self.connect_tick > CONNECT_TIMEOUT_TICKS:
                self._drop(tick, "no ConnectResponse")
            return
        read_timeout = self._ticks(self.timeout_ms * 2 // 3)
        if tick - self.last_heard > read_timeout:
            self._drop(tick, f"nothing heard for {tick - self.last_heard} ticks")
            return
        rng = self.rng
        if self.world.new_requests and not self.closing:
            roll = rng.random()
            if roll < 0.004:
                pause = self._ticks(self.timeout_ms) + rng.randint(-3, 20)
                self.paused_until = tick + pause
                self._trace(f"pauses for {pause} ticks (session {fmt_session_id(self.session_id)}, "
                            f"timeout {self.timeout_ms} ms)")
                return
            if roll < 0.012:
                self._send(tick, OpCode.closeSession, None)
                self.closing = True
                return
            if roll < 0.022 and not self.inflight:
                self._hostile(tick)
                return
            if len(self.inflight) < INFLIGHT_MAX and roll < 0.6:
                self._pick(tick)
        if tick - self.last_sent >= max(1, read_timeout // 2):
            self._send(tick, OpCode.ping, None, Xid.PING)
        if rng.random() < 0.003 and self.conn is not None:
            self.world.count("zk_link_cut")
            self._trace(f"connection to n{self.node} cut by the network")
            self.world.cut(self.conn)

    def _hostile(self, tick: int) -> None:
        """What a broken or hostile client sends (issue 13, item 4): the node must answer as
        ZooKeeper does and keep serving (the world's guard fails the run if it raises)."""
        rng, world = self.rng, self.world
        kind = rng.randrange(4)
        world.count("zk_hostile")
        if kind == 0:  # an opcode no server knows: UNIMPLEMENTED, then the connection closes
            self._trace(f"-> n{self.node} an unknown opcode")
            self._send(tick, 999, None)
        elif kind == 1:  # garbage: a frame whose length is over jute.maxbuffer
            self._trace(f"-> n{self.node} a frame of 2 GiB")
            world.to_server(self.conn, b"\x7f\xff\xff\xff" + bytes(rng.randrange(256) for _ in range(12)))
        else:  # a reconnect with a wrong password, or with a session that never existed
            probe = "wrong password" if kind == 2 else "unknown session"
            self._drop(tick, f"to probe with {probe}")
            self.probe, self.next_try = probe, tick

    def _connect(self, tick: int) -> None:
        world = self.world
        nodes = [n for n in world.sim.ids if n != self.node] or world.sim.ids
        self.node = self.rng.choice(nodes) if self.next_node is None else self.next_node
        self.next_node = None
        self.conn = world.connect(self, self.node)
        self.phase, self.connect_tick = "connecting", tick
        if self.xids_per_connection:
            self.xid = 0
        asked = self.timeout_ms or self.ask_ms or self.rng.randint(*ASKED_TIMEOUT_MS)
        sid, passwd = self.session_id, self.passwd
        if self.probe == "wrong password" and sid:
            passwd = bytes(b ^ 0x5A for b in passwd)
        elif self.probe:
            sid, passwd = self.rng.randrange(1, 1 << 62), bytes(16)
        world.to_server(self.conn, encode_connect_request(r.ConnectRequest(
            0, self.last_zxid, asked, sid, passwd, False)))
        if self.probe:
            self._trace(f"-> n{self.node} connect with {self.probe} (session {fmt_session_id(sid)})")
            return
        self._trace(f"-> n{self.node} connect" + (f" (session {fmt_session_id(self.session_id)}, "
                                                 f"last zxid seen {self.last_zxid:#x})" if self.session_id else ""))

    def _drop(self, tick: int, why: str) -> None:
        """The client gives up its connection (kazoo's connection loss)."""
        if self.conn is not None:
            self.world.client_closed(self.conn)
        self._lost(why)

    def lost(self, conn: int, why: str) -> None:
        if conn != self.conn:
            return
        if self.world.sim.tick < self.paused_until:
            self.inbox.append((conn, why))  # heard when the process runs again
            return
        self._lost(why)

    def _lost(self, why: str) -> None:
        world = self.world
        self._trace(f"connection to n{self.node} lost: {why}"
                    + (f"; {len(self.inflight)} request(s) fail with CONNECTIONLOSS" if self.inflight else ""))
        for sent in self.inflight:
            self.checkers.on_connection_loss(self.name, self.session_id, sent)
        self.inflight.clear()
        self.conn = None
        self.phase = "down"
        self.probe = None
        if self.closing:
            # A closeSession whose reply never came: the session may be closed or not; a
            # new session is the only safe way on (as after a close).
            self._session_over("closing, the connection was lost")
        self.next_try = world.sim.tick + self.rng.randint(0, 2)

    def _session_over(self, why: str) -> None:
        if self.session_id:
            self.checkers.on_session_over(self.name, self.session_id, why)
        self.session_id, self.passwd, self.timeout_ms, self.last_zxid = 0, b"\0" * 16, 0, 0
        self.closing = False
        for kind in self.watches.values():
            kind.clear()
        self.persistent.clear()
        self.checkers.on_watches_fired(self.name, None)
        self.known.clear()

    # ------------------------------------------------------------------ frames in

    def received(self, conn: int, frame: bytes) -> None:
        if conn != self.conn:
            return
        world = self.world
        if world.sim.tick < self.paused_until:
            self.inbox.append((conn, frame))
            return
        self.last_heard = world.sim.tick
        if self.phase == "connecting":
            self._connect_response(frame)
            return
        try:
            header, body = decode_reply(frame, self.inflight[0].opcode if self.inflight else -1)
        except DecodeError as exc:
            self.checkers.fail("replies decode", f"{self.name}: a frame from n{self.node} does not "
                               f"decode: {exc}")
            return
        xid = header.xid
        if xid == Xid.NOTIFICATION:
            self._event(body)
            return
        if xid == Xid.SET_WATCHES:
            self.checkers.on_watches_rearmed(self.name, header.zxid)
        if xid in (Xid.PING, Xid.SET_WATCHES):
            self.checkers.on_zxid(self.name, self.session_id, header.zxid, "a ping reply" if xid == Xid.PING
                                  else "setWatches' reply")
            self._seen(header.zxid)
            return
        if not self.inflight or self.inflight[0].xid != xid:
            self.checkers.fail("replies in xid order", f"{self.name} (session "
                               f"{fmt_session_id(self.session_id)}) got a reply for xid {xid} from "
                               f"n{self.node}, but waits for "
                               f"{[s.xid for s in self.inflight] or 'nothing'}")
        sent = self.inflight.popleft()
        self._trace(f"<= n{self.node} #{xid} {op_name(sent.opcode)} at {fmt_zxid(header.zxid)}"
                    + (f": err {header.err}" if header.err else ""))
        self.checkers.on_reply(self.name, self.session_id, self.last_zxid, sent, header, body)
        self.replies[xid] = (header, body)
        self._seen(header.zxid)
        self._learn(sent, header.err, body, header.zxid)
        if sent.opcode == OpCode.closeSession:
            self._trace(f"<= n{self.node} session {fmt_session_id(self.session_id)} closed")
            self._session_over("closed by its client")
            self.world.client_closed(self.conn) if self.conn is not None else None
            self.conn, self.phase = None, "down"
            self.next_try = world.sim.tick + self.rng.randint(1, 5)

    def _seen(self, zxid: int) -> None:
        if zxid > self.last_zxid:
            self.last_zxid = zxid

    def _connect_response(self, frame: bytes) -> None:
        try:
            resp = decode_connect_response(frame)
        except DecodeError as exc:
            self.checkers.fail("replies decode", f"{self.name}: a ConnectResponse from n{self.node} "
                               f"does not decode: {exc}")
            return
        if self.probe:
            probe, self.probe = self.probe, None
            self.checkers.on_probe(self.name, probe, resp, self.node)
            if self.conn is not None:
                self.world.client_closed(self.conn)
            self.conn, self.phase = None, "down"
            self.next_try = self.world.sim.tick
            return
        if resp.session_id == 0 or resp.time_out <= 0:
            self._trace(f"<= n{self.node} session {fmt_session_id(self.session_id)} expired")
            self.world.count("zk_expired_seen")
            if self.session_id == 0:
                self.checkers.fail("a new session is created", f"{self.name}: n{self.node} refused a "
                                   "new session with an expired-session answer")
            peer = self.world.sim.nodes[self.node].peer if self.node is not None else None
            self.checkers.on_told_expired(self.name, self.session_id, self.node or 0,
                                          peer.zxid_applied if peer is not None else None)
            self._session_over("expired")
            if self.conn is not None:
                self.world.client_closed(self.conn)
            self.conn, self.phase = None, "down"
            self.next_try = self.world.sim.tick
            return
        tick = self.world.sim.tick
        new = resp.session_id != self.session_id
        if new and self.session_id:
            self.checkers.fail("a session is kept across reconnects",
                               f"{self.name} reconnected with session {fmt_session_id(self.session_id)} "
                               f"to n{self.node}, which answered with session {fmt_session_id(resp.session_id)}")
        self.session_id, self.passwd, self.timeout_ms = resp.session_id, resp.passwd or b"", resp.time_out
        self.phase, self.last_heard, self.last_sent = "connected", tick, tick
        if new:
            self.checkers.on_session_started(self.name, resp.session_id)
            self.sessions.append(resp.session_id)
            self._trace(f"<= n{self.node} new session {fmt_session_id(resp.session_id)} "
                        f"(timeout {resp.time_out} ms)")
        else:
            self._trace(f"<= n{self.node} session {fmt_session_id(resp.session_id)} reopened")
            w, p = self.watches, self.persistent
            if p:
                self._send(tick, OpCode.setWatches2, r.SetWatches2(
                    self.last_zxid, tuple(sorted(w["data"])), tuple(sorted(w["exist"])),
                    tuple(sorted(w["child"])),
                    tuple(sorted(a for a, m in p.items() if AddWatchMode.PERSISTENT in m)),
                    tuple(sorted(a for a, m in p.items() if AddWatchMode.PERSISTENT_RECURSIVE in m))),
                    Xid.SET_WATCHES)
            elif any(w.values()):
                self._send(tick, OpCode.setWatches, r.SetWatches(
                    self.last_zxid, tuple(sorted(w["data"])), tuple(sorted(w["exist"])),
                    tuple(sorted(w["child"]))), Xid.SET_WATCHES)

    def _event(self, ev: r.WatcherEvent) -> None:
        path, kind = ev.path or "", ev.type
        w = self.watches
        # One-shot watches fire once (the Java client's ZKWatchManager.materialize).
        if kind in (EventType.NodeCreated, EventType.NodeDataChanged):
            kinds = ("data", "exist")
        elif kind == EventType.NodeChildrenChanged:
            kinds = ("child",)
        elif kind == EventType.NodeDeleted:
            kinds = ("data", "exist", "child")
        else:
            kinds = ()
        fired = [(k, path) for k in kinds if path in w[k]]
        p = self.persistent
        persistent = AddWatchMode.PERSISTENT in p.get(path, ()) or (
            kind != EventType.NodeChildrenChanged and any(
                AddWatchMode.PERSISTENT_RECURSIVE in p.get(a, ()) for a in _self_and_parents(path)))
        held = bool(fired) or persistent or not kinds
        for k, p in fired:
            w[k].discard(p)
        self.checkers.on_watches_fired(self.name, fired)
        self.checkers.on_event(self.name, self.session_id, ev, held)
        self.events.append((self.session_id, ev))

    def _learn(self, sent: Sent, err: int, body: object, zxid: int) -> None:
        """What the client remembers for its next requests (not judged)."""
        known = self.known
        op, b = sent.opcode, sent.body
        if op in (OpCode.create, OpCode.create2, OpCode.createContainer) and err == 0 and body is not None:
            known[body.path] = 0
        elif op == OpCode.setData and err == 0 and body is not None:
            known[b.path] = body.stat.version
        elif op == OpCode.delete and err in (0, Code.NONODE):
            known.pop(b.path, None)
        elif op == OpCode.getData and err == 0 and body is not None:
            known[b.path] = body.stat.version
        elif op == OpCode.getData and err == Code.NONODE:
            known.pop(b.path, None)
        elif op in (OpCode.getChildren, OpCode.getChildren2) and err == 0 and body is not None:
            for child in body.children or ():
                known.setdefault(f"{b.path}/{child}", -1)
        elif op == OpCode.addWatch and err == 0:
            self.persistent.setdefault(b.path, set()).add(b.mode)
        if op in (OpCode.getData, OpCode.exists, OpCode.getChildren, OpCode.getChildren2) and b.watch:
            kind = None
            if op == OpCode.getData and err == 0:
                kind = "data"
            elif op == OpCode.exists and err in (0, Code.NONODE):
                kind = "exist" if err else "data"
            elif op in (OpCode.getChildren, OpCode.getChildren2) and err == 0:
                kind = "child"
            if kind is not None and b.path not in self.watches[kind]:
                self.watches[kind].add(b.path)
                self.checkers.on_watch_set(self.name, kind, b.path, zxid)

    # ------------------------------------------------------------------ requests out

    def request(self, opcode: int, body: object = None) -> int:
        """Scripted: send a request now (the client must be connected); returns its xid, whose
        reply lands in ``replies``."""
        if self.phase != "connected":
            raise AssertionError(f"{self.name} is {self.phase}, not connected")
        self._send(self.world.sim.tick, opcode, body)
        return self.xid

    @property
    def connected(self) -> bool:
        return self.phase == "connected"

    def _send(self, tick: int, opcode: int, body: object, xid: int | None = None) -> None:
        if self.conn is None:
            return
        if xid is None:
            self.xid += 1
            xid = self.xid
            self.inflight.append(Sent(xid, int(opcode), body, tick))
            self._trace(f"-> n{self.node} #{xid} {op_name(opcode)} {getattr(body, 'path', '') or ''}")
        self.last_sent = tick
        self.world.to_server(self.conn, encode_request(xid, int(opcode), body))

    def _data(self) -> bytes:
        self.writes += 1
        return f"{self.name}:{self.writes}".encode()

    def _path(self) -> str:
        rng = self.rng
        if self.known and rng.random() < 0.6:
            return rng.choice(sorted(self.known))
        return f"{rng.choice(PARENTS)}/{rng.choice(NAMES)}"

    def _version(self, path: str) -> int:
        v = self.known.get(path, -1)
        return -1 if v < 0 or self.rng.random() < 0.4 else v

    def _create_request(self) -> r.CreateRequest:
        rng = self.rng
        mode = rng.choice((0, 0, EPHEMERAL, SEQUENTIAL, EPHEMERAL | SEQUENTIAL))
        parent = rng.choice(PARENTS)
        if mode & SEQUENTIAL:
            name = "es-" if mode & EPHEMERAL else "s-"
        else:
            name = rng.choice(NAMES) if rng.random() < 0.8 else rng.choice(NAMES) + "/" + rng.choice(NAMES)
        return r.CreateRequest(f"{parent}/{name}", self._data(), OPEN_ACL, mode)

    def _pick(self, tick: int) -> None:
        rng = self.rng
        roll = rng.random()
        if roll < 0.06:
            # A parent; sometimes a container (the leader deletes it once its last child goes)
            # or with null data (zkCli's create sends none).
            if rng.random() < 0.3:
                self._send(tick, OpCode.createContainer,
                           r.CreateRequest(rng.choice(PARENTS), b"", OPEN_ACL, CONTAINER))
            else:
                self._send(tick, OpCode.create, r.CreateRequest(
                    rng.choice(PARENTS), None if rng.random() < 0.3 else b"", OPEN_ACL, 0))
        elif roll < 0.32:
            self._send(tick, rng.choice((OpCode.create, OpCode.create2)), self._create_request())
        elif roll < 0.47:
            path = self._path()
            self._send(tick, OpCode.setData, r.SetDataRequest(path, self._data(), self._version(path)))
        elif roll < 0.55:
            path = self._path()
            self._send(tick, OpCode.delete, r.DeleteRequest(path, self._version(path)))
        elif roll < 0.68:
            self._send(tick, OpCode.getData, r.GetDataRequest(self._path(), rng.random() < 0.4))
        elif roll < 0.76:
            self._send(tick, OpCode.exists, r.ExistsRequest(self._path(), rng.random() < 0.4))
        elif roll < 0.86:
            parent, watch = rng.choice(PARENTS), rng.random() < 0.4
            if rng.random() < 0.5:
                self._send(tick, OpCode.getChildren, r.GetChildrenRequest(parent, watch))
            else:
                self._send(tick, OpCode.getChildren2, r.GetChildren2Request(parent, watch))
        elif roll < 0.875:
            self._send(tick, OpCode.getEphemerals, r.GetEphemeralsRequest(rng.choice(("/", "", "/p0", "/p1/"))))
        elif roll < 0.89:
            self._send(tick, OpCode.getAllChildrenNumber,
                       r.GetAllChildrenNumberRequest(rng.choice(PARENTS + ("/",))))
        elif roll < 0.9:
            reads = tuple(r.MultiOp(OpCode.getData, r.GetDataRequest(self._path(), False))
                          if rng.random() < 0.5 else
                          r.MultiOp(OpCode.getChildren, r.GetChildrenRequest(rng.choice(PARENTS), False))
                          for _ in range(rng.randint(1, 3)))
            self._send(tick, OpCode.multiRead, r.MultiRequest(reads))
        elif roll < 0.91:
            self._send(tick, OpCode.addWatch, r.AddWatchRequest(
                rng.choice(PARENTS + ("/",)), rng.choice(tuple(AddWatchMode))))
        elif roll < 0.96:
            ops = []
            for _ in range(rng.randint(1, 3)):
                kind = rng.random()
                path = self._path()
                if kind < 0.3:
                    ops.append(r.MultiOp(OpCode.check, r.CheckVersionRequest(path, max(0, self._version(path)))))
                elif kind < 0.6:
                    ops.append(r.MultiOp(OpCode.create, self._create_request()))
                elif kind < 0.85:
                    ops.append(r.MultiOp(OpCode.setData, r.SetDataRequest(path, self._data(), self._version(path))))
                else:
                    ops.append(r.MultiOp(OpCode.delete, r.DeleteRequest(path, self._version(path))))
            self._send(tick, OpCode.multi, r.MultiRequest(tuple(ops)))
        else:
            self._send(tick, OpCode.sync, r.SyncRequest(rng.choice(PARENTS)))
