"""LogWriter: group commit on its own thread (ZAB_CHECKLIST #18, #21).

The driver ``submit``s log ops from its socket thread; that only appends to a deque under a
condition. The writer thread takes everything waiting (up to ``batch_max`` txns; a Truncate or
InstallSnapshot counts as one), applies each op in submission order, fsyncs once for the whole
batch, and then calls ``on_durable(storage.last_zxid)``. So one fsync releases the ACKs of every
txn that queued up while the previous fsync ran: the busier the node, the bigger the batches.

The rule callers rely on: ``on_durable(z)`` means every op submitted before the batch was taken
is on disk, and ``z`` is the disk's last zxid after it. ``z`` can go *down* (a Truncate, or an
InstallSnapshot at a lower zxid). ``reported_ops``, read inside ``on_durable``, says how many of
the ops submitted so far the report covers: a report can reach the caller's thread after later
submits (a Truncate among them), and only one that covers the last Truncate or InstallSnapshot
may be believed (host/durable.py). ``on_durable`` and ``on_error`` run on the writer thread; the
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

``submit_all(ops)`` queues one loop pass's ops at once (one wake-up of the thread, issue 14).
Why the fsync stays on this thread and never on the caller's (ARCHITECTURE §3): while a loop
waits in an fsync it sends no PING and reads nothing, so a disk that stalls for a second would
make a leader's followers elect another; on its own thread a stalled fsync holds up only the
ACKs it covers, and the followers' quorum still commits. Measured for issue 14: fsyncing small
batches on the loop thread saved ~10% of the CPU of a sequential write (docs/benchmarks.md),
not taken for that reason.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence

from zmqzab.core.output import Append, LogOp
from zmqzab.storage.compaction import CommitSnapshot, SaveSnapshot, SnapshotSaved
from zmqzab.storage.errors import StorageError
from zmqzab.storage.store import Storage


class LogWriter:
    def __init__(
        self,
        storage: Storage,
        on_durable: Callable[[int], None],
        on_error: Callable[[BaseException], None],
        batch_max: int = 1000,
        on_snapshot: Callable[[SnapshotSaved], None] | None = None,
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
        #: How many of the ops submitted so far the report being made covers (the first ones,
        #: in submission order): set on the writer thread just before each ``on_durable``, so
        #: the callback can tell a report that predates an op (a Truncate) from one after it.
        self.reported_ops = 0
        self._closing = False
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="zmqzab-log-writer", daemon=True)
        self._thread.start()

    @property
    def failed(self) -> BaseException | None:
        """The error that stopped the writer, if any."""
        return self._failed

    def submit(self, op: LogOp | SaveSnapshot | CommitSnapshot) -> None:
        """Queue ``op`` (cheap; from the driver thread). Dropped if the writer has failed."""
        self.submit_all((op,))

    def submit_all(self, ops: Sequence[LogOp | SaveSnapshot | CommitSnapshot]) -> None:
        """Queue ``ops`` in order with one wake-up of the thread (a loop pass's ops)."""
        with self._cond:
            if self._closing:
                raise StorageError("log writer is closed; nothing more can be written")
            if self._failed is not None:
                return
            self._queue.extend(ops)
            self._submitted += len(ops)
            self._cond.notify()

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
                for k, op in enumerate(batch):
                    if type(op) is SaveSnapshot or type(op) is CommitSnapshot:
                        storage.sync()
                        self.reported_ops = self._completed + k
                        self._on_durable(storage.last_zxid)
                        report = (storage.save_snapshot(op) if type(op) is SaveSnapshot
                                  else storage.commit_snapshot(op))
                        if self._on_snapshot is not None:
                            self._on_snapshot(report)
                    else:
                        storage.apply(op)
                storage.sync()
                self.reported_ops = self._completed + len(batch)
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
