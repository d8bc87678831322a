"""The event streams one node serves at once, and which one gives way to a new reader.

A node serves at most ``size`` event streams (each holds a thread). Readers that never read
must not hold them for ever (issue 17), yet a page that reads must never be pushed out by
newcomers (a classroom with more readers than slots would reconnect in circles). So when every
slot is taken, a new stream ends the oldest stream that is at least ``evict_age_s`` old AND
not being read:

- *behind*: a write to it has been blocked ``BLOCKED_S`` (its socket buffers are full: the
  reader takes nothing; the socket's own timeout would drop it a little later anyway), or
- *quiet*: it has sent nothing but keepalives for ``evict_age_s`` (an idle reader's stream,
  or a filter that matches nothing; `zmqzab watch` and EventSource reconnect and resume by
  Last-Event-ID, so a quiet reader that was ended loses nothing).

A page's stream (``status=1``) gets the node's status every tick and reads it: never ended.
If no stream may be ended the newcomer gets 503 and retries.
"""

from __future__ import annotations

import socket
import threading
import time

#: A write blocked this long means the reader has stopped reading.
BLOCKED_S = 1.0


class Stream:
    """One served stream: when it began, what it last sent, whether a write is blocked."""

    __slots__ = ("started", "ended", "sock", "last_content", "writing_since")

    def __init__(self, now: float, sock: socket.socket | None) -> None:
        self.started = now
        #: Set when the stream must end (another reader took its slot).
        self.ended = threading.Event()
        self.sock = sock
        self.last_content = now
        self.writing_since: float | None = None

    def writing(self, content: bool) -> None:
        """Call before each write (``content``: not only a keepalive)."""
        now = time.monotonic()
        self.writing_since = now
        if content:
            self.last_content = now

    def written(self) -> None:
        self.writing_since = None


class StreamSlots:
    """At most ``size`` streams; a new one may end an old one that nobody reads (module doc)."""

    def __init__(self, size: int, evict_age_s: float) -> None:
        self.size = size
        self.evict_age_s = evict_age_s
        self._lock = threading.Lock()
        self._open: set[Stream] = set()
        #: Streams ended to make room, since start.
        self.evicted = 0

    def _unread(self, s: Stream, now: float) -> bool:
        if now - s.started < self.evict_age_s:
            return False
        blocked = s.writing_since is not None and now - s.writing_since >= BLOCKED_S
        return blocked or now - s.last_content >= self.evict_age_s

    def take(self, sock: socket.socket | None) -> Stream | None:
        """A slot for a new stream, or None if every slot is read."""
        now = time.monotonic()
        with self._lock:
            if len(self._open) >= self.size:
                unread = [s for s in self._open if self._unread(s, now)]
                if not unread:
                    return None
                old = min(unread, key=lambda s: s.started)
                self._open.discard(old)
                old.ended.set()
                self.evicted += 1
                if old.sock is not None:  # a write blocked on it returns now, not at its timeout
                    try:
                        old.sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            stream = Stream(now, sock)
            self._open.add(stream)
            return stream

    def give_back(self, stream: Stream) -> None:
        with self._lock:
            self._open.discard(stream)

    def __len__(self) -> int:
        with self._lock:
            return len(self._open)
