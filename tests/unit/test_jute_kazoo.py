"""The codec against kazoo 2.11.0's own serializer (kazoo/protocol/serialization.py), the
bytes a real client sends and the parser of what it receives.

Goal: zmqzab's jute bytes are ZooKeeper's, checked by a client none of us wrote. Setup: each
request kazoo can make is built by kazoo's ConnectionHandler._submit (the method that writes to
the socket, its socket write captured), cut by our FrameDecoder and decoded by our codec; the
same request encoded by our codec must give the same bytes. Each reply is encoded by our codec
and parsed by kazoo's deserializers (as ConnectionHandler._read_header / _read_response /
_read_watch_event parse them). Faults: none. Expected: byte-exact equality one way, the same
values the other way, for every op kazoo supports.
"""

from __future__ import annotations

import logging

import pytest

# kazoo==2.11.0 is in the [test] extra: imported, not skipped, so that its absence fails.
from kazoo.exceptions import EXCEPTIONS, NoNodeError
from kazoo.protocol import serialization as ks
from kazoo.protocol.connection import AUTH_XID, PING_XID, WATCH_XID, ConnectionHandler
from kazoo.protocol.states import ZnodeStat
from kazoo.security import ACL as KACL
from kazoo.security import Id as KId

from zmqzab.zk import protocol as p
from zmqzab.zk import records as r
from zmqzab.tree.errors import Code
from zmqzab.zk.framing import FrameDecoder
from zmqzab.zk.jute import Reader
from zmqzab.zk.opcodes import EventType, KeeperState, OpCode, Xid

pytestmark = pytest.mark.zk

STAT = r.Stat(czxid=(3 << 32) | 7, mzxid=(3 << 32) | 9, ctime=1_700_000_000_123,
              mtime=1_700_000_000_456, version=2, cversion=5, aversion=1,
              ephemeral_owner=0x1234_5678_9ABC_DEF0, data_length=5, num_children=3,
              pzxid=(3 << 32) | 11)
K_STAT = ZnodeStat(*[getattr(STAT, f) for f in r.Stat.__struct_fields__])
ACLS = (r.ACL(31, r.Id("world", "anyone")), r.ACL(1, r.Id("digest", "bob:aGFzaA==")),
        r.ACL(17, r.Id("ip", "10.0.0.0/8")))
K_ACLS = [KACL(a.perms, KId(a.id.scheme, a.id.id)) for a in ACLS]


def kazoo_sends(request, xid=None) -> bytes:
    """The bytes kazoo's connection writes for ``request`` (its own _submit, socket captured)."""
    handler = object.__new__(ConnectionHandler)
    handler.logger = logging.getLogger("kazoo-under-test")
    sent = []
    handler._write = lambda msg, timeout: sent.append(bytes(msg))
    handler._submit(request, 10, xid)
    (wire,) = sent
    return wire


def one_frame(wire: bytes) -> bytes:
    """The wire bytes through our stream decoder: exactly one frame."""
    decoder = FrameDecoder()
    decoder.initialized = True  # past the ConnectRequest: no four-letter-word check
    frames = decoder.feed(wire)
    assert len(frames) == 1 and decoder.buffered_bytes == 0, frames
    return frames[0]


# --- requests: kazoo encodes, we decode; we encode, the bytes are kazoo's -----------------------

REQUESTS = [
    # (kazoo's request, our opcode, our body)
    (ks.Create("/app/lock-", b"hello", K_ACLS, 3), OpCode.create,
     r.CreateRequest("/app/lock-", b"hello", ACLS, 3)),
    (ks.Create2("/a", b"", K_ACLS[:1], 0), OpCode.create2,
     r.CreateRequest("/a", b"", ACLS[:1], 0)),
    (ks.Create("/big", bytes(range(256)) * 40, [], 1), OpCode.create,
     r.CreateRequest("/big", bytes(range(256)) * 40, (), 1)),
    (ks.Delete("/app/x", -1), OpCode.delete, r.DeleteRequest("/app/x", -1)),
    (ks.Exists("/app", True), OpCode.exists, r.ExistsRequest("/app", True)),
    (ks.Exists("/app", None), OpCode.exists, r.ExistsRequest("/app", False)),
    (ks.GetData("/app/é", True), OpCode.getData, r.GetDataRequest("/app/é", True)),
    (ks.SetData("/app", b"v2", 7), OpCode.setData, r.SetDataRequest("/app", b"v2", 7)),
    (ks.SetData("/app", None, -1), OpCode.setData, r.SetDataRequest("/app", None, -1)),
    (ks.GetACL("/app"), OpCode.getACL, r.GetACLRequest("/app")),
    (ks.SetACL("/app", K_ACLS, 4), OpCode.setACL, r.SetACLRequest("/app", ACLS, 4)),
    (ks.GetChildren("/", False), OpCode.getChildren, r.GetChildrenRequest("/", False)),
    (ks.GetChildren2("/app", True), OpCode.getChildren2, r.GetChildren2Request("/app", True)),
    (ks.Sync("/app"), OpCode.sync, r.SyncRequest("/app")),
    (ks.Reconfig("server.4=h:1:2", "3", None, -1), OpCode.reconfig,
     r.ReconfigRequest("server.4=h:1:2", "3", None, -1)),
    (ks.SASL(b"\x00token"), OpCode.sasl, r.GetSASLRequest(b"\x00token")),
    (ks.Close(), OpCode.closeSession, None),
    (ks.Transaction([ks.Create("/t/a", b"1", K_ACLS[:1], 0), ks.Delete("/t/b", 3),
                     ks.SetData("/t/c", b"x", -1), ks.CheckVersion("/t", 2),
                     ks.Create2("/t/d", b"", K_ACLS[:1], 2)]), OpCode.multi,
     r.MultiRequest((r.MultiOp(OpCode.create, r.CreateRequest("/t/a", b"1", ACLS[:1], 0)),
                     r.MultiOp(OpCode.delete, r.DeleteRequest("/t/b", 3)),
                     r.MultiOp(OpCode.setData, r.SetDataRequest("/t/c", b"x", -1)),
                     r.MultiOp(OpCode.check, r.CheckVersionRequest("/t", 2)),
                     r.MultiOp(OpCode.create2, r.CreateRequest("/t/d", b"", ACLS[:1], 2))))),
    (ks.Transaction([]), OpCode.multi, r.MultiRequest(())),
]


@pytest.mark.parametrize("kreq, opcode, body", REQUESTS, ids=[f"{type(k).__name__}-{i}"
                                                              for i, (k, _, _) in enumerate(REQUESTS)])
def test_requests_kazoo_sends_decode_and_our_encoding_is_byte_exact(kreq, opcode, body):
    xid = 41
    wire = kazoo_sends(kreq, xid)
    request = p.decode_request(one_frame(wire))
    assert request.header == r.RequestHeader(xid, opcode)
    assert request.body == body
    assert p.encode_request(xid, opcode, body) == wire


def test_ping_and_auth_with_their_special_xids():
    wire = kazoo_sends(ks.PingInstance, PING_XID)
    assert PING_XID == Xid.PING
    assert p.decode_request(one_frame(wire)) == p.Request(r.RequestHeader(Xid.PING, OpCode.ping), None)
    assert p.encode_request(Xid.PING, OpCode.ping) == wire

    wire = kazoo_sends(ks.Auth(0, "digest", "bob:secret"), AUTH_XID)
    assert AUTH_XID == Xid.AUTH
    body = r.AuthPacket(0, "digest", b"bob:secret")
    assert p.decode_request(one_frame(wire)) == p.Request(r.RequestHeader(Xid.AUTH, OpCode.auth), body)
    assert p.encode_request(Xid.AUTH, OpCode.auth, body) == wire


@pytest.mark.parametrize("read_only", [False, True])
def test_connect_request_kazoo_sends(read_only):
    """kazoo's Connect has no header and always appends the readOnly byte."""
    passwd = bytes(range(16))
    wire = kazoo_sends(ks.Connect(0, (2 << 32) | 5, 10_000, 0x0102030405060708, passwd, read_only))
    decoder = FrameDecoder()  # a fresh connection: the four-letter-word check is on
    (frame,) = decoder.feed(wire)
    ours = r.ConnectRequest(0, (2 << 32) | 5, 10_000, 0x0102030405060708, passwd, read_only)
    assert p.decode_connect_request(frame) == ours
    assert p.encode_connect_request(ours) == wire


def test_kazoo_sends_an_empty_string_as_null():
    """kazoo's write_string writes "" as null (-1): the codec reads None, the server's checks
    decide (ZooKeeper gets the same bytes from kazoo)."""
    wire = kazoo_sends(ks.Create("/n", b"", [KACL(31, KId("world", ""))], 0), 1)
    body = p.decode_request(one_frame(wire)).body
    assert body.acl == (r.ACL(31, r.Id("world", None)),)


# --- replies: we encode, kazoo parses ------------------------------------------------------------

def kazoo_reads(wire: bytes, kreq_class):
    """Parse ``wire`` (length prefix included) as kazoo's connection does a reply."""
    length = ks.int_struct.unpack_from(wire, 0)[0]
    frame = wire[4:]
    assert length == len(frame)
    header, offset = ks.ReplyHeader.deserialize(frame, 0)
    return header, kreq_class.deserialize(frame, offset)


def test_connect_response_kazoo_reads():
    passwd = bytes(range(100, 116))
    wire = p.encode_connect_response(r.ConnectResponse(0, 6000, 0x55AA, passwd, False))
    kresp, offset = ks.Connect.deserialize(wire[4:], 0)
    assert (kresp.protocol_version, kresp.time_out, kresp.session_id, kresp.passwd,
            kresp.read_only) == (0, 6000, 0x55AA, passwd, False)
    assert offset == len(wire) - 4


REPLIES = [
    # (our opcode, our body, kazoo's request class, what kazoo makes of it)
    (OpCode.create, r.CreateResponse("/app/lock-0000000007"), ks.Create, "/app/lock-0000000007"),
    (OpCode.create2, r.Create2Response("/a", STAT), ks.Create2, ("/a", K_STAT)),
    (OpCode.exists, r.ExistsResponse(STAT), ks.Exists, K_STAT),
    (OpCode.getData, r.GetDataResponse(b"hello", STAT), ks.GetData, (b"hello", K_STAT)),
    (OpCode.getData, r.GetDataResponse(None, STAT), ks.GetData, (None, K_STAT)),
    (OpCode.setData, r.SetDataResponse(STAT), ks.SetData, K_STAT),
    (OpCode.getACL, r.GetACLResponse(ACLS, STAT), ks.GetACL, (K_ACLS, K_STAT)),
    (OpCode.setACL, r.SetACLResponse(STAT), ks.SetACL, K_STAT),
    (OpCode.getChildren, r.GetChildrenResponse(("a", "b", "ü")), ks.GetChildren, ["a", "b", "ü"]),
    (OpCode.getChildren, r.GetChildrenResponse(()), ks.GetChildren, []),
    (OpCode.getChildren2, r.GetChildren2Response(("x",), STAT), ks.GetChildren2, (["x"], K_STAT)),
    (OpCode.sync, r.SyncResponse("/app"), ks.Sync, "/app"),
    (OpCode.reconfig, r.GetDataResponse(b"server.1=h:1:2", STAT), ks.Reconfig,
     (b"server.1=h:1:2", K_STAT)),
    (OpCode.sasl, r.SetSASLResponse(b"\x01challenge"), ks.SASL, (b"\x01challenge", 16 + 4 + 10)),
]


@pytest.mark.parametrize("opcode, body, kclass, expected", REPLIES,
                         ids=[f"{o.name}-{i}" for i, (o, _, _, _) in enumerate(REPLIES)])
def test_replies_we_encode_kazoo_reads(opcode, body, kclass, expected):
    wire = p.encode_reply(42, (3 << 32) | 12, Code.OK, body)
    header, value = kazoo_reads(wire, kclass)
    assert tuple(header) == (42, (3 << 32) | 12, 0)
    assert value == expected
    # and our own client side reads back what we sent
    assert p.decode_reply(wire[4:], opcode) == (r.ReplyHeader(42, (3 << 32) | 12, 0), body)


def test_an_error_reply_is_the_header_alone_and_kazoo_maps_its_code():
    wire = p.encode_reply(9, (1 << 32) | 1, Code.NONODE)
    assert len(wire) == 4 + 16
    header, _ = ks.ReplyHeader.deserialize(wire[4:], 0)
    assert header.err == Code.NONODE and EXCEPTIONS[header.err] is NoNodeError
    assert p.decode_reply(wire[4:], OpCode.getData) == (r.ReplyHeader(9, (1 << 32) | 1, -101), None)


def test_every_code_kazoo_knows_has_the_same_number():
    for number, exc in EXCEPTIONS.items():
        if number == 0:  # kazoo's RolledBackError shares OK's number (an ErrorResult of 0)
            continue
        assert Code(number).value == number, exc.__name__


def test_multi_response_kazoo_reads():
    """The MultiResponse of a committed multi, and the one of a failed multi (ErrorResult for
    every op: the failing op's code, RUNTIMEINCONSISTENCY after it, OK before it)."""
    ok = r.MultiResponse((r.MultiResult(OpCode.create, r.CreateResponse("/t/a")),
                          r.MultiResult(OpCode.delete), r.MultiResult(OpCode.setData, r.SetDataResponse(STAT)),
                          r.MultiResult(OpCode.check)))
    wire = p.encode_reply(3, 77, Code.OK, ok)
    _, results = kazoo_reads(wire, ks.Transaction)
    assert results == ["/t/a", True, K_STAT, True]
    assert p.decode_reply(wire[4:], OpCode.multi)[1] == ok
    # kazoo 2.11 sends only create in a multi and has no reader for create2's result (it would
    # misread the rest); Java clients (Curator) get create2 results: ours read them back.
    with_create2 = r.MultiResponse(ok.results + (r.MultiResult(OpCode.create2, r.Create2Response("/t/d", STAT)),))
    assert p.decode_reply(p.encode_reply(3, 77, Code.OK, with_create2)[4:], OpCode.multi)[1] == with_create2

    failed = r.MultiResponse((r.MultiResult(OpCode.error, r.ErrorResponse(Code.OK)),
                              r.MultiResult(OpCode.error, r.ErrorResponse(Code.BADVERSION)),
                              r.MultiResult(OpCode.error, r.ErrorResponse(Code.RUNTIMEINCONSISTENCY))))
    # The ReplyHeader's err of a failed multi is 0 (FinalRequestProcessor never throws for a
    # multi): the failure is in the results, which kazoo reads only then.
    wire = p.encode_reply(4, 77, Code.OK, failed)
    _, results = kazoo_reads(wire, ks.Transaction)
    assert [type(e).__name__ for e in results] == ["RolledBackError", "BadVersionError",
                                                   "RuntimeInconsistency"]
    assert p.decode_reply(wire[4:], OpCode.multi)[1] == failed


def test_watch_event_kazoo_reads():
    event = r.WatcherEvent(EventType.NodeChildrenChanged, KeeperState.SyncConnected, "/app")
    wire = p.encode_notification(event)
    frame = wire[4:]
    header, offset = ks.ReplyHeader.deserialize(frame, 0)
    assert (header.xid, header.zxid, header.err) == (WATCH_XID, -1, 0)
    watch, end = ks.Watch.deserialize(frame, offset)
    assert (watch.type, watch.state, watch.path) == (4, 3, "/app") and end == len(frame)
    assert p.decode_reply(frame, OpCode.getData) == (r.ReplyHeader(-1, -1, 0), event)


def test_ping_and_auth_replies_kazoo_reads():
    for xid in (PING_XID, AUTH_XID):
        wire = p.encode_reply(xid, 5, 0)
        header, offset = ks.ReplyHeader.deserialize(wire[4:], 0)
        assert (header.xid, header.zxid, header.err, offset) == (xid, 5, 0, 16)
    reader = Reader(p.encode_reply(AUTH_XID, 5, Code.AUTHFAILED)[4:])
    assert r.ReplyHeader.decode(reader).err == -115
