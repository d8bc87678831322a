"""An HTTP server that slow, idle or greedy clients cannot starve (issue 17).

Theory of operation
-------------------
``http.server.ThreadingHTTPServer`` gives every connection a thread that waits, without a time
limit, for a request that may never come: 200 slow connections are 200 threads, and nothing
else is served while they dribble. ``LimitedHTTPServer`` splits a request's life in two:

1. **The head** (request line and headers) is read by ONE thread for every connection at once
   (a selector; non-blocking sockets). A head must be complete within ``HEAD_TIMEOUT_S`` from
   the connection (the whole head, not each read: one byte every few seconds does not keep a
   connection) and within ``HEAD_MAX_BYTES`` (431 beyond). At most ``PENDING_MAX`` connections
   may be sending their head; one more closes the oldest (a real client sends its head in one
   packet and is never the oldest for long).
2. **The answer** is made by a pool of at most ``workers`` threads, for complete heads only
   (started as requests need them, not all at once: a node's 40 cost ~5 ms of its start, on the
   clock of a restarted follower's catch-up, issue 14; see ``_hand_over``). Complete
   requests wait in a queue of ``QUEUE_MAX``; one more gets 503 at once. Every socket read and
   write of a worker has a ``SOCKET_TIMEOUT_S`` time limit (the body, the answer, an event
   stream's writes: a reader that takes nothing for that long while its buffers are full is
   dropped).

An event stream holds its worker for as long as the reader stays, so the node's pool is its
stream slots (web.py's ``StreamSlots``) plus ``WORKERS`` threads that streams can never take.
One request per connection (HTTP/1.0, as ``BaseHTTPRequestHandler`` answers by default).
"""

from __future__ import annotations

import io
import queue
import selectors
import socket
import socketserver
import threading
import time
from http.server import HTTPServer
from typing import Any

from loguru import logger

#: Request line and headers together.
HEAD_MAX_BYTES = 16 * 1024
#: From the connection to the end of its head.
HEAD_TIMEOUT_S = 10.0
#: Every read and write once the head is in (body, answer, each write of an event stream).
SOCKET_TIMEOUT_S = 10.0
#: Threads for plain requests (an event stream server adds one per stream slot).
WORKERS = 8
#: Connections still sending their head.
PENDING_MAX = 512
#: Complete requests waiting for a worker.
QUEUE_MAX = 64
#: A handler's exceptions are logged at most this often (the others are counted).
REPORT_EVERY_S = 10.0


class HeadRead:
    """A connection whose head the selector thread has read (``head``: every byte read so far)."""

    __slots__ = ("sock", "head")

    def __init__(self, sock: socket.socket, head: bytes) -> None:
        self.sock = sock
        self.head = head


class Prefixed(io.RawIOBase):
    """A socket's input with the bytes already read in front (what the handler's rfile reads)."""

    def __init__(self, prefix: bytes, sock: socket.socket) -> None:
        self._prefix = memoryview(prefix)
        self._sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        return self._sock.recv_into(buffer)


def _refuse(sock: socket.socket, status: str, text: str) -> None:
    """Answer without a worker (best effort: the socket may be non-blocking) and close."""
    body = ('{"error": "%s"}' % text).encode()
    try:
        sock.send(b"HTTP/1.0 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                  b"Connection: close\r\n\r\n%s" % (status.encode(), len(body), body))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class _Pending:
    __slots__ = ("addr", "deadline", "buf")

    def __init__(self, addr, deadline: float) -> None:
        self.addr = addr
        self.deadline = deadline
        self.buf = bytearray()


class LimitedHTTPServer(HTTPServer):
    """``HTTPServer`` with one head-reading thread and a bounded worker pool (module doc)."""

    daemon_threads = True
    request_queue_size = 128  # the listen backlog

    def __init__(self, address, handler, workers: int = WORKERS, listener: socket.socket | None = None) -> None:
        """``listener``: a socket bound and listening on ``address`` already (httpbind.py), else
        one is bound here."""
        if listener is None:
            super().__init__(address, handler)
        else:
            super().__init__(address, handler, bind_and_activate=False)
            self.socket.close()
            self.socket = listener
            # What HTTPServer.server_bind sets besides binding.
            self.server_address = listener.getsockname()
            self.server_name = socket.getfqdn(self.server_address[0])
            self.server_port = self.server_address[1]
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._incoming: queue.SimpleQueue = queue.SimpleQueue()
        self._jobs: queue.Queue = queue.Queue(QUEUE_MAX)
        self._closing = threading.Event()
        self.workers = workers
        #: Worker threads started so far, requests handed to the pool (the head thread's
        #: counts) and requests answered (the workers', under ``_lock``): see ``_hand_over``.
        self._started = 0
        self._handed = 0
        self._answered = 0
        self._lock = threading.Lock()
        self._reported_at = -REPORT_EVERY_S
        #: Handler failures not logged (within REPORT_EVERY_S of the last report).
        self.unreported = 0
        threading.Thread(target=self._read_heads, name="http-heads", daemon=True).start()

    # ---------------------------------------------------------------- accept thread

    def process_request(self, request, client_address) -> None:
        """From serve_forever's thread, right after accept: hand the connection to the head reader."""
        self._incoming.put((request, client_address))
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass  # the pipe is full: the reader wakes anyway

    # ---------------------------------------------------------------- head reader

    def _read_heads(self) -> None:
        pending: dict[socket.socket, _Pending] = {}
        while not self._closing.is_set():
            now = time.monotonic()
            soonest = min((p.deadline for p in pending.values()), default=now + 1.0)
            try:
                ready = self._selector.select(max(0.0, min(1.0, soonest - now)))
            except (OSError, ValueError):
                return  # closed under us by server_close
            for key, _ in ready:
                if key.fileobj is self._wake_r:
                    self._take_new(pending)
                else:
                    self._read_some(key.fileobj, pending)  # type: ignore[arg-type]
            now = time.monotonic()
            for sock in [s for s, p in pending.items() if p.deadline <= now]:
                self._forget(sock, pending)
                _refuse(sock, "408 Request Timeout", f"request head not complete within {HEAD_TIMEOUT_S:.0f} s")
        for sock in list(pending):
            self._forget(sock, pending)
            sock.close()

    def _take_new(self, pending: dict[socket.socket, _Pending]) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except OSError:
            pass
        while True:
            try:
                sock, addr = self._incoming.get_nowait()
            except queue.Empty:
                return
            if len(pending) >= PENDING_MAX:
                oldest = min(pending, key=lambda s: pending[s].deadline)
                self._forget(oldest, pending)
                _refuse(oldest, "408 Request Timeout", "too many connections sending their request")
            sock.setblocking(False)
            pending[sock] = _Pending(addr, time.monotonic() + HEAD_TIMEOUT_S)
            self._selector.register(sock, selectors.EVENT_READ, None)

    def _read_some(self, sock: socket.socket, pending: dict[socket.socket, _Pending]) -> None:
        p = pending.get(sock)
        if p is None:
            return
        try:
            data = sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._forget(sock, pending)
            sock.close()
            return
        p.buf += data
        end = p.buf.find(b"\r\n\r\n")
        if end < 0:
            end = p.buf.find(b"\n\n")
        if end < 0 and len(p.buf) <= HEAD_MAX_BYTES:
            return
        self._forget(sock, pending)
        if end < 0 or end > HEAD_MAX_BYTES:
            _refuse(sock, "431 Request Header Fields Too Large",
                    f"request line and headers over {HEAD_MAX_BYTES} bytes")
            return
        sock.setblocking(True)
        self._hand_over((sock, p.addr, bytes(p.buf)))

    def _hand_over(self, job: tuple[socket.socket, Any, bytes]) -> None:
        """Queue a complete request for the pool, starting one more worker whenever the requests
        handed over and not yet answered outnumber the workers: none waits while fewer than
        ``workers`` threads exist (the counts only err towards one worker too many)."""
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            _refuse(job[0], "503 Service Unavailable", "server busy: try again")
            return
        self._handed += 1
        if self._started < self.workers and self._handed - self._answered > self._started:
            try:
                threading.Thread(target=self._work, name=f"http-{self._started}", daemon=True).start()
            except RuntimeError:  # no thread to be had: the request waits for a busy worker
                return
            self._started += 1

    def _forget(self, sock: socket.socket, pending: dict[socket.socket, _Pending]) -> None:
        pending.pop(sock, None)
        try:
            self._selector.unregister(sock)
        except (KeyError, ValueError, OSError):
            pass

    # ---------------------------------------------------------------- workers

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            sock, addr, head = job
            try:
                self.finish_request(HeadRead(sock, head), addr)
            except (ConnectionError, TimeoutError):
                pass  # the reader left or stalled: routine for event streams
            except Exception as exc:  # one bad request must not take a worker away
                self._report(exc)
            finally:
                self.shutdown_request(sock)
                with self._lock:
                    self._answered += 1

    def _report(self, exc: Exception) -> None:
        """A handler raised: a bug of ours, never the client's doing (bad requests get a 4xx).
        Said once per ``REPORT_EVERY_S`` with its traceback: silence here once hid a bug that
        closed every event stream of a busy node right after its hello."""
        now = time.monotonic()
        if now - self._reported_at < REPORT_EVERY_S:
            self.unreported += 1
            return
        self._reported_at = now
        more = f" ({self.unreported} more since the last report)" if self.unreported else ""
        self.unreported = 0
        logger.opt(exception=exc).error(f"HTTP handler failed on {threading.current_thread().name}: "
                                        f"{type(exc).__name__}: {exc}{more}; the request got no answer")

    def server_close(self) -> None:
        self._closing.set()
        super().server_close()
        for _ in range(self.workers):
            try:
                self._jobs.put_nowait(None)
            except queue.Full:
                break
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass


def setup_connection(handler: socketserver.StreamRequestHandler) -> bool:
    """A handler's ``setup`` for a ``HeadRead`` request; False for a plain socket (not ours)."""
    request = handler.request
    if not isinstance(request, HeadRead):
        return False
    handler.connection = request.sock
    request.sock.settimeout(SOCKET_TIMEOUT_S)
    handler.rfile = io.BufferedReader(Prefixed(request.head, request.sock))
    handler.wfile = socketserver._SocketWriter(request.sock)  # sendall, no buffering
    return True
