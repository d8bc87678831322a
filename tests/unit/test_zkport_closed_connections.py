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


class _Replay:
    """The port's STREAM socket, with the messages libzmq already delivered handed out again
    (collected first, so that every client's close notice is there before the port serves:
    libzmq gives no notice for a connection the port closes before it saw the client's close,
    and that order is a race between the test and libzmq's I/O thread)."""

    def __init__(self, sock: zmq.Socket, messages: list) -> None:
        self.sock = sock
        self.messages = messages

    def recv_multipart(self, *args, **kwargs):
        if not self.messages:
            raise zmq.Again()
        return self.messages.pop(0)

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
    Expected: once the port took what libzmq delivered (each client's open notice, bytes and
    close notice), it counted every bad frame and ``ZkServer.conns`` is empty. Broken: one
    ghost per client."""
    ctx = zmq.Context()
    port = _port(ctx)
    messages: list = []
    try:
        for _ in range(CHECKS):
            with socket.create_connection(("127.0.0.1", port.node.addr.zk_port)) as s:
                s.sendall(b"\xff\xff\xff\xff")

        def everything_told() -> bool:
            while port.sock.poll(50):
                messages.append(port.sock.recv_multipart(zmq.NOBLOCK, copy=False))
            return len(messages) == 3 * CHECKS  # open notice, the bytes, close notice

        wait_for(everything_told, 20.0, "every client's open, bytes and close")
        port.sock = _Replay(port.sock, messages)
        port.serve()
        assert port.server.counters["zk_bad_frames"] == CHECKS
        assert list(port.server.conns) == []
    finally:
        port.close()
        ctx.term()
