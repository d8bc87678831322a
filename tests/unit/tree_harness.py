"""A leader and its replica in one: prepare a request, apply the txn, with increasing zxids.

Shared by the tests/unit/test_tree_*.py files (not a test file itself)."""

from __future__ import annotations

from zmqzab.tree.acl import OPEN_ACL_UNSAFE, Id
from zmqzab.tree.prepare import Preparer
from zmqzab.tree.requests import (CheckVersionRequest, CreateRequest, DeleteRequest, OpCode,
                                  SetACLRequest, SetDataRequest)
from zmqzab.tree.tree import DataTree, TxnResult
from zmqzab.tree.txns import TreeTxn

SESSION = 0x1234


class Multi:
    """A multi request as the codec hands it over: ``ops`` of (opcode, record)."""

    def __init__(self, *ops) -> None:
        self.ops = list(ops)


class Zk:
    """One tree, its preparer and a zxid counter; ``time_ms`` grows by 10 per txn."""

    def __init__(self) -> None:
        self.tree = DataTree()
        self.prep = Preparer(self.tree)
        self.zxid = 0
        self.time_ms = 1000

    def propose(self, opcode: int, request: object, session: int = SESSION,
                auth: tuple[Id, ...] = ()) -> TreeTxn:
        self.zxid += 1
        return self.prep.prepare(opcode, request, session, list(auth), self.zxid)

    def commit(self, txn: TreeTxn) -> TxnResult:
        """Apply the oldest proposed txn (the caller keeps zxid order)."""
        self.time_ms += 10
        result = self.tree.apply(txn, self.zxid, self.time_ms)
        self.prep.applied(self.zxid)
        return result

    def do(self, opcode: int, request: object, session: int = SESSION,
           auth: tuple[Id, ...] = ()) -> TxnResult:
        return self.commit(self.propose(opcode, request, session, auth))

    # shorthands
    def create(self, path: str, data: bytes = b"", flags: int = 0, acl=OPEN_ACL_UNSAFE, **kw) -> TxnResult:
        return self.do(OpCode.create, CreateRequest(path, data, acl, flags), **kw)

    def delete(self, path: str, version: int = -1, **kw) -> TxnResult:
        return self.do(OpCode.delete, DeleteRequest(path, version), **kw)

    def set_data(self, path: str, data: bytes, version: int = -1, **kw) -> TxnResult:
        return self.do(OpCode.setData, SetDataRequest(path, data, version), **kw)

    def set_acl(self, path: str, acl, version: int = -1, **kw) -> TxnResult:
        return self.do(OpCode.setACL, SetACLRequest(path, acl, version), **kw)

    def check(self, path: str, version: int, **kw) -> TxnResult:
        return self.do(OpCode.check, CheckVersionRequest(path, version), **kw)
