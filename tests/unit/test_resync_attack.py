"""Attacks on `zmqzab node --resync` keeping acceptedEpoch (storage/resync.py, session 6 branch f).

Each test names the claim of the change it breaks:
- a symlinked data dir: the renames' directory is never fsynced (the claim "its acceptedEpoch is
  on disk, file and directory entries fsynced, before the process opens the dir");
- a data dir whose acceptedEpoch file is gone (its log shows epochs; or the dir is an empty
  mount point): the resync starts the node at acceptedEpoch 0 (the claim "if the old
  acceptedEpoch cannot be read, --resync refuses");
- a data dir still owned by a running node (its lock held): --resync moves it from under that
  node, whose later epoch writes land in the new dir.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from zmqzab.core.output import Append
from zmqzab.messages import Guess, Txn
from zmqzab.storage.errors import StorageError
from zmqzab.storage.resync import set_aside, staging_dir
from zmqzab.storage.store import open_storage
from zmqzab.zxid import make_zxid

from tests.unit.test_storage_recovery import RecordingSync

pytestmark = [pytest.mark.storage]


def _node_dir(data: Path, accepted: int, current: int, txns: int = 0) -> Path:
    storage, _ = open_storage(data)
    storage.write_epochs(accepted, current)
    if txns:
        storage.apply(Append([Txn(zxid=make_zxid(current, i), op=Guess("c1", i, i))
                              for i in range(1, txns + 1)]))
        storage.sync()
    storage.close()
    return data


def test_resync_of_a_symlinked_data_dir_fsyncs_the_directory_of_its_renames(tmp_path: Path) -> None:
    """Goal: the renames of --resync are durable when the data dir is a symlink (a data dir on
    its own volume, linked from the configured place: `data/node-1 -> /vol/zmqzab/node-1`).
    Setup: the real dir under vol/, the symlink under data/, epochs 7/5. Expected: the
    directory holding the names set_aside creates and renames (data/: staging, aside, the new
    data dir) is fsynced before and after the renames, as for a plain dir. Before the fix
    set_aside fsynced `data_dir.resolve().parent` (vol/), a directory none of its renames
    touched, and never data/: a power loss after the node started (and promised epochs
    through the new dir) could bring back the state before the renames."""
    real = tmp_path / "vol" / "node-1"
    real.parent.mkdir()
    _node_dir(real, 7, 5)
    (tmp_path / "data").mkdir()
    link = tmp_path / "data" / "node-1"
    link.symlink_to(real, target_is_directory=True)
    sync = RecordingSync()
    moved = set_aside(link, fsync=sync, stamp="t1")
    print("fsynced dirs:", sync.dirs, "aside:", moved.aside)
    assert moved.accepted_epoch == 7
    assert link.is_dir() and not link.is_symlink() and not staging_dir(link).exists()
    assert sync.dirs.count((tmp_path / "data").resolve()) >= 2


def test_resync_refuses_a_data_dir_whose_accepted_epoch_file_is_gone_but_whose_log_has_epochs(
        tmp_path: Path) -> None:
    """Goal: --resync never starts a node at an acceptedEpoch below one its old dir shows it
    promised. Setup: a node with epochs 5/5 and three txns of epoch 5; its acceptedEpoch and
    currentEpoch files are lost (the damage that makes it refuse to start: "acceptedEpoch is
    behind the log", whose way out says --resync keeps the promise). Expected: --resync
    refuses (PromiseUnknownError, the way out) and moves nothing, or starts the node with an
    acceptedEpoch of at least 5. Before the fix: a missing file reads as 0, and the node
    started with acceptedEpoch 0; the next would-be leader of any epoch up to 5 counts its
    ACKEPOCH, though it may have promised that epoch (5 at least) to another."""
    data = _node_dir(tmp_path / "node-1", 5, 5, txns=3)
    (data / "acceptedEpoch").unlink()
    (data / "currentEpoch").unlink()
    with pytest.raises(StorageError) as refused:
        open_storage(data)
    print("refused:", refused.value)
    try:
        moved = set_aside(data, fsync=False, stamp="t1")
    except StorageError as exc:
        print("resync refused:", exc)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["node-1"]
        return
    print("resync started the node with acceptedEpoch", moved.accepted_epoch)
    assert moved.accepted_epoch >= 5


def test_resync_refuses_a_data_dir_a_running_node_holds(tmp_path: Path) -> None:
    """Goal: --resync run while the node still runs (hung, or the operator picked the wrong
    terminal) does not move the dir from under it. Setup: epochs 3/3, the dir open (its lock
    held, as by a running node). Expected: StorageError naming the lock, nothing moved. Before
    the fix the dir was renamed aside under the live node; that node's next epoch writes (by
    path) landed in the new dir, so the new dir held currentEpoch 4 over an empty log (its
    txns went to the aside dir through the open segment), vouching in elections for a
    history it does not hold."""
    data = _node_dir(tmp_path / "node-1", 3, 3)
    live, _ = open_storage(data)
    try:
        try:
            set_aside(data, fsync=False, stamp="t1")
        except StorageError as exc:
            print("refused:", exc)
            assert "in use" in str(exc)
            assert sorted(p.name for p in tmp_path.iterdir()) == ["node-1"]
            return
        live.write_epochs(4, 4)  # the live node goes on: a new epoch, by path
        print("new dir's epochs:", (data / "acceptedEpoch").read_text().strip(),
              (data / "currentEpoch").read_text().strip())
        pytest.fail("--resync moved the dir of a running node aside")
    finally:
        live.close()


def test_resync_names_the_lock_file_as_the_store_does() -> None:
    """resync.py repeats store.py's lock file name (store.py imports resync.py): they must agree."""
    from zmqzab.storage import resync, store

    assert resync.LOCK_FILE == store.LOCK_FILE


def test_resync_refuses_an_empty_data_dir(tmp_path: Path) -> None:
    """Goal: --resync of a node whose data dir is there but empty (the mount point of a volume
    that failed to mount; the node's files are on the volume) does not start it at
    acceptedEpoch 0: the node it is asked to rebuild took part, so it promised something.
    Setup: an empty dir. Expected: PromiseUnknownError (its message: a node that never took
    part starts without --resync), nothing moved. Before the fix the empty dir read as
    acceptedEpoch 0 and the node started with it."""
    data = tmp_path / "node-1"
    data.mkdir()
    try:
        moved = set_aside(data, fsync=False, stamp="t1")
    except StorageError as exc:
        print("refused:", exc)
        assert "never been part of the cluster" in str(exc)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["node-1"]
        return
    pytest.fail(f"--resync started an empty dir's node with acceptedEpoch {moved.accepted_epoch}")


class _DieAt(RecordingSync):
    """Dies (as a kill -9 would stop the process) just before fsync number ``n``."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.count = n, 0

    def _tick(self) -> None:
        self.count += 1
        if self.count == self.n:
            raise KeyboardInterrupt(f"killed before fsync {self.n}")

    def fsync_fd(self, fd: int) -> None:
        self._tick()
        super().fsync_fd(fd)

    def fsync_dir(self, path: Path) -> None:
        self._tick()
        super().fsync_dir(path)


@pytest.mark.parametrize("second", ["start", "resync"])
@pytest.mark.parametrize("crash", ["fsync 1", "fsync 2", "fsync 3", "fsync 4", "rename 1", "rename 2"])
def test_every_crash_point_of_a_resync_keeps_the_promise(tmp_path: Path, monkeypatch, crash: str,
                                                         second: str) -> None:
    """Goal: a kill at any point of set_aside (before each of its fsyncs, at either rename)
    leaves a dir from which the next start (plain, or a second --resync) recovers acceptedEpoch
    at least the old one. Setup: epochs 6/4 and two txns; the kill. Expected: after the next
    start acceptedEpoch >= 6; the data dir holds either the old history (plain start: it is
    refused or recovers it) or no history and currentEpoch 0."""
    data = _node_dir(tmp_path / "node-1", 6, 4, txns=2)
    sync: RecordingSync = RecordingSync()
    rename = Path.rename
    if crash.startswith("fsync"):
        sync = _DieAt(int(crash.split()[1]))
    else:
        nth = int(crash.split()[1])
        calls = []

        def dying_rename(self: Path, target):
            calls.append(self)
            if len(calls) == nth:
                raise KeyboardInterrupt(f"killed at rename {nth}")
            return rename(self, target)

        monkeypatch.setattr(Path, "rename", dying_rename)
    try:
        set_aside(data, fsync=sync, stamp="t1")
        finished = True
    except KeyboardInterrupt as exc:
        print("crash:", exc)
        finished = False
    monkeypatch.setattr(Path, "rename", rename)
    print("after the crash:", sorted(p.name for p in tmp_path.iterdir()), "finished:", finished)
    if second == "resync":
        moved = set_aside(data, fsync=False, stamp="t2")
        assert moved.accepted_epoch >= 6
    storage, rec = open_storage(data)
    storage.close()
    print("recovered:", rec.accepted_epoch, rec.current_epoch, [t.zxid for t in rec.txns])
    assert rec.accepted_epoch >= 6
    assert (rec.current_epoch, rec.txns) == (4, rec.txns) and len(rec.txns) == 2 or (
        rec.current_epoch == 0 and not rec.txns)


def test_resync_of_a_data_dir_that_cannot_be_renamed_fails_cleanly(tmp_path: Path, monkeypatch) -> None:
    """Goal: a data dir that is a mount point (its own volume: rename(2) gives EBUSY) makes
    --resync fail with a StorageError (the node exits 2 with a message, not a traceback) that
    says how to resync by hand without losing the promise, and leaves no staging dir behind.
    Setup: epochs 5/5; renaming the data dir raises EBUSY. Expected: StorageError naming the
    acceptedEpoch to keep; nothing moved; no `.resync` dir. Before the fix the OSError escaped
    run_node (a traceback) and left `node-1.resync` behind; the errors' way out (WAY_OUT) now
    names only --resync, so the operator of a mounted data dir had no way out that keeps the
    promise."""
    import errno

    data = _node_dir(tmp_path / "node-1", 5, 5)
    rename = Path.rename

    def busy(self: Path, target):
        if self == data:
            raise OSError(errno.EBUSY, "Device or resource busy", str(self))
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", busy)
    with pytest.raises(StorageError) as failed:
        set_aside(data, fsync=False, stamp="t1")
    print(failed.value)
    assert "acceptedEpoch" in str(failed.value) and "5" in str(failed.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["node-1"]
