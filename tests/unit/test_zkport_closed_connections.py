"""Attack on server/zkport.py: connections the port closed itself come back as ghosts.

ZMQ_STREAM announces a connection opening and closing the same way, an empty message; ZkPort
tells the two apart by whether the connection id is in ``self.remote``. When the port closes a
connection (``zk_close``: a four-letter word answered, a bad frame, an expired session...) it
drops the id from ``remote`` at once. If the client closed its side too, as every
``echo ruok | nc -q0 host 2181`` health check does, libzmq still delivers that connection's
close notice afterwards: an id not in ``remote``, so ZkPort takes it for a NEW connection and
``ZkServer.opened`` makes a Connection that no one will ever close (the socket is gone; no
further notice comes). Each one stays in ``ZkServer.conns`` (its decoder and pipeline), in
``cons`` and in the status view rebuilt every tick: memory and per-tick work grow without
bound, one ghost per health check, until the node loses its leader.

Real sockets on 127.0.0.1, a ZkPort on a stand-in node (only what ZkPort reads of it); no
fixed sleeps: every wait is a poll with a deadline (tests/polling.py).
"""

from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest
import zmq

from tests.polling import wait_for
from zmqzab.config import ZooKeeperConfig
from zmqzab.server.zkport import ZkPort
from zmqzab.up.localcluster import free_ports

pytestmark = pytest.mark.zk

CHECKS = 20


class _CountingSocket:
    """The port's STREAM socket, counting the empty messages (open and close notices) it
    hands out, so the test knows when libzmq has told everything."""

    def __init__(self, sock: zmq.Socket) -> None:
        self.sock = sock
        self.notices = 0

    def recv_multipart(self, *args, **kwargs):
        msg = self.sock.recv_multipart(*args, **kwargs)
        if not msg[1].bytes:
            self.notices += 1
        return msg

    def __getattr__(self, name):
        return getattr(self.sock, name)


def _port(ctx: zmq.Context) -> ZkPort:
    (port,) = free_ports(1)
    node = SimpleNamespace(
        id=1, ctx=ctx, addr=SimpleNamespace(host="127.0.0.1", zk_port=port),
        config=SimpleNamespace(zookeeper=ZooKeeperConfig(), timing=SimpleNamespace(tick_ms=100)),
        replica=None, execute=lambda out: None)
    return ZkPort(node, time_ms=1_000_000)


def test_connections_closed_by_both_sides_leave_no_connection_behind():
    """Goal: the port holds no connection that no longer exists. Setup: CHECKS clients each
    connect, send a bad length (4 bytes 0xff: the port closes the connection, as for any bad
    frame or an answered four-letter word) and close their socket at once. Faults: none.
    Expected: once libzmq delivered every open and close notice (2 x CHECKS) and the port
    counted every bad frame, ``ZkServer.conns`` is empty. Broken: one ghost per client."""
    ctx = zmq.Context()
    port = _port(ctx)
    sock = port.sock = _CountingSocket(port.sock)
    try:
        for _ in range(CHECKS):
            with socket.create_connection(("127.0.0.1", port.node.addr.zk_port)) as s:
                s.sendall(b"\xff\xff\xff\xff")

        def everything_told() -> bool:
            if sock.poll(50):
                port.serve()
            return (sock.notices == 2 * CHECKS
                    and port.server.counters["zk_bad_frames"] == CHECKS)

        wait_for(everything_told, 20.0, "every notice and bad frame")
        assert sock.poll(200) == 0  # nothing more to come
        assert list(port.server.conns) == []
    finally:
        port.close()
        ctx.term()
