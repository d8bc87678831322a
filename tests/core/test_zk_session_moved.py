"""Attacks on host/zk.py's reply routing: a session that moves to a new connection while a
request of its old connection is still on its way through ZAB.

kazoo (and ZooKeeper's Java client) drop a connection that is slow to answer and reconnect
with the same session, to the same node or another one; kazoo starts the new connection's xids
from 1 again (``ConnectionHandler._connect_attempt``: ``self._xid = 0``). A request the old
connection forwarded may still commit after that. ZooKeeper answers a request only on the
connection that sent it (the Request holds its ServerCnxn); a reply meant for a dead
connection is dropped. host/zk.py instead finds the connection by the txn's (session id, cxid)
through ``by_session``, so the old connection's txn lands on the new connection.

Each scenario: goal, setup, faults, expected, in its docstring.
"""

from __future__ import annotations

from collections import deque

import pytest

from tests.core.test_zk_host import OPEN, Client, ZkCluster, _cluster
from zmqzab.messages import Forward
from zmqzab.tree.errors import Code
from zmqzab.zk import records as r
from zmqzab.zk.opcodes import OpCode

pytestmark = pytest.mark.zk


def _two_followers(c: ZkCluster) -> tuple[int, int]:
    ld = c.leader()
    a, b = (i for i in c.ids if i != ld)
    return a, b


def _hold_forwards(c: ZkCluster, node: int) -> list:
    """Take ``node``'s FORWARDs to the leader out of the network (delayed, not lost)."""
    held = [m for m in c.queue if m[0] == node and isinstance(m[2], Forward)]
    c.queue = deque(m for m in c.queue if not (m[0] == node and isinstance(m[2], Forward)))
    return held


def _release(c: ZkCluster, held: list) -> None:
    c.queue.extend(held)


def test_a_sync_of_the_old_connection_applied_after_a_reconnect_does_not_crash_the_node():
    """Goal: the node survives a session moving while its sync is in flight. Setup: a client
    on follower A sends sync; A's FORWARD is slow; the client reconnects (a read timeout) to
    follower B with its session, and B hands the session over; then A's FORWARD arrives.
    Expected: B goes on serving (the old sync is never answered: its connection is gone).
    Broken: ZkServer.applied on B hands the sync point to B's connection of the session, which
    has no sync waiting: Pipeline.sync_point raises PipelineError out of the apply, through
    Replica.execute and out of Node.run: the node process dies. (On one node the same: kazoo
    reconnects to the node it left as often as to another.)"""
    c = _cluster()
    fa, fb = _two_followers(c)
    a = Client(c, fa, timeout_ms=30_000)
    a.send(OpCode.sync, r.SyncRequest("/"))
    held = _hold_forwards(c, fa)
    b = Client(c, fb, session_id=a.connect.session_id, passwd=a.connect.passwd)
    assert b.connect.session_id == a.connect.session_id
    _release(c, held)
    c.settle()
    assert b.call(OpCode.exists, r.ExistsRequest("/", False))[0].err == 0


def test_a_write_of_the_old_connection_does_not_answer_the_new_connections_write():
    """Goal: a reply goes to the request it answers. Setup: /b exists at version 0. A client on
    follower A sends create /a (xid 1); A's FORWARD is slow; the client reconnects to follower B
    (kazoo: xids from 1 again); A's FORWARD arrives, and the client sends setData /b with
    version 7 (xid 1), which must fail BADVERSION. Expected: the setData is answered BADVERSION
    and /b keeps its data. Broken: the create's txn (session, cxid 1) is applied first and
    answers B's pending xid 1: the client is told its setData succeeded (err 0) while the
    leader refused it; the setData's own ErrorTxn later finds nothing to answer."""
    c = _cluster()
    fa, fb = _two_followers(c)
    a = Client(c, fa, timeout_ms=30_000)
    assert a.call(OpCode.create, r.CreateRequest("/b", b"old", OPEN, 0))[0].err == 0
    a.xid = 0  # as if the earlier requests were on an earlier connection
    a.send(OpCode.create, r.CreateRequest("/a", b"", OPEN, 0))
    held = _hold_forwards(c, fa)
    b = Client(c, fb, session_id=a.connect.session_id, passwd=a.connect.passwd)
    _release(c, held)
    x = b.send(OpCode.setData, r.SetDataRequest("/b", b"new", 7))
    b.poll()
    assert c.peers[fb].state.tree.node("/b").data == b"old"  # the leader refused the setData
    assert x in b.replies
    assert b.replies[x][0].err == Code.BADVERSION  # not the create's OK


def test_a_delete_of_the_old_connection_answering_a_new_setdata_does_not_crash_the_node():
    """Goal: the node survives a stray reply of another shape. Setup: /d and /s exist. A client
    on follower A sends delete /d (xid 1); A's FORWARD is slow; the client reconnects to
    follower B; A's FORWARD arrives and the client sends setData /s (xid 1). Expected: the
    setData is answered with its own stat; every node keeps serving. Broken: the delete's txn
    answers the setData: write_reply builds a SetDataResponse from the delete's result, whose
    stat is None: AttributeError out of the apply, the node process dies."""
    c = _cluster()
    fa, fb = _two_followers(c)
    a = Client(c, fa, timeout_ms=30_000)
    for p in ("/d", "/s"):
        assert a.call(OpCode.create, r.CreateRequest(p, b"", OPEN, 0))[0].err == 0
    a.xid = 0
    a.send(OpCode.delete, r.DeleteRequest("/d", -1))
    held = _hold_forwards(c, fa)
    b = Client(c, fb, session_id=a.connect.session_id, passwd=a.connect.passwd)
    _release(c, held)
    x = b.send(OpCode.setData, r.SetDataRequest("/s", b"v", -1))
    b.poll()
    header, body = b.replies[x]
    assert header.err == 0 and body.stat.version == 1


def test_a_write_of_the_old_connection_is_not_applied_after_the_sessions_later_writes():
    """Goal: a session's writes are applied in the order the client sent them, across a
    reconnect (ZooKeeper's "sequential consistency"; its leader refuses a request that comes
    through a connection the session has left, SESSIONMOVED). Setup: /x exists. A client on
    follower A sends setData /x "1"; A's FORWARD is slow; the client reconnects to follower B,
    sends setData /x "2" and gets OK; then A's FORWARD arrives. Expected: /x is "2" on every
    node (the stray "1" is refused: it was answered CONNECTIONLOSS, it may not have been
    applied, but never after "2"). Broken: the leader proposes "1" behind "2": the client's
    own later write is undone by its earlier one."""
    c = _cluster()
    fa, fb = _two_followers(c)
    a = Client(c, fa, timeout_ms=30_000)
    assert a.call(OpCode.create, r.CreateRequest("/x", b"0", OPEN, 0))[0].err == 0
    a.send(OpCode.setData, r.SetDataRequest("/x", b"1", -1))
    held = _hold_forwards(c, fa)
    b = Client(c, fb, session_id=a.connect.session_id, passwd=a.connect.passwd)
    assert b.call(OpCode.setData, r.SetDataRequest("/x", b"2", -1))[0].err == 0
    _release(c, held)
    c.settle()
    assert [c.peers[i].state.tree.node("/x").data for i in c.ids] == [b"2"] * len(c.ids)
