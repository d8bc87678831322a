"""The replay server: the page and one recording, on loopback (``zmqzab replay``, ``sim --view``).

GET / (index.html, the file the nodes serve), GET /recording (the recording's lines,
decompressed, ``application/x-ndjson``); the page replays it when opened at
``/?replay=/recording``. Read-only, no event streams: the node's HTTP server class
(server/httpserver.py: bounded heads, a fixed worker pool, socket time limits) and its
handler base (server/web.py: the Host check against DNS rebinding, no-store).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from zmqzab.record.format import NDJSON
from zmqzab.server.httpserver import LimitedHTTPServer
from zmqzab.server.web import JsonHandler, serve_http


def make_replay_handler(body: bytes, names: frozenset[str]) -> type[JsonHandler]:
    class Handler(JsonHandler):
        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            try:
                if self._host_refused(names):
                    return
                if path == "/recording":
                    self._send(200, body, NDJSON + "; charset=utf-8")
                elif path in ("/", "/index.html"):
                    self._index()
                elif path == "/favicon.ico":
                    self._send(204, b"", "image/x-icon")
                else:
                    self._error(404, f"not found: {path}; this is a replay: try / or /recording")
            except OSError:  # the reader went away
                pass

    return Handler


def serve_recording(body: bytes, host: str = "127.0.0.1", port: int = 0) -> tuple[LimitedHTTPServer, str]:
    """Serve ``body`` (a recording's lines) and the page; returns the server and the address to
    open. Raises server.transport.PortInUseError (its message says what to do) if it cannot bind."""
    names = frozenset({host.strip("[]").lower()})
    server = serve_http(host, port, make_replay_handler(body, names), "zmqzab replay", "replay-http")
    bound = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    return server, f"http://{shown}:{bound}/?replay=/recording"
