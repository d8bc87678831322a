"""One client connection's request pipeline: replies in xid order, a session's reads behind its
own writes. Pure: frames and decoded requests in, frames out; no sockets, no clock.

Theory of operation
-------------------
ZooKeeper keeps a session's requests in order in its CommitProcessor and answers them in its
FinalRequestProcessor: a read waits until every write the session sent before it has been
applied (FIFO per session: a client reads its own writes), and the client sees replies in the
order it sent the requests (the Java client drops the connection on an "Xid out of order",
kazoo on "xids do not match"). ``Pipeline`` is that order for one connection:

* ``submit(request)`` classifies a decoded request and appends it to the pending queue:
  ``FORWARD`` a write (the caller forwards it to the leader and later calls
  ``applied(xid, frame)`` with the reply it built when this node applied the txn), ``SYNC``
  (the caller asks the leader for its committed zxid and calls ``sync_point(xid, zxid)``),
  ``LOCAL`` a read, ping, setWatches, addWatch, ... (served from this node's tree when its turn
  comes), ``AUTH`` (auth and sasl: ZooKeeperServer.processPacket handles them at once, outside
  the queue, so that the requests after them carry the new identity: the caller answers with
  ``auth_reply``; their xids -4 and 0 are matched apart by the clients).
* ``ready(zxid_applied, serve)`` releases, from the head of the queue, every request whose
  answer is known: a write once applied, a sync once ``zxid_applied`` reaches its point, and a
  LOCAL request by calling ``serve(request) -> frame`` right then (so a read at the head sees
  every write the session sent before it, and no read is served early). It returns every frame
  to send, in order. The caller calls it after each submit, apply, sync point and event, and
  before it applies the next txn, so that what a read shows is what was applied when it ran.
* ``event(WatcherEvent)`` queues a notification at once, ahead of every reply not released
  yet: the caller hands events and applies in apply order, so an event goes out before any
  reply that shows the state it announces (ZooKeeper sends events from the apply itself,
  DataTree.triggerWatch, ahead of the FinalRequestProcessor's reply).

The connection's states (``Phase``): AWAITING_CONNECT (the first frame is a ConnectRequest,
whatever it holds: NIOServerCnxn reads it as one, and a frame that does not decode closes the
connection), CONNECTING (the session is being created or revalidated; frames that arrive now
wait, as ZooKeeper's ``disableRecv`` makes them wait, and ``connected`` hands them back),
CONNECTED, CLOSING (the client sent closeSession: requests after it are ignored, and once its
reply is out the connection closes, as FinalRequestProcessor's ``sendCloseSession``), CLOSED.

What ZooKeeper does, and so this does, on trouble:

* an unknown opcode: UnimplementedRequestProcessor answers ReplyHeader(xid, -1, UNIMPLEMENTED)
  at once and closes the connection; the requests still pending are never answered;
* a request frame that does not decode: the connection closes (NIOServerCnxn's IOException);
* the connection closes (client gone, session expired, this node lost its leader): nothing is
  sent for the pending requests; the client fails them itself with CONNECTIONLOSS (or
  SESSIONEXPIRED once it learns the session is gone: ClientCnxn.conLossPacket, kazoo's
  ``_notify_pending``). A write already forwarded may still commit: that is what CONNECTIONLOSS
  means to a client. ``close`` returns the abandoned requests so that the caller can drop what it
  tracks for them, and a late ``applied`` for one of them is ignored.

How a node uses it, per connection (the caller owns the socket, the tree and the forwarding;
every frame heard from the client also touches its session, expiry.TouchTable)::

    pipe = Pipeline()
    for item in decoder.feed(received):              # framing.FrameDecoder
        if isinstance(item, FourLetterWord):         # words.answer(item.word, status), close
            ...
        elif pipe.phase is Phase.AWAITING_CONNECT:
            connect = pipe.connect_request(item)     # None: closed
            ...                                      # tree.sessions.connect_decision, then
            # pipe.connected(encode_connect_response(...)) -> held frames to receive, or
            # pipe.refused(expired_response_or_None)
        else:
            action, request = pipe.receive(item)
            # FORWARD: to the leader; on apply: pipe.applied(xid, encode_reply(...))
            # SYNC: ask the leader; then pipe.sync_point(xid, its committed zxid)
            # AUTH: check it; pipe.auth_reply(frame, close=failed)
    # after every submit, apply (events first: pipe.event(...)), sync point:
    send(pipe.ready(zxid_applied, serve))            # serve(request) -> reply frame
    if pipe.should_close: close the socket after sending; pipe.close(reason)

Limits: ``pending_max`` requests wait at most; past it ``should_read`` is False and the caller
stops reading the socket (ZooKeeper's globalOutstandingLimit throttles the same way); a caller
that keeps feeding past ``pending_max + PENDING_SLACK`` has the connection closed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import Enum

import msgspec

from zmqzab.tree.errors import Code
from zmqzab.zk.jute import DecodeError
from zmqzab.zk.opcodes import OpCode, Xid
from zmqzab.zk.protocol import (Request, UnknownOpcodeError, decode_connect_request,
                                decode_request, encode_notification, encode_reply)
from zmqzab.zk.records import ConnectRequest, SyncResponse, WatcherEvent

# The KeeperException.Code values this module answers with (their one home: tree/errors.py).
UNIMPLEMENTED = Code.UNIMPLEMENTED
SESSIONEXPIRED = Code.SESSIONEXPIRED
CONNECTIONLOSS = Code.CONNECTIONLOSS

#: Requests a node forwards to the leader, answered when it applies their txn (ZooKeeper's txn
#: opcodes a client may send; zmqzab.tree.requests.WRITE_OPS less the server's own
#: createSession and deleteContainer; a test keeps the two in step). closeSession also ends the
#: connection once answered.
FORWARDED_OPS = frozenset({
    OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL, OpCode.delete,
    OpCode.setData, OpCode.setACL, OpCode.check, OpCode.multi, OpCode.reconfig,
    OpCode.closeSession})
#: Answered at once, outside the queue (ZooKeeperServer.processPacket).
AUTH_OPS = frozenset({OpCode.auth, OpCode.sasl})

#: ZooKeeper's names for the last operation of a connection (FinalRequestProcessor's lastOp),
#: as ``cons`` prints them (lop=...).
LAST_OP = {
    OpCode.ping: "PING", OpCode.create: "CREA", OpCode.create2: "CREA",
    OpCode.createContainer: "CREA", OpCode.createTTL: "CREA", OpCode.delete: "DELE",
    OpCode.setData: "SETD", OpCode.reconfig: "RECO", OpCode.setACL: "SETA",
    OpCode.closeSession: "CLOS", OpCode.sync: "SYNC", OpCode.check: "CHEC",
    OpCode.exists: "EXIS", OpCode.getData: "GETD", OpCode.setWatches: "SETW",
    OpCode.setWatches2: "STW2", OpCode.addWatch: "ADDW", OpCode.getACL: "GETA",
    OpCode.getChildren: "GETC", OpCode.getChildren2: "GETC",
    OpCode.getAllChildrenNumber: "GETACN", OpCode.checkWatches: "CHKW",
    OpCode.removeWatches: "REMW", OpCode.getEphemerals: "GETE", OpCode.multi: "MULT",
    OpCode.multiRead: "MLTR", OpCode.whoAmI: "HOMI",
}

PENDING_MAX = 1000  # ZooKeeper's globalOutstandingLimit default
#: What a caller may feed past ``pending_max`` (frames already read in one go) before the
#: connection is closed as a local bug or a client that ignores flow control.
PENDING_SLACK = 1000


class Phase(Enum):
    AWAITING_CONNECT = "awaiting_connect"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSING = "closing"
    CLOSED = "closed"


class Action(Enum):
    """What the caller does with a request it just handed to ``submit`` / ``receive``."""

    FORWARD = "forward"  # send it to the leader; call ``applied`` with its reply once applied
    SYNC = "sync"  # ask the leader for its committed zxid; call ``sync_point`` with it
    LOCAL = "local"  # nothing now: ``ready`` serves it when its turn comes
    AUTH = "auth"  # check it now and answer with ``auth_reply`` (outside the queue)
    IGNORED = "ignored"  # dropped: the session is closing or the connection closed
    HELD = "held"  # arrived while CONNECTING: ``connected`` hands the frame back
    CLOSE = "close"  # the pipeline closed the connection: send ``ready``'s frames, then close


class PipelineError(Exception):
    """The caller broke the pipeline's contract (a local bug): loud, never a client's doing."""


class Abandoned(msgspec.Struct, frozen=True):
    """A request that will never be answered because the connection closed. ``forwarded``:
    the leader has it and may still commit it."""

    xid: int
    type: int
    forwarded: bool


class _Pending:
    __slots__ = ("request", "kind", "frame", "sync_zxid")

    def __init__(self, request: Request, kind: Action):
        self.request = request
        self.kind = kind
        self.frame: bytes | None = None  # a FORWARD's reply, once applied
        self.sync_zxid: int | None = None  # a SYNC's point, once the leader told it


class Pipeline:
    """The request pipeline of one client connection. Not thread-safe: one owner (the node's
    poll loop) calls every method."""

    def __init__(self, pending_max: int = PENDING_MAX):
        if type(pending_max) is not int or pending_max < 1:
            raise ValueError(f"pending_max must be a positive integer, got {pending_max!r}")
        self.pending_max = pending_max
        self.phase = Phase.AWAITING_CONNECT
        #: Why the connection closed (for the log), once it has.
        self.close_reason = ""
        self._pending: deque[_Pending] = deque()
        self._out: list[bytes] = []
        self._held: list[bytes] = []
        self._abandoned: list[Abandoned] = []  # left unanswered by a close, until close()
        # The connection's figures for ``cons`` (ServerCnxn's packetsReceived/Sent, lastOp...).
        self.received = 0
        self.sent = 0
        self.last_op = "NA"
        self.last_cxid = -1
        self.last_zxid = -1

    # --- the handshake -------------------------------------------------------------------

    def connect_request(self, frame: bytes) -> ConnectRequest | None:
        """The connection's first frame, read as a ConnectRequest whatever it is (a request
        sent before connecting too, as NIOServerCnxn.readConnectRequest reads it). None if it
        does not decode: the connection is closed (``Phase.CLOSED``)."""
        self._expect(Phase.AWAITING_CONNECT, "connect_request")
        self.received += 1
        try:
            connect = decode_connect_request(frame)
        except DecodeError as exc:
            self._close(f"the first frame is not a ConnectRequest ({exc}): closing the "
                        "connection, as ZooKeeper does")
            return None
        self.phase = Phase.CONNECTING
        return connect

    def connected(self, response_frame: bytes) -> list[bytes]:
        """The session is open: queue the ConnectResponse (encode_connect_response) first, and
        hand back the frames that arrived meanwhile, for ``receive`` in their order."""
        self._expect(Phase.CONNECTING, "connected")
        self.phase = Phase.CONNECTED
        self._send(response_frame)
        held, self._held = self._held, []
        return held

    def refused(self, response_frame: bytes | None = None) -> None:
        """The session cannot be opened: send ``response_frame`` if there is one (an expired
        session's ConnectResponse with timeout 0) and close, as finishSessionInit(valid=false)
        does; None to close without a reply (a client ahead of this node, or no quorum)."""
        self._expect(Phase.CONNECTING, "refused")
        if response_frame is not None:
            self._send(response_frame)
        self._close("session refused")

    # --- requests in ---------------------------------------------------------------------

    def receive(self, frame: bytes) -> tuple[Action, Request | None]:
        """A request frame once connected: decode it and ``submit`` it. An unknown opcode is
        answered UNIMPLEMENTED and closes the connection; an undecodable frame closes it."""
        if self.phase is Phase.CLOSED:
            return Action.IGNORED, None
        if self.phase is Phase.AWAITING_CONNECT:
            raise PipelineError("receive before connect_request: the first frame of a "
                                "connection is its ConnectRequest")
        if self.phase is Phase.CONNECTING:
            if len(self._held) >= self.pending_max + PENDING_SLACK:
                self._close(f"{len(self._held)} frames sent before the session was open")
                return Action.CLOSE, None
            self._held.append(frame)
            return Action.HELD, None
        self.received += 1
        try:
            request = decode_request(frame)
        except UnknownOpcodeError as exc:
            # UnimplementedRequestProcessor: answer at once (zxid -1, the Request's default),
            # then sendCloseSession.
            self._send(encode_reply(exc.xid, -1, UNIMPLEMENTED))
            self._close(f"unknown opcode {exc.type} (xid {exc.xid}): answered UNIMPLEMENTED, "
                        "closing the connection as ZooKeeper does")
            return Action.CLOSE, None
        except DecodeError as exc:
            self._close(f"undecodable request ({exc}): closing the connection")
            return Action.CLOSE, None
        self.received -= 1  # submit counts it
        return self.submit(request), request

    def submit(self, request: Request) -> Action:
        """A decoded request: queue it in order; the Action says what the caller does now."""
        if self.phase in (Phase.AWAITING_CONNECT, Phase.CONNECTING):
            raise PipelineError(f"submit in phase {self.phase.value}: requests come after the "
                                "ConnectResponse")
        self.received += 1
        if self.phase is not Phase.CONNECTED:  # CLOSING: ZooKeeper closes after its reply
            return Action.IGNORED
        type_ = request.header.type
        if type_ in AUTH_OPS:
            self.last_op = "AUTH" if type_ == OpCode.auth else "SASL"
            return Action.AUTH
        if len(self._pending) >= self.pending_max + PENDING_SLACK:
            self._close(f"{len(self._pending)} requests pending, over the limit of "
                        f"{self.pending_max} (the caller must stop reading when should_read "
                        "is False)")
            return Action.CLOSE
        if type_ in FORWARDED_OPS:
            kind = Action.FORWARD
            if type_ == OpCode.closeSession:
                self.phase = Phase.CLOSING
        elif type_ == OpCode.sync:
            kind = Action.SYNC
        else:
            kind = Action.LOCAL
        self._pending.append(_Pending(request, kind))
        return kind

    def auth_reply(self, frame: bytes, close: bool = False) -> None:
        """The answer to an AUTH request, sent at once; ``close`` after an AUTHFAILED (ZooKeeper
        sends it, then closes the connection)."""
        if self.phase is Phase.CLOSED:
            return
        self._send(frame)
        if close:
            self._close("authentication failed")

    # --- answers in ----------------------------------------------------------------------

    def applied(self, xid: int, frame: bytes) -> None:
        """This node applied the txn of the forwarded request ``xid``: ``frame`` is its reply
        (encode_reply, with the txn's zxid). Released by ``ready`` in its turn. Ignored once
        the connection is closed (the request was abandoned)."""
        if self.phase is Phase.CLOSED:
            return
        for entry in self._pending:
            if (entry.kind is Action.FORWARD and entry.frame is None
                    and entry.request.header.xid == xid):
                entry.frame = frame
                return
        raise PipelineError(f"applied xid {xid}: no forwarded request of this connection waits "
                            "for it")

    def sync_point(self, xid: int, zxid: int) -> None:
        """The leader had committed up to ``zxid`` when it saw the sync ``xid``: answer it once
        this node has applied that far."""
        if self.phase is Phase.CLOSED:
            return
        for entry in self._pending:
            if (entry.kind is Action.SYNC and entry.sync_zxid is None
                    and entry.request.header.xid == xid):
                entry.sync_zxid = zxid
                return
        raise PipelineError(f"sync point for xid {xid}: no sync of this connection waits for it")

    def event(self, event: WatcherEvent) -> None:
        """A watch notification for this connection, handed in apply order: it goes out ahead
        of every reply not released yet. Dropped if the connection is not open."""
        if self.phase in (Phase.CONNECTED, Phase.CLOSING):
            self._send(encode_notification(event))

    # --- frames out ----------------------------------------------------------------------

    def ready(self, zxid_applied: int, serve: Callable[[Request], bytes]) -> list[bytes]:
        """Release every request at the head of the queue whose answer is known, in order, and
        return all frames to send (then ``should_close`` says whether to close after them).
        ``serve(request)`` answers a LOCAL request from this node's state right now (the whole
        reply frame, its header's zxid ``zxid_applied``); ``ready`` answers pings and syncs."""
        pending = self._pending
        while pending and self.phase is not Phase.CLOSED:
            entry = pending[0]
            header = entry.request.header
            if entry.kind is Action.FORWARD:
                if entry.frame is None:
                    break
                frame = entry.frame
            elif entry.kind is Action.SYNC:
                if entry.sync_zxid is None or zxid_applied < entry.sync_zxid:
                    break
                path = getattr(entry.request.body, "path", None)
                # The zxid of the sync's own point, not what is applied by now: a write the
                # session sent after the sync may be applied in the same step, and the reply
                # must not claim a state that includes it.
                frame = encode_reply(header.xid, entry.sync_zxid, 0, SyncResponse(path))
            elif header.type == OpCode.ping:
                # FinalRequestProcessor: ReplyHeader(PING_XID, lastProcessedZxid, 0).
                frame = encode_reply(Xid.PING, zxid_applied, 0)
            else:
                frame = serve(entry.request)
            pending.popleft()
            # ServerCnxn.updateStatsForResponse: a ping's -2 too (cons then leaves lcxid out).
            self.last_op = LAST_OP.get(header.type, "NA")
            self.last_cxid = header.xid
            self.last_zxid = zxid_applied
            self._send(frame)
            if header.type == OpCode.closeSession:
                self._close("the client closed its session")
        out, self._out = self._out, []
        return out

    # --- closing -------------------------------------------------------------------------

    def close(self, reason: str) -> list[Abandoned]:
        """The connection is gone (the client left, its session expired, this node stopped
        serving): nothing more is sent. Returns the requests that will never be answered, in
        order (also those a close by the pipeline itself left: an unknown opcode...); the
        client fails them with CONNECTIONLOSS itself."""
        if self.phase is not Phase.CLOSED:
            self._close(reason)
        self._out.clear()
        abandoned, self._abandoned = self._abandoned, []
        return abandoned

    @property
    def should_close(self) -> bool:
        """True once the caller must close the connection, after sending ``ready``'s frames."""
        return self.phase is Phase.CLOSED

    @property
    def should_read(self) -> bool:
        """False while the queue is full (or the connection is closed): stop reading."""
        return self.phase is not Phase.CLOSED and len(self._pending) < self.pending_max

    @property
    def queued(self) -> int:
        """Requests waiting for their answer (``cons``' queued=)."""
        return len(self._pending)

    def reads_before(self, xid: int) -> bool:
        """Whether a request this node answers itself (a read, a ping...) waits in the queue
        ahead of request ``xid``: a write behind it must not be applied before it is served,
        or the read would show its session's later write."""
        for entry in self._pending:
            if entry.request.header.xid == xid:
                return False
            if entry.kind is Action.LOCAL:
                return True
        return False

    def pending_xids(self) -> list[int]:
        return [e.request.header.xid for e in self._pending]

    # --- inside --------------------------------------------------------------------------

    def _send(self, frame: bytes) -> None:
        self._out.append(frame)
        self.sent += 1

    def _close(self, reason: str) -> None:
        self._abandoned += [Abandoned(e.request.header.xid, e.request.header.type,
                                      e.kind is Action.FORWARD) for e in self._pending]
        self._pending.clear()
        self._held.clear()
        self.phase = Phase.CLOSED
        self.close_reason = reason

    def _expect(self, phase: Phase, what: str) -> None:
        if self.phase is not phase:
            raise PipelineError(f"{what} in phase {self.phase.value}, expected {phase.value}")
