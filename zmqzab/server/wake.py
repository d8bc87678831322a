"""The loop's wake-up pipe: other threads (writer, reader, snapshot waiter, HTTP) append their
news to a deque and write one byte here; the poll loop sees the pipe readable and looks."""

from __future__ import annotations

import os


class WakePipe:
    __slots__ = ("r", "w")

    def __init__(self) -> None:
        self.r, self.w = os.pipe()
        os.set_blocking(self.r, False)

    def poke(self, why: bytes) -> None:
        """From any thread. Raises OSError once the pipe is closed (the node stopped)."""
        os.write(self.w, why)

    def poke_quietly(self, why: bytes) -> None:
        try:
            os.write(self.w, why)
        except OSError:
            pass  # closing: nobody is listening any more

    def drain(self) -> None:
        # One read, no loop to EAGAIN: each wake is one byte, and bytes left over wake the
        # poll again at once (an exception per drain cost more than the drain).
        try:
            os.read(self.r, 65536)
        except BlockingIOError:
            pass

    def close(self) -> None:
        os.close(self.r)
        os.close(self.w)
