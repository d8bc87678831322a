"""Storage / open_storage: recovery, log generations (SNAP install), epoch invariant, lock."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from zmqzab.core.output import Append, InstallSnapshot, Truncate
from zmqzab.messages import Guess, Txn
from zmqzab.storage.errors import CorruptSnapshotError, EpochInvariantError, StorageError
from zmqzab.storage.snapshot import PREFIX_SIZE
from zmqzab.storage.store import Storage, open_storage
from zmqzab.storage.txnlog import TxnLog, list_segments
from zmqzab.zxid import make_zxid

pytestmark = [pytest.mark.storage]


def txn(epoch: int, counter: int) -> Txn:
    return Txn(zxid=make_zxid(epoch, counter), op=Guess("c1", counter, counter % 101))


def txns(epoch: int, first: int, last: int) -> list[Txn]:
    return [txn(epoch, c) for c in range(first, last + 1)]


def reopen(storage: Storage, **kwargs):
    storage.close()
    return open_storage(storage.data_dir, **kwargs)


def test_empty_dir_is_a_fresh_node(tmp_path: Path) -> None:
    storage, rec = open_storage(tmp_path / "node1")
    assert (rec.accepted_epoch, rec.current_epoch, rec.snapshot_zxid) == (0, 0, 0)
    assert rec.snapshot is None and rec.txns == [] and rec.notes == []
    assert storage.last_zxid == 0
    assert (tmp_path / "node1" / "log").is_dir() and (tmp_path / "node1" / "snap").is_dir()


def test_apply_sync_reopen(tmp_path: Path) -> None:
    storage, _ = open_storage(tmp_path)
    storage.write_epochs(accepted=2, current=2)
    storage.apply(Append(txns(1, 1, 4)))
    storage.apply(Append(txns(2, 1, 3)))
    storage.sync()
    assert storage.last_zxid == make_zxid(2, 3)
    storage, rec = reopen(storage)
    assert (rec.accepted_epoch, rec.current_epoch) == (2, 2)
    assert rec.txns == txns(1, 1, 4) + txns(2, 1, 3)
    assert rec.last_zxid == storage.last_zxid == make_zxid(2, 3)


def test_truncate_op_then_reopen(tmp_path: Path) -> None:
    storage, _ = open_storage(tmp_path)
    storage.write_epochs(3, 3)
    storage.apply(Append(txns(1, 1, 5) + txns(2, 1, 3)))
    storage.apply(Truncate(make_zxid(1, 4)))
    storage.apply(Append(txns(3, 1, 1)))
    storage.sync()
    _, rec = reopen(storage)
    assert rec.txns == txns(1, 1, 4) + txns(3, 1, 1)


def test_append_at_or_before_the_last_zxid_is_refused(tmp_path: Path) -> None:
    storage, _ = open_storage(tmp_path)
    storage.apply(InstallSnapshot(make_zxid(1, 10), b"s"))
    with pytest.raises(StorageError, match="at or before"):
        storage.apply(Append([txn(1, 10)]))


def test_install_snapshot_discards_the_older_log(tmp_path: Path) -> None:
    storage, _ = open_storage(tmp_path)
    storage.write_epochs(accepted=5, current=4)
    # Committed txns of epoch 3, and a divergent tail proposed in epoch 4 that never committed.
    storage.apply(Append(txns(3, 1, 8) + txns(4, 1, 2)))
    storage.sync()
    # The leader of epoch 5 sends SNAP at 3:6: below the log's end, and below 4:1 and 4:2.
    snap = make_zxid(3, 6)
    storage.apply(InstallSnapshot(snap, b"game at 3:6"))
    assert storage.last_zxid == snap
    assert list_segments(tmp_path / "log") == []
    storage.apply(Append(txns(3, 7, 7)))  # the sync stream continues after the snapshot
    storage.sync()
    storage.write_epochs(current=5)

    storage, rec = reopen(storage)
    assert rec.snapshot_zxid == snap and rec.snapshot == b"game at 3:6"
    assert rec.txns == [txn(3, 7)]  # 4:1 and 4:2 are gone for good
    assert storage.last_zxid == make_zxid(3, 7)
    assert [s.gen for s in list_segments(tmp_path / "log")] == [1]
    assert rec.notes == []


def test_install_with_no_txns_after_it(tmp_path: Path) -> None:
    storage, _ = open_storage(tmp_path)
    storage.write_epochs(2, 2)
    storage.apply(Append(txns(1, 1, 3)))
    storage.apply(InstallSnapshot(make_zxid(2, 4), b"s"))
    storage.sync()
    storage, rec = reopen(storage)
    assert rec.txns == [] and rec.snapshot_zxid == make_zxid(2, 4)
    assert storage.last_zxid == make_zxid(2, 4)
    # A second SNAP, even at a lower zxid, is the newer base (generations order installs).
    storage.apply(InstallSnapshot(make_zxid(2, 2), b"t"))
    storage, rec = reopen(storage)
    assert (rec.snapshot_zxid, rec.snapshot) == (make_zxid(2, 2), b"t")
    assert storage.gen == 2


def test_crash_between_snapshot_rename_and_segment_deletion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage, _ = open_storage(tmp_path)
    storage.write_epochs(accepted=5, current=4)
    storage.apply(Append(txns(3, 1, 8) + txns(4, 1, 2)))
    storage.sync()
    old_segments = [s.path for s in list_segments(tmp_path / "log")]

    def crash(self: TxnLog, gen: int) -> None:
        raise KeyboardInterrupt("simulated crash")

    monkeypatch.setattr(TxnLog, "new_generation", crash)
    with pytest.raises(KeyboardInterrupt):
        storage.apply(InstallSnapshot(make_zxid(3, 6), b"game at 3:6"))
    monkeypatch.undo()
    assert all(p.exists() for p in old_segments)  # the crash left them there

    storage, rec = reopen(storage)
    assert rec.snapshot_zxid == make_zxid(3, 6) and rec.snapshot == b"game at 3:6"
    assert rec.txns == []
    assert storage.last_zxid == make_zxid(3, 6)
    assert not any(p.exists() for p in old_segments)
    assert any("older log generations" in n for n in rec.notes)
    storage.apply(Append([txn(3, 7)]))
    storage.sync()
    _, rec = reopen(storage)
    assert rec.txns == [txn(3, 7)]


def test_crash_before_the_snapshot_rename_keeps_the_old_base(tmp_path: Path) -> None:
    storage, _ = open_storage(tmp_path)
    storage.write_epochs(1, 1)
    storage.apply(Append(txns(1, 1, 3)))
    storage.sync()
    (tmp_path / "snap" / "snapshot.0000000100000009.tmp").write_bytes(b"ZZSNAP1\nhalf")
    _, rec = reopen(storage)
    assert rec.snapshot is None and rec.txns == txns(1, 1, 3)
    assert any("interrupted" in n for n in rec.notes)


def test_truncate_below_the_snapshot_is_refused(tmp_path: Path) -> None:
    storage, _ = open_storage(tmp_path)
    storage.apply(InstallSnapshot(make_zxid(2, 5), b"s"))
    storage.apply(Append(txns(2, 6, 8)))
    storage.apply(Truncate(make_zxid(2, 5)))  # down to the snapshot itself is fine
    assert storage.last_zxid == make_zxid(2, 5)
    with pytest.raises(StorageError, match="snapshot at 2:5"):
        storage.apply(Truncate(make_zxid(2, 4)))


def test_newer_generation_segments_without_their_snapshot_are_refused(tmp_path: Path) -> None:
    storage, _ = open_storage(tmp_path)
    storage.write_epochs(2, 2)
    storage.apply(InstallSnapshot(make_zxid(1, 5), b"first"))
    storage.apply(InstallSnapshot(make_zxid(2, 5), b"second"))
    storage.apply(Append(txns(2, 6, 7)))
    storage.sync()
    storage.close()
    newest = tmp_path / "snap" / "snapshot.0000000200000005"
    data = bytearray(newest.read_bytes())
    data[PREFIX_SIZE] ^= 0xFF
    newest.write_bytes(bytes(data))
    # Falling back to the generation-1 snapshot would replay 2:6.. on top of 1:5: a hole.
    with pytest.raises(CorruptSnapshotError) as info:
        open_storage(tmp_path)
    message = str(info.value)
    assert "generation 2" in message and "--resync" in message and str(newest) in message


def test_current_epoch_behind_the_log_starts_with_a_note(tmp_path: Path) -> None:
    """A crash after a synced stream was persisted but before currentEpoch was written."""
    storage, _ = open_storage(tmp_path)
    storage.write_epochs(accepted=3, current=1)
    storage.apply(Append(txns(1, 1, 2) + txns(2, 1, 1)))
    storage.sync()
    storage.close()
    storage, rec = open_storage(tmp_path)
    assert (rec.accepted_epoch, rec.current_epoch) == (3, 1)
    assert any("currentEpoch 1 is behind the last logged zxid 2:1" in n for n in rec.notes)


def test_accepted_epoch_behind_the_log_is_refused(tmp_path: Path) -> None:
    storage, _ = open_storage(tmp_path)
    storage.write_epochs(accepted=1, current=1)
    storage.apply(Append(txns(1, 1, 2) + txns(2, 1, 1)))
    storage.sync()
    storage.close()
    with pytest.raises(EpochInvariantError) as info:
        open_storage(tmp_path)
    message = str(info.value)
    for part in ("acceptedEpoch=1", "currentEpoch=1", "2:1", str(tmp_path / "acceptedEpoch"), "--resync"):
        assert part in message
    assert "\n" not in message


def test_accepted_behind_current_is_refused(tmp_path: Path) -> None:
    (tmp_path / "acceptedEpoch").write_text("1\n")
    (tmp_path / "currentEpoch").write_text("2\n")
    with pytest.raises(EpochInvariantError, match="acceptedEpoch=1, currentEpoch=2"):
        open_storage(tmp_path)


def test_a_data_dir_has_one_owner(tmp_path: Path) -> None:
    storage, _ = open_storage(tmp_path)
    with pytest.raises(StorageError, match=f"in use by another zmqzab node \\(pid {os.getpid()}"):
        open_storage(tmp_path)
    _, rec = open_storage(tmp_path, readonly=True)  # tools may look
    assert rec.txns == []
    storage.close()
    open_storage(tmp_path)[0].close()


def test_readonly_open_changes_nothing(tmp_path: Path) -> None:
    storage, _ = open_storage(tmp_path)
    storage.write_epochs(1, 1)
    storage.apply(Append(txns(1, 1, 3)))
    storage.sync()
    storage.close()
    (segment,) = list_segments(tmp_path / "log")
    with open(segment.path, "ab") as f:
        f.write(b"\x01\x02\x03")
    before = segment.path.read_bytes()
    storage, rec = open_storage(tmp_path, readonly=True)
    assert rec.txns == txns(1, 1, 3) and rec.notes
    assert segment.path.read_bytes() == before
    with pytest.raises(StorageError, match="read-only"):
        storage.apply(Append([txn(1, 4)]))
    with pytest.raises(StorageError, match="no data dir"):
        open_storage(tmp_path / "missing", readonly=True)


def test_fsync_off_is_named_unsafe(tmp_path: Path) -> None:
    _, rec = open_storage(tmp_path, fsync=False)
    assert any("unsafe" in n for n in rec.notes)


def test_a_failed_install_makes_storage_unusable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage, _ = open_storage(tmp_path)

    def enospc(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", enospc)
    with pytest.raises(OSError):
        storage.apply(InstallSnapshot(make_zxid(1, 1), b"s"))
    monkeypatch.undo()
    with pytest.raises(StorageError, match="failed earlier"):
        storage.apply(Append([txn(1, 2)]))
