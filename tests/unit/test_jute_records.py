"""Every record of zmqzab/zk/records.py round-trips: decode(encode(x)) == x, the decoder takes
exactly the bytes the encoder wrote, and every request and reply goes through protocol.py's
tables with its opcode. Values are drawn by hypothesis over the whole range of each jute type
(int32, int64, null and empty buffers and strings, non-ASCII text, null and empty vectors).
Hypothesis prints the falsifying example (and its seed with --hypothesis-seed) on a failure."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqzab.zk import protocol as p
from zmqzab.zk import records
from zmqzab.zk.jute import Reader
from tests.unit.jute_strategies import INT64, RECORDS, of
from zmqzab.zk.opcodes import OpCode

pytestmark = pytest.mark.zk


def test_the_list_of_records_is_complete():
    names = {c.__name__ for c in RECORDS}
    for wanted in ("ConnectRequest", "ConnectResponse", "RequestHeader", "ReplyHeader",
                   "CreateRequest", "CreateTTLRequest", "CreateResponse", "Create2Response",
                   "DeleteRequest", "ExistsRequest", "ExistsResponse", "GetDataRequest",
                   "GetDataResponse", "SetDataRequest", "SetDataResponse", "GetACLRequest",
                   "GetACLResponse", "SetACLRequest", "SetACLResponse", "GetChildrenRequest",
                   "GetChildrenResponse", "GetChildren2Request", "GetChildren2Response",
                   "SyncRequest", "SyncResponse", "CheckVersionRequest", "MultiHeader",
                   "MultiRequest", "MultiResponse", "ErrorResponse", "SetWatches", "SetWatches2",
                   "AddWatchRequest", "RemoveWatchesRequest", "CheckWatchesRequest",
                   "GetEphemeralsRequest", "GetEphemeralsResponse", "GetAllChildrenNumberRequest",
                   "GetAllChildrenNumberResponse", "AuthPacket", "WatcherEvent", "Stat", "ACL", "Id"):
        assert wanted in names


@pytest.mark.parametrize("cls", [c for c in RECORDS if c not in (records.MultiOp, records.MultiResult)],
                         ids=lambda c: c.__name__)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_record_round_trips(cls, data):
    value = data.draw(of(cls))
    out = bytearray()
    value.encode(out)
    reader = Reader(bytes(out))
    assert cls.decode(reader) == value
    assert reader.pos == len(out), "the decoder must take exactly the encoder's bytes"


def _with_opcode(table: dict[int, type | None]):
    return st.sampled_from(sorted(table.items())).flatmap(
        lambda oc: st.tuples(st.just(oc[0]), st.none() if oc[1] is None else of(oc[1])))


@settings(max_examples=300, deadline=None)
@given(xid=st.integers(1, 2 ** 31 - 1), op=_with_opcode(p.REQUEST_BODY))
def test_every_request_round_trips_through_the_tables(xid, op):
    opcode, body = op
    wire = p.encode_request(xid, opcode, body)
    assert int.from_bytes(wire[:4], "big") == len(wire) - 4
    assert p.decode_request(wire[4:]) == p.Request(records.RequestHeader(xid, opcode), body)


@settings(max_examples=300, deadline=None)
@given(xid=st.integers(1, 2 ** 31 - 1), zxid=INT64, op=_with_opcode(p.RESPONSE_BODY))
def test_every_reply_round_trips_through_the_tables(xid, zxid, op):
    opcode, body = op
    wire = p.encode_reply(xid, zxid, 0, body)
    assert int.from_bytes(wire[:4], "big") == len(wire) - 4
    assert p.decode_reply(wire[4:], opcode) == (records.ReplyHeader(xid, zxid, 0), body)


def test_the_tables_cover_the_client_protocol():
    """Every op of issue 13's list has a request body and a reply body."""
    ops = [OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL, OpCode.delete,
           OpCode.exists, OpCode.getData, OpCode.setData, OpCode.getACL, OpCode.setACL,
           OpCode.getChildren, OpCode.getChildren2, OpCode.sync, OpCode.check, OpCode.multi,
           OpCode.setWatches, OpCode.setWatches2, OpCode.addWatch, OpCode.removeWatches,
           OpCode.checkWatches, OpCode.getEphemerals, OpCode.getAllChildrenNumber, OpCode.auth,
           OpCode.ping, OpCode.closeSession, OpCode.multiRead]
    for op in ops:
        assert op in p.REQUEST_BODY and op in p.RESPONSE_BODY, op.name


def test_byte_layouts_by_hand():
    """A few encodings spelled out from zookeeper.jute, independent of any other encoder."""
    out = bytearray()
    records.CreateTTLRequest("/a", None, None, 5, 1000).encode(out)
    assert bytes(out) == (b"\0\0\0\x02/a" + b"\xff\xff\xff\xff" + b"\xff\xff\xff\xff"
                          + b"\0\0\0\x05" + (1000).to_bytes(8, "big"))
    out = bytearray()
    records.SetWatches2(7, ("/d",), (), None, ("/p",), ()).encode(out)
    assert bytes(out) == ((7).to_bytes(8, "big") + b"\0\0\0\x01\0\0\0\x02/d" + b"\0\0\0\0"
                          + b"\xff\xff\xff\xff" + b"\0\0\0\x01\0\0\0\x02/p" + b"\0\0\0\0")
    out = bytearray()
    records.MultiRequest((records.MultiOp(OpCode.check, records.CheckVersionRequest("/c", 2)),)).encode(out)
    assert bytes(out) == (b"\0\0\0\x0d\x00\xff\xff\xff\xff" + b"\0\0\0\x02/c\0\0\0\x02"
                          + b"\xff\xff\xff\xff\x01\xff\xff\xff\xff")
    # addWatch answers ErrorResponse(0): four bytes after the header, as FinalRequestProcessor
    assert p.encode_reply(5, 9, 0, records.ErrorResponse(0)) == (
        (20).to_bytes(4, "big") + b"\0\0\0\x05" + (9).to_bytes(8, "big") + b"\0\0\0\0" + b"\0\0\0\0")


def test_connect_request_without_the_read_only_byte_is_an_old_client():
    out = bytearray()
    records.ConnectRequest(0, 0, 30000, 0, b"\0" * 16).encode(out)
    assert len(out) == 4 + 8 + 4 + 8 + 4 + 16
    assert p.decode_connect_request(bytes(out)).read_only is None
    out.append(1)
    assert p.decode_connect_request(bytes(out)).read_only is True
