"""ZooKeeper's client port, the host's half: connections, sessions, watches and expiry.

Used unchanged by the node (server/zkport.py feeds it the bytes of a ZMQ_STREAM socket) and by
the simulator (its clients speak the same frames), as the rest of host/ is. The driver says
when a connection opens, what bytes arrive, when it closes, every applied txn (``applied``,
from ``HostIO.applied``) and every tick; it carries out ``ZkIO``: frames to send, connections
to close. Nothing here reads a clock or a socket: time is the replica's ticks and the wall
clock the driver passes in.

What happens to a request (ZooKeeper's pipeline, one node):

* a write (create, delete, setData, setACL, check, multi, closeSession) and a sync become a
  ``ZkRequest`` that ``Replica.submit`` proposes (leader) or FORWARDs (follower); the leader's
  prepare makes the txn (zkapi/prep.py); when this node applies it, the ``ZkTxn``'s session id
  and cxid find the connection, and the reply built from what apply did (zkapi/replies.py)
  takes its place in the connection's queue (zk/session.py: replies in xid order, a read
  behind its session's writes);
* a read is answered from this node's tree when its turn in the queue comes;
* watch events of an applied txn are queued before any reply, so no reply shows a state whose
  event has not gone out; ``flush`` sends, once per driver step, after every txn of the step
  was applied.

Sessions. A ConnectRequest without a session proposes createSession with an id this node makes;
its ConnectResponse goes out when the txn is applied here. A reconnect with a session id is
checked here: password (an HMAC of the id with the cluster's secret), and the session open in
the replicated table. The leader alone expires sessions (tree/expiry.py, in ticks): clients
connected to it touch their session directly, followers report theirs (``SessionTouches``, a
FORWARD once per tick), and an expired session gets a closeSession, which deletes its
ephemerals on every node. A node that is not serving (no established leader) takes no
connection and closes those it has: ZooKeeper's followers shut their client port the same way
when they lose the leader, and the clients reconnect elsewhere with their sessions.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Protocol

from zmqzab.core.errors import NotReady
from zmqzab.core.output import Output
from zmqzab.host.replica import Replica
from zmqzab.messages import Txn
from zmqzab.state import ZkResult
from zmqzab.tree.acl import SUPER_SCHEME, Id, digest_auth_id
from zmqzab.tree.errors import Code
from zmqzab.tree.expiry import ExpiryTracker, TouchTable, timeout_ticks
from zmqzab.tree.sessions import (CONNECT_EXPIRED, CONNECT_NEW, CONNECT_REOPEN, CloseSessionTxn,
                                  CreateSessionTxn, SessionIdGenerator, connect_decision,
                                  fmt_session_id, negotiate_timeout_ms, session_password)
from zmqzab.tree.watches import WatchManager
from zmqzab.zk.framing import FourLetterWord, FrameDecoder, FrameError
from zmqzab.zk.opcodes import OpCode, Xid
from zmqzab.zk.protocol import Request, encode_connect_response, encode_reply
from zmqzab.zk.records import AuthPacket, ConnectResponse, WatcherEvent
from zmqzab.zk.session import Action, Phase, Pipeline
from zmqzab.zkapi.prep import LEADER_SESSION
from zmqzab.zkapi.ops import (CLOSE_SESSION, CREATE_SESSION, REVALIDATE, SessionTouches, ZkRequest,
                              ZkTxn)
from zmqzab.zkapi.replies import ReadContext, serve_read, write_reply

Conn = Hashable

#: Ticks between two attempts to propose the close of an expired session that is still open.
CLOSE_RETRY_TICKS = 20

#: ZooKeeper's ContainerManager checks every znode.containerCheckIntervalMs (60 s) and deletes
#: at most maxPerMinute (10,000) containers.
CONTAINER_CHECK_MS = 60_000
CONTAINERS_PER_CHECK = 10_000

#: ZooKeeper's defaults: globalOutstandingLimit 1000, maxClientCnxns 60.
OUTSTANDING_MAX = 1000
MAX_CLIENT_CNXNS = 60

#: A ConnectResponse that tells the client its session is gone (timeout 0, id 0).
EXPIRED_RESPONSE = encode_connect_response(ConnectResponse(0, 0, 0, b"\0" * 16, False))


def _serve_nothing(request: Request) -> bytes:
    raise AssertionError("a closed pipeline serves no request")


class ZkIO(Protocol):
    def zk_send(self, conn: Conn, frames: list[bytes]) -> None: ...

    def zk_close(self, conn: Conn) -> None:
        """Close the connection (after the frames already handed to ``zk_send``)."""


@dataclass(frozen=True)
class ZkSettings:
    node_id: int
    tick_ms: int
    min_timeout_ms: int = 4_000
    max_timeout_ms: int = 40_000
    secret: bytes = b"zmqzab-demo-session-secret"
    #: "super:<digest>": who authenticates with this digest is ZooKeeper's super user.
    super_digest: str = ""
    container_check_ms: int = CONTAINER_CHECK_MS
    #: ZooKeeper's globalOutstandingLimit: requests a node holds for its clients, in all.
    outstanding_max: int = OUTSTANDING_MAX
    #: ZooKeeper's maxClientCnxns: connections from one address (0: no limit).
    max_client_cnxns: int = MAX_CLIENT_CNXNS


@dataclass
class Connection:
    id: Conn
    remote: str
    decoder: FrameDecoder = field(default_factory=FrameDecoder)
    pipe: Pipeline = field(default_factory=Pipeline)
    session_id: int = 0
    timeout_ms: int = 0
    auth: list[Id] = field(default_factory=list)
    #: Forwarded requests by xid, until their txn is applied here (the reply's shape).
    requests: dict[int, Request] = field(default_factory=dict)
    #: Writes (and syncs) held back, in xid order, while a read sent before them waits: they
    #: go to the leader once it is served (see ``_forward``).
    deferred: deque = field(default_factory=deque)
    #: This connection's ZkRequest.origin: a txn is answered here only if it carries it.
    token: int = 0
    ip: str = ""
    #: Frames read but not taken yet: the node was at its outstanding limit (``flush``
    #: takes them as requests complete). Raw bytes, never decoded objects.
    backlog: deque = field(default_factory=deque)


class ZkServer:
    """One node's ZooKeeper client port (see the module docstring)."""

    def __init__(self, replica: Replica, io: ZkIO, settings: ZkSettings,
                 execute: Callable[[Output], None], time_ms: int,
                 word: Callable[[str, Conn], bytes] | None = None) -> None:
        self.replica = replica
        self.io = io
        self.settings = settings
        self.execute = execute
        self.word = word
        self.conns: dict[Conn, Connection] = {}
        #: session id -> the connection on this node that holds it
        self.by_session: dict[int, Conn] = {}
        self.watches = WatchManager()
        self.touches = TouchTable()
        self.ids = SessionIdGenerator(settings.node_id, time_ms)
        #: Connection tokens (ZkRequest.origin), made as session ids are: the node id in the
        #: top byte and the clock below, so no other node and no earlier run of this one made
        #: the same; 0 is never one.
        self._tokens = SessionIdGenerator(settings.node_id, time_ms)
        self.tracker: ExpiryTracker | None = None
        self._tracker_epoch = -1
        self._container_ticks = max(1, settings.container_check_ms // settings.tick_ms)
        self._dirty: set[Conn] = set()
        #: Requests waiting in this node's pipelines, all connections together, and the
        #: connections with frames left unread because of it (insertion order: oldest first).
        self.outstanding = 0
        #: Open connections by ip (maxClientCnxns).
        self._per_ip: dict[str, int] = {}
        self._throttled: dict[Conn, None] = {}
        #: (connection, frames it sent while its session was being created), for ``flush``.
        self._held: list[tuple[Conn, list[bytes]]] = []
        #: The driver's wall clock (ms), for the txns this node proposes (ctime / mtime).
        self.wall_ms = time_ms
        self.counters = {"zk_requests": 0, "zk_writes": 0, "zk_reads": 0, "zk_connects": 0,
                         "zk_sessions_expired": 0, "zk_bad_frames": 0, "zk_events": 0,
                         "zk_refused_connections": 0}

    # ------------------------------------------------------------ the driver's entries

    def opened(self, conn: Conn, remote: str) -> None:
        """A connection from ``remote`` ("ip" or "ipv4:port"). Like ZooKeeper's ServerCnxn, it
        starts with its ip identity, which ip-scheme ACLs and whoami see."""
        c = self.conns[conn] = Connection(conn, remote, token=self._tokens.next())
        ip = remote.rsplit(":", 1)[0] if remote.count(":") == 1 else remote
        if ip and ip != "?":
            c.auth.append(Id("ip", ip))
        c.ip = ip
        n = self._per_ip[ip] = self._per_ip.get(ip, 0) + 1
        cap = self.settings.max_client_cnxns
        if cap and n > cap:
            # NIOServerCnxnFactory: "Too many connections from <ip> - max is 60": closed at once.
            self.counters["zk_refused_connections"] += 1
            self._close(c, f"too many connections from {ip} (max_client_cnxns = {cap})")

    def received(self, conn: Conn, data: bytes) -> None:
        c = self.conns.get(conn)
        if c is None:
            return
        try:
            items = c.decoder.feed(data)
        except FrameError:
            self.counters["zk_bad_frames"] += 1
            self._close(c, "bad frame")
            return
        c.backlog.extend(items)
        self._take(c)
        self._dirty.add(conn)

    def _take(self, c: Connection) -> None:
        """Take ``c``'s frames in order while the node is below its outstanding limit
        (ZooKeeper's globalOutstandingLimit: one count for the whole server)."""
        conn = c.id
        backlog = c.backlog
        while backlog:
            if self.outstanding >= self.settings.outstanding_max:
                self._throttled[conn] = None
                return
            item = backlog.popleft()
            if isinstance(item, FourLetterWord):
                answer = self.word(item.word, conn) if self.word is not None else b""
                self.io.zk_send(conn, [answer] if answer else [])
                self._close(c, "four-letter word answered")
                return
            if c.pipe.should_close:
                backlog.clear()
                return
            if c.pipe.phase is Phase.AWAITING_CONNECT:
                self._connect(c, item)
            else:
                before = c.pipe.queued
                self._request(c, item)
                self.outstanding += c.pipe.queued - before
        self._throttled.pop(conn, None)

    @property
    def should_read(self) -> bool:
        """False while the node holds its limit of outstanding requests: the driver stops
        reading the port (libzmq's high-water mark and TCP push back on the clients)."""
        return self.outstanding < self.settings.outstanding_max

    def closed(self, conn: Conn) -> None:
        """The client closed the connection (its session lives on until it expires)."""
        c = self.conns.pop(conn, None)
        if c is None:
            return
        c.pipe.close("the client closed the connection")
        self._forget(c)

    def tick(self, now: int) -> None:
        """Once per replica tick: the leader expires sessions; a follower reports touches; a
        node that stopped serving closes its connections."""
        serving, leading, epoch = self._serving()
        if not serving:
            self.tracker = None
            for c in list(self.conns.values()):
                self._close(c, "this node is not serving: no established leader")
            self.touches.drain()
            return
        if leading:
            tracker = self._leader_tracker(epoch, now)
            tracker.touch_reported(self.replica.peer.state.drain_touches(), now)
            for sid in tracker.expired(now):  # each now closing: reported once
                self.counters["zk_sessions_expired"] += 1
                self._submit(None, ZkRequest(sid, 0, CLOSE_SESSION))
            if now % self._container_ticks == 0:
                # ContainerManager: empty containers that once had a child go (the leader's
                # own deleteContainer, which prepare refuses if a child came meanwhile).
                tree = self.replica.peer.state.tree
                for path in tree.container_candidates(self.wall_ms)[:CONTAINERS_PER_CHECK]:
                    self._submit(None, ZkRequest(LEADER_SESSION, 0, int(OpCode.deleteContainer),
                                                 path.encode("utf-8")))
            if now % CLOSE_RETRY_TICKS == 0:
                # A close the leader could not propose (busy) is proposed again; one that is
                # on its way is answered SESSIONEXPIRED by prepare and changes nothing.
                sessions = self.replica.peer.state.sessions
                for sid in tracker.closing():
                    if sid in sessions:
                        self._submit(None, ZkRequest(sid, 0, CLOSE_SESSION))
        else:
            self.tracker = None
            touched = self.touches.drain()
            if touched:
                self._submit(None, SessionTouches(tuple(touched)))

    def applied(self, txn: Txn, result: object) -> None:
        """Every txn this node applied, in order (``HostIO.applied``)."""
        op = txn.op
        if type(op) is not ZkTxn or not isinstance(result, ZkResult):
            return
        tree = result.tree
        if tree is not None and tree.triggers:
            for watcher, ev in self.watches.fire(tree.triggers):
                c = self.conns.get(watcher)
                if c is not None:
                    c.pipe.event(WatcherEvent(int(ev.type), int(ev.state), ev.path))
                    self.counters["zk_events"] += 1
                    self._dirty.add(watcher)
        inner = op.txn
        sid = op.session_id
        if type(inner) is CreateSessionTxn:
            if self.tracker is not None and result.err == 0:
                self.tracker.track(sid, self._ticks(inner.timeout_ms), self.replica.ticks)
        elif type(inner) is CloseSessionTxn:
            if self.tracker is not None:
                self.tracker.remove(sid)
        conn = self.by_session.get(sid)
        c = self.conns.get(conn) if conn is not None else None
        if c is None or c.session_id != sid:
            return
        self._dirty.add(c.id)
        # Only the connection that sent the request is answered: another connection of the
        # session (it moved here, or away, while the request was on its way) may be waiting
        # for a request with the same xid.
        ours = op.origin == c.token
        if op.opcode == CREATE_SESSION:
            if ours:
                self._session_opened(c, result.err == 0)
        elif op.opcode == REVALIDATE:
            if ours and c.pipe.phase is Phase.CONNECTING:  # a reconnect the leader checked
                timeout = self.replica.peer.state.sessions.timeout_ms(sid)
                if result.err == 0 and timeout is not None:
                    c.timeout_ms = timeout
                    self.touch(sid)
                    self._session_opened(c, True)
                else:
                    self._session_opened(c, False)
        elif op.opcode == OpCode.sync:
            if ours and c.pipe.phase in (Phase.CONNECTED, Phase.CLOSING):
                c.pipe.sync_point(op.cxid, txn.zxid)
        else:
            request = c.requests.pop(op.cxid, None) if ours else None
            if request is not None:
                c.pipe.applied(op.cxid, write_reply(request, txn.zxid, tree, result.err))
            elif type(inner) is CloseSessionTxn:
                # Not this client's own closeSession: the leader expired the session. Close the
                # connection; the client learns SESSIONEXPIRED when it reconnects.
                self._close(c, "session expired")

    def flush(self) -> None:
        """Send what is due on every connection that changed (call once per driver step)."""
        while self._held:
            conn, frames = self._held.pop(0)
            c = self.conns.get(conn)
            for frame in frames:
                if c is None or c.pipe.should_close:
                    break
                self._request(c, frame)
            self._dirty.add(conn)
        if not self._dirty:
            return
        dirty, self._dirty = self._dirty, set()
        state = self.replica.peer.state
        for conn in dirty:
            c = self.conns.get(conn)
            if c is None:
                continue
            events: list = []

            def serve(request: Request, c: Connection = c) -> bytes:
                self.counters["zk_reads"] += 1
                frame = serve_read(request, state.zxid_applied, state.tree, self.watches,
                                   ReadContext(c.id, c.session_id, c.auth), events)
                for watcher, ev in events:
                    c.pipe.event(WatcherEvent(int(ev.type), int(ev.state), ev.path))
                events.clear()
                return frame

            frames = c.pipe.ready(state.zxid_applied, serve)
            if frames:
                self.io.zk_send(conn, frames)
            if c.pipe.should_close:
                self._close(c, c.pipe.close_reason)
            elif c.deferred:
                self._release_deferred(c)
        # What is outstanding now (answered requests left their queues), and the frames of
        # throttled connections while there is room again, oldest throttled first.
        self.outstanding = sum(c.pipe.queued for c in self.conns.values())
        for conn in list(self._throttled):
            if self.outstanding >= self.settings.outstanding_max:
                break
            c = self.conns.get(conn)
            if c is None:
                self._throttled.pop(conn, None)
                continue
            self._take(c)
            self._dirty.add(conn)

    def touch(self, session_id: int) -> None:
        """The client of ``session_id`` was heard from here."""
        tracker = self.tracker
        if tracker is not None:
            timeout = tracker.timeout_of(session_id)
            if timeout is not None:
                tracker.touch(session_id, timeout, self.replica.ticks)
        else:
            self.touches.touch(session_id)

    # ------------------------------------------------------------ views

    def view(self) -> dict:
        return {"connections": [{"session": fmt_session_id(c.session_id) if c.session_id else None,
                                 "remote": c.remote, "queued": c.pipe.queued}
                                for c in self.conns.values()],
                "watches": self.watches.watch_count()}

    def expiry_ms(self) -> dict[int, int] | None:
        """Session id -> ms until the leader expires it (None on a follower)."""
        if self.tracker is None:
            return None
        now = self.replica.ticks
        out = {}
        for record in self.replica.peer.state.sessions.open_sessions():
            deadline = self.tracker.deadline(record.session_id)
            if deadline is not None:
                out[record.session_id] = max(0, deadline - now) * self.settings.tick_ms
        return out

    # ------------------------------------------------------------ inside

    def _serving(self) -> tuple[bool, bool, int]:
        rs = self.replica.peer.role_state
        established = getattr(rs, "established", None)
        if established is not None:  # LeaderState
            return bool(established), True, rs.epoch
        if getattr(rs, "serving", False):  # FollowerState
            return True, False, rs.epoch
        return False, False, -1

    def _ticks(self, timeout_ms: int) -> int:
        return timeout_ticks(timeout_ms, self.settings.tick_ms)

    def _leader_tracker(self, epoch: int, now: int) -> ExpiryTracker:
        if self.tracker is None or self._tracker_epoch != epoch:
            # A new leader gives every open session a full timeout (tree/expiry.py).
            sessions = [(r.session_id, self._ticks(r.timeout_ms))
                        for r in self.replica.peer.state.sessions.open_sessions()]
            self.tracker = ExpiryTracker.rebuild(sessions, now)
            self._tracker_epoch = epoch
        return self.tracker

    def _submit(self, c: Connection | None, op: ZkRequest | SessionTouches) -> bool:
        try:
            out = self.replica.submit([op], (), ts_ms=self.wall_ms)
        except NotReady as exc:
            if exc.output:
                self.execute(exc.output)
            if c is not None:
                self._close(c, f"not serving: {exc}")
            return False
        self.execute(out)
        return True

    def _connect(self, c: Connection, frame: bytes) -> None:
        self.counters["zk_connects"] += 1
        req = c.pipe.connect_request(frame)
        if req is None:
            self._close(c, c.pipe.close_reason)
            return
        serving, _, _ = self._serving()
        if not serving:
            c.pipe.refused(None)
            self._close(c, "this node is not serving: no established leader")
            return
        state = self.replica.peer.state
        decision = connect_decision(req.session_id, req.passwd, req.last_zxid_seen,
                                    state.zxid_applied, self.settings.secret)
        if decision.outcome == CONNECT_NEW:
            try:
                timeout = negotiate_timeout_ms(req.time_out, self.settings.min_timeout_ms,
                                               self.settings.max_timeout_ms)
            except ValueError:
                timeout = self.settings.min_timeout_ms
            sid = self.ids.next(state.sessions)
            self._own(c, sid, timeout)
            self._submit(c, ZkRequest(sid, 0, CREATE_SESSION, timeout_ms=timeout, origin=c.token))
        elif decision.outcome == CONNECT_REOPEN:
            timeout = state.sessions.timeout_ms(req.session_id)
            if self.tracker is not None and self.tracker.is_closing(req.session_id):
                c.pipe.refused(EXPIRED_RESPONSE)
                self._dirty.add(c.id)
                return
            # The leader decides, not this node's table (ZooKeeper's REVALIDATE): the table
            # may not hold the session's createSession yet (a client that got no reply since
            # its ConnectResponse has seen no zxid), or still hold a session the leader closed
            # (a client back from a partition to a follower behind on the close, its lock node
            # still in that follower's tree). Prepare answers SESSIONEXPIRED if it is not open,
            # else moves the session to this connection (what its old one sends from then on
            # is SESSIONMOVED); decided when applied here, by when this node holds everything
            # the leader had before it.
            self._own(c, req.session_id, timeout or 0)
            self._submit(c, ZkRequest(req.session_id, 0, REVALIDATE, origin=c.token))
        elif decision.outcome == CONNECT_EXPIRED:
            c.pipe.refused(EXPIRED_RESPONSE)
            self._dirty.add(c.id)
        else:  # the client has seen more than this node: it must try another
            c.pipe.refused(None)
            self._dirty.add(c.id)

    def _own(self, c: Connection, sid: int, timeout_ms: int) -> None:
        old = self.by_session.get(sid)
        if old is not None and old != c.id and old in self.conns:
            self._close(self.conns[old], "the session moved to a new connection")
        self.by_session[sid] = c.id
        c.session_id = sid
        c.timeout_ms = timeout_ms

    def _session_opened(self, c: Connection, ok: bool) -> None:
        if c.pipe.phase is not Phase.CONNECTING:
            return
        if not ok:
            c.pipe.refused(EXPIRED_RESPONSE)
            return
        sid = c.session_id
        frame = encode_connect_response(ConnectResponse(
            0, c.timeout_ms, sid, session_password(sid, self.settings.secret), False))
        held = c.pipe.connected(frame)
        if held:
            # Requests sent before the ConnectResponse (kazoo's auth, a first create): taken
            # at the next flush, never here, inside the apply of the createSession (a submit
            # from within an Output being carried out would nest one Output in another).
            self._held.append((c.id, held))

    def _request(self, c: Connection, frame: bytes) -> None:
        action, request = c.pipe.receive(frame)
        if request is None:
            if action is Action.CLOSE:
                self.counters["zk_bad_frames"] += 1
            return
        self.counters["zk_requests"] += 1
        sid = c.session_id
        self.touch(sid)
        header = request.header
        if action is Action.FORWARD:
            self.counters["zk_writes"] += 1
            c.requests[header.xid] = request
            opcode = CLOSE_SESSION if header.type == OpCode.closeSession else header.type
            auth = tuple((i.scheme, i.id) for i in c.auth)
            self._forward(c, ZkRequest(sid, header.xid, opcode, bytes(frame), auth, origin=c.token))
        elif action is Action.SYNC:
            self._forward(c, ZkRequest(sid, header.xid, int(OpCode.sync), origin=c.token))
        elif action is Action.AUTH:
            self._auth(c, request)

    def _forward(self, c: Connection, op: ZkRequest) -> None:
        """Send a write (or sync) to the leader, unless a read the session sent before it still
        waits here: then it waits too (``flush`` sends it once the read is served). A read is
        served from the tree as applied at that moment; if the write were applied in the same
        step as an earlier write the read waits for, the read would show it (ZooKeeper's
        CommitProcessor holds a session's later commits behind its waiting read the same way).
        The connection's requests still reach the leader in xid order (prepare relies on it)."""
        if c.deferred or c.pipe.reads_before(op.cxid):
            c.deferred.append(op)
        else:
            self._submit(c, op)

    def _release_deferred(self, c: Connection) -> None:
        while c.deferred and not c.pipe.reads_before(c.deferred[0].cxid):
            if not self._submit(c, c.deferred.popleft()):
                return

    def _auth(self, c: Connection, request: Request) -> None:
        body = request.body
        if request.header.type == OpCode.auth and isinstance(body, AuthPacket) \
                and body.scheme == "digest" and body.auth is not None:  # jute's null buffer
            try:
                ident = digest_auth_id(body.auth.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                ident = None
            if ident is not None:
                if ident not in c.auth:
                    c.auth.append(ident)
                if self.settings.super_digest and ident.id == self.settings.super_digest:
                    # DigestAuthenticationProvider: the super digest adds ("super", "").
                    if Id(SUPER_SCHEME, "") not in c.auth:
                        c.auth.append(Id(SUPER_SCHEME, ""))
                c.pipe.auth_reply(encode_reply(Xid.AUTH, 0, 0))
                return
        # An unknown scheme (or SASL, which zmqzab does not speak): AUTHFAILED, then close.
        c.pipe.auth_reply(encode_reply(Xid.AUTH, 0, Code.AUTHFAILED), close=True)

    def _close(self, c: Connection, reason: str) -> None:
        if c.pipe.should_close:
            # What the pipeline queued before it closed (an UNIMPLEMENTED, a refusal): a closed
            # pipeline serves nothing more, it only hands these out.
            frames = c.pipe.ready(self.replica.peer.state.zxid_applied, _serve_nothing)
            if frames:
                self.io.zk_send(c.id, frames)
        c.pipe.close(reason)
        if self.conns.pop(c.id, None) is not None:
            self._forget(c)
            self.io.zk_close(c.id)

    def _forget(self, c: Connection) -> None:
        self._throttled.pop(c.id, None)
        left = self._per_ip.get(c.ip, 0) - 1
        if left > 0:
            self._per_ip[c.ip] = left
        else:
            self._per_ip.pop(c.ip, None)
        self.watches.remove_watcher(c.id)
        if c.session_id and self.by_session.get(c.session_id) == c.id:
            del self.by_session[c.session_id]
        self._dirty.discard(c.id)
