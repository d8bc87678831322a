"""The HTTP server's worker pool grows as requests need it (httpserver.py ``_hand_over``).

Goal: a node's view no longer starts its 40 workers at once (~5 ms of its start, issue 14), yet
no request waits while fewer than ``workers`` threads exist, and never more than ``workers``
are started. Setup: a LimitedHTTPServer of 3 workers whose handler holds /hold requests until
released. Faults: more held requests than workers. Expected: no worker before the first
request; 3 held requests are all being answered at once, by 3 workers; a 4th waits for one of
them (the cap) and is answered once they are released.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler

import pytest

from tests.polling import wait_for
from zmqzab.server.httpserver import LimitedHTTPServer, setup_connection

pytestmark = pytest.mark.web

release = threading.Event()
inside: list[str] = []


class Handler(BaseHTTPRequestHandler):
    def setup(self) -> None:
        setup_connection(self)

    def do_GET(self) -> None:  # noqa: N802
        inside.append(self.path)
        if self.path.startswith("/hold"):
            release.wait(30)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, fmt, *args) -> None:
        pass


def test_workers_start_as_requests_need_them_up_to_the_cap():
    release.clear()
    inside.clear()
    server = LimitedHTTPServer(("127.0.0.1", 0), Handler, workers=3)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    answers: dict[str, int] = {}

    def get(path: str) -> None:
        conn = http.client.HTTPConnection(*server.server_address[:2], timeout=30)
        try:
            conn.request("GET", path)
            answers[path] = conn.getresponse().status
        finally:
            conn.close()

    clients = []
    try:
        assert server._started == 0  # none before a request
        for i in range(3):
            clients.append(threading.Thread(target=get, args=(f"/hold{i}",), daemon=True))
            clients[-1].start()
        wait_for(lambda: len(inside) == 3, 30, "three held requests answered at once")
        assert server._started == 3
        clients.append(threading.Thread(target=get, args=("/fourth",), daemon=True))
        clients[-1].start()
        wait_for(lambda: server._handed == 4, 30, "the fourth request handed to the pool")
        assert "/fourth" not in inside and server._started == 3  # the cap: it waits for a worker
        release.set()
        for client in clients:
            client.join(30)
        assert answers == {"/hold0": 200, "/hold1": 200, "/hold2": 200, "/fourth": 200}
        assert server._started == 3
    finally:
        release.set()
        server.shutdown()
        server.server_close()
