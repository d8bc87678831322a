"""Attack on `zmqzab node --resync` (storage/resync.py): a node's open (``finish_interrupted``,
called by every open and by another --resync before it takes the lock) in the window between
the resync's two renames.

Schedule: node-1 with epochs 7/5; ``set_aside`` renames it aside; before it renames
``node-1.resync`` into place, a node starting on node-1 (or a second --resync) sees no data dir
and a complete staging dir, and renames it in, as it should for a crashed resync. Expected: the
resync ends as it would have alone (the new dir in place with acceptedEpoch 7, the old one
aside); it is the state it wanted. Before the fix: the resync raised a raw FileNotFoundError
(staging -> data dir), not a StorageError, and the operator was told the resync failed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from zmqzab.storage import resync
from zmqzab.storage.resync import finish_interrupted, set_aside
from zmqzab.storage.store import open_storage

pytestmark = [pytest.mark.storage]


def test_a_node_open_between_the_renames_does_not_fail_the_resync(tmp_path: Path, monkeypatch) -> None:
    data = tmp_path / "node-1"
    storage, _ = open_storage(data)
    storage.write_epochs(7, 5)
    storage.close()
    real_rename = Path.rename
    notes: list = []

    def rename(self: Path, target):
        out = real_rename(self, target)
        if self == data:  # the old dir is aside: another process opens node-1 now
            notes.append(finish_interrupted(data, False))
        return out

    monkeypatch.setattr(Path, "rename", rename)
    moved = set_aside(data, fsync=False, stamp="t1")
    monkeypatch.setattr(Path, "rename", real_rename)
    assert notes and notes[0] is not None  # the other process did rename the staging dir in
    assert moved.accepted_epoch == 7 and moved.aside == tmp_path / "node-1.aside-t1"
    assert (data / "acceptedEpoch").read_text() == "7\n"
    assert not resync.staging_dir(data).exists()
    storage, _ = open_storage(data)
    try:
        assert storage.read_epochs() == (7, 0)
    finally:
        storage.close()
