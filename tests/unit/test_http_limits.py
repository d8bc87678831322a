"""Issue 17, part 3: a node's HTTP server cannot be starved by slow, idle or hostile clients.

The real server and handler of a node (web.py over httpserver.py) in this process, with the
stand-in node of test_control_plane. Every wait polls a condition with a deadline.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import threading
import time

import pytest

from tests.polling import wait_for
from tests.unit.test_control_plane import TOKEN, StandIn, serve  # noqa: F401 (a fixture)
from tests.unit.test_web_security import StandInSupervisor, ask
from zmqzab.security.runsecret import SECRET_HEADER
from zmqzab.server import httpserver, web
from zmqzab.up.control import start_control_http

pytestmark = [pytest.mark.security, pytest.mark.web]


def connect(server) -> socket.socket:
    s = socket.create_connection(server.server_address[:2], timeout=10)
    return s


def status_ok(server) -> bool:
    try:
        code, _, body = ask(server, "GET", "/status")
    except (OSError, http.client.HTTPException):
        return False
    return code == 200 and json.loads(body)["role"] == "LEADING"


def page_ok(server) -> bool:
    try:
        code, hdrs, body = ask(server, "GET", "/")
    except (OSError, http.client.HTTPException):
        return False
    return code == 200 and hdrs["content-type"].startswith("text/html") and b"<svg" in body


def stream_opens(server) -> bool:
    """A new event stream (what the page opens) gets 200 and its hello."""
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("GET", "/events?status=1&backlog=0")
        resp = conn.getresponse()
        if resp.status != 200:
            return False
        first = resp.fp.readline() + resp.fp.readline() + resp.fp.readline()
        return b"event: hello" in first
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def test_200_slow_connections_and_100_idle_event_readers_do_not_lock_out_status_and_the_page(
        serve, monkeypatch):
    """Goal: slowloris and readers that never read cannot starve a node's HTTP. Setup: a node's
    HTTP server in this process. Faults: 200 connections that send half a request head and then
    nothing; 100 event-stream readers (as the page opens, status=1) that never read a byte.
    Expected: /status and the page are answered while all of them are held open, and a new
    event stream (the page's) opens: the oldest idle reader is ended to make room."""
    monkeypatch.setattr(web, "STREAM_EVICT_AGE_S", 1.0, raising=False)  # the test's patience
    node, server = serve(token=TOKEN)
    held: list[socket.socket] = []
    try:
        for _ in range(200):
            s = connect(server)
            s.sendall(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            held.append(s)
        for _ in range(100):
            s = connect(server)
            s.sendall(b"GET /events?status=1&backlog=2000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            held.append(s)
        wait_for(lambda: status_ok(server), 30, "/status answered beside 300 hostile connections")
        wait_for(lambda: page_ok(server), 30, "the page answered beside 300 hostile connections")
        wait_for(lambda: stream_opens(server), 30, "a new event stream beside 100 idle readers")
        streams = server.RequestHandlerClass.streams
        assert streams.evicted >= 1 and len(streams) <= web.MAX_STREAMS
    finally:
        for s in held:
            s.close()


def test_a_request_head_must_come_whole_within_the_deadline_and_size(serve, monkeypatch):
    monkeypatch.setattr(httpserver, "HEAD_TIMEOUT_S", 0.5)
    _, server = serve(token=TOKEN)
    s = connect(server)
    s.sendall(b"GET /status HTTP/1.1\r\n")  # ... and never the rest
    answer = s.recv(4096)  # the server ends it: blocks only until the deadline
    assert answer.startswith(b"HTTP/1.0 408") and b"not complete" in answer
    s.close()
    s = connect(server)
    s.sendall(b"GET /status HTTP/1.1\r\n" + b"X-Pad: " + b"a" * httpserver.HEAD_MAX_BYTES + b"\r\n\r\n")
    answer = s.recv(4096)
    assert answer.startswith(b"HTTP/1.0 431")
    s.close()
    assert status_ok(server)


def test_an_event_reader_that_falls_behind_is_dropped(serve, monkeypatch):
    """Goal: a reader that stops reading does not hold its slot and thread for ever. Setup: a
    node whose status changes every flush and is 64 KiB big. Fault: a reader that reads
    nothing. Expected: its writes block, and after SOCKET_TIMEOUT_S the stream is dropped."""
    monkeypatch.setattr(httpserver, "SOCKET_TIMEOUT_S", 0.5)

    class BigStatus(StandIn):
        @property
        def status_snapshot(self):
            return {"id": 0, "role": "LEADING", "heartbeat_ms": 50, "pad": "x" * 65536}

        @status_snapshot.setter
        def status_snapshot(self, value):
            pass

    node, server = serve(node=BigStatus("127.0.0.1", False, None))
    s = connect(server)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(b"GET /events?status=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    streams = server.RequestHandlerClass.streams
    try:
        wait_for(lambda: len(streams) == 1, 10, "the stream to start")
        wait_for(lambda: len(streams) == 0, 60, "the reader that reads nothing to be dropped")
        assert status_ok(server)
    finally:
        s.close()


def hostile_request(rng: random.Random, secret: str, own_origin: str) -> tuple[bytes, bool]:
    """Raw bytes for one request to the controls, and whether it may carry out a control."""
    kind = rng.choice(["random", "long-line", "many-headers", "bad-length", "crash"])
    if kind == "random":
        return bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 3000))), False
    if kind == "long-line":
        return b"GET /" + b"a" * rng.randrange(70_000, 120_000) + b" HTTP/1.1\r\n\r\n", False
    if kind == "many-headers":
        return b"GET /control HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(rng.randrange(101, 400))) + b"\r\n", False
    if kind == "bad-length":
        length = rng.choice([b"-1", b"99999999999", b"abc", b"4097", b""])
        return (b"POST /control/crash HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"%s: %s\r\nContent-Length: %s\r\n\r\n{}" % (SECRET_HEADER.encode(), secret.encode(), length)), False
    origin = rng.choice([None, "null", "https://evil.example", own_origin, "http://127.0.0.1:1"])
    host = rng.choice(["127.0.0.1", "localhost", "evil.example", "127.0.0.1.evil.example"])
    given = rng.choice([secret, "", secret[:-1] + ("A" if secret[-1] != "A" else "B"), None])
    headers = [b"Host: " + host.encode(), b"Content-Type: application/json"]
    if origin is not None:
        headers.append(b"Origin: " + origin.encode())
    if given is not None:
        headers.append(SECRET_HEADER.encode() + b": " + given.encode())
    body = b'{"node": 0}'
    headers.append(b"Content-Length: %d" % len(body))
    allowed = given == secret and host in ("127.0.0.1", "localhost") and origin in (None, own_origin)
    return b"POST /control/crash HTTP/1.1\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + body, allowed


def test_hostile_requests_to_the_controls_do_only_what_the_secret_allows(tmp_path, serve):
    """Goal: seeded hostile HTTP to the controls (random bytes, over-long request lines, header
    floods, bad Content-Length, and control requests with every mix of Origin, Host and secret)
    is answered or closed, carries out exactly the allowed requests, and starves nobody.
    Expected: the number of crashes done is the number of allowed requests sent; the node's
    /status and the controls still answer."""
    seed = random.randrange(2**32)
    print(f"hostile HTTP seed {seed} (reproduce: rng = random.Random({seed}))")
    rng = random.Random(seed)
    sup = StandInSupervisor(tmp_path)
    controls = start_control_http(sup, "127.0.0.1", 0)
    sup.control_url = f"http://127.0.0.1:{controls.server_address[1]}"
    node_stand_in, node = serve(token=TOKEN)
    allowed = 0
    try:
        for _ in range(150):
            raw, ok = hostile_request(rng, sup.secret, sup.control_url)
            allowed += ok
            for server in (controls, node):
                s = connect(server)
                try:
                    s.sendall(raw)
                    s.shutdown(socket.SHUT_WR)
                    while s.recv(65536):
                        pass
                except OSError:
                    pass  # the server may close first (a refused head)
                finally:
                    s.close()
        assert len(sup.done) == allowed, f"seed {seed}"
        assert node_stand_in.commands == [], f"seed {seed}"  # a node obeys its supervisor only
        assert status_ok(node), f"seed {seed}"
        code, _, _ = ask(controls, "GET", "/control", {SECRET_HEADER: sup.secret})
        assert code == 200, f"seed {seed}"
    finally:
        controls.shutdown()
        controls.server_close()


def test_readers_that_read_keep_their_slots_and_a_newcomer_waits(serve, monkeypatch):
    """Goal: making room for new readers never ends a stream that is being read (a classroom
    with more readers than slots must not reconnect in circles). Setup: 3 slots; a node whose
    16 KiB status changes every flush. Steps: 3 readers that read everything; once they are
    older than the eviction age, a 4th stream. Expected: the 4th gets 503 and the 3 keep their
    slots; when one reader stops reading (its writes block), its stream is ended for the next."""
    monkeypatch.setattr(web, "MAX_STREAMS", 3)
    monkeypatch.setattr(web, "STREAM_EVICT_AGE_S", 0.3)
    monkeypatch.setattr(httpserver, "SOCKET_TIMEOUT_S", 120.0)  # room is made by eviction here

    class Ticking(StandIn):
        @property
        def status_snapshot(self):  # a new dict each time: a new status every flush
            return {"id": 0, "role": "LEADING", "heartbeat_ms": 50, "pad": "x" * 16384}

        @status_snapshot.setter
        def status_snapshot(self, value):
            pass

    node, server = serve(node=Ticking("127.0.0.1", False, None))
    streams = server.RequestHandlerClass.streams
    readers = []

    def read_all(s: socket.socket, stop: threading.Event) -> None:
        try:
            while not stop.is_set() and s.recv(65536):
                pass
        except OSError:
            pass

    for _ in range(3):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
        s.settimeout(10)
        s.connect(server.server_address[:2])
        s.sendall(b"GET /events?status=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        stop = threading.Event()
        threading.Thread(target=read_all, args=(s, stop), daemon=True).start()
        readers.append((s, stop))
    try:
        wait_for(lambda: len(streams) == 3, 10, "three streams")
        first = set(streams._open)
        wait_for(lambda: all(time.monotonic() - st.started > 0.6 for st in first), 10,
                 "the streams to be older than the eviction age")
        assert not stream_opens(server)  # every slot is read: 503
        assert streams.evicted == 0 and set(streams._open) == first
        readers[0][1].set()  # one reader stops reading: its buffers fill, its writes block
        wait_for(lambda: stream_opens(server), 60, "a stream once a reader stopped reading")
        assert streams.evicted >= 1
    finally:
        for s, stop in readers:
            stop.set()
            s.close()
