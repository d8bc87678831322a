"""`zmqzab node --resync` (storage/resync.py): the refused data dir is set aside and the node
starts empty but for the epoch it promised (acceptedEpoch), durably, before it sends anything;
a promise it cannot read stops the resync with the way out."""

from __future__ import annotations

from pathlib import Path

import pytest

from zmqzab.storage.resync import PromiseUnknownError, set_aside, staging_dir
from zmqzab.storage.store import open_storage

from tests.unit.test_storage_recovery import RecordingSync

pytestmark = [pytest.mark.storage]


def _node_dir(tmp_path: Path, accepted: int, current: int) -> Path:
    data = tmp_path / "node-1"
    storage, _ = open_storage(data)
    storage.write_epochs(accepted, current)
    storage.close()
    return data


def test_resync_keeps_accepted_epoch_and_resets_current_epoch(tmp_path: Path) -> None:
    """Goal: the new data dir holds the old acceptedEpoch (the node promised it: a second
    would-be leader of that epoch must get NOT_COUNTED), and currentEpoch 0 (it vouches in
    elections for a history the node no longer holds). Setup: epochs 7/5. Expected: the old
    dir is renamed aside untouched; the new one recovers acceptedEpoch 7, currentEpoch 0, no
    txns; the acceptedEpoch file and both directory entries were fsynced."""
    data = _node_dir(tmp_path, 7, 5)
    sync = RecordingSync()
    moved = set_aside(data, fsync=sync, stamp="t1")
    assert moved.accepted_epoch == 7 and moved.aside == tmp_path / "node-1.aside-t1"
    assert (moved.aside / "acceptedEpoch").read_text() == "7\n"
    assert (moved.aside / "currentEpoch").read_text() == "5\n"
    assert not staging_dir(data).exists()
    print("fsynced files:", sync.files, "dirs:", sync.dirs)
    assert any(p.name.startswith("acceptedEpoch") for p in sync.files)
    assert sync.dirs.count(tmp_path.resolve()) >= 2  # staging's name before the renames, then both
    storage, rec = open_storage(data)
    storage.close()
    assert (rec.accepted_epoch, rec.current_epoch, rec.last_zxid) == (7, 0, 0)


@pytest.mark.parametrize("damage", ["garbage", "missing dir"])
def test_resync_refuses_when_the_promise_cannot_be_read(tmp_path: Path, damage: str) -> None:
    """Goal: a node that cannot tell what it promised does not start empty (it could promise an
    epoch twice); the refusal names the cause and the way out. Setup: an acceptedEpoch file
    holding garbage, or no data dir at all. Expected: PromiseUnknownError naming the file to
    write, the highest acceptedEpoch of the other nodes and --resync; nothing is moved."""
    data = tmp_path / "node-1"
    if damage == "garbage":
        data = _node_dir(tmp_path, 3, 3)
        (data / "acceptedEpoch").write_bytes(b"\x003\n")
    with pytest.raises(PromiseUnknownError) as refused:
        set_aside(data, fsync=False)
    message = str(refused.value)
    print(message)
    for part in (str(data / "acceptedEpoch"), "highest acceptedEpoch of the other nodes", "--resync",
                 "promise an epoch a second time", "never been part of the cluster"):
        assert part in message
    assert sorted(p.name for p in tmp_path.iterdir()) == (["node-1"] if damage == "garbage" else [])


def test_the_written_way_out_works(tmp_path: Path) -> None:
    """Goal: the refusal's way out (write the others' highest acceptedEpoch, run --resync
    again) starts the node with that promise. Setup: garbage in acceptedEpoch; the operator
    writes 9. Expected: the new data dir recovers acceptedEpoch 9."""
    data = _node_dir(tmp_path, 3, 3)
    (data / "acceptedEpoch").write_bytes(b"#!\n")
    with pytest.raises(PromiseUnknownError):
        set_aside(data, fsync=False)
    (data / "acceptedEpoch").write_text("9\n")
    assert set_aside(data, fsync=False).accepted_epoch == 9
    storage, rec = open_storage(data)
    storage.close()
    assert (rec.accepted_epoch, rec.current_epoch) == (9, 0)


def test_a_resync_interrupted_between_its_renames_is_finished_at_the_next_open(tmp_path: Path,
                                                                               monkeypatch) -> None:
    """Goal: a crash after the old dir went aside and before the new one took its name does not
    make the node start empty (and forget its promise) at the next start, with or without
    --resync. Setup: epochs 4/4; the second rename fails as a crash would stop it. Expected:
    no data dir, a complete staging dir; open_storage renames it in (with a note) and
    recovers acceptedEpoch 4."""
    data = _node_dir(tmp_path, 4, 4)
    rename = Path.rename

    def crash_on_staging(self: Path, target):
        if self == staging_dir(data):
            raise KeyboardInterrupt("power lost")
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", crash_on_staging)
    with pytest.raises(KeyboardInterrupt):
        set_aside(data, fsync=False, stamp="t1")
    monkeypatch.setattr(Path, "rename", rename)
    assert not data.exists() and (staging_dir(data) / "acceptedEpoch").is_file()
    storage, rec = open_storage(data)
    storage.close()
    print(rec.notes)
    assert rec.accepted_epoch == 4 and any("interrupted --resync" in n for n in rec.notes)
    assert not staging_dir(data).exists()


def test_two_resyncs_in_one_second_keep_both_old_dirs(tmp_path: Path) -> None:
    """Goal: a second --resync within the same second (the stamp's resolution) keeps both old
    dirs. Setup: epochs 2/2, two set_asides with one stamp. Expected: two aside dirs, the
    promise carried through both."""
    data = _node_dir(tmp_path, 2, 2)
    first = set_aside(data, fsync=False, stamp="same")
    second = set_aside(data, fsync=False, stamp="same")
    assert first.aside != second.aside and first.aside.is_dir() and second.aside.is_dir()
    assert second.accepted_epoch == 2
