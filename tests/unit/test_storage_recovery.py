"""Recovery of a data dir that a crash or bit rot left behind (issue 11, defects 2 and 3).

Defect 2: a damaged snapshot over a purged log must stop the node (naming the file and
`--resync`), never start it from the log alone with a hole below the log's first txn; an older
intact snapshot that the log covers from may be used; the start-up purge counts only snapshots
that recovery could use. Defect 3: what recovery read back (a tail a kill -9 left in the page
cache) is fsynced, with its directories, before ``open_storage`` returns it as durable.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from zmqzab.game.rules import Game
from zmqzab.storage.compaction import SaveSnapshot
from zmqzab.storage.durable import DiskSync
from zmqzab.storage.errors import CorruptSnapshotError
from zmqzab.storage.snapshot import PREFIX_SIZE, snapshot_name
from zmqzab.storage.store import open_storage
from zmqzab.storage.txnlog import list_segments
from zmqzab.zxid import make_zxid

from tests.unit.test_storage_compaction import guesses, restored

pytestmark = [pytest.mark.storage, pytest.mark.snapshots]


def _snap(tmp_path: Path, epoch: int, counter: int) -> Path:
    return tmp_path / "snap" / snapshot_name(make_zxid(epoch, counter))


def _rot(path: Path) -> None:
    """Flip one bit of the snapshot's data: its header still reads, its data checksum fails."""
    raw = bytearray(path.read_bytes())
    raw[PREFIX_SIZE + 3] ^= 0x10
    path.write_bytes(bytes(raw))


def _write(storage, game: Game, first: int, last: int, snapshot: bool) -> None:
    txns = guesses(1, first, last)
    storage.append(txns)
    for t in txns:
        game.apply(t)
    storage.sync()
    if snapshot:
        report = storage.save_snapshot(SaveSnapshot(game.zxid_applied, game.snapshot()))
        assert not report.error and not report.skipped, report


def test_a_damaged_only_snapshot_over_a_purged_log_refuses_to_start(tmp_path: Path) -> None:
    """Goal: no start from a log with a hole below it. Setup: default snapshots_kept; the first
    snapshot at 1:100, 50 more txns, a restart (its purge deletes the segment of 1:1..1:100),
    then bit rot in the snapshot's data. Expected: open_storage raises CorruptSnapshotError
    naming the snapshot and `--resync`; nothing is deleted."""
    storage, _ = open_storage(tmp_path)
    storage.write_epochs(1, 1)
    game = Game()
    _write(storage, game, 1, 100, snapshot=True)
    _write(storage, game, 101, 150, snapshot=False)
    storage.close()
    storage, rec = open_storage(tmp_path)
    storage.close()
    assert rec.log_start == make_zxid(1, 100)
    assert list_segments(tmp_path / "log")[0].first_zxid > make_zxid(1, 100)  # the purge ran
    _rot(_snap(tmp_path, 1, 100))
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises(CorruptSnapshotError) as caught:
        open_storage(tmp_path)
    message = str(caught.value)
    print(message)
    assert snapshot_name(make_zxid(1, 100)) in message and "--resync" in message
    assert "data checksum mismatch" in message
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_the_hole_comes_back_with_the_fault_switch(tmp_path: Path) -> None:
    """The storage fault switch ``recover_over_hole`` puts defect 2 back: the same dir starts,
    from the log alone, a game missing the first 100 txns but claiming the last zxid 1:150."""
    storage, _ = open_storage(tmp_path)
    storage.write_epochs(1, 1)
    game = Game()
    _write(storage, game, 1, 100, snapshot=True)
    _write(storage, game, 101, 150, snapshot=False)
    storage.close()
    open_storage(tmp_path)[0].close()
    _rot(_snap(tmp_path, 1, 100))
    storage, rec = open_storage(tmp_path, test_faults=frozenset({"recover_over_hole"}))
    storage.close()
    assert rec.snapshot is None and rec.last_zxid == make_zxid(1, 150)
    assert rec.txns[0].zxid == make_zxid(1, 101)


def test_an_older_intact_snapshot_the_log_covers_from_is_used(tmp_path: Path) -> None:
    """Goal: a fallback with nothing lost still starts. Setup: snapshots at 1:100 and 1:150,
    txns to 1:180; bit rot in the newest. Expected: recovery from 1:100 plus the log after it
    gives the same game; the damaged file is set aside as ``.damaged``."""
    storage, _ = open_storage(tmp_path)
    storage.write_epochs(1, 1)
    game = Game()
    _write(storage, game, 1, 100, snapshot=True)
    _write(storage, game, 101, 150, snapshot=True)
    _write(storage, game, 151, 180, snapshot=False)
    storage.close()
    _rot(_snap(tmp_path, 1, 150))
    storage, rec = open_storage(tmp_path)
    storage.close()
    assert rec.snapshot_zxid == make_zxid(1, 100)
    assert restored(rec).snapshot() == game.snapshot()
    assert (tmp_path / "snap" / (snapshot_name(make_zxid(1, 150)) + ".damaged")).exists()
    assert rec.log_start == make_zxid(1, 100)


def test_the_start_up_purge_counts_only_snapshots_recovery_could_use(tmp_path: Path) -> None:
    """Goal: a damaged snapshot never takes the place of an intact one in the purge's count.
    Setup: snapshots_kept=2, snapshots at 1:100 and 1:150, bit rot in 1:150, restart (base
    1:100), 50 more txns and a snapshot at 1:200, then bit rot in 1:200 too. Expected: 1:100
    is still there and the log still covers from it, so the next start recovers the whole game.
    Before the fix the purge after 1:200 kept {1:200, damaged 1:150}, deleted 1:100 and the
    segments after it: the next start had no usable base."""
    storage, _ = open_storage(tmp_path, snapshots_kept=2)
    storage.write_epochs(1, 1)
    game = Game()
    _write(storage, game, 1, 100, snapshot=True)
    _write(storage, game, 101, 150, snapshot=True)
    storage.close()
    _rot(_snap(tmp_path, 1, 150))
    storage, rec = open_storage(tmp_path, snapshots_kept=2)
    assert rec.snapshot_zxid == make_zxid(1, 100)
    _write(storage, game, 151, 200, snapshot=True)
    storage.close()
    _rot(_snap(tmp_path, 1, 200))
    storage, rec = open_storage(tmp_path, snapshots_kept=2)
    storage.close()
    assert rec.snapshot_zxid == make_zxid(1, 100)
    assert restored(rec).snapshot() == game.snapshot()


class RecordingSync(DiskSync):
    """Records every fsync (the file's path, or the directory's) and performs it."""

    def __init__(self) -> None:
        self.files: list[Path] = []
        self.dirs: list[Path] = []

    def fsync_fd(self, fd: int) -> None:
        self.files.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        super().fsync_fd(fd)

    def fsync_dir(self, path: Path) -> None:
        self.dirs.append(Path(path).resolve())
        super().fsync_dir(path)


def _killed_with_an_unsynced_tail(tmp_path: Path) -> Path:
    """Epochs, 20 synced txns, a snapshot, then 10 txns written but never fsynced, in a new
    segment whose directory entry was never fsynced either; then the process dies."""
    storage, _ = open_storage(tmp_path)
    storage.write_epochs(1, 1)
    game = Game()
    _write(storage, game, 1, 20, snapshot=True)
    storage.append(guesses(1, 21, 30))  # no sync: only in the page cache
    segment = list_segments(tmp_path / "log")[-1].path
    storage.close()  # as kill -9 leaves it: no fsync
    return segment


def test_recovery_fsyncs_what_it_read_before_reporting_it_durable(tmp_path: Path) -> None:
    """Goal: after kill -9, nothing counts as durable that only the page cache holds. Setup: a
    data dir whose last 10 txns were written and never fsynced. Expected: by the time
    open_storage returns (last zxid 1:30, which the node will report durable), the segment
    holding them, the log directory, the snapshot used, its directory, the epoch files and the
    data dir have been fsynced."""
    tail = _killed_with_an_unsynced_tail(tmp_path)
    sync = RecordingSync()
    storage, rec = open_storage(tmp_path, fsync=sync)
    storage.close()
    assert rec.last_zxid == make_zxid(1, 30)
    root = tmp_path.resolve()
    print(f"fsynced files {sync.files}, dirs {sync.dirs}")
    assert tail.resolve() in sync.files
    assert root / "log" in sync.dirs
    assert _snap(tmp_path, 1, 20).resolve() in sync.files and root / "snap" in sync.dirs
    assert root / "acceptedEpoch" in sync.files and root / "currentEpoch" in sync.files
    assert root in sync.dirs


def test_the_unsynced_tail_stays_unsynced_with_the_fault_switch(tmp_path: Path) -> None:
    """``trust_recovered_tail`` puts defect 3 back: the same recovery fsyncs nothing."""
    tail = _killed_with_an_unsynced_tail(tmp_path)
    sync = RecordingSync()
    storage, rec = open_storage(tmp_path, fsync=sync, test_faults=frozenset({"trust_recovered_tail"}))
    storage.close()
    assert rec.last_zxid == make_zxid(1, 30)
    assert tail.resolve() not in sync.files


def test_unknown_storage_fault_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown storage test fault"):
        open_storage(tmp_path, test_faults=frozenset({"no_such_bug"}))
