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

import pytest

from tests.core.test_zk_host import OPEN, Client, ZkCluster, _cluster, _follower
from zmqzab.tree.errors import Code
from zmqzab.zk import records as r
from zmqzab.zk.opcodes import OpCode
from zmqzab.zk.protocol import encode_connect_request

pytestmark = pytest.mark.zk


class Reconnect(Client):
    """A client that reconnects with a session and sends right away, as kazoo does after a
    read timeout: the ConnectRequest is taken (a reopen needs no txn) but nothing is settled,
    so what the old connection forwarded is still in flight."""

    def __init__(self, c: ZkCluster, node: int, session_id: int, passwd: bytes) -> None:
        Client._n += 1
        self.c, self.node, self.conn = c, node, f"conn{Client._n}"
        self.xid = 0
        self.types, self.replies, self.events, self.order = {}, {}, [], []
        self._buf = b""
        zk = c.zk[node]
        zk.opened(self.conn, "127.0.0.1:9")
        zk.received(self.conn, encode_connect_request(r.ConnectRequest(
            0, 0, 30_000, session_id, passwd, False)))
        zk.flush()
        self.connect = self._frames(connect=True)
        assert self.connect is not None and self.connect.session_id == session_id


def test_a_sync_of_the_old_connection_applied_after_a_reconnect_does_not_crash_the_node():
    """Goal: the node survives a session moving while its sync is in flight. Setup: a client
    on a follower sends sync; before the sync's ErrorTxn(0) comes back, the client reconnects
    to the same follower with its session (a read timeout). Expected: the node goes on serving
    (the old sync is simply never answered, its connection is gone). Broken: ZkServer.applied
    hands the sync point to the NEW connection's pipeline, which has no sync waiting:
    Pipeline.sync_point raises PipelineError out of the apply, through Replica.execute and out
    of Node.run: the node process dies."""
    c = _cluster()
    f = _follower(c)
    a = Client(c, f, timeout_ms=30_000)
    a.send(OpCode.sync, r.SyncRequest("/"))  # forwarded, not yet applied
    b = Reconnect(c, f, a.connect.session_id, a.connect.passwd)
    c.settle()  # the sync commits and is applied on f
    assert b.call(OpCode.exists, r.ExistsRequest("/", False))[0].err == 0


def test_a_write_of_the_old_connection_does_not_answer_the_new_connections_write():
    """Goal: a reply goes to the request it answers. Setup: /b exists at version 0. A client on
    a follower sends create /a (xid 1); before it is applied, the client reconnects to the same
    follower (kazoo: xids from 1 again) and sends setData /b with version 7 (xid 1), which must
    fail BADVERSION. Expected: the setData is answered BADVERSION, and /b keeps its data.
    Broken: the create's txn (session, cxid 1) is applied first and answers the new
    connection's pending xid 1: the client is told its setData succeeded (err 0) while the
    leader refused it; the setData's own ErrorTxn later finds nothing to answer."""
    c = _cluster()
    f = _follower(c)
    a = Client(c, f, timeout_ms=30_000)
    assert a.call(OpCode.create, r.CreateRequest("/b", b"old", OPEN, 0))[0].err == 0
    a.xid = 0  # as if the earlier requests were on an earlier connection
    a.send(OpCode.create, r.CreateRequest("/a", b"", OPEN, 0))
    b = Reconnect(c, f, a.connect.session_id, a.connect.passwd)
    x = b.send(OpCode.setData, r.SetDataRequest("/b", b"new", 7))
    b.poll()
    assert c.peers[f].state.tree.node("/b").data == b"old"  # the leader refused the setData
    assert x in b.replies
    assert b.replies[x][0].err == Code.BADVERSION  # not the create's OK


def test_a_delete_of_the_old_connection_answering_a_new_setdata_does_not_crash_the_node():
    """Goal: the node survives a stray reply of another shape. Setup: /d and /s exist. A client
    on a follower sends delete /d (xid 1); before it is applied the client reconnects (another
    node this time: the delete is applied there too) and sends setData /s (xid 1). Expected:
    the setData is answered with its own stat; every node keeps serving. Broken: the delete's
    txn answers the setData: write_reply builds a SetDataResponse from the delete's result,
    whose stat is None: AttributeError out of the apply, the node process dies."""
    c = _cluster()
    f = _follower(c)
    other = next(i for i in c.ids if i != f)
    a = Client(c, f, timeout_ms=30_000)
    for p in ("/d", "/s"):
        assert a.call(OpCode.create, r.CreateRequest(p, b"", OPEN, 0))[0].err == 0
    a.xid = 0
    a.send(OpCode.delete, r.DeleteRequest("/d", -1))
    b = Reconnect(c, other, a.connect.session_id, a.connect.passwd)
    x = b.send(OpCode.setData, r.SetDataRequest("/s", b"v", -1))
    b.poll()
    header, body = b.replies[x]
    assert header.err == 0 and body.stat.version == 1
