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

from tests.core.test_zk_host import OPEN, Client, ZkCluster, _cluster, _follower
from zmqzab.messages import Commit
from zmqzab.zk import records as r
from zmqzab.zk.opcodes import OpCode
from zmqzab.zk.protocol import decode_connect_response, encode_connect_request

pytestmark = pytest.mark.zk


def _settle_without_commits_to(c: ZkCluster, b: int) -> None:
    """Settle (and flush the ZooKeeper ports), but every COMMIT to ``b`` is lost."""
    while True:
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
    for i in sorted(c.up):
        c.zk[i].flush()


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
    _settle_without_commits_to(c, b)
    first = decode_connect_response(b"".join(c.sent.pop((ld, "first")))[4:])
    assert first.session_id != 0
    assert first.session_id not in c.peers[b].state.sessions  # B is behind
    again = Client(c, b, session_id=first.session_id, passwd=first.passwd)
    assert again.connect.session_id == first.session_id and again.connect.time_out == 30_000
    assert again.call(OpCode.exists, r.ExistsRequest("/", False))[0].err == 0


def test_a_follower_behind_on_the_sessions_close_does_not_reopen_it():
    """Goal: a closed session never comes back (a lock holder whose session expired must not
    be told it still holds it). Setup: client S holds ephemeral /lock through the leader; S's
    session is closed (its own closeSession here; an expiry is the same txn) and the close is
    applied on the leader and one follower, but its COMMIT never reaches follower B. Faults: B
    lags. S's client, which saw no zxid of the close, reconnects to B with its id and
    password. Expected: B does not hand the session back (it answers expired, or nothing).
    Broken: B answers with the session (timeout > 0) and serves S's client /lock as its own
    ephemeral, from a table and tree the leader's close left behind: with ZooKeeper's lock
    recipe, two holders at once."""
    c = _cluster()
    ld, b = c.leader(), _follower(c)
    s = Client(c, ld, timeout_ms=30_000)
    h, _ = s.call(OpCode.create, r.CreateRequest("/lock", b"", OPEN, 1))
    s.send(OpCode.closeSession)
    _settle_without_commits_to(c, b)
    assert s.connect.session_id not in c.peers[ld].state.sessions
    assert s.connect.session_id in c.peers[b].state.sessions  # B is behind
    again = Client(c, b, session_id=s.connect.session_id, passwd=s.connect.passwd,
                   last_zxid=h.zxid)
    assert again.connect is None or again.connect.time_out == 0, "a closed session reopened"
