"""The peer ROUTER and the routing ids of peers that come back (issue 11, defect 5).

A node's peer ROUTER knows each sender by the routing id its DEALER announces (keyless: the
node id). When a peer's process dies while this node cannot see it (this node is SIGSTOPped,
or a partition swallows the FIN), the ROUTER still holds the dead connection under that id when
the peer's new incarnation connects. These tests build exactly that state with real sockets on
loopback (no processes): a raw DEALER claiming node 1's id plays the old connection that was
never seen to close, and a real Transport for node 1 plays the restarted node.
"""

from __future__ import annotations

import time

import pytest
import zmq

from zmqzab.config import NodeAddress, load_config, render_config
from zmqzab.up.localcluster import free_ports
from zmqzab.messages import Notification, Vote, encode
from zmqzab.server import transport
from zmqzab.server.transport import Transport

pytestmark = [pytest.mark.transport]


@pytest.fixture
def config(tmp_path):
    ports = free_ports(8)
    nodes = [NodeAddress(i, "127.0.0.1", *ports[4 * i: 4 * i + 4]) for i in range(2)]
    path = tmp_path / "cluster.toml"
    path.write_text(render_config(nodes))
    return load_config(path)


@pytest.fixture
def ctx():
    c = zmq.Context()
    yield c
    c.term()


def vote(round_: int) -> Notification:
    return Notification(round=round_, state="FOLLOWING", vote=Vote(leader=1, zxid=0, epoch=1))


def receive_from(t: Transport, sender: int, want: Notification, timeout: float, resend=None) -> bool:
    """Poll ``t``'s peer ROUTER (and call ``resend`` between polls) until ``want`` arrives from
    ``sender``; False when ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if resend is not None:
            resend()  # a DEALER with IMMEDIATE drops sends until its connection is up
        if t.router.poll(50):
            for frm, msg in t.recv_router(100):
                if frm == sender and msg == want:
                    return True
    return False


def stale_connection(ctx: zmq.Context, config, claims: int, to: int) -> zmq.Socket:
    """A DEALER holding routing id ``claims`` at node ``to``'s peer ROUTER: the connection of a
    dead incarnation of node ``claims`` that node ``to`` has not yet seen close."""
    d = ctx.socket(zmq.DEALER)
    d.setsockopt(zmq.LINGER, 0)
    d.setsockopt(zmq.ROUTING_ID, str(claims).encode())
    d.setsockopt(zmq.RECONNECT_IVL, -1)  # a dead process never comes back on this connection
    d.connect(config.node(to).peer_endpoint)
    return d


def test_a_restarted_peer_is_heard_although_its_dead_connection_still_holds_its_id(config, ctx):
    """Goal: a peer's new connection is never shadowed by its old one (defect 5's root cause).
    Setup: node 0's Transport; an old connection claiming node 1's id, that node 0 has read a
    message from (so the ROUTER holds id "1"). Fault: node 1 "restarts" (a new Transport for
    node 1) while the old connection is still open. Expected: node 0 receives the new node 1's
    messages, both while the old connection is open and after it closes. Before the fix the
    ROUTER kept the first holder of id "1" and parked the new connection for good: nothing the
    restarted node sent was ever read, the black hole that left node 0 LOOKING."""
    t0 = Transport(ctx, config, 0)
    old = stale_connection(ctx, config, claims=1, to=0)
    t1 = None
    try:
        old.send(encode(vote(1)))
        assert receive_from(t0, 1, vote(1), timeout=10), "the old connection's message never arrived"

        t1 = Transport(ctx, config, 1)
        assert receive_from(t0, 1, vote(2), timeout=10, resend=lambda: t1.send(0, vote(2))), (
            "node 0 never heard the restarted node 1: its connection is shadowed by the dead one's routing id")

        old.close(0)  # node 0 finally reads the old connection's end
        assert receive_from(t0, 1, vote(3), timeout=10, resend=lambda: t1.send(0, vote(3))), (
            "node 0 lost the restarted node 1 when the dead connection closed")
    finally:
        old.close(0)
        if t1 is not None:
            t1.close()
        t0.close()


def test_what_the_dead_connection_still_holds_is_never_read_as_the_restarted_peers(config, ctx):
    """Goal: once the new connection owns the id, nothing of the dead one is read as the peer's
    (it belongs to a session that is over, and would arrive after the new session's messages).
    Setup and fault as above, but the old connection also holds messages node 0 has not read
    when the new one connects, and sends one more after. Expected: node 0 reads the new node
    1's message as node 1's, and none of the old connection's later messages as node 1's."""
    t0 = Transport(ctx, config, 0)
    old = stale_connection(ctx, config, claims=1, to=0)
    t1 = None
    try:
        old.send(encode(vote(1)))
        assert receive_from(t0, 1, vote(1), timeout=10)
        for k in range(10):
            old.send(encode(vote(100 + k)))  # unread by node 0 when node 1 restarts
        t1 = Transport(ctx, config, 1)
        assert receive_from(t0, 1, vote(2), timeout=10, resend=lambda: t1.send(0, vote(2)))
        old.send(encode(vote(99)))
        late = [msg.round for frm, msg in drain_for(t0, 1.0) if frm == 1 and msg.round != 2]
        assert late == [], f"the dead connection's messages were read as node 1's: rounds {late}"
    finally:
        old.close(0)
        if t1 is not None:
            t1.close()
        t0.close()


def drain_for(t: Transport, seconds: float) -> list:
    """Everything ``t``'s peer ROUTER reads within ``seconds`` (a bounded wait for what must not
    come)."""
    got = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if t.router.poll(50):
            got.extend(t.recv_router(1000))
    return got


def connection_events(t: Transport, peer: int, timeout: float) -> list[bool]:
    """The connection events of ``t``'s DEALER to ``peer`` (True: made, False: closed), read until
    at least one came or ``timeout`` passed (what the node's loop hands to the core)."""
    mon = next(m for m, p in t.monitors.items() if p == peer)
    deadline = time.monotonic() + timeout
    got: list[bool] = []
    while not got and time.monotonic() < deadline:
        while mon.poll(50):
            event = t.connection_event(mon)
            if event is not None:
                got.append(event[1])
    return got


def test_a_restarted_peer_heard_from_is_reconnected_to_at_once_not_after_the_backoff(config, ctx, monkeypatch):
    """Goal: once a restarted peer is heard on our ROUTER, our DEALER to it connects at once
    (issue 14: a restarted node's vote was answered into the void, and it joined a tick later).
    Setup: nodes 0 and 1 (real Transports) connected both ways; node 0's reconnect backoff is made
    60 s, so only the fix can reconnect within the test. Fault: node 1 stops (node 0's DEALER sees
    the connection close) and starts again on the same ports. Expected: node 1's message reaches
    node 0; node 0's DEALER then reports a new connection to node 1 at once, and node 1 hears
    node 0's answer; one such reconnect is counted."""
    t1 = Transport(ctx, config, 1)  # bound first: node 0's one connect attempt finds it
    monkeypatch.setattr(transport, "RECONNECT_IVL_MS", 60_000)
    monkeypatch.setattr(transport, "RECONNECT_IVL_MAX_MS", 60_000)
    t0 = Transport(ctx, config, 0)
    try:
        assert True in connection_events(t0, 1, 10), "node 0 never connected to node 1"
        assert 1 not in t0.reconnect_due
        t1.close()
        assert False in connection_events(t0, 1, 10), "node 0 never saw node 1's connection close"
        assert 1 in t0.reconnect_due
        t1 = Transport(ctx, config, 1)
        assert receive_from(t0, 1, vote(2), 10, resend=lambda: t1.send(0, vote(2)))
        assert True in connection_events(t0, 1, 10), (
            "node 0's DEALER did not reconnect to node 1 after hearing it (it waits for its backoff)")
        assert receive_from(t1, 0, vote(3), 10, resend=lambda: t0.send(1, vote(3)))
        assert t0.counters.reconnects_now == 1 and 1 not in t0.reconnect_due
    finally:
        t1.close()
        t0.close()
