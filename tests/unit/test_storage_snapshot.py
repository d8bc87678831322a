"""SnapshotStore: save/load, falling back past damaged snapshots, pruning."""

from __future__ import annotations

from pathlib import Path

import pytest

from zmqzab.storage.snapshot import PREFIX_SIZE, SnapshotStore, snapshot_name
from zmqzab.zxid import make_zxid

pytestmark = [pytest.mark.storage, pytest.mark.snapshots]


def test_no_snapshot(tmp_path: Path) -> None:
    assert SnapshotStore(tmp_path).load_latest() is None


def test_save_and_load(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    zxid = make_zxid(3, 17)
    path = store.save(zxid, b"game state", gen=1)
    assert path.name == snapshot_name(zxid) == "snapshot.0000000300000011"
    assert path.read_bytes().startswith(b"ZZSNAP1\n")
    assert SnapshotStore(tmp_path).load_latest() == (zxid, 1, b"game state")
    store.save(make_zxid(3, 18), b"", gen=2)  # empty state is a valid snapshot
    assert SnapshotStore(tmp_path).load_latest() == (make_zxid(3, 18), 2, b"")


def test_newest_means_highest_generation_not_highest_zxid(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    store.save(make_zxid(4, 9), b"older install", gen=1)
    store.save(make_zxid(4, 2), b"newer install", gen=2)
    assert store.load_latest() == (make_zxid(4, 2), 2, b"newer install")


@pytest.mark.parametrize("damage", ["data", "header", "short", "magic"])
def test_damaged_newest_falls_back_with_a_note(tmp_path: Path, damage: str) -> None:
    store = SnapshotStore(tmp_path)
    store.save(make_zxid(1, 5), b"older", gen=1)
    newest = store.save(make_zxid(2, 5), b"newest state", gen=2)
    data = bytearray(newest.read_bytes())
    if damage == "data":
        data[PREFIX_SIZE + 2] ^= 0x01
    elif damage == "header":
        data[10] ^= 0x01  # inside gen
    elif damage == "short":
        del data[-3:]
    else:
        data[0:1] = b"X"
    newest.write_bytes(bytes(data))

    again = SnapshotStore(tmp_path)
    assert again.load_latest() == (make_zxid(1, 5), 1, b"older")
    (note,) = again.notes
    assert str(newest) in note and "damaged" in note


def test_all_damaged_means_none(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    path = store.save(make_zxid(1, 1), b"x", gen=1)
    path.write_bytes(b"ZZSNAP1\n")
    again = SnapshotStore(tmp_path)
    assert again.load_latest() is None
    assert len(again.notes) == 1


def test_leftover_tmp_is_removed_with_a_note(tmp_path: Path) -> None:
    SnapshotStore(tmp_path).save(make_zxid(1, 1), b"kept", gen=1)
    tmp = tmp_path / (snapshot_name(make_zxid(1, 9)) + ".tmp")
    tmp.write_bytes(b"ZZSNAP1\npartial")
    store = SnapshotStore(tmp_path)
    assert not tmp.exists()
    assert "interrupted" in store.notes[0]
    assert store.load_latest() == (make_zxid(1, 1), 1, b"kept")


def test_prune_keeps_the_newest(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    for gen in range(1, 5):
        store.save(make_zxid(gen, 1), b"s%d" % gen, gen=gen)
    (tmp_path / snapshot_name(make_zxid(9, 9))).write_bytes(b"junk")
    store.prune(keep=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        snapshot_name(make_zxid(3, 1)),
        snapshot_name(make_zxid(4, 1)),
    ]
    assert [i.gen for i in store.list()] == [4, 3]
