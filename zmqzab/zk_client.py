"""A small synchronous ZooKeeper client: one connection, one session, one request at a time.

Theory of operation. ``ZkClient.connect`` opens a TCP connection to one server, sends a
ConnectRequest (a new session: session id 0, a zero password) and reads the ConnectResponse;
every call after that sends one request (RequestHeader with the next xid) and reads frames until
the reply with that xid arrives. A watch event (xid -1) that arrives first is kept in
``events`` for ``wait_event``; a ping's reply (xid -2) is skipped; any other xid is a protocol
error (the server must answer in xid order, as the Java client insists). ``close`` sends
closeSession, so the session's ephemeral nodes go at once instead of at expiry. Nothing runs in
the background: pings are sent by ``wait_event`` while it waits (every third of the session
timeout, as ClientCnxn does) and before a request when the session was idle that long.

It is built on the codec the server uses (zmqzab/zk/: protocol.encode_request / decode_reply,
records.py, framing.FrameDecoder), so it is also a second reader of the server's bytes; it lives
beside that package, not in it, because zmqzab/zk/ is pure (no sockets, no clock). It is for the
``zmqzab zk`` command and tests: no reconnect, no failover to another server, no pipelining;
kazoo, zkCli and Curator are the real clients.

Errors: ``ZkError`` carries ZooKeeper's code (``zmqzab.tree.errors.Code``) and the path;
``ZkConnectionError`` (its code CONNECTIONLOSS) says which address failed and why.
"""

from __future__ import annotations

import socket
import time
from types import TracebackType

import msgspec

from zmqzab.tree.errors import Code
from zmqzab.zk.framing import FrameDecoder, FrameError
from zmqzab.zk.jute import DecodeError, Reader
from zmqzab.zk.opcodes import AddWatchMode, OpCode, Xid
from zmqzab.zk.protocol import (decode_connect_response, decode_reply, encode_connect_request,
                                encode_request)
from zmqzab.zk.records import (ACL, AddWatchRequest, ConnectRequest, CreateRequest,
                               DeleteRequest, ExistsRequest, GetChildrenRequest, GetDataRequest,
                               Id, ReplyHeader, SetDataRequest, Stat, WatcherEvent)

#: ``ZooDefs.Ids.OPEN_ACL_UNSAFE``, as the client sends it (zkCli's default for create).
OPEN_ACL_UNSAFE = (ACL(31, Id("world", "anyone")),)

#: CreateMode's flags (zmqzab.tree.requests.CreateMode): bit 0 ephemeral, bit 1 sequential.
_EPHEMERAL = 1
_SEQUENTIAL = 2

#: What each error a person is likely to meet means, and what to do about it.
_HINTS: dict[Code, str] = {
    Code.NONODE: "the node does not exist (create it, or its parent, first)",
    Code.NODEEXISTS: "the node already exists (delete it, or use set to change its data)",
    Code.BADVERSION: "the node's version is not the one given (stat shows the current one)",
    Code.NOTEMPTY: "the node has children (delete them first)",
    Code.NOCHILDRENFOREPHEMERALS: "an ephemeral node cannot have children",
    Code.NOAUTH: "the node's ACL does not allow this",
    Code.BADARGUMENTS: "the path or an argument is invalid (paths start with / and do not end "
                       "with one)",
    Code.SESSIONEXPIRED: "the session expired",
    Code.UNIMPLEMENTED: "the server does not implement this request",
}


class ZkError(Exception):
    """A request refused by the server (``code`` is ZooKeeper's KeeperException.Code)."""

    def __init__(self, code: int, path: str | None = None, detail: str = ""):
        try:
            self.code: Code | int = Code(code)
        except ValueError:
            self.code = code
        self.path = path
        name = self.code.name if isinstance(self.code, Code) else f"error {code}"
        where = f" for {path}" if path else ""
        why = detail or (_HINTS.get(self.code, "") if isinstance(self.code, Code) else "")
        super().__init__(f"{name}{where}" + (f": {why}" if why else ""))


class ZkConnectionError(ZkError):
    """No answer, a refused connection, or bytes that are not ZooKeeper's: the session is gone."""

    def __init__(self, address: str, detail: str):
        self.address = address
        super().__init__(Code.CONNECTIONLOSS, detail=f"{address}: {detail}")


def parse_server(server: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` for an IPv6 literal) -> (host, port); ValueError if not."""
    host, sep, port = server.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"server {server!r} is not host:port (e.g. 127.0.0.1:2181)")
    return host.strip("[]"), int(port)


class ZkClient:
    """One session on one server. Use as a context manager (``close`` ends the session)."""

    def __init__(self, server: str, session_timeout_ms: int = 10_000,
                 request_timeout_s: float = 10.0):
        self.server = server
        self.host, self.port = parse_server(server)
        self.session_timeout_ms = session_timeout_ms
        self.request_timeout_s = request_timeout_s
        self.session_id = 0
        self.negotiated_timeout_ms = 0
        #: The highest zxid seen in a reply (what a reconnect would send as lastZxidSeen).
        self.zxid_last = 0
        #: Watch events received and not yet taken by ``wait_event``, oldest first.
        self.events: list[WatcherEvent] = []
        self._sock: socket.socket | None = None
        self._decoder = FrameDecoder()
        self._frames: list[bytes] = []
        self._xid = 0
        self._last_send = 0.0

    # --- the connection ---------------------------------------------------------------------

    def connect(self) -> ZkClient:
        try:
            self._sock = socket.create_connection((self.host, self.port),
                                                  timeout=self.request_timeout_s)
        except OSError as exc:
            raise ZkConnectionError(self.server, f"cannot connect ({_reason(exc)})") from None
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # A client never receives a four-letter word: every 4 bytes at the start are a length.
        self._decoder.initialized = True
        self._send(encode_connect_request(ConnectRequest(0, 0, self.session_timeout_ms, 0,
                                                         b"\0" * 16, False)))
        frame = self._next_frame(self.request_timeout_s)
        try:
            response = decode_connect_response(frame)
        except DecodeError as exc:
            raise self._broken(f"a ConnectResponse that does not decode ({exc})") from None
        if response.time_out <= 0 or response.session_id == 0:
            # ZooKeeper's answer to a session it will not open (ClientCnxn: "session expired").
            self._close_socket()
            raise ZkError(Code.SESSIONEXPIRED, detail=f"{self.server} refused the session")
        self.session_id = response.session_id
        self.negotiated_timeout_ms = response.time_out
        return self

    def close(self) -> None:
        """closeSession (the session's ephemeral nodes are deleted now), then the socket."""
        if self._sock is None:
            return
        try:
            if self.session_id:
                self._call(OpCode.closeSession, None)
        except ZkError:
            pass  # the session ends at its expiry instead
        finally:
            self._close_socket()

    def __enter__(self) -> ZkClient:
        return self.connect() if self._sock is None else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # --- requests ---------------------------------------------------------------------------

    def get_children(self, path: str, watch: bool = False) -> list[str]:
        reply = self._call(OpCode.getChildren, GetChildrenRequest(path, watch), path)
        return list(reply.children or ())  # type: ignore[union-attr]

    def get_data(self, path: str, watch: bool = False) -> tuple[bytes | None, Stat]:
        reply = self._call(OpCode.getData, GetDataRequest(path, watch), path)
        return reply.data, reply.stat  # type: ignore[union-attr]

    def exists(self, path: str, watch: bool = False) -> Stat | None:
        """The node's Stat, or None when it does not exist (a watch is left either way)."""
        try:
            return self._call(OpCode.exists, ExistsRequest(path, watch), path).stat  # type: ignore[union-attr]
        except ZkError as exc:
            if exc.code == Code.NONODE:
                return None
            raise

    def set_data(self, path: str, data: bytes, version: int = -1) -> Stat:
        return self._call(OpCode.setData, SetDataRequest(path, data, version), path).stat  # type: ignore[union-attr]

    def create(self, path: str, data: bytes | None = b"", ephemeral: bool = False,
               sequential: bool = False, acl: tuple[ACL, ...] = OPEN_ACL_UNSAFE) -> str:
        """The created node's path (with its sequence number when ``sequential``). ``data``
        None is ZooKeeper's null data (what zkCli's ``create /x`` without data sends)."""
        flags = (_EPHEMERAL if ephemeral else 0) | (_SEQUENTIAL if sequential else 0)
        reply = self._call(OpCode.create, CreateRequest(path, data, acl, flags), path)
        return reply.path  # type: ignore[union-attr]

    def delete(self, path: str, version: int = -1) -> None:
        self._call(OpCode.delete, DeleteRequest(path, version), path)

    def add_watch(self, path: str, recursive: bool = False) -> None:
        """A persistent watch (ZooKeeper 3.6's addWatch): every change, until the session ends."""
        mode = AddWatchMode.PERSISTENT_RECURSIVE if recursive else AddWatchMode.PERSISTENT
        self._call(OpCode.addWatch, AddWatchRequest(path, int(mode)), path)

    def ping(self) -> None:
        self._send(encode_request(Xid.PING, OpCode.ping))

    def wait_event(self, timeout_s: float | None = None) -> WatcherEvent | None:
        """The oldest watch event not yet taken; waits up to ``timeout_s`` (None: for ever),
        pinging the server so that the session stays alive. None when the time ran out."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self.events:
            if self._sock is None:
                raise ZkConnectionError(self.server, "not connected")
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return None
            self._ping_if_idle()
            wait = self._ping_interval_s()
            if deadline is not None:
                wait = min(wait, deadline - now)
            frame = self._next_frame(wait, idle_ok=True)
            if frame is not None:
                self._dispatch(frame, None, OpCode.ping)
        return self.events.pop(0)

    # --- inside -----------------------------------------------------------------------------

    def _call(self, type_: int, body: msgspec.Struct | None,
              path: str | None = None) -> msgspec.Struct | None:
        if self._sock is None:
            raise ZkConnectionError(self.server, "not connected")
        self._ping_if_idle()
        self._xid += 1
        xid = self._xid
        self._send(encode_request(xid, type_, body))
        while True:
            frame = self._next_frame(self.request_timeout_s)
            done, reply = self._dispatch(frame, xid, type_)
            if done:
                header, record = reply
                if header.err != 0:
                    raise ZkError(header.err, path)
                return record

    def _dispatch(self, frame: bytes, xid: int | None, type_: int) -> tuple[bool, tuple]:
        """A frame read while waiting for ``xid``'s reply: (True, (header, body)) when it is
        that reply; events are kept and ping replies skipped."""
        try:
            # The header first: a reply to another xid has another type's body.
            xid_got = ReplyHeader.decode(Reader(frame)).xid
            if xid_got not in (Xid.NOTIFICATION, Xid.PING, xid):
                raise self._broken(f"reply for xid {xid_got} while waiting for xid {xid} "
                                   "(replies must come in xid order)")
            header, record = decode_reply(frame, type_)
        except DecodeError as exc:
            raise self._broken(f"a reply that does not decode ({exc})") from None
        if header.xid == Xid.NOTIFICATION:
            self.events.append(record)  # type: ignore[arg-type]
            return False, ()
        if header.xid == Xid.PING:
            return False, ()
        if header.zxid > self.zxid_last:
            self.zxid_last = header.zxid
        return True, (header, record)

    def _ping_interval_s(self) -> float:
        return max(0.05, (self.negotiated_timeout_ms or self.session_timeout_ms) / 3000)

    def _ping_if_idle(self) -> None:
        if time.monotonic() - self._last_send >= self._ping_interval_s():
            self.ping()

    def _send(self, data: bytes) -> None:
        assert self._sock is not None
        try:
            self._sock.sendall(data)
        except OSError as exc:
            raise self._broken(f"connection lost while sending ({_reason(exc)})") from None
        self._last_send = time.monotonic()

    def _next_frame(self, timeout_s: float, idle_ok: bool = False) -> bytes | None:
        """The next frame from the server; None if ``idle_ok`` and none came in time."""
        deadline = time.monotonic() + timeout_s
        while not self._frames:
            left = deadline - time.monotonic()
            if left <= 0:
                if idle_ok:
                    return None
                raise self._broken(f"no reply within {self.request_timeout_s:g} s")
            assert self._sock is not None
            self._sock.settimeout(left)
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError as exc:
                raise self._broken(f"connection lost ({_reason(exc)})") from None
            if not data:
                raise self._broken("the server closed the connection")
            try:
                self._frames.extend(self._decoder.feed(data))  # type: ignore[arg-type]
            except FrameError as exc:
                raise self._broken(str(exc)) from None
        return self._frames.pop(0)

    def _broken(self, detail: str) -> ZkConnectionError:
        self._close_socket()
        return ZkConnectionError(self.server, detail)

    def _close_socket(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
