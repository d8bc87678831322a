"""Attacks on the storage recovery of issue 11 (defects 2 and 3): concrete on-disk states built
with the production storage API, then damaged, crashed or power-cut (zmqzab/sim/disk.py's page
cache model stands in for the kernel)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from zmqzab.game.rules import Game
from zmqzab.sim.disk import DiskDied, PageCache
from zmqzab.storage.compaction import SaveSnapshot
from zmqzab.storage.errors import CorruptSnapshotError
from zmqzab.storage.snapshot import snapshot_name
from zmqzab.storage.store import SNAP_DIR, open_storage
from zmqzab.storage.txnlog import list_segments
from zmqzab.zxid import make_zxid

from tests.unit.test_storage_compaction import guesses, restored
from tests.unit.test_storage_recovery import _rot, _snap, _write

pytestmark = [pytest.mark.storage, pytest.mark.security]


def _rot_header(path: Path) -> None:
    """Flip a bit in the snapshot's header: its header checksum fails."""
    raw = bytearray(path.read_bytes())
    raw[10] ^= 0x04
    path.write_bytes(bytes(raw))


def test_a_header_damaged_newest_snapshot_falls_back_to_an_older_one_the_log_covers(tmp_path: Path) -> None:
    """Same dir as test_an_older_intact_snapshot_the_log_covers_from_is_used, but the bit rot is
    in the newest snapshot's header instead of its data. Snapshots 1:100 and 1:150 (both
    generation 0), log to 1:180 covering from 1:100. Nothing is lost by falling back to 1:100:
    the log of generation 0 runs past 1:150, so the damaged file cannot be a newer generation's."""
    storage, _ = open_storage(tmp_path)
    storage.write_epochs(1, 1)
    game = Game()
    _write(storage, game, 1, 100, snapshot=True)
    _write(storage, game, 101, 150, snapshot=True)
    _write(storage, game, 151, 180, snapshot=False)
    storage.close()
    _rot_header(_snap(tmp_path, 1, 150))
    storage, rec = open_storage(tmp_path)  # refuses today: "header unreadable", --resync
    storage.close()
    assert rec.snapshot_zxid == make_zxid(1, 100)
    assert restored(rec).snapshot() == game.snapshot()


class _DieAtSnapDirFsync(PageCache):
    """The page cache model; when armed, the process dies (kill -9) just before the next
    fsync of the snapshot directory: the new snapshot's rename is only in the page cache."""

    armed = False

    def fsync_dir(self, path: Path) -> None:
        if self.armed and Path(path).name == SNAP_DIR:
            self.armed = False
            raise DiskDied("the fsync of snap/", power=False)
        super().fsync_dir(path)


def _power_fails_at_every_fsync_of_recovery(tmp_path: Path, build, check) -> None:
    """For k = 1, 2, ...: build the killed data dir afresh, restart it with the power failing
    just before the k-th fsync of recovery, then check what the next start recovers; until
    recovery runs to its end without reaching a k-th fsync."""
    for k in range(1, 100):
        data = tmp_path / f"k{k}"
        cache, expected = build(data)
        cache.die_at, cache.die_power = cache.fsyncs + k, True
        try:
            open_storage(data, fsync=cache, lock=False, segment_max_bytes=2048)[0].close()
            return
        except DiskDied as died:
            where = died.where
        undurable = cache.undurable()
        cache.power_loss(random.Random(k), 0.0)
        try:
            storage, rec = open_storage(data, fsync=cache, lock=False, segment_max_bytes=2048)
        except CorruptSnapshotError as exc:
            print(f"k={k}: power failed before {where}; refused: {exc}")
            continue
        storage.close()
        print(f"k={k}: power failed before {where} (undurable then: {undurable}); recovered base "
              f"{rec.snapshot_zxid:x}, txns from {rec.txns[0].zxid if rec.txns else None}")
        check(rec, expected, k, where)
    raise AssertionError("recovery never finished")


def _killed_between_a_snapshots_rename_and_its_dir_fsync(data: Path):
    cache = _DieAtSnapDirFsync(data)
    storage, _ = open_storage(data, fsync=cache, lock=False, segment_max_bytes=2048)
    storage.write_epochs(1, 1)
    game = Game()
    for first in range(1, 100, 10):
        _write(storage, game, first, first + 9, snapshot=False)
    assert len(list_segments(data / "log")) >= 2
    cache.armed = True
    with pytest.raises(DiskDied):
        storage.save_snapshot(SaveSnapshot(game.zxid_applied, game.snapshot()))
    storage.close()  # kill -9: the page cache keeps snap/snapshot.<1:100>
    return cache, game


def test_the_start_up_purge_never_deletes_the_log_before_the_snapshot_it_relies_on_is_durable(
        tmp_path: Path) -> None:
    """Crash between a snapshot's commit and its purge, then a power loss during the next start.
    Setup: small segments (two before the first snapshot); a kill -9 after the first snapshot's
    rename into snap/ but before snap/ is fsynced (its commit point in the page cache only).
    Restart, with the power failing before each fsync of recovery in turn. Before the fix the
    start-up purge deleted the segment the snapshot covers and fsynced log/ before anything
    fsynced snap/: a power loss there left neither, and the next start replayed 1:61..1:100
    onto an empty game. Expected at the next start: the whole game, or a refusal."""

    def check(rec, game, k, where):
        assert restored(rec).snapshot() == game.snapshot(), f"started over a hole (power lost before {where})"

    _power_fails_at_every_fsync_of_recovery(tmp_path, _killed_between_a_snapshots_rename_and_its_dir_fsync, check)


def _killed_in_a_snap_install(data: Path):
    cache = _DieAtSnapDirFsync(data)
    storage, _ = open_storage(data, fsync=cache, lock=False, segment_max_bytes=2048)
    storage.write_epochs(1, 1)
    game = Game()
    _write(storage, game, 1, 100, snapshot=False)  # synced: the node ACKed these
    leader = Game()
    for t in guesses(1, 1, 150):
        leader.apply(t)
    cache.armed = True
    with pytest.raises(DiskDied):
        storage.install_snapshot(leader.zxid_applied, leader.snapshot())
    storage.close()  # kill -9
    return cache, (game, leader)


def test_recovery_never_deletes_an_old_generation_before_the_new_snapshot_is_durable(
        tmp_path: Path) -> None:
    """Crash in the middle of a SNAP install, then a power loss during the next start. Setup:
    txns 1:1..1:100 synced (reported durable: the node ACKed them); a SNAP at 1:150 installed,
    the process killed after the generation-1 snapshot was renamed into snap/ and before snap/
    was fsynced. Restart, with the power failing before each fsync of recovery in turn. Before
    the fix TxnLog's open deleted the generation-0 segments and fsynced log/ before anything
    fsynced snap/: a power loss there left an empty node. Expected: the SNAP's state or the old
    history 1:1..1:100, never less."""

    def check(rec, games, k, where):
        assert restored(rec).snapshot() in (games[0].snapshot(), games[1].snapshot()), \
            f"the node lost txns it had reported durable (power lost before {where})"

    _power_fails_at_every_fsync_of_recovery(tmp_path, _killed_in_a_snap_install, check)


def test_a_header_damaged_snapshot_of_a_newer_generation_is_still_refused(tmp_path: Path) -> None:
    """The guard of the fallback above: a SNAP installed at 1:200 (generation 1, no txn logged
    after it yet) over a generation-0 snapshot at 1:100; then bit rot in the new snapshot's
    header. Its generation cannot be read and no log of generation 0 runs past it (the install
    deleted those segments): falling back to 1:100 would lose the SNAP's state. Expected: a
    refusal naming the file and --resync."""
    storage, _ = open_storage(tmp_path)
    storage.write_epochs(1, 1)
    game = Game()
    _write(storage, game, 1, 100, snapshot=True)
    _write(storage, game, 101, 150, snapshot=False)
    leader = Game()
    for t in guesses(1, 1, 200):
        leader.apply(t)
    storage.install_snapshot(leader.zxid_applied, leader.snapshot())
    storage.close()
    _rot_header(_snap(tmp_path, 1, 200))
    with pytest.raises(CorruptSnapshotError) as caught:
        open_storage(tmp_path)
    message = str(caught.value)
    print(message)
    assert snapshot_name(make_zxid(1, 200)) in message and "--resync" in message


def test_the_start_up_purge_keeps_an_intact_fallback_when_older_snapshots_rotted(tmp_path: Path) -> None:
    """The start-up purge counts only snapshots recovery could use - but it never looks at the
    data of those older than the base. Setup: snapshots 1:100, 1:150, 1:200 (the default three
    kept); bit rot in the data of 1:150 and 1:200; a snapshot at 1:250 saved and the process
    killed before its purge (after its rename). Restart: base 1:250; the purge keeps
    {1:250, 1:200, 1:150} and deletes 1:100, the last intact fallback, with the segments after
    it. Then 1:250 rots too. Expected: the next start recovers the whole game from 1:100 and the
    log (it was all on disk when the purge ran); not a refusal."""
    data = tmp_path / "n"
    cache = _DieAtSnapDirFsync(data)
    storage, _ = open_storage(data, fsync=cache, lock=False)
    storage.write_epochs(1, 1)
    game = Game()
    _write(storage, game, 1, 100, snapshot=True)
    _write(storage, game, 101, 150, snapshot=True)
    _write(storage, game, 151, 200, snapshot=True)
    _write(storage, game, 201, 250, snapshot=False)
    _rot(_snap(data, 1, 150))
    _rot(_snap(data, 1, 200))
    cache.armed = True
    with pytest.raises(DiskDied):  # killed between the commit of 1:250 and its purge
        storage.save_snapshot(SaveSnapshot(game.zxid_applied, game.snapshot()))
    storage.close()
    storage, rec = open_storage(data, fsync=cache, lock=False)
    storage.close()
    assert rec.snapshot_zxid == make_zxid(1, 250)
    print("snap/ after the start-up purge:", sorted(p.name for p in (data / "snap").iterdir()))
    _rot(_snap(data, 1, 250))
    storage, rec = open_storage(data, fsync=cache, lock=False)
    storage.close()
    assert restored(rec).snapshot() == game.snapshot()


def test_a_new_or_resynced_data_dir_is_durable_in_its_parent_before_it_is_used(tmp_path: Path) -> None:
    """`zmqzab node --resync` renames the refused data dir aside and open_storage creates a new
    one; the node then ACKs what the leader syncs into it. Both the rename and the new name live
    in the parent directory: unless it is fsynced, a power loss can bring the old (refused) dir
    back under the node's name and lose the new one with every txn the node ACKed. The
    simulator cannot show it (its directories never vanish). Expected: by the time open_storage
    returns, the parent of the data dir has been fsynced."""
    from tests.unit.test_storage_recovery import RecordingSync
    from zmqzab.server.node import set_aside

    data = tmp_path / "node-0"
    storage, _ = open_storage(data)
    storage.write_epochs(1, 1)
    storage.close()
    assert set_aside(data) is not None
    sync = RecordingSync()
    storage, rec = open_storage(data, fsync=sync)
    storage.close()
    assert rec.last_zxid == 0
    print("fsynced dirs:", sync.dirs)
    assert tmp_path.resolve() in sync.dirs
