"""Attack on the reconnect check (host/zk.py ``_connect``): a live session told it expired.

A client that reconnects with its session id and password is checked against the node's own
sessions table only: a session the node does not hold is answered as expired (ConnectResponse
with timeout 0). A follower that has not yet applied the session's createSession (its COMMIT
is on its way) does not hold it, and the lastZxidSeen check does not stop the client there: a
client that got no reply since its ConnectResponse (which carries no zxid) has seen zxid 0.
That is the client whose node was killed right after it connected. ZooKeeper's follower does
not decide this alone: it asks the leader (Learner.validateSession, REVALIDATE), which knows
every open session. kazoo takes the expired answer as final (KazooState.LOST): it drops the
session it still has, while the session and its ephemerals live on until they time out.

Each scenario: goal, setup, faults, expected, in its docstring.
"""

from __future__ import annotations

import pytest

from tests.core.test_zk_host import Client, _cluster, _follower
from zmqzab.messages import Commit
from zmqzab.zk import records as r
from zmqzab.zk.opcodes import OpCode
from zmqzab.zk.protocol import decode_connect_response, encode_connect_request

pytestmark = pytest.mark.zk


def test_a_follower_behind_on_the_sessions_create_does_not_call_the_session_expired():
    """Goal: a session is called expired only if it is. Setup: a client connects to the leader
    (a new session); every message is delivered except the COMMITs to one follower B (B holds
    the createSession's PROPOSAL, not its COMMIT). Faults: B lags. The client, having seen no
    zxid, reconnects to B with its session id and password. Expected: B answers with the
    session (its id and timeout), once it has caught up; the client can read through B.
    Broken: B answers timeout 0 and session 0: "expired", for a session every other node
    holds open."""
    c = _cluster()
    ld, b = c.leader(), _follower(c)
    zk = c.zk[ld]
    zk.opened("first", "127.0.0.1:5")
    zk.received("first", encode_connect_request(r.ConnectRequest(0, 0, 30_000, 0, b"\0" * 16, False)))
    while True:  # settle, but B's COMMITs never arrive
        if c.queue:
            if c.queue[0][1] == b and isinstance(c.queue[0][2], Commit):
                c.queue.popleft()
            else:
                c.deliver_one()
        elif any(c.disks[i].pending for i in c.up):
            for i in sorted(c.up):
                c.persist(i)
        else:
            break
    zk.flush()
    first = decode_connect_response(b"".join(c.sent.pop((ld, "first")))[4:])
    assert first.session_id != 0
    assert first.session_id not in c.peers[b].state.sessions  # B is behind
    again = Client(c, b, session_id=first.session_id, passwd=first.passwd)
    assert again.connect.session_id == first.session_id and again.connect.time_out == 30_000
    assert again.call(OpCode.exists, r.ExistsRequest("/", False))[0].err == 0
