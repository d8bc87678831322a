"""zmqzab/zk_client.py against a fake server: a thread with a listening socket that speaks the
codec (framing, protocol, records) and keeps a tiny tree, so that each test sees the bytes the
client sent and decides the bytes it gets back.

Goal: the client sends what ZooKeeper expects (ConnectRequest, request records, flags, xids in
order, pings while it waits, closeSession) and reads every answer right (replies, errors with
ZooKeeper's code, events before replies, ping replies), and every failure is a ZkError that
names the code and the path, or a ZkConnectionError that names the address. No real cluster.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

import pytest

from zmqzab.tree.errors import Code
from zmqzab.zk_client import ZkClient, ZkConnectionError, ZkError, parse_server
from zmqzab.zk.framing import FrameDecoder, FrameError
from zmqzab.zk.opcodes import EventType, KeeperState, OpCode, Xid
from zmqzab.zk.protocol import (Request, decode_connect_request, decode_request,
                                encode_connect_response, encode_notification, encode_reply)
from zmqzab.zk.records import (ConnectRequest, ConnectResponse, CreateResponse, ErrorResponse,
                               ExistsResponse, GetChildrenResponse, GetDataResponse,
                               SetDataResponse, Stat, WatcherEvent)

pytestmark = [pytest.mark.unit, pytest.mark.zk]

SESSION_ID = 0x1234_5678_9ABC


def make_stat(version: int = 0, data_length: int = 0, num_children: int = 0,
              ephemeral_owner: int = 0) -> Stat:
    return Stat(0x100000004, 0x100000005 + version, 1_700_000_000_000, 1_700_000_001_000,
                version, num_children, 0, ephemeral_owner, data_length, num_children, 0x100000006)


class FakeZkServer:
    """One connection at a time; a tiny tree of path -> [data, version, ephemeral owner].

    Hooks: ``reply_hook(request)`` may return the frames to send instead of the tree's answer
    (b"" closes the connection); ``after_hook(request)`` returns frames to send after it. Every
    ConnectRequest and request decoded is recorded, in order."""

    def __init__(self, session_timeout_ms: int = 10_000, refuse_session: bool = False):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.session_timeout_ms = session_timeout_ms
        self.refuse_session = refuse_session
        self.connects: list[ConnectRequest] = []
        self.requests: list[Request] = []
        self.nodes: dict[str, list] = {"/": [b"", 0, 0], "/zookeeper": [b"", 0, 0]}
        self.sequence = 0
        self.reply_hook: Callable[[Request], list[bytes] | None] | None = None
        self.after_hook: Callable[[Request], list[bytes]] | None = None
        self.zxid = 0x100000000
        self._stop = False
        self._conn: socket.socket | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop = True
        # shutdown wakes the thread's blocking accept or recv (close alone does not on Linux).
        for sock in (self.listener, self._conn):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._thread.join(timeout=10)
        self.listener.close()

    def types(self) -> list[int]:
        return [r.header.type for r in self.requests]

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self._conn = conn
            with conn:
                try:
                    self._connection(conn)
                except (OSError, FrameError):
                    pass

    def _connection(self, conn: socket.socket) -> None:
        decoder = FrameDecoder()
        connected = False
        while True:
            data = conn.recv(65536)
            if not data:
                return
            for frame in decoder.feed(data):
                if not connected:
                    self.connects.append(decode_connect_request(frame))
                    if self.refuse_session:  # what ZooKeeper sends for a session it will not open
                        conn.sendall(encode_connect_response(
                            ConnectResponse(0, 0, 0, b"\0" * 16, False)))
                        return
                    conn.sendall(encode_connect_response(ConnectResponse(
                        0, self.session_timeout_ms, SESSION_ID, b"p" * 16, False)))
                    connected = True
                    continue
                request = decode_request(frame)
                self.requests.append(request)
                frames = self.reply_hook(request) if self.reply_hook else None
                for out in [self._answer(request)] if frames is None else frames:
                    if out == b"":
                        return
                    conn.sendall(out)
                for out in self.after_hook(request) if self.after_hook else []:
                    conn.sendall(out)
                if request.header.type == OpCode.closeSession:
                    return

    def _answer(self, request: Request) -> bytes:
        xid, type_, body = request.header.xid, request.header.type, request.body
        if type_ == OpCode.ping:
            return encode_reply(Xid.PING, self.zxid, 0)
        if type_ in (OpCode.closeSession, OpCode.addWatch):
            return encode_reply(xid, self.zxid, 0,
                                ErrorResponse(0) if type_ == OpCode.addWatch else None)
        path = body.path  # type: ignore[union-attr]
        node = self.nodes.get(path)
        children = sorted(p.rsplit("/", 1)[1] for p in self.nodes
                          if p != "/" and (p.rsplit("/", 1)[0] or "/") == path)

        def stat() -> Stat:
            return make_stat(node[1], len(node[0] or b""), len(children), node[2])

        def error(code: Code) -> bytes:
            return encode_reply(xid, self.zxid, int(code))

        if type_ == OpCode.create:
            parent = path.rsplit("/", 1)[0] or "/"
            if parent not in self.nodes:
                return error(Code.NONODE)
            if body.flags & 2:
                path = f"{path}{self.sequence:010d}"
                self.sequence += 1
            if path in self.nodes:
                return error(Code.NODEEXISTS)
            self.zxid += 1
            self.nodes[path] = [body.data or b"", 0, SESSION_ID if body.flags & 1 else 0]
            return encode_reply(xid, self.zxid, 0, CreateResponse(path))
        if node is None:
            return error(Code.NONODE)
        if type_ == OpCode.getChildren:
            return encode_reply(xid, self.zxid, 0, GetChildrenResponse(tuple(children)))
        if type_ == OpCode.getData:
            return encode_reply(xid, self.zxid, 0, GetDataResponse(node[0], stat()))
        if type_ == OpCode.exists:
            return encode_reply(xid, self.zxid, 0, ExistsResponse(stat()))
        if body.version not in (-1, node[1]):
            return error(Code.BADVERSION)
        self.zxid += 1
        if type_ == OpCode.setData:
            node[0], node[1] = body.data, node[1] + 1
            return encode_reply(xid, self.zxid, 0, SetDataResponse(stat()))
        if type_ == OpCode.delete:
            if children:
                return error(Code.NOTEMPTY)
            del self.nodes[path]
            return encode_reply(xid, self.zxid, 0)
        return error(Code.UNIMPLEMENTED)


@pytest.fixture
def server():
    fake = FakeZkServer()
    yield fake
    fake.close()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def event_frame(type_: EventType, path: str) -> bytes:
    return encode_notification(WatcherEvent(int(type_), int(KeeperState.SyncConnected), path))


def test_connect_sends_a_new_session_request_and_keeps_the_session(server):
    with ZkClient(server.address, session_timeout_ms=7000) as client:
        assert client.session_id == SESSION_ID
        assert client.negotiated_timeout_ms == 10_000
    (connect,) = server.connects
    assert (connect.protocol_version, connect.last_zxid_seen, connect.time_out,
            connect.session_id, connect.passwd) == (0, 0, 7000, 0, b"\0" * 16)


def test_requests_carry_their_records_and_xids_in_order(server):
    with ZkClient(server.address) as client:
        assert client.create("/a", b"hello") == "/a"
        assert client.get_children("/", watch=True) == ["a", "zookeeper"]
        data, stat = client.get_data("/a")
        assert (data, stat.data_length) == (b"hello", 5)
        assert client.set_data("/a", b"v2", version=0).version == 1
        assert client.exists("/a").version == 1
        client.delete("/a", version=1)
        assert client.exists("/a") is None
    xids = [r.header.xid for r in server.requests if r.header.type != OpCode.ping]
    assert xids == list(range(1, len(xids) + 1))
    types = [t for t in server.types() if t != OpCode.ping]
    assert types == [OpCode.create, OpCode.getChildren, OpCode.getData, OpCode.setData,
                     OpCode.exists, OpCode.delete, OpCode.exists, OpCode.closeSession]
    get_children = server.requests[[r.header.type for r in server.requests].index(
        OpCode.getChildren)]
    assert get_children.body.watch is True
    assert client.zxid_last > 0x100000000


def test_create_flags_say_ephemeral_and_sequential_with_the_open_acl(server):
    with ZkClient(server.address) as client:
        client.create("/q", b"")
        assert client.create("/q/job-", b"x", ephemeral=True, sequential=True) == \
            "/q/job-0000000000"
        client.create("/q/p", ephemeral=False, sequential=False)
    creates = [r.body for r in server.requests if r.header.type == OpCode.create]
    assert [c.flags for c in creates] == [0, 3, 0]
    acl = creates[1].acl
    assert [(a.perms, a.id.scheme, a.id.id) for a in acl] == [(31, "world", "anyone")]


@pytest.mark.parametrize("call, code", [
    (lambda c: c.get_data("/missing"), Code.NONODE),
    (lambda c: c.create("/zookeeper"), Code.NODEEXISTS),
    (lambda c: c.set_data("/zookeeper", b"x", version=7), Code.BADVERSION),
    (lambda c: (c.create("/p"), c.create("/p/c"), c.delete("/p")), Code.NOTEMPTY),
])
def test_an_error_reply_is_a_zkerror_naming_the_code_and_the_path(server, call, code):
    with ZkClient(server.address) as client:
        with pytest.raises(ZkError) as caught:
            call(client)
        assert caught.value.code == code
        assert code.name in str(caught.value)
        assert caught.value.path in str(caught.value)
        # The session is still good after a refused request.
        assert client.get_children("/zookeeper") == []


def test_an_event_before_a_reply_is_kept_for_wait_event(server):
    server.reply_hook = lambda r: ([event_frame(EventType.NodeDataChanged, "/zookeeper"),
                                    server._answer(r)] if r.header.type == OpCode.getData
                                   else None)
    with ZkClient(server.address) as client:
        data, _ = client.get_data("/zookeeper", watch=True)
        assert data == b""
        event = client.wait_event(timeout_s=0)
        assert (event.type, event.state, event.path) == (EventType.NodeDataChanged,
                                                         KeeperState.SyncConnected, "/zookeeper")
        assert client.wait_event(timeout_s=0) is None


def test_wait_event_pings_while_it_waits_and_returns_the_event(server):
    """The fake negotiates a 300 ms session: the client must ping about every 100 ms while it
    waits; the fake sends the event only after it has seen three pings."""
    server.session_timeout_ms = 300

    def after(request: Request) -> list[bytes]:
        pings = sum(1 for r in server.requests if r.header.type == OpCode.ping)
        if request.header.type == OpCode.ping and pings == 3:
            return [event_frame(EventType.NodeCreated, "/new")]
        return []

    server.after_hook = after
    with ZkClient(server.address) as client:
        event = client.wait_event(timeout_s=60)
        assert event is not None and event.path == "/new"
    assert server.types().count(OpCode.ping) >= 3


def test_wait_event_times_out_with_none(server):
    with ZkClient(server.address) as client:
        assert client.wait_event(timeout_s=0.2) is None


def test_a_reply_out_of_xid_order_breaks_the_connection(server):
    server.reply_hook = lambda r: [encode_reply(r.header.xid + 5, 1, 0)]
    client = ZkClient(server.address).connect()
    with pytest.raises(ZkConnectionError, match="xid order") as caught:
        client.get_children("/")
    assert server.address in str(caught.value)
    with pytest.raises(ZkConnectionError, match="not connected"):
        client.get_children("/")


def test_the_server_closing_the_connection_is_connection_loss(server):
    server.reply_hook = lambda r: [b""]
    client = ZkClient(server.address).connect()
    with pytest.raises(ZkConnectionError, match="closed the connection") as caught:
        client.exists("/")
    assert caught.value.code == Code.CONNECTIONLOSS


def test_a_frame_over_the_limit_is_connection_loss(server):
    server.reply_hook = lambda r: [b"\x7f\xff\xff\xff"]
    client = ZkClient(server.address).connect()
    with pytest.raises(ZkConnectionError, match="jute.maxbuffer"):
        client.exists("/")


def test_connection_refused_names_the_address():
    address = f"127.0.0.1:{closed_port()}"
    with pytest.raises(ZkConnectionError) as caught:
        ZkClient(address).connect()
    assert address in str(caught.value) and "cannot connect" in str(caught.value)
    assert caught.value.code == Code.CONNECTIONLOSS


def test_a_refused_session_is_sessionexpired():
    fake = FakeZkServer(refuse_session=True)
    try:
        with pytest.raises(ZkError) as caught:
            ZkClient(fake.address).connect()
        assert caught.value.code == Code.SESSIONEXPIRED
    finally:
        fake.close()


def test_close_sends_closesession_and_later_calls_fail(server):
    client = ZkClient(server.address).connect()
    client.close()
    assert server.types()[-1] == OpCode.closeSession
    with pytest.raises(ZkConnectionError, match="not connected"):
        client.get_children("/")
    client.close()  # twice is fine


def test_add_watch_sends_the_persistent_mode(server):
    with ZkClient(server.address) as client:
        client.add_watch("/a")
        client.add_watch("/b", recursive=True)
    modes = [(r.body.path, r.body.mode) for r in server.requests if r.header.type == OpCode.addWatch]
    assert modes == [("/a", 0), ("/b", 1)]


def test_no_reply_in_time_is_connection_loss(server):
    server.reply_hook = lambda r: []  # never answers
    client = ZkClient(server.address, request_timeout_s=0.3).connect()
    with pytest.raises(ZkConnectionError, match="no reply within"):
        client.get_children("/")


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:2181", ("127.0.0.1", 2181)),
    ("localhost:1", ("localhost", 1)),
    ("[::1]:2181", ("::1", 2181)),
])
def test_parse_server(text, expected):
    assert parse_server(text) == expected


@pytest.mark.parametrize("text", ["127.0.0.1", ":2181", "h:0", "h:99999", "h:x"])
def test_parse_server_refuses_what_is_not_host_port(text):
    with pytest.raises(ValueError, match="host:port"):
        parse_server(text)


def test_wait_event_after_the_connection_broke_is_connection_loss(server):
    """A command that waits after a request broke the connection (a frame over the limit, the
    server gone) gets CONNECTIONLOSS, not an internal error."""
    server.reply_hook = lambda r: [b""]
    client = ZkClient(server.address).connect()
    with pytest.raises(ZkConnectionError):
        client.exists("/")
    with pytest.raises(ZkConnectionError, match="not connected"):
        client.wait_event(timeout_s=1)
