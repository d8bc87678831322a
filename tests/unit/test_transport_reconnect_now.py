"""A peer heard from is reconnected to at once (Transport._reconnect_now), with real sockets on
loopback (no processes).

Why: a restarted node's vote reached its peers while their DEALERs to it were still waiting out
their reconnect backoff; their answers were dropped (IMMEDIATE) and it joined a tick later.
"""

from __future__ import annotations

import time

import pytest
import zmq

from zmqzab.config import NodeAddress, load_config, render_config
from zmqzab.messages import Notification, Vote
from zmqzab.server import transport
from zmqzab.server.transport import Transport
from zmqzab.up.localcluster import free_ports

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
    c.destroy(linger=0)


def note(round_: int) -> Notification:
    return Notification(round=round_, state="FOLLOWING", vote=Vote(leader=1, zxid=0, epoch=1))


def until(cond, timeout: float, step=None):
    """Poll ``cond`` (running ``step`` before each try) until it is truthy or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if step is not None:
            step()
        got = cond()
        if got:
            return got
        time.sleep(0.005)
    return None


def events(t: Transport, peer: int) -> list[bool]:
    """The connection events waiting on ``t``'s monitor of its DEALER to ``peer``."""
    mon = next(m for m, p in t.monitors.items() if p == peer)
    got = []
    while mon.poll(0):
        e = t.connection_event(mon)
        if e is not None:
            got.append(e[1])
    return got


def test_a_restarted_peer_heard_from_is_reconnected_to_at_once_not_after_the_backoff(config, ctx, monkeypatch):
    """Goal: once a restarted peer is heard on our ROUTER, our DEALER to it connects at once.
    Setup: nodes 0 and 1 (real Transports) connected both ways; node 0's reconnect backoff is made
    60 s (so only the fix can reconnect within the test). Fault: node 1 stops (node 0's DEALER sees the
    connection close) and starts again on the same ports. Expected: node 1's first message reaches
    node 0; node 0's DEALER then reports a new connection to node 1 (connection_event (1, True))
    well before any backoff retry, and node 1 hears node 0's answer; the kick is counted once."""
    t1 = Transport(ctx, config, 1)  # bound first: node 0's one connect attempt finds it
    monkeypatch.setattr(transport, "RECONNECT_IVL_MS", 60_000)
    monkeypatch.setattr(transport, "RECONNECT_IVL_MAX_MS", 60_000)
    t0 = Transport(ctx, config, 0)
    try:
        assert until(lambda: True in events(t0, 1), 10), "node 0 never connected to node 1"
        assert until(lambda: True in events(t1, 0), 10), "node 1 never connected to node 0"
        assert 1 not in t0.reconnect_due
        t1.close()
        assert until(lambda: False in events(t0, 1), 10), "node 0 never saw node 1's connection close"
        assert 1 in t0.reconnect_due
        t1 = Transport(ctx, config, 1)
        heard = until(lambda: t0.recv_router(10), 10, step=lambda: t1.send(0, note(2)))
        assert heard and heard[0] == (1, note(2))
        assert until(lambda: True in events(t0, 1), 10), (
            "node 0's DEALER did not reconnect to node 1 after hearing it (it waits for its backoff)")
        answer = until(lambda: t1.recv_router(10), 10, step=lambda: t0.send(1, note(3)))
        assert answer and answer[0] == (0, note(3))
        assert t0.counters.reconnects_now == 1 and 1 not in t0.reconnect_due
    finally:
        t1.close()
        t0.close()
