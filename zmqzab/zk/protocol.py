"""One client request or reply in, one out: the dispatch from opcode to record, both ways.

Theory of operation. A connection carries, after the 4-byte length (framing.py), first a
ConnectRequest (no header) answered by a ConnectResponse (no header); then requests, each a
RequestHeader (xid, type) and the body its type names, answered by a ReplyHeader (xid, zxid,
err) and, if err is 0, the body of that type's response. Notifications come as a ReplyHeader
with xid -1 and zxid -1, then a WatcherEvent. The tables below say which body goes with which
opcode, as ZooKeeperServer/FinalRequestProcessor (server side) and ClientCnxn (client side)
pair them. The server side (decode_request, encode_reply, ...) is what the node calls; the
client side (encode_request, decode_reply) is for the tests, the simulator's clients and a
small ``zmqzab zk`` command.

Encoders return the whole wire message, length prefix included (one bytes object to send).
"""

from __future__ import annotations

import struct

import msgspec

from zmqzab.zk.jute import INT, DecodeError, Reader
from zmqzab.zk.opcodes import OpCode, Xid
from zmqzab.zk.records import (AddWatchRequest, AuthPacket, CheckVersionRequest,
                               CheckWatchesRequest, ConnectRequest, ConnectResponse,
                               Create2Response, CreateRequest, CreateResponse, CreateTTLRequest,
                               DeleteRequest, ErrorResponse, ExistsRequest, ExistsResponse,
                               GetACLRequest, GetACLResponse, GetAllChildrenNumberRequest,
                               GetAllChildrenNumberResponse, GetChildren2Request,
                               GetChildren2Response, GetChildrenRequest, GetChildrenResponse,
                               GetDataRequest, GetDataResponse, GetEphemeralsRequest,
                               GetEphemeralsResponse, GetSASLRequest, MultiRequest,
                               SetSASLResponse, WhoAmIResponse, MultiResponse,
                               ReconfigRequest, RemoveWatchesRequest, ReplyHeader, RequestHeader,
                               SetACLRequest, SetACLResponse, SetDataRequest, SetDataResponse,
                               SetWatches, SetWatches2, SyncRequest, SyncResponse, WatcherEvent)

_REPLY = struct.Struct(">iiqi")  # the length prefix and a ReplyHeader, packed at once
_REQUEST = struct.Struct(">iii")  # the length prefix and a RequestHeader

#: The body of each request a client may send (None: the header alone). An opcode missing
#: here is unknown to the server: ``UnknownOpcodeError``.
REQUEST_BODY: dict[int, type | None] = {
    OpCode.create: CreateRequest,
    OpCode.create2: CreateRequest,
    OpCode.createContainer: CreateRequest,
    OpCode.createTTL: CreateTTLRequest,
    OpCode.delete: DeleteRequest,
    OpCode.exists: ExistsRequest,
    OpCode.getData: GetDataRequest,
    OpCode.setData: SetDataRequest,
    OpCode.getACL: GetACLRequest,
    OpCode.setACL: SetACLRequest,
    OpCode.getChildren: GetChildrenRequest,
    OpCode.getChildren2: GetChildren2Request,
    OpCode.sync: SyncRequest,
    OpCode.ping: None,
    OpCode.check: CheckVersionRequest,
    OpCode.multi: MultiRequest,
    OpCode.multiRead: MultiRequest,
    OpCode.reconfig: ReconfigRequest,
    OpCode.checkWatches: CheckWatchesRequest,
    OpCode.removeWatches: RemoveWatchesRequest,
    OpCode.auth: AuthPacket,
    OpCode.setWatches: SetWatches,
    OpCode.setWatches2: SetWatches2,
    OpCode.sasl: GetSASLRequest,
    OpCode.getEphemerals: GetEphemeralsRequest,
    OpCode.getAllChildrenNumber: GetAllChildrenNumberRequest,
    OpCode.addWatch: AddWatchRequest,
    OpCode.whoAmI: None,
    OpCode.closeSession: None,
}

#: The body of each successful reply (None: the header alone), as FinalRequestProcessor sends
#: it: create answers CreateResponse, create2/createContainer/createTTL Create2Response, addWatch
#: an ErrorResponse(0). A reply whose err is not 0 has no body.
RESPONSE_BODY: dict[int, type | None] = {
    OpCode.create: CreateResponse,
    OpCode.create2: Create2Response,
    OpCode.createContainer: Create2Response,
    OpCode.createTTL: Create2Response,
    OpCode.delete: None,
    OpCode.exists: ExistsResponse,
    OpCode.getData: GetDataResponse,
    OpCode.setData: SetDataResponse,
    OpCode.getACL: GetACLResponse,
    OpCode.setACL: SetACLResponse,
    OpCode.getChildren: GetChildrenResponse,
    OpCode.getChildren2: GetChildren2Response,
    OpCode.sync: SyncResponse,
    OpCode.ping: None,
    OpCode.check: None,
    OpCode.multi: MultiResponse,
    OpCode.multiRead: MultiResponse,
    OpCode.reconfig: GetDataResponse,
    OpCode.checkWatches: None,
    OpCode.removeWatches: None,
    OpCode.auth: None,
    OpCode.setWatches: None,
    OpCode.setWatches2: None,
    OpCode.getEphemerals: GetEphemeralsResponse,
    OpCode.getAllChildrenNumber: GetAllChildrenNumberResponse,
    OpCode.addWatch: ErrorResponse,
    OpCode.sasl: SetSASLResponse,
    OpCode.whoAmI: WhoAmIResponse,
    OpCode.closeSession: None,
}


class UnknownOpcodeError(DecodeError):
    """A request whose type no table knows; its xid is read, so the server can still answer
    it (ZooKeeper answers UNIMPLEMENTED)."""

    def __init__(self, xid: int, type_: int):
        super().__init__("RequestHeader.type", f"unknown opcode {type_} (xid {xid})")
        self.xid = xid
        self.type = type_


class Request(msgspec.Struct, frozen=True):
    header: RequestHeader
    body: msgspec.Struct | None


# --- the server's side ------------------------------------------------------------------------

def decode_connect_request(frame: bytes) -> ConnectRequest:
    """The first frame of a connection."""
    return ConnectRequest.decode(Reader(frame))


def decode_request(frame: bytes) -> Request:
    """A request frame (the length prefix already taken off by framing.FrameDecoder)."""
    r = Reader(frame)
    header = RequestHeader.decode(r)
    try:
        record = REQUEST_BODY[header.type]
    except KeyError:
        raise UnknownOpcodeError(header.xid, header.type) from None
    return Request(header, None if record is None else record.decode(r))


def encode_connect_response(response: ConnectResponse) -> bytes:
    out = bytearray(b"\0\0\0\0")
    response.encode(out)
    out[0:4] = INT.pack(len(out) - 4)
    return bytes(out)


def encode_reply(xid: int, zxid: int, err: int, body: msgspec.Struct | None = None) -> bytes:
    """A reply: ReplyHeader and, if there is one, the body (the caller leaves it out when err
    is not 0, as ZooKeeper does)."""
    if body is None:
        return _REPLY.pack(16, xid, zxid, err)
    out = bytearray(_REPLY.pack(0, xid, zxid, err))
    body.encode(out)
    out[0:4] = INT.pack(len(out) - 4)
    return bytes(out)


def encode_notification(event: WatcherEvent) -> bytes:
    """A watch event as the server sends it: ReplyHeader(-1, -1, 0) and the WatcherEvent."""
    return encode_reply(Xid.NOTIFICATION, -1, 0, event)


# --- the client's side ------------------------------------------------------------------------

def encode_connect_request(request: ConnectRequest) -> bytes:
    out = bytearray(b"\0\0\0\0")
    request.encode(out)
    out[0:4] = INT.pack(len(out) - 4)
    return bytes(out)


def decode_connect_response(frame: bytes) -> ConnectResponse:
    return ConnectResponse.decode(Reader(frame))


def encode_request(xid: int, type_: int, body: msgspec.Struct | None = None) -> bytes:
    if body is None:
        return _REQUEST.pack(8, xid, type_)
    out = bytearray(_REQUEST.pack(0, xid, type_))
    body.encode(out)
    out[0:4] = INT.pack(len(out) - 4)
    return bytes(out)


def decode_reply(frame: bytes, type_: int) -> tuple[ReplyHeader, msgspec.Struct | None]:
    """A reply to a request of ``type_`` (the client knows it from the xid), or a notification
    (xid -1: the body is a WatcherEvent whatever ``type_`` is)."""
    r = Reader(frame)
    header = ReplyHeader.decode(r)
    if header.xid == Xid.NOTIFICATION:
        return header, WatcherEvent.decode(r)
    if header.err != 0 or header.xid in (Xid.PING, Xid.AUTH, Xid.SET_WATCHES):
        return header, None
    record = RESPONSE_BODY.get(type_)
    return header, None if record is None else record.decode(r)
