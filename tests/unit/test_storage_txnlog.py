"""TxnLog: append/reopen, segment roll, torn tails, corruption, truncate_after."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest

from zmqzab.messages import Guess, Txn, encode
from zmqzab.storage.errors import CorruptLogError, StorageError
from zmqzab.storage.txnlog import TxnLog, list_segments, segment_name
from zmqzab.zxid import make_zxid

pytestmark = [pytest.mark.storage]


def txn(epoch: int, counter: int, value: int = 7) -> Txn:
    return Txn(zxid=make_zxid(epoch, counter), op=Guess("c1", counter, value))


def txns(epoch: int, first: int, last: int) -> list[Txn]:
    return [txn(epoch, c) for c in range(first, last + 1)]


def record(t: Txn) -> bytes:
    payload = encode(t)
    return struct.pack(">II", len(payload), zlib.crc32(payload)) + payload


def only_segment(log_dir: Path) -> Path:
    (seg,) = list_segments(log_dir)
    return seg.path


def write_log(log_dir: Path, items: list[Txn], **kwargs) -> None:
    log = TxnLog(log_dir, **kwargs)
    log.append(items)
    log.sync()
    log.close()


def test_append_and_reopen_replays_the_same_txns(tmp_path: Path) -> None:
    log = TxnLog(tmp_path)
    batch1, batch2 = txns(1, 1, 5), txns(1, 6, 9) + txns(2, 1, 3)
    log.append(batch1)
    log.sync()
    log.append(batch2)
    log.sync()
    assert log.last_zxid == make_zxid(2, 3)
    log.close()

    again = TxnLog(tmp_path)
    assert again.notes == []
    assert again.read_all() == batch1 + batch2
    assert again.last_zxid == make_zxid(2, 3)
    assert again.read_all(after=make_zxid(1, 7)) == txns(1, 8, 9) + txns(2, 1, 3)
    assert list(again.read_from(make_zxid(2, 3))) == []


def test_empty_log(tmp_path: Path) -> None:
    log = TxnLog(tmp_path / "log")
    assert log.last_zxid == 0
    assert log.read_all() == []
    log.sync()  # nothing to do, must not fail
    log.append([])
    assert list_segments(tmp_path / "log") == []


def test_segments_roll_and_are_named_by_first_zxid(tmp_path: Path) -> None:
    size = len(record(txn(1, 1)))
    log = TxnLog(tmp_path, segment_max_bytes=3 * size)
    for c in range(1, 11):
        log.append([txn(1, c)])
    log.sync()
    log.close()
    names = [s.path.name for s in list_segments(tmp_path)]
    assert names == [segment_name(0, make_zxid(1, c)) for c in (1, 4, 7, 10)]
    assert names[0] == "log.0.0000000100000001"

    again = TxnLog(tmp_path, segment_max_bytes=3 * size)
    assert again.read_all() == txns(1, 1, 10)
    assert again.read_all(after=make_zxid(1, 5)) == txns(1, 6, 10)
    again.append([txn(1, 11)])  # the active segment is reopened, not a new one
    assert len(list_segments(tmp_path)) == 4


def test_a_segment_roll_fsyncs_the_old_segment_before_the_new_one_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = len(record(txn(1, 1)))
    log = TxnLog(tmp_path, segment_max_bytes=size)
    log.append([txn(1, 1)])
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    active = log._fd
    log.append([txn(1, 2)])
    assert active in synced


@pytest.mark.parametrize("cut", [1, 5, 9, 12])
def test_torn_tail_is_truncated_with_a_note_and_appends_continue(tmp_path: Path, cut: int) -> None:
    write_log(tmp_path, txns(1, 1, 5))
    path = only_segment(tmp_path)
    full = path.stat().st_size
    os.truncate(path, full - cut)
    good_end = full - len(record(txn(1, 5)))

    log = TxnLog(tmp_path)
    assert log.read_all() == txns(1, 1, 4)
    assert log.last_zxid == make_zxid(1, 4)
    (note,) = log.notes
    assert str(path) in note
    assert f"byte {good_end}" in note
    assert f"{full - cut - good_end} byte(s)" in note
    assert path.stat().st_size == good_end

    log.append(txns(1, 5, 6))
    log.sync()
    log.close()
    again = TxnLog(tmp_path)
    assert again.notes == []
    assert again.read_all() == txns(1, 1, 6)


@pytest.mark.parametrize(
    "garbage",
    [
        b"\xde\xad\xbe\xef" * 5,  # a length that runs past the end of the file
        b"\x00\x01",  # a short header
        b"\x00" * 64,  # zeros, as a file system may leave after extending a file
        struct.pack(">II", 4, 12345) + b"abcd",  # a whole record whose checksum fails
    ],
)
def test_garbage_after_the_last_record_is_a_torn_tail(tmp_path: Path, garbage: bytes) -> None:
    write_log(tmp_path, txns(1, 1, 3))
    path = only_segment(tmp_path)
    good_end = path.stat().st_size
    with open(path, "ab") as f:
        f.write(garbage)

    log = TxnLog(tmp_path)
    assert log.read_all() == txns(1, 1, 3)
    (note,) = log.notes
    assert f"byte {good_end}" in note and f"{len(garbage)} byte(s)" in note
    log.append([txn(1, 4)])
    log.sync()
    log.close()
    assert TxnLog(tmp_path).read_all() == txns(1, 1, 4)


def test_a_segment_whose_only_record_is_torn_is_deleted(tmp_path: Path) -> None:
    size = len(record(txn(1, 1)))
    log = TxnLog(tmp_path, segment_max_bytes=size)
    log.append([txn(1, 1)])
    log.append([txn(1, 2)])
    log.sync()
    log.close()
    second = list_segments(tmp_path)[1].path
    os.truncate(second, 3)

    log = TxnLog(tmp_path, segment_max_bytes=size)
    assert [s.path.name for s in list_segments(tmp_path)] == [segment_name(0, make_zxid(1, 1))]
    assert log.last_zxid == make_zxid(1, 1)
    assert any("empty log segment" in n for n in log.notes)
    log.append([txn(1, 2)])  # recreates the segment of that name
    log.sync()


def test_bad_checksum_before_the_tail_is_corruption(tmp_path: Path) -> None:
    items = txns(1, 1, 5)
    write_log(tmp_path, items)
    path = only_segment(tmp_path)
    offset = sum(len(record(t)) for t in items[:2])
    data = bytearray(path.read_bytes())
    data[offset + 8 + 3] ^= 0xFF  # a payload byte of the third record
    path.write_bytes(bytes(data))

    with pytest.raises(CorruptLogError) as info:
        TxnLog(tmp_path)
    err = info.value
    assert err.path == path and err.offset == offset
    message = str(err)
    assert str(path) in message and f"byte {offset}" in message
    assert "checksum" in message and "--resync" in message
    assert "\n" not in message
    assert path.stat().st_size == len(data)  # nothing was "repaired"


def test_damage_at_the_end_of_a_segment_that_is_not_the_last_is_corruption(tmp_path: Path) -> None:
    size = len(record(txn(1, 1)))
    log = TxnLog(tmp_path, segment_max_bytes=2 * size)
    for c in range(1, 5):
        log.append([txn(1, c)])
    log.sync()
    log.close()
    first = list_segments(tmp_path)[0].path
    os.truncate(first, 2 * size - 3)
    with pytest.raises(CorruptLogError, match="not the last") as info:
        TxnLog(tmp_path)
    assert info.value.path == first and info.value.offset == size


def test_zxids_that_do_not_increase_are_corruption(tmp_path: Path) -> None:
    path = tmp_path / segment_name(0, make_zxid(1, 1))
    path.write_bytes(record(txn(1, 1)) + record(txn(1, 3)) + record(txn(1, 2)))
    offset = len(record(txn(1, 1))) * 2
    with pytest.raises(CorruptLogError, match="strictly increase") as info:
        TxnLog(tmp_path)
    assert info.value.offset == offset


def test_zxids_must_increase_across_segments(tmp_path: Path) -> None:
    (tmp_path / segment_name(0, make_zxid(1, 1))).write_bytes(record(txn(1, 1)) + record(txn(1, 5)))
    (tmp_path / segment_name(0, make_zxid(1, 3))).write_bytes(record(txn(1, 3)))
    with pytest.raises(CorruptLogError, match="strictly increase"):
        TxnLog(tmp_path)


def test_a_record_with_a_good_checksum_that_does_not_decode_is_corruption(tmp_path: Path) -> None:
    payload = b"\x93not a txn"
    bad = struct.pack(">II", len(payload), zlib.crc32(payload)) + payload
    path = tmp_path / segment_name(0, make_zxid(1, 1))
    path.write_bytes(record(txn(1, 1)) + bad)  # even as the very last record
    with pytest.raises(CorruptLogError, match="does not decode"):
        TxnLog(tmp_path)


def test_segment_name_must_match_its_first_record(tmp_path: Path) -> None:
    (tmp_path / segment_name(0, make_zxid(1, 2))).write_bytes(record(txn(1, 1)))
    with pytest.raises(CorruptLogError, match="file name"):
        TxnLog(tmp_path)


def test_truncate_within_a_segment_then_reopen(tmp_path: Path) -> None:
    log = TxnLog(tmp_path)
    log.append(txns(1, 1, 10))
    log.sync()
    log.truncate_after(make_zxid(1, 6))
    assert log.last_zxid == make_zxid(1, 6)
    log.append(txns(2, 1, 2))  # a new epoch continues after the cut
    log.sync()
    log.close()
    again = TxnLog(tmp_path)
    assert again.notes == []
    assert again.read_all() == txns(1, 1, 6) + txns(2, 1, 2)


def test_truncate_across_segments_then_reopen(tmp_path: Path) -> None:
    size = len(record(txn(1, 1)))
    log = TxnLog(tmp_path, segment_max_bytes=3 * size)
    for c in range(1, 11):
        log.append([txn(1, c)])
    log.truncate_after(make_zxid(1, 5))  # unsynced appends are cut too
    assert log.last_zxid == make_zxid(1, 5)
    assert [s.first_zxid for s in list_segments(tmp_path)] == [make_zxid(1, 1), make_zxid(1, 4)]
    log.append(txns(2, 1, 4))
    log.sync()
    log.close()
    again = TxnLog(tmp_path, segment_max_bytes=3 * size)
    assert again.read_all() == txns(1, 1, 5) + txns(2, 1, 4)


def test_truncate_to_a_segment_boundary_and_to_nothing(tmp_path: Path) -> None:
    size = len(record(txn(1, 1)))
    log = TxnLog(tmp_path, segment_max_bytes=3 * size)
    for c in range(1, 8):
        log.append([txn(1, c)])
    log.truncate_after(make_zxid(1, 3))
    assert [s.first_zxid for s in list_segments(tmp_path)] == [make_zxid(1, 1)]
    log.truncate_after(make_zxid(1, 9))  # beyond the end: nothing to do
    assert log.last_zxid == make_zxid(1, 3)
    log.truncate_after(0)
    assert log.last_zxid == 0 and list_segments(tmp_path) == []
    log.append(txns(2, 1, 2))
    log.sync()
    log.close()
    assert TxnLog(tmp_path).read_all() == txns(2, 1, 2)


def test_append_refuses_zxids_that_do_not_increase(tmp_path: Path) -> None:
    log = TxnLog(tmp_path)
    log.append(txns(1, 1, 3))
    with pytest.raises(StorageError, match="strictly increase"):
        log.append([txn(1, 4), txn(1, 4)])
    with pytest.raises(StorageError, match="strictly increase"):
        log.append([txn(1, 2)])
    log.append([txn(1, 4)])  # a refused batch wrote nothing
    log.sync()
    log.close()
    assert TxnLog(tmp_path).read_all() == txns(1, 1, 4)


def test_segments_of_an_older_generation_are_deleted_and_newer_ones_refused(tmp_path: Path) -> None:
    write_log(tmp_path, txns(1, 1, 3), gen=0)
    write_log(tmp_path / "other", txns(1, 7, 8), gen=1)
    newer = only_segment(tmp_path / "other")
    newer.rename(tmp_path / newer.name)
    log = TxnLog(tmp_path, gen=1)
    assert log.read_all() == txns(1, 7, 8)
    assert [s.gen for s in list_segments(tmp_path)] == [1]
    assert any("older log generations" in n for n in log.notes)
    log.close()
    with pytest.raises(CorruptLogError, match="generation 1"):
        TxnLog(tmp_path, gen=0)


def test_readonly_reports_but_repairs_nothing(tmp_path: Path) -> None:
    write_log(tmp_path, txns(1, 1, 3))
    path = only_segment(tmp_path)
    with open(path, "ab") as f:
        f.write(b"\x00\x00\x00")
    size = path.stat().st_size
    log = TxnLog(tmp_path, readonly=True)
    assert log.read_all() == txns(1, 1, 3)
    assert "read-only" in log.notes[0]
    assert path.stat().st_size == size
    with pytest.raises(StorageError, match="read-only"):
        log.append([txn(1, 4)])


def test_fsync_off_never_calls_fsync(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_fsync(fd: int) -> None:
        raise AssertionError("fsync called with fsync=False")

    monkeypatch.setattr(os, "fsync", no_fsync)
    size = len(record(txn(1, 1)))
    log = TxnLog(tmp_path, fsync=False, segment_max_bytes=size)
    for c in range(1, 4):
        log.append([txn(1, c)])
    log.sync()
    log.truncate_after(make_zxid(1, 1))
    log.close()
    assert TxnLog(tmp_path, fsync=False).read_all() == [txn(1, 1)]


def test_a_failed_fsync_makes_the_log_unusable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = TxnLog(tmp_path)
    log.append([txn(1, 1)])

    def eio(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", eio)
    with pytest.raises(OSError):
        log.sync()
    monkeypatch.undo()
    with pytest.raises(StorageError, match="failed earlier"):
        log.sync()
    with pytest.raises(StorageError, match="failed earlier"):
        log.append([txn(1, 2)])
