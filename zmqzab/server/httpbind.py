"""A node's HTTP view in two steps: its port bound at start-up, served once the node has voted.

Why: the view's code (web.py, and with it http.server, email, ssl, hmac ...) and its threads (one
per stream slot and worker) cost ~15 ms of CPU, ~10% of a node's start-up, and a node's first
election message is on the clock of every restart (issue 14: a follower's catch-up starts with
it). So ``run_node`` binds the port first, which is all a port in use needs to stop the node
before it joins (exit 2, the same message as before), and ``DeferredView.start`` serves it from a
thread once the node has sent its first election message, while its loop waits for the answers.
A client that connects in between is not refused: the kernel queues its connection on the bound
socket (the listen backlog) and the view answers it as soon as it serves; a harness polling
/status (LocalCluster, `zmqzab up`, the bench) only sees a slower first answer.

Nothing here imports http.server or web.py at import.
"""

from __future__ import annotations

import errno
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from zmqzab.server.transport import PortInUseError

if TYPE_CHECKING:
    from zmqzab.server.httpserver import LimitedHTTPServer
    from zmqzab.server.node import Node

#: Connections the kernel queues before the view accepts them (socketserver's listen backlog).
BACKLOG = 128


def bind_http(host: str, port: int, what: str) -> socket.socket:
    """A listening socket on host:port, bound as socketserver's HTTPServer binds (SO_REUSEADDR);
    a port in use or an address that cannot be bound is a PortInUseError that says so."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(f"{what}: port {port} on {host} is already in use: stop the other "
                                 "program, or change the port") from None
        raise PortInUseError(f"{what}: cannot serve HTTP on {host}:{port}: {exc}") from None
    return sock


def bind_node_http(node: "Node") -> socket.socket:
    """The node's http_port, bound where the config says (loopback unless http_public)."""
    addr = node.addr
    try:
        return bind_http(node.config.http_host(addr), addr.http_port, f"node {node.id}")
    except PortInUseError as exc:
        if "already in use" in str(exc):
            raise PortInUseError(
                f"node {node.id}: http_port {addr.http_port} on {addr.host} is already in use: stop the "
                f"other program, or change http_port in {node.config.path}"
            ) from None
        raise


def view_url(host: str, port: int) -> str:
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}"


class DeferredView:
    """A node's HTTP view: its port bound at once (``url``), served from ``start()`` on by
    ``serve(listener)`` (web.py's start_http, which this module must not import)."""

    def __init__(self, node: "Node", serve: Callable[[socket.socket], "LimitedHTTPServer"]) -> None:
        self.node = node
        self._serve_on = serve
        self.listener = bind_node_http(node)
        self.url = view_url(node.config.http_host(node.addr), node.addr.http_port)
        self.server: LimitedHTTPServer | None = None
        self._starter: threading.Thread | None = None

    def start(self) -> None:
        """Serve the view from now on (its imports and threads made on a thread of their own)."""
        self._starter = threading.Thread(target=self._serve, name="http-start", daemon=True)
        self._starter.start()

    def _serve(self) -> None:
        node = self.node
        try:
            self.server = self._serve_on(self.listener)
        except Exception as exc:  # the view is how people and harnesses see the node: stop without it
            node.log.critical(f"stopping: the HTTP view on {self.url} did not start: {exc!r}")
            node.exit_code = 1
            node.running = False

    def shutdown(self) -> None:
        if self._starter is not None:
            self._starter.join()
        if self.server is not None:
            self.server.shutdown()
        else:
            self.listener.close()
