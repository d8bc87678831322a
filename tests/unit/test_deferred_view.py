"""A node's HTTP view bound before its first election message and served after (server/httpbind.py).

Goal: putting the view off loses nothing a harness or a person relies on. Setup: the view of a
stand-in node (tests/unit/test_control_plane.py's StandIn), in this process. Faults: a request
sent before the view serves; the port taken by another socket; a view that fails to start.
Expected: the early request is queued by the kernel and answered once the view serves (200,
the node's status); a taken port fails at bind time, naming http_port and the way out; a view
that cannot start stops the node with exit code 1 and says why.
"""

from __future__ import annotations

import json
import socket

import pytest

from tests.unit.test_control_plane import StandIn
from zmqzab.server.httpbind import DeferredView
from zmqzab.server.transport import PortInUseError
from zmqzab.server.web import start_http

pytestmark = pytest.mark.web


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_request_sent_before_the_view_serves_is_answered_once_it_does():
    node = StandIn("127.0.0.1", public=False, token=None)
    view = DeferredView(node, lambda listener: start_http(node, listener))
    try:
        assert view.url == f"http://127.0.0.1:{node.addr.http_port}"
        with socket.create_connection(("127.0.0.1", node.addr.http_port), timeout=30) as client:
            # Accepted by the kernel (the listen backlog) although nothing serves yet.
            client.sendall(b"GET /status HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            assert view.server is None
            view.start()
            head, _, body = read_all(client).partition(b"\r\n\r\n")
        assert head.split(b"\r\n")[0].split()[1] == b"200", head
        assert json.loads(body)["role"] == "LEADING"
    finally:
        node.running = False
        view.shutdown()


def test_a_taken_http_port_fails_at_bind_naming_the_port_and_the_way_out():
    node = StandIn("127.0.0.1", public=False, token=None)
    with socket.socket() as other:
        other.bind(("127.0.0.1", node.addr.http_port))
        other.listen()
        with pytest.raises(PortInUseError) as err:
            DeferredView(node, lambda listener: start_http(node, listener))
    assert f"http_port {node.addr.http_port}" in str(err.value) and "already in use" in str(err.value)
    assert "change http_port in" in str(err.value)


def test_a_view_that_cannot_start_stops_the_node_and_says_why():
    node = StandIn("127.0.0.1", public=False, token=None)
    node.exit_code = 0
    said: list[str] = []
    node.log = type("Log", (), {"critical": staticmethod(said.append)})()

    def broken(listener):
        raise RuntimeError("no threads left")

    view = DeferredView(node, broken)
    view.start()
    view.shutdown()  # waits for the start to end
    assert node.running is False and node.exit_code == 1
    assert said and "HTTP view" in said[0] and "no threads left" in said[0]
