"""LogWriter: group commit on its own thread (ZAB_CHECKLIST #18, #21).

The driver ``submit``s log ops from its socket thread; that only appends to a deque under a
condition. The writer thread takes everything waiting (up to ``batch_max`` txns; a Truncate or
InstallSnapshot counts as one), applies each op in submission order, fsyncs once for the whole
batch, and then calls ``on_durable(storage.last_zxid)``. So one fsync releases the ACKs of every
txn that queued up while the previous fsync ran: the busier the node, the bigger the batches.

The rule callers rely on: ``on_durable(z)`` means every op submitted before the batch was taken
is on disk, and ``z`` is the disk's last zxid after it. ``z`` can go *down* (a Truncate, or an
InstallSnapshot at a lower zxid). ``on_durable`` and ``on_error`` run on the writer thread; the
caller hands them over to its own thread (e.g. a pipe or a zmq inproc socket) and must not
block there waiting for the driver thread, which may itself be waiting in ``close()``.

On any failure (OSError such as ENOSPC or EIO from a write or an fsync, or a refused op, which
is a bug, or an exception raised by ``on_durable``) the writer calls ``on_error(exc)`` once and
stops: it never reports anything durable again, and later submits are dropped. After a failed
fsync the disk's state is unknown, so the node must stop and recover from disk on restart, not
carry on from memory (#25, ZK-4882).

A ``SaveSnapshot`` or ``CommitSnapshot`` (zmqzab/storage/compaction.py) is a storage op like
the others, applied in submission order, so it follows the appends it covers. The ops before it
are synced and reported durable first: their ACKs do not wait for a snapshot write of many
megabytes. Its outcome goes to ``on_snapshot``; a failed snapshot save is reported there, not
fatal.

``write_here(ops)`` is the same group commit on the caller's thread, for the small batches of a
lightly loaded node (issue 14): when the thread is idle (everything submitted before is durable
and reported) and the ops are a few appends or a Truncate, it applies them, fsyncs and returns
the disk's last zxid, so the caller's own loop can release the ACKs at once, with no thread
hand-off and no wake-up in between. Otherwise (an InstallSnapshot, a snapshot's save or
commit, more than INLINE_MAX_TXNS txns, the thread still busy, or a recent slow fsync) it
queues them for the thread, behind what is already there (order is kept), and returns None.
Why the last: while the caller's loop waits in an fsync it sends no PING and reads nothing; a
disk that stalls (an fsync above INLINE_SLOW_S) sends the next INLINE_BACKOFF_S of writes to
the thread, so one stall, not every write, holds the loop up (a leader's followers would
otherwise time out on it and elect another). It raises what the write or fsync raised,
after marking the writer failed: the caller must stop (#25), exactly as after ``on_error``.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from zmqzab.core.output import Append, LogOp, Truncate
from zmqzab.storage.compaction import CommitSnapshot, SaveSnapshot, SnapshotSaved
from zmqzab.storage.errors import StorageError
from zmqzab.storage.store import Storage


#: The most txns ``write_here`` writes on the caller's thread; a bigger batch (a DIFF, a deep
#: pipeline's burst) goes to the writer thread, so the caller's loop is not held up for long.
INLINE_MAX_TXNS = 256
#: An fsync on the caller's thread slower than this (a normal one takes ~0.2 ms here, a busy
#: shared disk tens of ms; the default tick is 50 ms, the sync limit 10 ticks) sends writes to
#: the thread for the next INLINE_BACKOFF_S.
INLINE_SLOW_S, INLINE_BACKOFF_S = 0.1, 10.0


class LogWriter:
    def __init__(
        self,
        storage: Storage,
        on_durable: Callable[[int], None],
        on_error: Callable[[BaseException], None],
        batch_max: int = 1000,
        on_snapshot: Callable[[SnapshotSaved], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if batch_max < 1:
            raise ValueError("batch_max must be at least 1")
        self._storage = storage
        self._on_durable = on_durable
        self._on_error = on_error
        self._on_snapshot = on_snapshot
        self._batch_max = batch_max
        self._cond = threading.Condition()
        self._queue: deque[LogOp | SaveSnapshot | CommitSnapshot] = deque()
        self._submitted = 0  # ops accepted by submit()
        self._completed = 0  # ops durable (and reported)
        self._closing = False
        self._failed: BaseException | None = None
        self._clock = clock
        self._inline_from = 0.0  # write_here uses the thread until then (a slow fsync was seen)
        self._thread = threading.Thread(target=self._run, name="zmqzab-log-writer", daemon=True)
        self._thread.start()

    @property
    def failed(self) -> BaseException | None:
        """The error that stopped the writer, if any."""
        return self._failed

    def submit(self, op: LogOp | SaveSnapshot | CommitSnapshot) -> None:
        """Queue ``op`` (cheap; from the driver thread). Dropped if the writer has failed."""
        with self._cond:
            if self._closing:
                raise StorageError("log writer is closed; nothing more can be written")
            if self._failed is not None:
                return
            self._queue.append(op)
            self._submitted += 1
            self._cond.notify()

    def write_here(self, ops: list[LogOp | SaveSnapshot | CommitSnapshot]) -> int | None:
        """Group commit of ``ops`` on this thread if the writer is idle and they are small (the
        disk's last zxid after the fsync), else queue them for the writer thread (None)."""
        with self._cond:
            if self._closing:
                raise StorageError("log writer is closed; nothing more can be written")
            if self._failed is not None:
                return None  # stopped: nothing is durable again (the caller is stopping too)
            here = self._completed == self._submitted and self._clock() >= self._inline_from
            if here:
                txns = 0
                for op in ops:
                    if type(op) is Append:
                        txns += len(op.txns)
                    elif type(op) is not Truncate:  # a snapshot: a whole file, on the thread
                        here = False
                here = here and txns <= INLINE_MAX_TXNS
            if not here:
                self._queue.extend(ops)
                self._submitted += len(ops)
                self._cond.notify()
                return None
        # The thread is idle and only the caller submits, so nobody else touches the storage.
        storage = self._storage
        try:
            for op in ops:
                storage.apply(op)
            t0 = self._clock()
            storage.sync()
            t1 = self._clock()
            if t1 - t0 > INLINE_SLOW_S:
                self._inline_from = t1 + INLINE_BACKOFF_S
        except BaseException as exc:  # noqa: BLE001 - the disk's state is unknown: nothing is durable
            with self._cond:
                self._failed = exc
                self._cond.notify_all()
            if isinstance(exc, (OSError, StorageError)):
                raise
            raise StorageError(f"log write refused: {exc}") from exc
        return storage.last_zxid

    def flush_sync(self, timeout: float | None = None) -> None:
        """Wait until everything submitted so far is durable and reported (tests, shutdown)."""
        with self._cond:
            target = self._submitted
            done = self._cond.wait_for(
                lambda: self._completed >= target or self._failed is not None, timeout
            )
            if self._completed >= target:
                return
            if self._failed is not None:
                raise StorageError(f"log writer failed: {self._failed}") from self._failed
            if not done:
                raise TimeoutError(f"log writer did not make its queue durable in {timeout} s")

    def close(self, timeout: float | None = None) -> None:
        """Write and sync what is queued, then stop the thread. Leaves the Storage open."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)

    # ----------------------------------------------------------------------------------------

    def _run(self) -> None:
        storage = self._storage
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return  # closing, and drained
                batch = self._take()
            try:
                for op in batch:
                    if type(op) is SaveSnapshot or type(op) is CommitSnapshot:
                        storage.sync()
                        self._on_durable(storage.last_zxid)
                        report = (storage.save_snapshot(op) if type(op) is SaveSnapshot
                                  else storage.commit_snapshot(op))
                        if self._on_snapshot is not None:
                            self._on_snapshot(report)
                    else:
                        storage.apply(op)
                storage.sync()
                self._on_durable(storage.last_zxid)
            except BaseException as exc:  # noqa: BLE001 - whatever failed, nothing is durable
                self._fail(exc)
                return
            with self._cond:
                self._completed += len(batch)
                self._cond.notify_all()

    def _take(self) -> list[LogOp | SaveSnapshot | CommitSnapshot]:
        queue = self._queue
        batch: list[LogOp | SaveSnapshot | CommitSnapshot] = []
        txns = 0
        while queue and txns < self._batch_max:
            op = queue.popleft()
            batch.append(op)
            txns += len(op.txns) if type(op) is Append else 1
        return batch

    def _fail(self, exc: BaseException) -> None:
        with self._cond:
            self._failed = exc
            self._queue.clear()
            self._cond.notify_all()
        self._on_error(exc)
