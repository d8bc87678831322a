"""The write requests the tree's prepare takes, by ZooKeeper's opcode, with jute's field names.

``Preparer.prepare(opcode, record, ...)`` reads a record's fields by name (``path``, ``data``,
``acl``, ``flags``, ``ttl``, ``version``), as ``PrepRequestProcessor.pRequest2Txn(type, ...,
record)`` does: the jute codec's decoded records (zmqzab/zk/) plug in as they are, and these
small structs stand in for them in tests and in the simulator. ``CreateMode`` is
CreateMode's values; ``OpCode`` (ZooDefs.OpCode) lives with the wire codec, zmqzab/zk/opcodes.py.
"""

from __future__ import annotations

from enum import IntEnum

from msgspec import Struct

from zmqzab.tree.acl import ACL
from zmqzab.zk.opcodes import OpCode  # noqa: F401 - ZooDefs.OpCode has one home: the wire's


class CreateMode(IntEnum):
    """``CreateMode``: the ``flags`` of a create."""

    PERSISTENT = 0
    EPHEMERAL = 1
    PERSISTENT_SEQUENTIAL = 2
    EPHEMERAL_SEQUENTIAL = 3
    CONTAINER = 4
    PERSISTENT_WITH_TTL = 5
    PERSISTENT_SEQUENTIAL_WITH_TTL = 6

    @property
    def sequential(self) -> bool:
        return self in (CreateMode.PERSISTENT_SEQUENTIAL, CreateMode.EPHEMERAL_SEQUENTIAL,
                        CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL)

    @property
    def ephemeral(self) -> bool:
        return self in (CreateMode.EPHEMERAL, CreateMode.EPHEMERAL_SEQUENTIAL)

    @property
    def ttl(self) -> bool:
        return self in (CreateMode.PERSISTENT_WITH_TTL, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL)


class CreateRequest(Struct, frozen=True):
    path: str
    data: bytes | None
    acl: tuple[ACL, ...]
    flags: int = 0


class CreateTTLRequest(Struct, frozen=True):
    path: str
    data: bytes | None
    acl: tuple[ACL, ...]
    flags: int
    ttl: int


class DeleteRequest(Struct, frozen=True):
    path: str
    version: int = -1


class SetDataRequest(Struct, frozen=True):
    path: str
    data: bytes | None
    version: int = -1


class SetACLRequest(Struct, frozen=True):
    path: str
    acl: tuple[ACL, ...]
    version: int = -1


class CheckVersionRequest(Struct, frozen=True):
    path: str
    version: int


class DeleteContainerRequest(Struct, frozen=True):
    path: str


#: The ops a multi may hold (``MultiOperationRecord``'s write ops).
MULTI_OPS = (OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL,
             OpCode.delete, OpCode.setData, OpCode.check)
#: The requests that go through the leader and the log (``ZooKeeperServer``'s "txn" opcodes:
#: a follower forwards them; a check alone is one too, so that it is ordered with the writes).
WRITE_OPS = (OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL,
             OpCode.deleteContainer, OpCode.delete, OpCode.setData, OpCode.setACL, OpCode.check,
             OpCode.multi, OpCode.reconfig, OpCode.createSession, OpCode.closeSession)
