"""Attack on the zk_port's auth (host/zk.py ``_auth``) with a jute null.

Jute's buffer may be null (length -1); zk/jute.py decodes it as None, and AuthPacket.auth is a
buffer. Any client that has a session (anyone: a ConnectRequest with session 0 makes one) can
send it. Found by a random fuzz of every request body with nulls in each nullable field.

Each scenario: goal, setup, faults, expected, in its docstring.
"""

from __future__ import annotations

import pytest

from tests.core.test_zk_host import Client, _cluster, _follower
from zmqzab.tree.errors import Code
from zmqzab.zk import records as r
from zmqzab.zk.opcodes import OpCode, Xid
from zmqzab.zk.protocol import encode_request

pytestmark = pytest.mark.zk


def test_a_digest_auth_with_a_null_buffer_fails_that_connection_and_the_node_serves_on():
    """Goal: hostile bytes on zk_port never kill the node. Setup: a client connected to a
    follower sends auth (xid -4) with scheme "digest" and a null auth buffer (length -1).
    Expected: as any unusable auth, AUTHFAILED then that connection closes; another client on
    the node is served. Broken: ``body.auth.decode`` on None raises AttributeError out of
    ZkServer.received, out of ZkPort.serve and Node.run: the node process exits."""
    c = _cluster()
    f = _follower(c)
    good = Client(c, f)
    bad = Client(c, f)
    bad.types[Xid.AUTH] = OpCode.auth
    c.zk[f].received(bad.conn, encode_request(Xid.AUTH, OpCode.auth, r.AuthPacket(0, "digest", None)))
    bad.poll()
    assert bad.replies[Xid.AUTH][0].err == Code.AUTHFAILED and bad.closed
    assert good.call(OpCode.exists, r.ExistsRequest("/", False))[0].err == 0
