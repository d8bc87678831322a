"""The records of ZooKeeper's client protocol, as zookeeper.jute defines them (modules
org.apache.zookeeper.data and org.apache.zookeeper.proto), each with its jute encoding.

Every record is a frozen msgspec Struct with ``encode(out)`` (append its bytes to a bytearray)
and ``decode(reader)`` (read it from a jute.Reader). Fields are ZooKeeper's, in its order, named
in snake_case (``ephemeralOwner`` is ``ephemeral_owner``); vectors are tuples. A null ustring or
buffer decodes as None and None encodes as null (-1), as kazoo does for an empty string: the
server's checks, not the codec, turn a null path into BADARGUMENTS as ZooKeeper does.

Like ZooKeeper's generated deserializers, a record reads what it needs and ignores what follows
(a frame's trailing bytes are not an error; ``Reader.expect_end`` checks them where wanted).
Multi requests and responses (MultiOperationRecord, MultiResponse) are framed by MultiHeaders
as ZooKeeper's hand-written classes of those names frame them.
"""

from __future__ import annotations

import struct

import msgspec

from zmqzab.zk.jute import (DecodeError, Reader, write_bool, write_buffer, write_int, write_long,
                            write_ustring, write_ustrings)
from zmqzab.zk.opcodes import OpCode

_STAT = struct.Struct(">qqqqiiiqiiq")
_HEADER = struct.Struct(">ii")
_REPLY = struct.Struct(">iqi")
_MULTI = struct.Struct(">iBi")


def _tuple(items: list | None) -> tuple | None:
    return None if items is None else tuple(items)


# --- org.apache.zookeeper.data -------------------------------------------------------------

class Id(msgspec.Struct, frozen=True):
    scheme: str | None
    id: str | None

    def encode(self, out: bytearray) -> None:
        write_ustring(out, self.scheme)
        write_ustring(out, self.id)

    @classmethod
    def decode(cls, r: Reader) -> Id:
        return cls(r.read_ustring("Id.scheme"), r.read_ustring("Id.id"))


class ACL(msgspec.Struct, frozen=True):
    perms: int
    id: Id

    MIN_BYTES = 12  # perms and two null ustrings: what a vector's count is checked against

    def encode(self, out: bytearray) -> None:
        write_int(out, self.perms)
        write_ustring(out, self.id.scheme)
        write_ustring(out, self.id.id)

    @classmethod
    def decode(cls, r: Reader) -> ACL:
        perms = r.read_int("ACL.perms")
        return cls(perms, Id(r.read_ustring("ACL.id.scheme"), r.read_ustring("ACL.id.id")))


def _write_acls(out: bytearray, acl: tuple[ACL, ...] | None) -> None:
    if acl is None:
        write_int(out, -1)
        return
    write_int(out, len(acl))
    for a in acl:
        a.encode(out)


def _read_acls(r: Reader, field: str) -> tuple[ACL, ...] | None:
    return _tuple(r.read_vector(field, ACL.decode, ACL.MIN_BYTES))


class Stat(msgspec.Struct, frozen=True):
    """A znode's Stat as the client sees it (data.Stat; the tree keeps StatPersisted)."""

    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeral_owner: int
    data_length: int
    num_children: int
    pzxid: int

    SIZE = _STAT.size  # 68 bytes

    def encode(self, out: bytearray) -> None:
        out += _STAT.pack(self.czxid, self.mzxid, self.ctime, self.mtime, self.version,
                          self.cversion, self.aversion, self.ephemeral_owner, self.data_length,
                          self.num_children, self.pzxid)

    @classmethod
    def decode(cls, r: Reader, field: str = "Stat") -> Stat:
        pos = r.pos
        if pos + 68 > r.end:
            raise DecodeError(field, f"needs 68 bytes, {r.end - pos} left in the frame")
        r.pos = pos + 68
        return cls(*_STAT.unpack_from(r.buf, pos))


# --- connection: ConnectRequest / ConnectResponse ------------------------------------------

class ConnectRequest(msgspec.Struct, frozen=True):
    """The first frame of a connection (it has no RequestHeader). ``read_only`` is the byte that
    clients since 3.4 append: None when it is absent (an old client; ZooKeeperServer then leaves
    it out of the ConnectResponse too)."""

    protocol_version: int
    last_zxid_seen: int
    time_out: int
    session_id: int
    passwd: bytes | None
    read_only: bool | None = None

    def encode(self, out: bytearray) -> None:
        write_int(out, self.protocol_version)
        write_long(out, self.last_zxid_seen)
        write_int(out, self.time_out)
        write_long(out, self.session_id)
        write_buffer(out, self.passwd)
        if self.read_only is not None:
            write_bool(out, self.read_only)

    @classmethod
    def decode(cls, r: Reader) -> ConnectRequest:
        protocol_version = r.read_int("ConnectRequest.protocolVersion")
        last_zxid_seen = r.read_long("ConnectRequest.lastZxidSeen")
        time_out = r.read_int("ConnectRequest.timeOut")
        session_id = r.read_long("ConnectRequest.sessionId")
        passwd = r.read_buffer("ConnectRequest.passwd")
        read_only = r.read_bool("ConnectRequest.readOnly") if r.pos < r.end else None
        return cls(protocol_version, last_zxid_seen, time_out, session_id, passwd, read_only)


class ConnectResponse(msgspec.Struct, frozen=True):
    protocol_version: int
    time_out: int
    session_id: int
    passwd: bytes | None
    read_only: bool | None = None  # None: not sent (the client sent no readOnly byte)

    def encode(self, out: bytearray) -> None:
        write_int(out, self.protocol_version)
        write_int(out, self.time_out)
        write_long(out, self.session_id)
        write_buffer(out, self.passwd)
        if self.read_only is not None:
            write_bool(out, self.read_only)

    @classmethod
    def decode(cls, r: Reader) -> ConnectResponse:
        protocol_version = r.read_int("ConnectResponse.protocolVersion")
        time_out = r.read_int("ConnectResponse.timeOut")
        session_id = r.read_long("ConnectResponse.sessionId")
        passwd = r.read_buffer("ConnectResponse.passwd")
        read_only = r.read_bool("ConnectResponse.readOnly") if r.pos < r.end else None
        return cls(protocol_version, time_out, session_id, passwd, read_only)


# --- headers --------------------------------------------------------------------------------

class RequestHeader(msgspec.Struct, frozen=True):
    xid: int
    type: int

    def encode(self, out: bytearray) -> None:
        out += _HEADER.pack(self.xid, self.type)

    @classmethod
    def decode(cls, r: Reader) -> RequestHeader:
        pos = r.pos
        if pos + 8 > r.end:
            raise DecodeError("RequestHeader", f"needs 8 bytes, {r.end - pos} left in the frame")
        r.pos = pos + 8
        return cls(*_HEADER.unpack_from(r.buf, pos))


class ReplyHeader(msgspec.Struct, frozen=True):
    xid: int
    zxid: int
    err: int

    def encode(self, out: bytearray) -> None:
        out += _REPLY.pack(self.xid, self.zxid, self.err)

    @classmethod
    def decode(cls, r: Reader) -> ReplyHeader:
        pos = r.pos
        if pos + 16 > r.end:
            raise DecodeError("ReplyHeader", f"needs 16 bytes, {r.end - pos} left in the frame")
        r.pos = pos + 16
        return cls(*_REPLY.unpack_from(r.buf, pos))


class MultiHeader(msgspec.Struct, frozen=True):
    type: int
    done: bool
    err: int

    def encode(self, out: bytearray) -> None:
        out += _MULTI.pack(self.type, 1 if self.done else 0, self.err)

    @classmethod
    def decode(cls, r: Reader) -> MultiHeader:
        pos = r.pos
        if pos + 9 > r.end:
            raise DecodeError("MultiHeader", f"needs 9 bytes, {r.end - pos} left in the frame")
        r.pos = pos + 9
        type_, done, err = _MULTI.unpack_from(r.buf, pos)
        return cls(type_, done != 0, err)


MULTI_END = MultiHeader(-1, True, -1)


# --- requests and responses with a path ------------------------------------------------------

class CreateRequest(msgspec.Struct, frozen=True):
    """create, create2 and createContainer (the opcode says which; flags the CreateMode)."""

    path: str | None
    data: bytes | None
    acl: tuple[ACL, ...] | None
    flags: int

    def encode(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_buffer(out, self.data)
        _write_acls(out, self.acl)
        write_int(out, self.flags)

    @classmethod
    def decode(cls, r: Reader) -> CreateRequest:
        return cls(r.read_ustring("CreateRequest.path"), r.read_buffer("CreateRequest.data"),
                   _read_acls(r, "CreateRequest.acl"), r.read_int("CreateRequest.flags"))


class CreateTTLRequest(msgspec.Struct, frozen=True):
    path: str | None
    data: bytes | None
    acl: tuple[ACL, ...] | None
    flags: int
    ttl: int

    def encode(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_buffer(out, self.data)
        _write_acls(out, self.acl)
        write_int(out, self.flags)
        write_long(out, self.ttl)

    @classmethod
    def decode(cls, r: Reader) -> CreateTTLRequest:
        return cls(r.read_ustring("CreateTTLRequest.path"), r.read_buffer("CreateTTLRequest.data"),
                   _read_acls(r, "CreateTTLRequest.acl"), r.read_int("CreateTTLRequest.flags"),
                   r.read_long("CreateTTLRequest.ttl"))


class CreateResponse(msgspec.Struct, frozen=True):
    path: str | None

    def encode(self, out: bytearray) -> None:
        write_ustring(out, self.path)

    @classmethod
    def decode(cls, r: Reader) -> CreateResponse:
        return cls(r.read_ustring("CreateResponse.path"))


class Create2Response(msgspec.Struct, frozen=True):
    path: str | None
    stat: Stat

    def encode(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        self.stat.encode(out)

    @classmethod
    def decode(cls, r: Reader) -> Create2Response:
        return cls(r.read_ustring("Create2Response.path"), Stat.decode(r, "Create2Response.stat"))


class DeleteRequest(msgspec.Struct, frozen=True):
    path: str | None
    version: int

    def encode(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_int(out, self.version)

    @classmethod
    def decode(cls, r: Reader) -> DeleteRequest:
        return cls(r.read_ustring("DeleteRequest.path"), r.read_int("DeleteRequest.version"))


class CheckVersionRequest(msgspec.Struct, frozen=True):
    path: str | None
    version: int

    def encode(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_int(out, self.version)

    @classmethod
    def decode(cls, r: Reader) -> CheckVersionRequest:
        return cls(r.read_ustring("CheckVersionRequest.path"),
                   r.read_int("CheckVersionRequest.version"))


class _PathWatchRequest(msgspec.Struct, frozen=True):
    """The shape four of jute's records share (exists, getData, getChildren, getChildren2): each
    is its own record there and here, named in its errors by its own class name."""

    path: str | None
    watch: bool

    def encode(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        out.append(1 if self.watch else 0)

    @classmethod
    def decode(cls, r: Reader) -> _PathWatchRequest:
        name = cls.__name__
        return cls(r.read_ustring(f"{name}.path"), r.read_bool(f"{name}.watch"))


class ExistsRequest(_PathWatchRequest, frozen=True):
    """zookeeper.jute's ExistsRequest: a path and whether to leave a watch on it."""


class GetDataRequest(_PathWatchRequest, frozen=True):
    """zookeeper.jute's GetDataRequest: a path and whether to leave a watch on it."""


class GetChildrenRequest(_PathWatchRequest, frozen=True):
    """zookeeper.jute's GetChildrenRequest: a path and whether to leave a watch on it."""


class GetChildren2Request(_PathWatchRequest, frozen=True):
    """zookeeper.jute's GetChildren2Request: a path and whether to leave a watch on it."""


class ExistsResponse(msgspec.Struct, frozen=True):
    stat: Stat

    def encode(self, out: bytearray) -> None:
        self.stat.encode(out)

    @classmethod
    def decode(cls, r: Reader) -> ExistsResponse:
        return cls(Stat.decode(r, "ExistsResponse.stat"))


class GetDataResponse(msgspec.Struct, frozen=True):
    data: bytes | None
    stat: Stat

    def encode(self, out: bytearray) -> None:
        write_buffer(out, self.data)
        self.stat.encode(out)

    @classmethod
    def decode(cls, r: Reader) -> GetDataResponse:
        return cls(r.read_buffer("GetDataResponse.data"), Stat.decode(r, "GetDataResponse.stat"))


class SetDataRequest(msgspec.Struct, frozen=True):
    path: str | None
    data: bytes | None
    version: int

    def encode(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_buffer(out, self.data)
        write_int(out, self.version)

    @classmethod
    def decode(cls, r: Reader) -> SetDataRequest:
        return cls(r.read_ustring("SetDataRequest.path"), r.read_buffer("SetDataRequest.data"),
                   r.read_int("SetDataRequest.version"))


class SetDataResponse(msgspec.Struct, frozen=True):
    stat: Stat

    def encode(self, out: bytearray) -> None:
        self.stat.encode(out)

    @classmethod
    def decode(cls, r: Reader) -> SetDataResponse:
        return cls(Stat.decode(r, "SetDataResponse.stat"))


class GetACLRequest(msgspec.Struct, frozen=True):
    path: str | None

    def encode(self, out: bytearray) -> None:
        write_ustring(out, self.path)

    @classmethod
    def decode(cls, r: Reader) -> GetACLRequest:
        return cls(r.read_ustring("GetACLRequest.path"))


class GetACLResponse(msgspec.Struct, frozen=True):
    acl: tuple[ACL, ...] | None
    stat: Stat

    def encode(self, out: bytearray) -> None:
        _write_acls(out, self.acl)
        self.stat.encode(out)

    @classmethod
    def decode(cls, r: Reader) -> GetACLResponse:
        return cls(_read_acls(r, "GetACLResponse.acl"), Stat.decode(r, "GetACLResponse.stat"))


class SetACLRequest(msgspec.Struct, frozen=True):
    path: str | None
    acl: tuple[ACL, ...] | None
    version: int

    def encode(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        _write_acls(out, self.acl)
        write_int(out, self.version)

    @classmethod
    def decode(cls, r: Reader) -> SetACLRequest:
        return cls(r.read_ustring("SetACLRequest.path"), _read_acls(r, "SetACLRequest.acl"),
                   r.read_int("SetACLRequest.version"))


class SetACLResponse(msgspec.Struct, frozen=True):
    stat: Stat

    def encode(self, out: bytearray) -> None:
        self.stat.encode(out)

    @classmethod
    def decode(cls, r: Reader) -> SetACLResponse:
        return cls(Stat.decode(r, "SetACLResponse.stat"))


class GetChildrenResponse(msgspec.Struct, frozen=True):
    children: tuple[str | None, ...] | None

    def encode(self, out: bytearray) -> None:
        write_ustrings(out, self.children)

    @classmethod
    def decode(cls, r: Reader) -> GetChildrenResponse:
        return cls(_tuple(r.read_ustrings("GetChildrenResponse.children")))


class GetChildren2Response(msgspec.Struct, frozen=True):
    children: tuple[str | None, ...] | None
    stat: Stat

    def encode(self, out: bytearray) -> None:
        write_ustrings(out, self.children)
        self.stat.encode(out)

    @classmethod
    def decode(cls, r: Reader) -> GetChildren2Response:
        return cls(_tuple(r.read_ustrings("GetChildren2Response.children")),
                   Stat.decode(r, "GetChildren2Response.stat"))


class SyncRequest(msgspec.Struct, frozen=True):
    path: str | None

    def encode(self, out: bytearray) -> None:
        write_ustring(out, self.path)

    @classmethod
    def decode(cls, r: Reader) -> SyncRequest:
        return cls(r.read_ustring("SyncRequest.path"))


class SyncResponse(msgspec.Struct, frozen=True):
    path: str | None

    def encode(self, out: bytearray) -> None:
        write_ustring(out, self.path)

    @classmethod
    def decode(cls, r: Reader) -> SyncResponse:
        return cls(r.read_ustring("SyncResponse.path"))


class ErrorResponse(msgspec.Struct, frozen=True):
    """An error inside a MultiResponse; also addWatch's reply body (``ErrorResponse(0)``, as
    FinalRequestProcessor sends it)."""

    err: int

    def encode(self, out: bytearray) -> None:
        write_int(out, self.err)

    @classmethod
    def decode(cls, r: Reader) -> ErrorResponse:
        return cls(r.read_int("ErrorResponse.err"))


# --- watches ----------------------------------------------------------------------------------

class WatcherEvent(msgspec.Struct, frozen=True):
    """A notification: sent with ReplyHeader(xid -1, zxid -1, err 0)."""

    type: int  # opcodes.EventType
    state: int  # opcodes.KeeperState
    path: str | None

    def encode(self, out: bytearray) -> None:
        write_int(out, self.type)
        write_int(out, self.state)
        write_ustring(out, self.path)

    @classmethod
    def decode(cls, r: Reader) -> WatcherEvent:
        return cls(r.read_int("WatcherEvent.type"), r.read_int("WatcherEvent.state"),
                   r.read_ustring("WatcherEvent.path"))


class SetWatches(msgspec.Struct, frozen=True):
    """Sent with xid -8 on reconnect: the watches the client holds, relative to the last zxid
    it saw."""

    relative_zxid: int
    data_watches: tuple[str | None, ...] | None
    exist_watches: tuple[str | None, ...] | None
    child_watches: tuple[str | None, ...] | None

    def encode(self, out: bytearray) -> None:
        write_long(out, self.relative_zxid)
        write_ustrings(out, self.data_watches)
        write_ustrings(out, self.exist_watches)
        write_ustrings(out, self.child_watches)

    @classmethod
    def decode(cls, r: Reader) -> SetWatches:
        return cls(r.read_long("SetWatches.relativeZxid"),
                   _tuple(r.read_ustrings("SetWatches.dataWatches")),
                   _tuple(r.read_ustrings("SetWatches.existWatches")),
                   _tuple(r.read_ustrings("SetWatches.childWatches")))


class SetWatches2(msgspec.Struct, frozen=True):
    relative_zxid: int
    data_watches: tuple[str | None, ...] | None
    exist_watches: tuple[str | None, ...] | None
    child_watches: tuple[str | None, ...] | None
    persistent_watches: tuple[str | None, ...] | None
    persistent_recursive_watches: tuple[str | None, ...] | None

    def encode(self, out: bytearray) -> None:
        write_long(out, self.relative_zxid)
        write_ustrings(out, self.data_watches)
        write_ustrings(out, self.exist_watches)
        write_ustrings(out, self.child_watches)
        write_ustrings(out, self.persistent_watches)
        write_ustrings(out, self.persistent_recursive_watches)

    @classmethod
    def decode(cls, r: Reader) -> SetWatches2:
        return cls(r.read_long("SetWatches2.relativeZxid"),
                   _tuple(r.read_ustrings("SetWatches2.dataWatches")),
                   _tuple(r.read_ustrings("SetWatches2.existWatches")),
                   _tuple(r.read_ustrings("SetWatches2.childWatches")),
                   _tuple(r.read_ustrings("SetWatches2.persistentWatches")),
                   _tuple(r.read_ustrings("SetWatches2.persistentRecursiveWatches")))


class AddWatchRequest(msgspec.Struct, frozen=True):
    path: str | None
    mode: int  # opcodes.AddWatchMode

    def encode(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_int(out, self.mode)

    @classmethod
    def decode(cls, r: Reader) -> AddWatchRequest:
        return cls(r.read_ustring("AddWatchRequest.path"), r.read_int("AddWatchRequest.mode"))


class RemoveWatchesRequest(msgspec.Struct, frozen=True):
    path: str | None
    type: int  # opcodes.WatcherType

    def encode(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_int(out, self.type)

    @classmethod
    def decode(cls, r: Reader) -> RemoveWatchesRequest:
        return cls(r.read_ustring("RemoveWatchesRequest.path"),
                   r.read_int("RemoveWatchesRequest.type"))


class CheckWatchesRequest(msgspec.Struct, frozen=True):
    path: str | None
    type: int  # opcodes.WatcherType

    def encode(self, out: bytearray) -> None:
        write_ustring(out, self.path)
        write_int(out, self.type)

    @classmethod
    def decode(cls, r: Reader) -> CheckWatchesRequest:
        return cls(r.read_ustring("CheckWatchesRequest.path"),
                   r.read_int("CheckWatchesRequest.type"))


# --- the rest ---------------------------------------------------------------------------------

class GetEphemeralsRequest(msgspec.Struct, frozen=True):
    prefix_path: str | None

    def encode(self, out: bytearray) -> None:
        write_ustring(out, self.prefix_path)

    @classmethod
    def decode(cls, r: Reader) -> GetEphemeralsRequest:
        return cls(r.read_ustring("GetEphemeralsRequest.prefixPath"))


class GetEphemeralsResponse(msgspec.Struct, frozen=True):
    ephemerals: tuple[str | None, ...] | None

    def encode(self, out: bytearray) -> None:
        write_ustrings(out, self.ephemerals)

    @classmethod
    def decode(cls, r: Reader) -> GetEphemeralsResponse:
        return cls(_tuple(r.read_ustrings("GetEphemeralsResponse.ephemerals")))


class GetAllChildrenNumberRequest(msgspec.Struct, frozen=True):
    path: str | None

    def encode(self, out: bytearray) -> None:
        write_ustring(out, self.path)

    @classmethod
    def decode(cls, r: Reader) -> GetAllChildrenNumberRequest:
        return cls(r.read_ustring("GetAllChildrenNumberRequest.path"))


class GetAllChildrenNumberResponse(msgspec.Struct, frozen=True):
    total_number: int

    def encode(self, out: bytearray) -> None:
        write_int(out, self.total_number)

    @classmethod
    def decode(cls, r: Reader) -> GetAllChildrenNumberResponse:
        return cls(r.read_int("GetAllChildrenNumberResponse.totalNumber"))


class AuthPacket(msgspec.Struct, frozen=True):
    """setAuth: sent with xid -4 (``type`` is 0 from every client; the scheme says the rest)."""

    type: int
    scheme: str | None
    auth: bytes | None

    def encode(self, out: bytearray) -> None:
        write_int(out, self.type)
        write_ustring(out, self.scheme)
        write_buffer(out, self.auth)

    @classmethod
    def decode(cls, r: Reader) -> AuthPacket:
        return cls(r.read_int("AuthPacket.type"), r.read_ustring("AuthPacket.scheme"),
                   r.read_buffer("AuthPacket.auth"))


class ReconfigRequest(msgspec.Struct, frozen=True):
    """Decoded so that the server can answer it (zmqzab does not reconfigure: UNIMPLEMENTED or
    RECONFIGDISABLED, the server's call)."""

    joining_servers: str | None
    leaving_servers: str | None
    new_members: str | None
    cur_config_id: int

    def encode(self, out: bytearray) -> None:
        write_ustring(out, self.joining_servers)
        write_ustring(out, self.leaving_servers)
        write_ustring(out, self.new_members)
        write_long(out, self.cur_config_id)

    @classmethod
    def decode(cls, r: Reader) -> ReconfigRequest:
        return cls(r.read_ustring("ReconfigRequest.joiningServers"),
                   r.read_ustring("ReconfigRequest.leavingServers"),
                   r.read_ustring("ReconfigRequest.newMembers"),
                   r.read_long("ReconfigRequest.curConfigId"))


class GetSASLRequest(msgspec.Struct, frozen=True):
    """sasl's request (decoded so that the server can refuse it; SASL is out of scope)."""

    token: bytes | None

    def encode(self, out: bytearray) -> None:
        write_buffer(out, self.token)

    @classmethod
    def decode(cls, r: Reader) -> GetSASLRequest:
        return cls(r.read_buffer("GetSASLRequest.token"))


class SetSASLResponse(msgspec.Struct, frozen=True):
    token: bytes | None

    def encode(self, out: bytearray) -> None:
        write_buffer(out, self.token)

    @classmethod
    def decode(cls, r: Reader) -> SetSASLResponse:
        return cls(r.read_buffer("SetSASLResponse.token"))


class ClientInfo(msgspec.Struct, frozen=True):
    """One identity of a session (data.ClientInfo), as whoAmI answers them."""

    auth_scheme: str | None
    user: str | None

    def encode(self, out: bytearray) -> None:
        write_ustring(out, self.auth_scheme)
        write_ustring(out, self.user)

    @classmethod
    def decode(cls, r: Reader) -> ClientInfo:
        return cls(r.read_ustring("ClientInfo.authScheme"), r.read_ustring("ClientInfo.user"))


class WhoAmIResponse(msgspec.Struct, frozen=True):
    client_info: tuple[ClientInfo, ...] | None

    def encode(self, out: bytearray) -> None:
        if self.client_info is None:
            write_int(out, -1)
            return
        write_int(out, len(self.client_info))
        for info in self.client_info:
            info.encode(out)

    @classmethod
    def decode(cls, r: Reader) -> WhoAmIResponse:
        return cls(_tuple(r.read_vector("WhoAmIResponse.clientInfo", ClientInfo.decode, 8)))


# --- multi: MultiOperationRecord and MultiResponse ---------------------------------------------

#: The request record of each op a multi may hold (MultiOperationRecord.deserialize): create,
#: create2 and createContainer share CreateRequest; getChildren and getData are multiRead's.
MULTI_OP_REQUEST: dict[int, type] = {
    OpCode.create: CreateRequest,
    OpCode.create2: CreateRequest,
    OpCode.createContainer: CreateRequest,
    OpCode.createTTL: CreateTTLRequest,
    OpCode.delete: DeleteRequest,
    OpCode.setData: SetDataRequest,
    OpCode.check: CheckVersionRequest,
    OpCode.getChildren: GetChildrenRequest,
    OpCode.getData: GetDataRequest,
}

#: The response record of each result a MultiResponse may hold (MultiResponse.deserialize;
#: None: the header alone). The server answers createContainer and createTTL with create2.
MULTI_RESULT_RESPONSE: dict[int, type | None] = {
    OpCode.create: CreateResponse,
    OpCode.create2: Create2Response,
    OpCode.delete: None,
    OpCode.setData: SetDataResponse,
    OpCode.check: None,
    OpCode.getChildren: GetChildrenResponse,
    OpCode.getData: GetDataResponse,
    OpCode.error: ErrorResponse,
}


class MultiOp(msgspec.Struct, frozen=True):
    """One op of a multi: its opcode and its request record."""

    type: int
    request: msgspec.Struct


class MultiRequest(msgspec.Struct, frozen=True):
    """MultiOperationRecord: the body of multi (write ops) and multiRead (getChildren, getData).
    Whether the kinds are mixed is the server's check (ZooKeeper: mixing is a marshalling error);
    the codec reads what is there."""

    ops: tuple[MultiOp, ...]

    def encode(self, out: bytearray) -> None:
        for op in self.ops:
            out += _MULTI.pack(op.type, 0, -1)
            op.request.encode(out)
        MULTI_END.encode(out)

    @classmethod
    def decode(cls, r: Reader) -> MultiRequest:
        ops = []
        # Each op takes at least its 9-byte header, so the loop ends within the frame.
        header = MultiHeader.decode(r)
        while not header.done:
            record = MULTI_OP_REQUEST.get(header.type)
            if record is None:
                raise DecodeError("MultiOperationRecord", f"invalid type of op {header.type}")
            ops.append(MultiOp(header.type, record.decode(r)))
            header = MultiHeader.decode(r)
        return cls(tuple(ops))


class MultiResult(msgspec.Struct, frozen=True):
    """One result of a MultiResponse: its type (OpCode.error for ErrorResult) and its response
    record (None for delete and check)."""

    type: int
    response: msgspec.Struct | None = None


class MultiResponse(msgspec.Struct, frozen=True):
    results: tuple[MultiResult, ...]

    def encode(self, out: bytearray) -> None:
        for result in self.results:
            err = result.response.err if result.type == OpCode.error else 0
            out += _MULTI.pack(result.type, 0, err)
            if result.response is not None:
                result.response.encode(out)
        MULTI_END.encode(out)

    @classmethod
    def decode(cls, r: Reader) -> MultiResponse:
        results = []
        header = MultiHeader.decode(r)
        while not header.done:
            if header.type not in MULTI_RESULT_RESPONSE:
                raise DecodeError("MultiResponse", f"invalid type {header.type} in MultiResponse")
            record = MULTI_RESULT_RESPONSE[header.type]
            results.append(MultiResult(header.type, None if record is None else record.decode(r)))
            header = MultiHeader.decode(r)
        return cls(tuple(results))
