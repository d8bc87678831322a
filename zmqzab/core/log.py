"""The core's in-memory view of the txn log: a window of txns after ``base``.

``base`` is the zxid the window starts after: 0 for a full history, the snapshot's zxid after a
SNAP, or the last committed txn dropped from memory to keep the window bounded. Zxids inside the
window strictly increase; lookups are binary searches over a parallel list of ints.
Storage is write-only from the core's side: this list mirrors what was handed to the writer.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from zmqzab.messages import Txn


class MemoryLog:
    __slots__ = ("base", "txns", "zxids")

    def __init__(self, base: int = 0, txns: list[Txn] | None = None) -> None:
        self.base = base
        self.txns: list[Txn] = list(txns or [])
        self.zxids: list[int] = [t.zxid for t in self.txns]

    def __len__(self) -> int:
        return len(self.txns)

    @property
    def last(self) -> int:
        return self.zxids[-1] if self.zxids else self.base

    def contains(self, zxid: int) -> bool:
        """True if ``zxid`` is the base or a txn of the window."""
        if zxid == self.base:
            return True
        i = bisect_left(self.zxids, zxid)
        return i < len(self.zxids) and self.zxids[i] == zxid

    def index_after(self, zxid: int) -> int:
        """Index of the first txn with a zxid greater than ``zxid``."""
        return bisect_right(self.zxids, zxid)

    def after(self, zxid: int, limit: int | None = None) -> list[Txn]:
        i = bisect_right(self.zxids, zxid)
        return self.txns[i:] if limit is None else self.txns[i : i + limit]

    def between(self, lo: int, hi: int) -> list[Txn]:
        """Txns with lo < zxid <= hi."""
        return self.txns[bisect_right(self.zxids, lo) : bisect_right(self.zxids, hi)]

    def last_before(self, zxid: int) -> int:
        """The greatest zxid held (base included) that is smaller than ``zxid``."""
        i = bisect_left(self.zxids, zxid)
        return self.zxids[i - 1] if i > 0 else self.base

    def extend(self, txns: list[Txn]) -> None:
        self.txns.extend(txns)
        self.zxids.extend(t.zxid for t in txns)

    def truncate_after(self, zxid: int) -> None:
        i = bisect_right(self.zxids, zxid)
        del self.txns[i:]
        del self.zxids[i:]

    def reset(self, base: int) -> None:
        self.base = base
        self.txns.clear()
        self.zxids.clear()

    def drop_through(self, zxid: int) -> None:
        """Forget txns up to ``zxid`` (already applied) to keep memory bounded."""
        i = bisect_right(self.zxids, zxid)
        if i:
            self.base = self.zxids[i - 1]
            del self.txns[:i]
            del self.zxids[:i]
