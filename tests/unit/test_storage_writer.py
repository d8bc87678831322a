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
from zmqzab.storage.writer import LogWriter
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


# ------------------------------------------------------------------ submit_all (issue 14)


def test_submit_all_keeps_the_order_and_fsyncs_on_the_writer_thread(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Goal: a loop pass's ops, handed over at once, are written in order behind what the
    thread still holds, and every fsync runs on the writer's thread, never the caller's (a
    stalled disk must not stop the caller's loop). Setup: the writer thread is held inside its
    first report. Expected: the pass's ops (an append, a truncate, an append) follow the held
    batch in order; the disk ends at the last append; no fsync on the calling thread."""
    threads: list[str] = []
    real_sync = storage.sync
    monkeypatch.setattr(storage, "sync", lambda: (threads.append(threading.current_thread().name), real_sync())[1])
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
    writer.submit_all([Append([txn(1, 2), txn(1, 3)]), Truncate(make_zxid(1, 2)), Append([txn(1, 3)])])
    release.set()
    writer.flush_sync(WAIT)
    writer.close(WAIT)
    assert rec.durable[0] == make_zxid(1, 1) and rec.durable[-1] == make_zxid(1, 3)
    assert rec.errors == []
    assert threading.current_thread().name not in threads and threads
    assert reopened(storage) == [txn(1, 1), txn(1, 2), txn(1, 3)]
