"""A handler that raises is a bug of ours: the server says so (once per interval, with its
traceback) and keeps serving. Silence here hid a bug that closed every event stream of a busy
node right after its hello (a slice of a light PROPOSAL raised inside the stream)."""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler

import pytest
from loguru import logger

from tests.polling import wait_for
from zmqzab.server.httpserver import LimitedHTTPServer, setup_connection

pytestmark = pytest.mark.web


class Handler(BaseHTTPRequestHandler):
    def setup(self) -> None:
        setup_connection(self)

    def do_GET(self) -> None:  # noqa: N802
        if self.path == "/boom":
            raise ValueError("a bug in a handler")
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, fmt, *args) -> None:
        pass


def get(server, path: str) -> int | None:
    conn = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None  # the failed request got no answer
    finally:
        conn.close()


def test_a_handler_exception_is_logged_once_per_interval_and_the_server_keeps_serving():
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="ERROR")
    server = LimitedHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        get(server, "/boom")
        wait_for(lambda: any("ValueError: a bug in a handler" in line for line in lines), 10,
                 "the first handler failure is logged")
        assert any("Traceback" in line for line in lines), lines
        get(server, "/boom")
        wait_for(lambda: server.unreported == 1, 10, "a second failure within the interval is counted")
        assert sum("a bug in a handler" in line for line in lines) == 1, lines
        assert get(server, "/fine") == 200
    finally:
        logger.remove(sink)
        server.shutdown()
        server.server_close()
