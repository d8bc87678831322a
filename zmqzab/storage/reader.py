"""Reading the txn log while a node runs: DIFF from disk, and the log tools.

The core keeps only a bounded window of txns in memory (zmqzab/core/log.py). A follower
further behind than that window, but not behind the oldest snapshot kept, is still sent a DIFF:
the leader's core asks its driver for the older txns (``ReadLog``, zmqzab/core/output.py), and
the driver reads them here, off the socket thread, one batch at a time.

``read_range`` yields the txns of a half-open range ``(after, upto]`` in batches. It refuses
(``LogGap``) unless it can prove the range is whole: ``after`` must be a txn of the log (or the
zxid the log starts after), and the records must run to ``upto`` itself. So a range that a purge,
a TRUNC or a SNAP install removed meanwhile, or a follower zxid that is not in our history, is
never answered with a stream that has a hole in it.

The files are read without the writer's help: a segment may grow while it is read (its torn
end is the end, as in recovery) or disappear (a purge: ``LogGap``). ``Storage.reading()`` holds
purges back while a read runs, so the second is rare.

``LogReader`` is the node's reader thread: requests queue up, each is read in batches handed to
``on_batch`` (which may block: that is the flow control toward the socket thread), then
``on_done``. A request can be cancelled between batches (its leader stopped leading).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zmqzab.messages import Txn
from zmqzab.storage.errors import CorruptLogError, StorageError
from zmqzab.storage.txnlog import BadRecord, Segment, decode_record, list_segments, records
from zmqzab.zxid import fmt_zxid


class LogGap(StorageError):
    """The asked range is not (or no longer) whole in the log."""


def iter_segment(buf: bytes, path: Path, *, is_last: bool) -> Iterator[tuple[int, Txn]]:
    """``(offset, txn)`` for each record of one segment's bytes, checksum checked.

    A torn end of the last segment ends the iteration quietly (recovery would cut it; a live
    segment may be half written); damage anywhere else raises ``CorruptLogError``.
    """
    for rec in records(buf):
        if isinstance(rec, BadRecord):
            if rec.torn(buf, is_last=is_last):
                return
            raise CorruptLogError(path, rec.offset, rec.problem)
        yield rec[0], decode_record(buf, path, *rec)


def _segments_of(log_dir: Path, gen: int) -> list[Segment]:
    return [s for s in list_segments(log_dir) if s.gen == gen]


def read_range(log_dir: Path, gen: int, log_start: int, after: int, upto: int,
               batch_max: int) -> Iterator[list[Txn]]:
    """Batches of the txns with ``after < zxid <= upto`` of generation ``gen``; ``LogGap`` if
    the range cannot be read whole (see the module docstring). ``log_start``: the zxid the log
    holds every txn after (the oldest kept snapshot's), a valid ``after`` even if not a txn.
    """
    if batch_max < 1:
        raise ValueError("batch_max must be at least 1")
    if upto <= after:
        return
    segments = _segments_of(log_dir, gen)
    starts = [s.first_zxid for s in segments]
    first = 0
    for i, start in enumerate(starts):
        if start <= after:
            first = i
    found = False  # `after` seen, or proven to be where the log starts
    last = after
    batch: list[Txn] = []
    for index in range(first, len(segments)):
        seg = segments[index]
        try:
            buf = seg.path.read_bytes()
        except FileNotFoundError:
            raise LogGap(f"{seg.path.name} was removed while it was read (purge, TRUNC or SNAP)") from None
        for _, txn in iter_segment(buf, seg.path, is_last=index == len(segments) - 1):
            zxid = txn.zxid
            if zxid < after:
                continue
            if zxid == after:
                found = True
                continue
            if not found:
                if after != log_start:
                    raise LogGap(f"{fmt_zxid(after)} is not in the log (it continues at {fmt_zxid(zxid)})")
                found = True
            if zxid <= last:
                raise LogGap(f"zxids do not increase in {seg.path.name} at {fmt_zxid(zxid)}")
            last = zxid
            batch.append(txn)
            if zxid >= upto:
                if zxid != upto:
                    raise LogGap(f"{fmt_zxid(upto)} is not in the log (next is {fmt_zxid(zxid)})")
                yield batch
                return
            if len(batch) >= batch_max:
                yield batch
                batch = []
    if not found:
        raise LogGap(f"{fmt_zxid(after)} is not in the log (it ends before it)")
    raise LogGap(f"the log ends at {fmt_zxid(last)}, before {fmt_zxid(upto)}")


# ------------------------------------------------------------------------------------------
# The node's reader thread


@dataclass(eq=False)
class ReadJob:
    """One range to read; ``tag`` is the caller's (what to send, to whom)."""

    after: int
    upto: int
    tag: Any
    cancelled: bool = False
    #: Filled in by the reader: txns handed over, the last zxid handed over, why it failed.
    sent: int = 0
    last: int = 0
    error: str = ""
    batches: int = 0


class LogReader:
    """Reads ``ReadJob``s on its own thread, in order.

    ``on_batch(job, txns)`` and ``on_done(job)`` run on the reader thread; ``on_batch`` may
    block (the node's waits until the socket thread has sent enough of the earlier batches).
    ``storage`` must offer ``log.dir``, ``gen``, ``log_start`` and ``reading()``.
    """

    def __init__(self, storage: Any, on_batch: Callable[[ReadJob, list[Txn]], None],
                 on_done: Callable[[ReadJob], None], batch_max: int = 5000) -> None:
        self._storage = storage
        self._on_batch = on_batch
        self._on_done = on_done
        self._batch_max = batch_max
        self._cond = threading.Condition()
        self._queue: deque[ReadJob] = deque()
        self._closing = False
        self._current: ReadJob | None = None
        self._thread = threading.Thread(target=self._run, name="zmqzab-log-reader", daemon=True)
        self._thread.start()

    def submit(self, job: ReadJob) -> None:
        with self._cond:
            self._queue.append(job)
            self._cond.notify()

    def cancel_all(self) -> None:
        """Stop every queued or running job at its next batch (its on_done still runs)."""
        with self._cond:
            for job in self._queue:
                job.cancelled = True
            if self._current is not None:
                self._current.cancelled = True

    def close(self, timeout: float | None = None) -> None:
        self.cancel_all()
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                job = self._current = self._queue.popleft()
            self._read(job)
            with self._cond:
                self._current = None
            self._on_done(job)

    def _read(self, job: ReadJob) -> None:
        storage = self._storage
        try:
            with storage.reading():
                batches = read_range(storage.log.dir, storage.gen, storage.log_start, job.after,
                                     job.upto, self._batch_max)
                for txns in batches:
                    if job.cancelled:
                        job.error = "cancelled"
                        return
                    self._on_batch(job, txns)
                    job.sent += len(txns)
                    job.last = txns[-1].zxid
                    job.batches += 1
        except StorageError as exc:
            job.error = str(exc)
        except OSError as exc:
            job.error = f"cannot read the log: {exc}"
