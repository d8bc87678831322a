"""ZooKeeper's client port in the host (host/zk.py) on the core tests' cluster: real Peers and
Replicas, an in-memory network, and clients that speak the wire's frames. No sockets, no clock.

Each scenario: goal, setup, faults, expected, in its docstring.
"""

from __future__ import annotations

import struct

import pytest

from tests.core.harness import Cluster, NodeIO
from zmqzab.host.zk import ZkServer, ZkSettings
from zmqzab.tree.errors import Code
from zmqzab.zk import records as r
from zmqzab.zk.opcodes import EventType, OpCode, Xid
from zmqzab.zk.protocol import (decode_connect_response, decode_reply, encode_connect_request,
                                encode_request)

pytestmark = pytest.mark.zk

OPEN = (r.ACL(31, r.Id("world", "anyone")),)
TICK_MS = 100


class ZkCluster(Cluster):
    """The core harness with a ZkServer per node, driven as server/node.py drives it."""

    def __init__(self, n: int = 3, seed: int = 0) -> None:
        self.zk: dict[int, ZkServer] = {}
        self.sent: dict[tuple[int, object], list[bytes]] = {}
        self.closed: set[tuple[int, object]] = set()
        super().__init__(n=n, seed=seed)

    def start(self, i: int) -> None:
        super().start(i)
        io = _ZkIO(self, i)
        self.zk[i] = ZkServer(self.replicas[i], io, ZkSettings(i, TICK_MS, 1_000, 60_000, b"s",
                                                                container_check_ms=10 * TICK_MS),
                              lambda out, i=i: self.execute(i, out), time_ms=1_000_000 + i)
        self.replicas[i].io = _Both(self.replicas[i].io, self.zk[i])

    def crash(self, i: int) -> None:
        super().crash(i)
        for conn in list(self.zk[i].conns):
            self.closed.add((i, conn))

    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            super().tick()
            for i in sorted(self.up):
                self.zk[i].tick(self.replicas[i].ticks)
            self.settle()

    def settle(self, limit: int = 100_000) -> None:
        # A flush may submit (requests held while a session was created): settle again until
        # nothing is left, as the node's loop goes round.
        for _ in range(100):
            super().settle(limit)
            for i in sorted(self.up):
                if i in self.zk:
                    self.zk[i].flush()
            if not self.queue and not any(self.disks[i].pending for i in self.up):
                return
        raise AssertionError("the ZooKeeper ports did not settle")


class _Both:
    """The harness's HostIO, and the ZkServer's ``applied`` beside it (as node.py does)."""

    def __init__(self, io: NodeIO, zk: ZkServer) -> None:
        self.io, self.zk = io, zk

    def applied(self, txn, result):
        self.io.applied(txn, result)
        self.zk.applied(txn, result)

    def __getattr__(self, name):
        return getattr(self.io, name)


class _ZkIO:
    def __init__(self, c: ZkCluster, i: int) -> None:
        self.c, self.i = c, i

    def zk_send(self, conn, frames):
        self.c.sent.setdefault((self.i, conn), []).extend(frames)

    def zk_close(self, conn):
        self.c.closed.add((self.i, conn))


class Client:
    """A ZooKeeper client in the test: frames out, replies and events in."""

    _n = 0

    def __init__(self, c: ZkCluster, node: int, session_id: int = 0, passwd: bytes = b"\0" * 16,
                 last_zxid: int = 0, timeout_ms: int = 3_000) -> None:
        Client._n += 1
        self.c, self.node, self.conn = c, node, f"conn{Client._n}"
        self.xid = 0
        self.types: dict[int, int] = {}
        self.replies: dict[int, tuple] = {}
        self.events: list[r.WatcherEvent] = []
        self.order: list[str] = []
        self._buf = b""
        zk = c.zk[node]
        zk.opened(self.conn, "127.0.0.1:1")
        zk.received(self.conn, encode_connect_request(r.ConnectRequest(
            0, last_zxid, timeout_ms, session_id, passwd, False)))
        c.settle()
        frame = self._frames(connect=True)
        self.connect = frame

    def _frames(self, connect: bool = False):
        data = b"".join(self.c.sent.pop((self.node, self.conn), []))
        self._buf += data
        out = []
        while len(self._buf) >= 4:
            (n,) = struct.unpack(">i", self._buf[:4])
            if len(self._buf) < 4 + n:
                break
            out.append(self._buf[4:4 + n])
            self._buf = self._buf[4 + n:]
        if connect:
            return decode_connect_response(out[0]) if out else None
        for f in out:
            xid = struct.unpack(">i", f[:4])[0]
            header, body = decode_reply(f, self.types.get(xid, 0))
            if header.xid == Xid.NOTIFICATION:
                self.events.append(body)
                self.order.append(f"event {EventType(body.type).name} {body.path}")
            else:
                self.replies[header.xid] = (header, body)
                self.order.append(f"reply {header.xid}")
        return None

    def send(self, opcode: int, body=None) -> int:
        self.xid += 1
        self.types[self.xid] = opcode
        self.c.zk[self.node].received(self.conn, _frame(encode_request(self.xid, opcode, body)))
        return self.xid

    def call(self, opcode: int, body=None, ticks: int = 0):
        xid = self.send(opcode, body)
        self.c.settle()
        if ticks:
            self.c.tick(ticks)
        self._frames()
        return self.replies.get(xid)

    def poll(self):
        self.c.settle()
        self._frames()

    @property
    def closed(self) -> bool:
        return (self.node, self.conn) in self.c.closed


def _frame(request_with_len: bytes) -> bytes:
    return request_with_len  # encode_request already writes the length prefix


def _cluster() -> ZkCluster:
    c = ZkCluster(3)
    c.run_until(c.serving)
    return c


def _follower(c: ZkCluster) -> int:
    return next(i for i in c.ids if i != c.leader())


def test_a_session_made_on_a_follower_creates_an_ephemeral_that_every_node_holds():
    """Goal: the write path through a follower. Setup: 3 nodes; a client connects to a
    follower. Expected: a ConnectResponse with a session id and a 16-byte password; a
    create2 of an ephemeral answers its path and stat; every node's tree holds it, owned by the
    session; a getData through the same follower reads it back."""
    c = _cluster()
    f = _follower(c)
    cl = Client(c, f)
    assert cl.connect is not None and cl.connect.session_id != 0 and len(cl.connect.passwd) == 16
    header, body = cl.call(OpCode.create2, r.CreateRequest("/e", b"hi", OPEN, 1))
    assert header.err == 0 and body.path == "/e" and body.stat.ephemeral_owner == cl.connect.session_id
    for i in c.ids:
        node = c.peers[i].state.tree.node("/e")
        assert node is not None and node.ephemeral_owner == cl.connect.session_id
    header, body = cl.call(OpCode.getData, r.GetDataRequest("/e", False))
    assert header.err == 0 and body.data == b"hi"


def test_replies_come_in_xid_order_and_a_read_sees_its_sessions_earlier_write():
    """Goal: FIFO per session. Setup: one client on a follower sends create then getData of the
    same node without waiting. Expected: the read is answered after the create, and finds the
    node (it waited for the write to be applied)."""
    c = _cluster()
    cl = Client(c, _follower(c))
    x1 = cl.send(OpCode.create, r.CreateRequest("/a", b"1", OPEN, 0))
    x2 = cl.send(OpCode.getData, r.GetDataRequest("/a", False))
    cl.poll()
    assert [o for o in cl.order if o.startswith("reply")] == [f"reply {x1}", f"reply {x2}"]
    assert cl.replies[x2][0].err == 0 and cl.replies[x2][1].data == b"1"


def test_a_watch_event_goes_out_before_the_reply_that_shows_the_change():
    """Goal: ZooKeeper's ordering promise. Setup: client A on a follower watches /w with
    getData; client B on the same follower sets /w, then A reads /w. Expected: A's stream has
    NodeDataChanged /w before the reply of its read, which shows the new data."""
    c = _cluster()
    f = _follower(c)
    a, b = Client(c, f), Client(c, f)
    a.call(OpCode.create, r.CreateRequest("/w", b"old", OPEN, 0))
    a.call(OpCode.getData, r.GetDataRequest("/w", True))
    b.send(OpCode.setData, r.SetDataRequest("/w", b"new", -1))
    x = a.send(OpCode.getData, r.GetDataRequest("/w", False))
    c.settle()
    a._frames()
    assert a.order.index("event NodeDataChanged /w") < a.order.index(f"reply {x}")
    assert a.replies[x][1].data == b"new"


def test_two_creates_of_one_path_in_flight_give_nodeexists_to_the_second():
    """Goal: prepare checks against the tree as it will be (outstanding changes). Setup: two
    clients send a create of /x before either is applied. Expected: one OK, one NODEEXISTS."""
    c = _cluster()
    f = _follower(c)
    a, b = Client(c, f), Client(c, c.leader())
    xa = a.send(OpCode.create, r.CreateRequest("/x", b"a", OPEN, 0))
    xb = b.send(OpCode.create, r.CreateRequest("/x", b"b", OPEN, 0))
    a.poll()
    b.poll()
    errs = sorted([a.replies[xa][0].err, b.replies[xb][0].err])
    assert errs == [Code.NODEEXISTS, 0]


def test_sequential_creates_get_increasing_names():
    c = _cluster()
    cl = Client(c, _follower(c))
    cl.call(OpCode.create, r.CreateRequest("/q", b"", OPEN, 0))
    names = [cl.call(OpCode.create, r.CreateRequest("/q/n-", b"", OPEN, 2))[1].path for _ in range(3)]
    assert names == ["/q/n-0000000000", "/q/n-0000000001", "/q/n-0000000002"]


def test_a_silent_session_expires_on_the_leader_its_ephemeral_goes_and_a_watcher_hears():
    """Goal: expiry by the leader, in ticks. Setup: session S (timeout 1 s = 10 ticks) holds an
    ephemeral; session W on another node watches it with exists; S's client goes silent.
    Expected: within a few timeouts every node has deleted the ephemeral and closed S; W gets
    NodeDeleted; S's connection is closed; a reconnect with S's id and password is told the
    session expired (timeout 0)."""
    c = _cluster()
    f = _follower(c)
    s = Client(c, f, timeout_ms=1_000)
    s.call(OpCode.create, r.CreateRequest("/eph", b"", OPEN, 1))
    w = Client(c, c.leader(), timeout_ms=60_000)
    assert w.call(OpCode.exists, r.ExistsRequest("/eph", True))[0].err == 0
    sid = s.connect.session_id
    c.tick(40)  # W's client would ping; its timeout is a minute, so it stays
    w.poll()
    assert all(c.peers[i].state.tree.node("/eph") is None for i in c.ids)
    assert all(sid not in c.peers[i].state.sessions for i in c.ids)
    assert any(e.type == EventType.NodeDeleted and e.path == "/eph" for e in w.events)
    assert s.closed
    again = Client(c, c.leader(), session_id=sid, passwd=s.connect.passwd)
    assert again.connect.time_out == 0 and again.connect.session_id == 0


def test_pings_keep_a_session_alive_through_a_follower():
    """Goal: a follower reports the sessions it hears from (SessionTouches), so the leader does
    not expire a live client connected elsewhere. Setup: timeout 1 s (10 ticks); the client
    pings every 3 ticks for 60 ticks. Expected: the session and its ephemeral are still there."""
    c = _cluster()
    s = Client(c, _follower(c), timeout_ms=1_000)
    s.call(OpCode.create, r.CreateRequest("/live", b"", OPEN, 1))
    for _ in range(20):
        s.send(OpCode.ping)
        c.tick(3)
    assert c.peers[c.leader()].state.tree.node("/live") is not None
    assert s.connect.session_id in c.peers[c.leader()].state.sessions


def test_a_client_moves_to_another_node_with_its_session_and_password():
    """Goal: reconnect keeps the session. Setup: a client creates an ephemeral through one
    follower, then connects to the other node with its session id, password and last zxid.
    Expected: the same session id; its ephemeral still there; a wrong password is refused as
    expired."""
    c = _cluster()
    f = _follower(c)
    a = Client(c, f)
    h, _ = a.call(OpCode.create, r.CreateRequest("/mine", b"", OPEN, 1))
    other = next(i for i in c.ids if i != f)
    b = Client(c, other, session_id=a.connect.session_id, passwd=a.connect.passwd, last_zxid=h.zxid)
    assert b.connect.session_id == a.connect.session_id and b.connect.time_out > 0
    assert b.call(OpCode.exists, r.ExistsRequest("/mine", False))[0].err == 0
    bad = Client(c, other, session_id=a.connect.session_id, passwd=b"x" * 16)
    assert bad.connect.time_out == 0


def test_close_session_deletes_the_ephemerals_and_ends_the_connection():
    c = _cluster()
    cl = Client(c, _follower(c))
    cl.call(OpCode.create, r.CreateRequest("/bye", b"", OPEN, 1))
    header, _ = cl.call(OpCode.closeSession)
    assert header.err == 0 and cl.closed
    assert all(c.peers[i].state.tree.node("/bye") is None for i in c.ids)


def test_a_failed_multi_changes_nothing_and_reports_each_op():
    """Goal: multi is all or nothing with ZooKeeper's error encoding. Setup: multi of a create
    of /m and a check of a missing node. Expected: header err 0; results: OK (0) for the create
    that did not apply, NONODE for the check; /m does not exist."""
    c = _cluster()
    cl = Client(c, _follower(c))
    body = r.MultiRequest((r.MultiOp(OpCode.create, r.CreateRequest("/m", b"", OPEN, 0)),
                           r.MultiOp(OpCode.check, r.CheckVersionRequest("/nope", 0))))
    header, resp = cl.call(OpCode.multi, body)
    assert header.err == 0
    assert [(x.type, x.response.err) for x in resp.results] == [(OpCode.error, 0), (OpCode.error, Code.NONODE)]
    assert all(c.peers[i].state.tree.node("/m") is None for i in c.ids)


def test_ephemerals_survive_a_leader_crash_and_the_session_goes_on_elsewhere():
    """Goal: sessions outlive leaders. Setup: a client on a follower holds an ephemeral; the
    leader crashes. Expected: the client's connection closes (its node lost the leader); it
    reconnects to a node of the new quorum with its session; the ephemeral is still there and
    the session can write."""
    c = _cluster()
    old = c.leader()
    f = _follower(c)
    a = Client(c, f, timeout_ms=30_000)
    h, _ = a.call(OpCode.create, r.CreateRequest("/keep", b"", OPEN, 1))
    c.crash(old)
    c.run_until(lambda: c.leader() is not None and c.leader() != old, max_ticks=400)
    c.tick(2)
    assert a.closed  # its node stopped serving while it had no leader
    b = Client(c, f, session_id=a.connect.session_id, passwd=a.connect.passwd, last_zxid=h.zxid)
    assert b.connect.session_id == a.connect.session_id
    assert b.call(OpCode.exists, r.ExistsRequest("/keep", False))[0].err == 0
    assert b.call(OpCode.create, r.CreateRequest("/after", b"", OPEN, 0))[0].err == 0


def test_garbage_on_the_port_closes_that_connection_and_nothing_else():
    c = _cluster()
    f = _follower(c)
    good = Client(c, f)
    zk = c.zk[f]
    zk.opened("bad", "127.0.0.1:2")
    zk.received("bad", b"\xff\xff\xff\xff" + b"\x00" * 10)  # a negative length
    c.settle()
    assert (f, "bad") in c.closed
    assert good.call(OpCode.exists, r.ExistsRequest("/", False))[0].err == 0


def test_requests_sent_before_the_connect_response_are_served_in_order_after_it():
    """Goal: kazoo sends its auth (and may send a request) right behind its ConnectRequest.
    Setup: one read of the socket holds ConnectRequest, auth, and a create whose ACL is the
    creator's ("auth" scheme). Expected: the ConnectResponse first, then the auth's reply, then
    the create succeeds with the digest id as its ACL (the auth was taken before it)."""
    from zmqzab.zk.records import AuthPacket

    c = _cluster()
    f = _follower(c)
    zk = c.zk[f]
    zk.opened("early", "127.0.0.1:3")
    data = (encode_connect_request(r.ConnectRequest(0, 0, 5_000, 0, b"\0" * 16, False))
            + encode_request(Xid.AUTH, OpCode.auth, AuthPacket(0, "digest", b"u:p"))
            + encode_request(1, OpCode.create, r.CreateRequest("/mine", b"", (r.ACL(31, r.Id("auth", None)),), 0)))
    zk.received("early", data)
    c.settle()
    raw = b"".join(c.sent.pop((f, "early")))
    frames = []
    while raw:
        (n,) = struct.unpack(">i", raw[:4])
        frames.append(raw[4:4 + n])
        raw = raw[4 + n:]
    assert decode_connect_response(frames[0]).session_id != 0
    assert [decode_reply(fr, OpCode.create)[0].xid for fr in frames[1:]] == [Xid.AUTH, 1]
    assert decode_reply(frames[2], OpCode.create)[0].err == 0
    acl = c.peers[f].state.tree.node("/mine").acl
    assert [a.id.scheme for a in acl] == ["digest"]


def test_an_emptied_container_is_deleted_by_the_leader_and_a_used_one_is_kept():
    """Goal: ContainerManager. Setup: two containers (createContainer), each gets a child; the
    child of one is deleted. Expected: within a few checks the emptied container is gone on
    every node, and the other one (still holding its child) stays."""
    c = _cluster()
    cl = Client(c, _follower(c), timeout_ms=60_000)
    for p in ("/c1", "/c2"):
        assert cl.call(OpCode.createContainer, r.CreateRequest(p, b"", OPEN, 4))[0].err == 0
        assert cl.call(OpCode.create, r.CreateRequest(p + "/x", b"", OPEN, 0))[0].err == 0
    assert cl.call(OpCode.delete, r.DeleteRequest("/c1/x", -1))[0].err == 0
    c.tick(30)
    assert all(c.peers[i].state.tree.node("/c1") is None for i in c.ids)
    assert all(c.peers[i].state.tree.node("/c2") is not None for i in c.ids)


def _hostile_streams(rng):
    """Byte streams a hostile or broken client may send on zk_port, each a list of reads."""
    from zmqzab.zk.records import AuthPacket

    connect = encode_connect_request(r.ConnectRequest(0, 0, 5_000, 0, b"\0" * 16, False))
    valid = [encode_request(1, OpCode.create, r.CreateRequest("/f", b"", OPEN, 0)),
             encode_request(2, OpCode.getData, r.GetDataRequest("/", True)),
             encode_request(3, OpCode.multi, r.MultiRequest((r.MultiOp(OpCode.delete, r.DeleteRequest("/f", -1)),))),
             encode_request(Xid.AUTH, OpCode.auth, AuthPacket(0, "sasl?", b"x")),
             encode_request(4, OpCode.setWatches, r.SetWatches(0, ("/a",) * 50, (), ()))]

    def mutate(b: bytes) -> bytes:
        b = bytearray(b)
        for _ in range(rng.randrange(1, 6)):
            k = rng.randrange(len(b))
            b[k] = rng.randrange(256)
        return bytes(b)

    kinds = [
        lambda: [rng.randbytes(rng.randrange(1, 300))],
        lambda: [struct.pack(">i", rng.choice([-1, 0, 2**31 - 1, 1 << 21])) + rng.randbytes(20)],
        lambda: [connect[: rng.randrange(1, len(connect))]],
        lambda: [connect, mutate(rng.choice(valid))],
        lambda: [connect] + [mutate(v) for v in rng.sample(valid, 3)],
        lambda: [mutate(connect), rng.choice(valid)],
        lambda: [rng.choice(valid)],  # a request before any ConnectRequest
        lambda: [connect, encode_request(5, rng.randrange(-200, 200), None)],
        lambda: [encode_connect_request(r.ConnectRequest(0, 0, 5_000, rng.randrange(1, 1 << 62),
                                                         rng.randbytes(16), False))],
        lambda: [encode_connect_request(r.ConnectRequest(0, 1 << 40, 5_000, 0, b"\0" * 16, False))],
        lambda: [rng.choice([b"ruok", b"srvr", b"stat", b"mntr", b"envi", b"conf", b"cons", b"wchs",
                             b"kill", b"dump"])],
        lambda: [bytes([b]) for b in connect + rng.choice(valid)],  # one byte per read
    ]
    return rng.choice(kinds)()


def test_hostile_bytes_on_zk_port_close_only_their_connection():
    """Goal: the hostile-input fuzzing extends to zk_port. Setup: 3 nodes; a well-behaved
    session on a follower; then 300 seeded hostile streams (random bytes, absurd lengths,
    truncated and mutated frames, requests before ConnectRequest, unknown opcodes, sessions that
    never existed, clients ahead of the cluster, four-letter words, one byte per read) to every
    node. Expected: nothing raises; the good session still writes and reads; every node applied
    the same txns (equal state snapshots)."""
    import os
    import random

    seed = int(os.environ.get("ZMQZAB_FUZZ_SEED", random.randrange(2**32)))
    print(f"seed {seed} (rerun with ZMQZAB_FUZZ_SEED={seed})")
    rng = random.Random(seed)
    c = _cluster()
    good = Client(c, _follower(c), timeout_ms=60_000)
    for k in range(300):
        node = rng.choice(c.ids)
        conn = f"hostile{k}"
        c.zk[node].opened(conn, "127.0.0.1:9")
        for chunk in _hostile_streams(rng):
            c.zk[node].received(conn, chunk)
        c.settle()
        if rng.random() < 0.5:
            c.zk[node].closed(conn)
        if k % 50 == 0:
            c.tick()
    assert good.call(OpCode.create, r.CreateRequest("/still", b"ok", OPEN, 0))[0].err == 0
    assert good.call(OpCode.getData, r.GetDataRequest("/still", False))[1].data == b"ok"
    c.tick(3)
    snaps = {c.peers[i].state.snapshot() for i in c.ids}
    assert len(snaps) == 1


def test_a_connection_carries_its_ip_identity():
    """ZooKeeper adds ("ip", address) to every connection's auth info: whoami lists it and an
    ip-scheme ACL lets the address in (found by the Java clients' check: whoami was empty)."""
    c = _cluster()
    cl = Client(c, _follower(c))
    header, body = cl.call(OpCode.whoAmI)
    assert header.err == 0 and [(i.auth_scheme, i.user) for i in body.client_info] == [("ip", "127.0.0.1")]
    acl = (r.ACL(31, r.Id("ip", "127.0.0.0/8")),)
    assert cl.call(OpCode.create, r.CreateRequest("/local", b"x", acl, 0))[0].err == 0
    assert cl.call(OpCode.getData, r.GetDataRequest("/local", False))[1].data == b"x"
