"""LogWriter: group commit, ordering, draining on close, failure handling."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from zmqzab.core.output import Append, InstallSnapshot, Truncate
from zmqzab.messages import Guess, Txn
from zmqzab.storage.errors import StorageError
from zmqzab.storage.store import Storage, open_storage
from zmqzab.storage.writer import INLINE_BACKOFF_S, INLINE_MAX_TXNS, INLINE_SLOW_S, LogWriter
from zmqzab.zxid import make_zxid

pytestmark = [pytest.mark.storage]

WAIT = 10.0  # a bound for a stuck test, never a pause


def txn(epoch: int, counter: int) -> Txn:
    return Txn(zxid=make_zxid(epoch, counter), op=Guess("c1", counter, 1))


class Recorder:
    def __init__(self) -> None:
        self.durable: list[int] = []
        self.errors: list[BaseException] = []
        self.error_seen = threading.Event()

    def on_durable(self, zxid: int) -> None:
        self.durable.append(zxid)

    def on_error(self, exc: BaseException) -> None:
        self.errors.append(exc)
        self.error_seen.set()


@pytest.fixture
def storage(tmp_path: Path):
    storage, _ = open_storage(tmp_path)
    storage.write_epochs(3, 3)
    yield storage
    storage.close()


def reopened(storage: Storage) -> list[Txn]:
    storage.close()
    fresh, rec = open_storage(storage.data_dir)
    fresh.close()
    return rec.txns


def test_submitted_ops_become_durable(storage: Storage) -> None:
    rec = Recorder()
    writer = LogWriter(storage, rec.on_durable, rec.on_error)
    for c in range(1, 21):
        writer.submit(Append([txn(1, c)]))
    writer.flush_sync(WAIT)
    assert rec.durable[-1] == make_zxid(1, 20)
    assert rec.durable == sorted(rec.durable)
    writer.close(WAIT)
    assert reopened(storage) == [txn(1, c) for c in range(1, 21)]
    assert rec.errors == []


def test_ops_are_applied_in_submission_order(storage: Storage) -> None:
    rec = Recorder()
    writer = LogWriter(storage, rec.on_durable, rec.on_error)
    writer.submit(Append([txn(1, c) for c in range(1, 6)]))
    writer.submit(Truncate(make_zxid(1, 3)))
    writer.submit(Append([txn(2, 1), txn(2, 2)]))
    writer.flush_sync(WAIT)
    assert rec.durable[-1] == make_zxid(2, 2)
    writer.submit(Truncate(make_zxid(1, 2)))
    writer.flush_sync(WAIT)
    assert rec.durable[-1] == make_zxid(1, 2)  # durable zxid can go down after a TRUNC
    writer.submit(InstallSnapshot(make_zxid(2, 9), b"state"))
    writer.submit(Append([txn(2, 10)]))
    writer.close(WAIT)
    assert rec.durable[-1] == make_zxid(2, 10)
    assert reopened(storage) == [txn(2, 10)]


def test_one_sync_per_batch_and_batch_max(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs: list[int] = []
    real_sync = storage.sync
    monkeypatch.setattr(storage, "sync", lambda: (syncs.append(storage.last_zxid), real_sync())[1])
    release = threading.Event()
    entered = threading.Event()
    rec = Recorder()

    def on_durable(zxid: int) -> None:
        rec.on_durable(zxid)
        if len(rec.durable) == 1:  # hold the writer so the queue fills up behind it
            entered.set()
            release.wait(WAIT)

    writer = LogWriter(storage, on_durable, rec.on_error, batch_max=10)
    writer.submit(Append([txn(1, 1)]))
    assert entered.wait(WAIT)
    for c in range(2, 27):
        writer.submit(Append([txn(1, c)]))
    release.set()
    writer.flush_sync(WAIT)
    # 1 alone, then 25 queued behind it in batches of at most 10 txns: 10, 10, 5.
    assert syncs == [make_zxid(1, c) for c in (1, 11, 21, 26)]
    assert rec.durable == syncs
    writer.close(WAIT)


def test_close_drains_the_queue(storage: Storage) -> None:
    rec = Recorder()
    writer = LogWriter(storage, rec.on_durable, rec.on_error)
    for c in range(1, 501):
        writer.submit(Append([txn(1, c)]))
    writer.close(WAIT)
    assert rec.durable[-1] == make_zxid(1, 500)
    with pytest.raises(StorageError, match="closed"):
        writer.submit(Append([txn(1, 501)]))
    assert len(reopened(storage)) == 500


def test_an_fsync_error_is_reported_once_and_nothing_is_durable_after(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec = Recorder()
    writer = LogWriter(storage, rec.on_durable, rec.on_error)
    writer.submit(Append([txn(1, 1)]))
    writer.flush_sync(WAIT)
    assert rec.durable == [make_zxid(1, 1)]

    def eio(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", eio)
    writer.submit(Append([txn(1, 2)]))
    assert rec.error_seen.wait(WAIT)
    with pytest.raises(StorageError, match="Input/output error"):
        writer.flush_sync(WAIT)
    monkeypatch.undo()

    writer.submit(Append([txn(1, 3)]))  # dropped: the writer has stopped
    writer.close(WAIT)
    assert rec.durable == [make_zxid(1, 1)]
    assert len(rec.errors) == 1 and isinstance(rec.errors[0], OSError)
    assert writer.failed is rec.errors[0]


def test_a_refused_op_stops_the_writer_too(storage: Storage) -> None:
    rec = Recorder()
    writer = LogWriter(storage, rec.on_durable, rec.on_error)
    writer.submit(Append([txn(1, 5)]))
    writer.submit(Append([txn(1, 4)]))  # zxids going backwards: a bug upstream
    assert rec.error_seen.wait(WAIT)
    writer.close(WAIT)
    assert isinstance(rec.errors[0], StorageError)
    assert rec.durable == []  # the batch held both; none of it is reported


# ------------------------------------------------------------------ write_here (issue 14)


def test_write_here_commits_small_batches_on_the_callers_thread(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Goal: an idle writer lets the caller group-commit a small batch itself. Expected: the
    ops are applied and fsynced once on the calling thread before write_here returns the
    disk's last zxid; the writer thread reports nothing (the caller has the zxid already)."""
    syncs: list[tuple[str, int]] = []
    real_sync = storage.sync
    monkeypatch.setattr(storage, "sync", lambda: (syncs.append((threading.current_thread().name,
                                                                storage.last_zxid)), real_sync())[1])
    rec = Recorder()
    writer = LogWriter(storage, rec.on_durable, rec.on_error)
    assert writer.write_here([Append([txn(1, 1), txn(1, 2)]), Append([txn(1, 3)])]) == make_zxid(1, 3)
    assert writer.write_here([Truncate(make_zxid(1, 2))]) == make_zxid(1, 2)  # can go down
    me = threading.current_thread().name
    assert syncs == [(me, make_zxid(1, 3)), (me, make_zxid(1, 2))]
    writer.close(WAIT)
    assert rec.durable == [] and rec.errors == []
    assert reopened(storage) == [txn(1, 1), txn(1, 2)]


def test_write_here_queues_behind_a_busy_writer_and_keeps_the_order(storage: Storage) -> None:
    """Goal: ops never overtake ops the writer thread still holds. Setup: the writer thread is
    held inside its first report. Expected: write_here queues (None), and the thread writes its
    ops after the held batch; a big batch or a snapshot also goes to the thread."""
    release = threading.Event()
    entered = threading.Event()
    rec = Recorder()

    def on_durable(zxid: int) -> None:
        rec.on_durable(zxid)
        if len(rec.durable) == 1:
            entered.set()
            release.wait(WAIT)

    writer = LogWriter(storage, on_durable, rec.on_error)
    writer.submit(Append([txn(1, 1)]))
    assert entered.wait(WAIT)
    assert writer.write_here([Append([txn(1, 2)])]) is None  # busy: behind the held batch
    release.set()
    writer.flush_sync(WAIT)
    assert rec.durable[-1] == make_zxid(1, 2)
    big = [Append([txn(1, c) for c in range(3, 3 + INLINE_MAX_TXNS + 1)])]
    assert writer.write_here(big) is None  # too many txns for the caller's loop
    writer.flush_sync(WAIT)
    last = make_zxid(1, 2 + INLINE_MAX_TXNS + 1)
    assert rec.durable[-1] == last
    assert writer.write_here([InstallSnapshot(make_zxid(2, 5), b"state")]) is None
    writer.flush_sync(WAIT)
    assert rec.durable[-1] == make_zxid(2, 5)
    writer.close(WAIT)
    assert rec.errors == []


def test_a_failed_fsync_in_write_here_raises_and_stops_the_writer(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Goal: ZAB_CHECKLIST #25 on the caller's path. Faults: fsync raises EIO. Expected:
    write_here raises the OSError (the caller stops) and the writer accepts nothing after."""
    def failing_sync() -> None:
        raise OSError(5, "Input/output error (injected)")

    monkeypatch.setattr(storage, "sync", failing_sync)
    rec = Recorder()
    writer = LogWriter(storage, rec.on_durable, rec.on_error)
    with pytest.raises(OSError, match="injected"):
        writer.write_here([Append([txn(1, 1)])])
    assert writer.failed is not None
    assert writer.write_here([Append([txn(1, 2)])]) is None  # dropped: nothing is durable again
    writer.submit(Append([txn(1, 2)]))
    writer.close(WAIT)
    assert rec.durable == []


def test_a_slow_fsync_sends_the_next_writes_to_the_thread_for_a_while(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Goal: a stalling disk does not hold the caller's loop (no PINGs, no reads) write after
    write. Setup: a fake clock; one fsync on the caller's thread "takes" longer than
    INLINE_SLOW_S. Expected: the next writes go to the thread (None) until INLINE_BACKOFF_S
    have passed, then the caller's thread again; everything becomes durable in order."""
    now = [100.0]
    slow = [True]
    real_sync = storage.sync

    def sync() -> None:
        real_sync()
        if slow[0]:
            now[0] += INLINE_SLOW_S * 2
            slow[0] = False

    monkeypatch.setattr(storage, "sync", sync)
    rec = Recorder()
    writer = LogWriter(storage, rec.on_durable, rec.on_error, clock=lambda: now[0])
    assert writer.write_here([Append([txn(1, 1)])]) == make_zxid(1, 1)  # slow, but done here
    assert writer.write_here([Append([txn(1, 2)])]) is None  # backing off: the thread
    writer.flush_sync(WAIT)
    assert rec.durable[-1] == make_zxid(1, 2)
    now[0] += INLINE_BACKOFF_S
    assert writer.write_here([Append([txn(1, 3)])]) == make_zxid(1, 3)
    writer.close(WAIT)
    assert reopened(storage) == [txn(1, c) for c in (1, 2, 3)]
