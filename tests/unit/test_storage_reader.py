"""read_range / LogReader: the txns of a range read from the log files, whole or refused."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from zmqzab.core.output import Append, InstallSnapshot
from zmqzab.game.rules import Game
from zmqzab.messages import Guess, Txn
from zmqzab.storage.compaction import SaveSnapshot
from zmqzab.storage.reader import LogGap, LogReader, ReadJob, read_range
from zmqzab.storage.store import open_storage
from zmqzab.zxid import make_zxid

pytestmark = [pytest.mark.storage]

WAIT = 10.0


def guesses(epoch: int, first: int, last: int) -> list[Txn]:
    return [Txn(make_zxid(epoch, c), Guess("c", c, c % 101)) for c in range(first, last + 1)]


def read(storage, after, upto, batch=7):
    return [b for b in read_range(storage.log.dir, storage.gen, storage.log_start, after, upto, batch)]


@pytest.fixture
def storage(tmp_path: Path):
    storage, _ = open_storage(tmp_path, snapshots_kept=2, segment_max_bytes=600)  # many segments
    storage.write_epochs(2, 2)
    for t in guesses(1, 1, 60) + guesses(2, 1, 40):
        storage.apply(Append([t]))
    storage.sync()
    yield storage
    storage.close()


def test_reads_a_range_across_segments_in_batches(storage) -> None:
    assert len(storage.log.segments) > 3
    batches = read(storage, make_zxid(1, 10), make_zxid(2, 5))
    txns = [t for b in batches for t in b]
    assert txns == guesses(1, 11, 60) + guesses(2, 1, 5)
    assert all(len(b) <= 7 for b in batches)
    assert read(storage, 0, make_zxid(1, 3)) == [guesses(1, 1, 3)]  # the log starts after 0


def test_refuses_a_range_that_is_not_whole(storage) -> None:
    with pytest.raises(LogGap, match="3:1 is not in the log"):
        read(storage, make_zxid(3, 1), make_zxid(3, 5))
    with pytest.raises(LogGap, match="1:61 is not in the log"):
        read(storage, make_zxid(1, 61), make_zxid(2, 5))  # a follower's divergent zxid
    with pytest.raises(LogGap, match="ends at 2:40"):
        read(storage, make_zxid(2, 30), make_zxid(2, 50))


def test_a_purged_range_is_refused_and_the_kept_one_is_read(storage) -> None:
    game = Game()
    for t in guesses(1, 1, 60) + guesses(2, 1, 40):
        game.apply(t)
    storage.save_snapshot(SaveSnapshot(make_zxid(2, 40), game.snapshot()))
    storage.apply(Append(guesses(2, 41, 50)))
    storage.save_snapshot(SaveSnapshot(make_zxid(2, 50), b"later"))
    assert storage.log_start == make_zxid(2, 40)
    with pytest.raises(LogGap):
        read(storage, make_zxid(1, 10), make_zxid(2, 45))
    assert [t for b in read(storage, make_zxid(2, 40), make_zxid(2, 50)) for t in b] == guesses(2, 41, 50)


def test_after_a_snap_install_the_log_starts_after_the_snapshot(storage) -> None:
    storage.apply(InstallSnapshot(make_zxid(2, 100), Game().snapshot()))
    storage.apply(Append(guesses(3, 1, 4)))
    storage.sync()
    assert storage.log_start == make_zxid(2, 100)
    assert read(storage, make_zxid(2, 100), make_zxid(3, 4)) == [guesses(3, 1, 4)]
    with pytest.raises(LogGap):
        read(storage, make_zxid(2, 5), make_zxid(3, 4))  # the old generation is gone


def test_log_reader_thread_hands_over_batches_then_done(storage) -> None:
    got: list[Txn] = []
    done = threading.Event()
    finished: list[ReadJob] = []

    def on_done(job):
        finished.append(job)
        if len(finished) == 2:
            done.set()

    reader = LogReader(storage, lambda job, txns: got.extend(txns), on_done, batch_max=5)
    reader.submit(ReadJob(after=make_zxid(1, 50), upto=make_zxid(2, 2), tag="a"))
    reader.submit(ReadJob(after=make_zxid(9, 1), upto=make_zxid(9, 2), tag="b"))
    assert done.wait(WAIT)
    reader.close(WAIT)
    ok, bad = finished
    assert (ok.tag, ok.error, ok.sent, ok.last) == ("a", "", 12, make_zxid(2, 2))
    assert got == guesses(1, 51, 60) + guesses(2, 1, 2)
    assert bad.tag == "b" and "not in the log" in bad.error and bad.sent == 0
