"""multi: all or nothing, with ZooKeeper's codes per op (PrepRequestProcessor + processTxn):
the ops before the failing one answer OK (0) and are not applied, the failing one its code,
the ones after it RUNTIMEINCONSISTENCY (-2); the multi's own err is the failing op's."""

from __future__ import annotations

import pytest

from tests.unit.tree_harness import Multi, Zk
from zmqzab.tree import snapshot
from zmqzab.tree.acl import OPEN_ACL_UNSAFE
from zmqzab.tree.errors import Code
from zmqzab.tree.events import EventType, Trigger, WatchTable
from zmqzab.tree.requests import (CheckVersionRequest, CreateMode, CreateRequest, DeleteRequest,
                                  OpCode, SetDataRequest)
from zmqzab.tree.txns import CreateTxn, ErrorTxn, MultiTxn

pytestmark = [pytest.mark.zk]


def create(path, flags=0):
    return (OpCode.create, CreateRequest(path, b"", OPEN_ACL_UNSAFE, flags))


def test_a_multi_that_succeeds_applies_every_op_at_one_zxid():
    zk = Zk()
    zk.create("/a")
    r = zk.do(OpCode.multi, Multi(create("/a/b"), create("/a/b/c"), (OpCode.setData, SetDataRequest("/a/b", b"x", 0)),
                                  (OpCode.check, CheckVersionRequest("/a/b", 1)), (OpCode.delete, DeleteRequest("/a/b/c", 0)),
                                  create("/a/s-", CreateMode.PERSISTENT_SEQUENTIAL)))
    assert r.err == 0 and [x.err for x in r.results] == [0] * 6
    assert [x.path for x in r.results] == ["/a/b", "/a/b/c", "/a/b", "/a/b", "/a/b/c", "/a/s-0000000001"]
    assert zk.tree.get_data("/a/b")[0] == b"x" and zk.tree.node("/a/b/c") is None
    b = zk.tree.stat("/a/b")
    assert (b.czxid, b.mzxid, b.version, b.cversion, b.pzxid) == (2, 2, 1, 2, 2)  # 2 * 1 - 0
    assert r.deleted == ("/a/b/c",)
    assert Trigger(WatchTable.DATA, "/a/b", EventType.NodeDataChanged, 2) in r.triggers


def test_a_failing_op_leaves_the_tree_as_it_was_with_zookeepers_codes():
    zk = Zk()
    zk.create("/a")
    before = snapshot.dump(zk.tree)
    txn = zk.propose(OpCode.multi, Multi(create("/a/b"), (OpCode.setData, SetDataRequest("/a", b"x", -1)),
                                         create("/missing/c"), create("/a/d"), (OpCode.check, CheckVersionRequest("/a", 0))))
    assert isinstance(txn, MultiTxn)
    assert isinstance(txn.txns[0], CreateTxn)
    assert txn.txns[2:] == (ErrorTxn(Code.NONODE), ErrorTxn(Code.RUNTIMEINCONSISTENCY), ErrorTxn(Code.RUNTIMEINCONSISTENCY))
    assert zk.prep.pending == {}  # rolled back: the leader sees nothing of it either
    r = zk.commit(txn)
    assert Code(r.err) == Code.NONODE
    assert [Code(x.err) for x in r.results] == [Code.OK, Code.OK, Code.NONODE, Code.RUNTIMEINCONSISTENCY,
                                                Code.RUNTIMEINCONSISTENCY]
    assert r.triggers == () and r.deleted == ()
    assert snapshot.dump(zk.tree) == before


def test_a_failed_multi_keeps_earlier_pending_changes():
    zk = Zk()
    first = zk.propose(OpCode.create, CreateRequest("/x", b"", OPEN_ACL_UNSAFE))
    failed = zk.propose(OpCode.multi, Multi(create("/y"), create("/x")))
    assert failed.txns == (failed.txns[0], ErrorTxn(Code.NODEEXISTS))
    assert zk.prep.view("/x") is not None and zk.prep.view("/y") is None
    assert isinstance(zk.propose(OpCode.create, CreateRequest("/y", b"", OPEN_ACL_UNSAFE)), CreateTxn)
    assert isinstance(first, CreateTxn)


def test_the_first_op_failing_and_a_bad_version_check():
    zk = Zk()
    zk.create("/a")
    r = zk.do(OpCode.multi, Multi((OpCode.check, CheckVersionRequest("/a", 5)), create("/a/b")))
    assert [Code(x.err) for x in r.results] == [Code.BADVERSION, Code.RUNTIMEINCONSISTENCY]
    assert zk.tree.get_children("/a") == []


def test_an_op_that_cannot_be_in_a_multi():
    zk = Zk()
    r = zk.do(OpCode.multi, Multi(create("/a"), (OpCode.getData, CheckVersionRequest("/a", 0))))
    assert [Code(x.err) for x in r.results] == [Code.OK, Code.UNIMPLEMENTED]
    assert zk.tree.node("/a") is None


def test_an_empty_multi():
    zk = Zk()
    r = zk.do(OpCode.multi, Multi())
    assert r.err == 0 and r.results == ()


def test_sequential_names_inside_a_multi_follow_each_other():
    zk = Zk()
    zk.create("/q")
    r = zk.do(OpCode.multi, Multi(create("/q/n-", CreateMode.PERSISTENT_SEQUENTIAL),
                                  create("/q/n-", CreateMode.PERSISTENT_SEQUENTIAL)))
    assert [x.path for x in r.results] == ["/q/n-0000000000", "/q/n-0000000001"]
    assert zk.tree.stat("/q").cversion == 2


def test_describe_names_the_op_the_path_and_the_codes():
    from zmqzab.tree.txns import describe_txn

    zk = Zk()
    zk.create("/a")
    txn = zk.propose(OpCode.multi, Multi(create("/a/e", CreateMode.EPHEMERAL), create("/missing/x"), create("/a/f")))
    assert describe_txn(txn) == ("multi [create /a/e ephemeral of session 0x1234 (0 bytes, parent cversion 1); "
                                 "error NONODE; error RUNTIMEINCONSISTENCY]")
    assert describe_txn(ErrorTxn(-999)) == "error -999"
