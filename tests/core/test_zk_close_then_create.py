"""Attack on the leader's prepare (zkapi/prep.py): a closeSession proposed and not yet applied,
then a write that depends on the closed session's ephemerals being gone.

ZooKeeper's PrepRequestProcessor, on closeSession, adds a delete ChangeRecord for each of the
session's ephemerals (pRequest2TxnCreateSession... ``case OpCode.closeSession``: "for (String
path2Delete : es) addChangeRecord(new ChangeRecord(..., path2Delete, null, 0, null))"), so a
request prepared after the close sees those nodes gone. zkapi/prep.py proposes
``CloseSessionTxn(sid, None)`` and records nothing in the Preparer's overlay (Preparer has
``close_session`` for exactly this, unused), so a write prepared behind the close is checked
against a tree that still holds the ephemerals, although the log applies it after they are
deleted: its answer is one no serial order of the log gives.

Each scenario: goal, setup, faults, expected, in its docstring.
"""

from __future__ import annotations

import pytest

from tests.core.test_zk_host import OPEN, Client, _cluster
from zmqzab.zk import records as r
from zmqzab.zk.opcodes import OpCode

pytestmark = pytest.mark.zk


def _close_then(c, owner: Client, other: Client, opcode: int, body) -> tuple[int, int]:
    """The owner's closeSession and the other client's write, both prepared by the leader
    before either is applied (both clients are on the leader, which prepares at submit)."""
    xc = owner.send(OpCode.closeSession)
    xw = other.send(opcode, body)
    owner.poll()
    other.poll()
    return xc, xw


def test_a_create_behind_the_close_of_the_holder_of_that_ephemeral_succeeds():
    """Goal: a lock by a fixed ephemeral name passes at once when its holder leaves. Setup: A
    holds ephemeral /lock; A sends closeSession, and B (right behind it in the log) creates
    /lock. Expected: A's close OK; B's create OK (in the log it comes after the close, which
    deleted /lock), and /lock is B's on every node. Broken: B is answered NODEEXISTS, and /lock
    does not exist on any node: no serial order of the log answers that."""
    c = _cluster()
    ld = c.leader()
    a, b = Client(c, ld, timeout_ms=30_000), Client(c, ld, timeout_ms=30_000)
    assert a.call(OpCode.create, r.CreateRequest("/lock", b"", OPEN, 1))[0].err == 0
    xc, xw = _close_then(c, a, b, OpCode.create, r.CreateRequest("/lock", b"", OPEN, 1))
    assert a.replies[xc][0].err == 0
    assert b.replies[xw][0].err == 0
    for i in c.ids:
        node = c.peers[i].state.tree.node("/lock")
        assert node is not None and node.ephemeral_owner == b.connect.session_id


def test_a_delete_of_the_parent_behind_the_close_of_its_only_ephemeral_child_succeeds():
    """Goal: the same, for the parent's child count. Setup: /p holds one child, A's ephemeral
    /p/e; A closes, and B deletes /p right behind the close. Expected: B's delete OK; /p is gone
    everywhere. Broken: NOTEMPTY, while /p has no child when B's delete is applied."""
    c = _cluster()
    ld = c.leader()
    a, b = Client(c, ld, timeout_ms=30_000), Client(c, ld, timeout_ms=30_000)
    assert b.call(OpCode.create, r.CreateRequest("/p", b"", OPEN, 0))[0].err == 0
    assert a.call(OpCode.create, r.CreateRequest("/p/e", b"", OPEN, 1))[0].err == 0
    _, xw = _close_then(c, a, b, OpCode.delete, r.DeleteRequest("/p", -1))
    assert b.replies[xw][0].err == 0
    assert all(c.peers[i].state.tree.node("/p") is None for i in c.ids)
