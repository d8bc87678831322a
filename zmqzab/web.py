"""The node's HTTP side: ``GET /status`` (JSON) and ``GET /`` (index.html), on its http_port.

It runs on its own thread and never touches the Peer: it serves the last status dict the node's
loop published (swapped whole, so a reader never sees a half-written one). CORS is open so that
index.html opened straight from the file can poll every node.
"""

from __future__ import annotations

import errno
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from zmqzab.transport import PortInUseError

if TYPE_CHECKING:
    from zmqzab.node import Node

INDEX_HTML = Path(__file__).resolve().parent.parent / "index.html"


def make_handler(node: "Node") -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "zmqzab"

        def log_message(self, fmt: str, *args) -> None:  # keep the console for protocol events
            pass

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/status":
                self._send(200, msgspec.json.encode(node.status_snapshot), "application/json")
            elif path in ("/", "/index.html"):
                try:
                    body = INDEX_HTML.read_bytes()
                except OSError:
                    self._send(404, b"index.html not found next to the zmqzab package", "text/plain")
                    return
                self._send(200, body, "text/html; charset=utf-8")
            else:
                self._send(404, b'{"error": "not found: try /status or /"}', "application/json")

    return Handler


def start_http(node: "Node") -> ThreadingHTTPServer:
    addr = node.addr
    try:
        server = ThreadingHTTPServer((addr.host, addr.http_port), make_handler(node))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(
                f"node {node.id}: http_port {addr.http_port} on {addr.host} is already in use: stop the "
                f"other program, or change http_port in {node.config.path}"
            ) from None
        raise PortInUseError(f"node {node.id}: cannot serve HTTP on {addr.host}:{addr.http_port}: {exc}") from None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server
