"""Attack on the zk_port's limits (host/zk.py, zk/session.py): how much a client makes a node
hold.

A write waits in its connection's pipeline, decoded, from the moment it is read until its txn
is applied on this node. zk/session.py bounds that per connection (PENDING_MAX = 1000, "ZooKeeper's
globalOutstandingLimit", plus PENDING_SLACK = 1000 more before it closes the connection), but
ZooKeeper's globalOutstandingLimit is one count for the whole server: past it, ZooKeeper stops
reading from every connection (ServerCnxn throttling) until requests complete. ZkServer has no
count across connections, never looks at ``should_read``, and takes any number of connections
(no maxClientCnxns). A decoded request costs far more than its frame: a 1 MiB multi of 58,000
checks is ~6 MB of Python objects (measured with tracemalloc), so one connection can make a
node hold 2,000 x 6 MB = 12 GB, and a client can open as many connections as it likes.

Proposed fix: a node-wide count of pending requests; while it is at the limit, ZkServer does not
decode more (the bytes stay in the connections' decoders) and the node's loop stops polling the
zk socket (libzmq's receive high-water mark and TCP then push back on the clients), as
ZooKeeper's throttling does; and a per-address connection limit (maxClientCnxns, 60).

Each scenario: goal, setup, faults, expected, in its docstring.
"""

from __future__ import annotations

import pytest

from tests.core.test_zk_host import OPEN, Client, _cluster, _follower
from zmqzab.zk import records as r
from zmqzab.zk.opcodes import OpCode
from zmqzab.zk.session import PENDING_MAX

pytestmark = pytest.mark.zk


def test_a_node_holds_at_most_the_global_outstanding_limit_of_requests():
    """Goal: what clients make a node hold is bounded, whatever the number of connections.
    Setup: /x exists; three connections on one follower each pipeline 900 setData of /x before
    any is applied (the harness delivers nothing until it settles). Expected: the node holds
    (decoded, waiting in pipelines) at most PENDING_MAX requests in all (it held 2,700 before
    the node-wide limit); the rest wait as bytes and are all answered, in order, as the first
    ones complete."""
    c = _cluster()
    f = _follower(c)
    clients = [Client(c, f, timeout_ms=60_000) for _ in range(3)]
    assert clients[0].call(OpCode.create, r.CreateRequest("/x", b"", OPEN, 0))[0].err == 0
    for cl in clients:
        for _ in range(900):
            cl.send(OpCode.setData, r.SetDataRequest("/x", b"v" * 64, -1))
    held = sum(conn.pipe.queued for conn in c.zk[f].conns.values())
    assert held <= PENDING_MAX, f"{held} requests held decoded on node {f}"
    assert not c.zk[f].should_read
    for cl in clients:
        cl.poll()
    c.settle()
    for cl in clients:
        cl.poll()
        answered = [x for x in cl.order if x.startswith("reply")]
        assert len(answered) == cl.xid and all(h.err == 0 for h, _ in cl.replies.values())
    assert c.zk[f].should_read


def test_one_address_holds_at_most_max_client_cnxns_connections():
    """ZooKeeper's maxClientCnxns (60): the 61st connection from one address is closed at once;
    one from another address is not; closing one makes room again."""
    c = _cluster()
    zk = c.zk[_follower(c)]
    for k in range(60):
        zk.opened(f"a{k}", "10.0.0.1")
    zk.opened("a60", "10.0.0.1")
    zk.opened("b0", "10.0.0.2")
    assert "a60" not in zk.conns and "b0" in zk.conns and len(zk.conns) == 61
    zk.closed("a0")
    zk.opened("a61", "10.0.0.1")
    assert "a61" in zk.conns
