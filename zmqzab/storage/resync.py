"""`zmqzab node --resync`: set a refused data dir aside, keep the node's epoch promise.

A node refuses its data dir when the log or a snapshot is damaged; the way out is to start it
empty and let the leader sync it (DIFF from nothing, or SNAP). Everything of the old dir may go
except one number: ``acceptedEpoch``, the newest epoch this node promised to a would-be leader
(ACKEPOCH). A node acknowledges an epoch at most once (Zab; core/follower.py): that, with the
promise on disk, is why two leaders can never each gather a quorum for one epoch. A node that
forgot its promise (acceptedEpoch 0 in a new dir) answers a second would-be leader of an epoch
it promised already with a fresh, counting ACKEPOCH (simulator seed 71181). So the new dir
starts with the old acceptedEpoch; currentEpoch starts at 0, since it vouches in elections for
a history the node no longer holds.

ZooKeeper has the same hole: an operator who wipes a server's dataDir (the usual way out of a
corrupt log) brings it back with acceptedEpoch 0 (QuorumPeer.loadDataBase takes a missing
acceptedEpoch file for the epoch of the last zxid: 0 when empty), and the leader counts its
ACKEPOCH toward any epoch (Leader.waitForEpochAck). Its only guard is for the empty dir itself:
with ``zookeeper.datadir.autocreate=false`` an empty dataDir is trusted only after an
``initialize`` marker says the server is new (FileTxnSnapLog.restore, zkServer-initialize.sh);
the refusal of a missing data dir below plays that part.

When the old acceptedEpoch cannot be read (the file is garbage or missing, or the data dir is
gone), the node does not know what it promised, and it refuses to start: the way out names a
number that is at least every epoch it may have promised (the highest acceptedEpoch of any
node: each epoch a node promised was first written as acceptedEpoch by the would-be leader that
proposed it). A data dir a running node holds (its lock) is refused too, and one that cannot be
renamed (a mount point) fails with the way to do the same by hand.

The new dir is built beside the old one (``<name>.resync``), made durable, and renamed into
place after the old one is renamed aside; a crash between the two renames leaves no data dir
and a complete ``.resync`` one, which ``finish_interrupted`` (called by every open) renames into
place: a node never starts empty where it has promised something.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from zmqzab.storage.durable import Fsync, fsync_dir
from zmqzab.storage.epochs import ACCEPTED_EPOCH, CURRENT_EPOCH, EpochStore
from zmqzab.storage.errors import StorageError

#: store.py's single-owner lock file of a data dir (store.py imports this module: not from there).
LOCK_FILE = "LOCK"

#: The new data dir while it is being built (renamed to the data dir's name once complete).
STAGING_SUFFIX = ".resync"


class PromiseUnknownError(StorageError):
    """--resync cannot read the acceptedEpoch the node promised: starting empty could promise
    an epoch twice."""


@dataclass(frozen=True, slots=True)
class SetAside:
    #: Where the old data dir went.
    aside: Path
    #: The acceptedEpoch the new data dir starts with.
    accepted_epoch: int


def staging_dir(data_dir: Path) -> Path:
    return data_dir.with_name(data_dir.name + STAGING_SUFFIX)


def finish_interrupted(data_dir: Path, fsync: Fsync = True) -> str | None:
    """A --resync that crashed between setting the old dir aside and renaming the new one in:
    rename it in now. Returns a note for the node's log, or None if there was nothing to do."""
    staging = staging_dir(data_dir)
    if data_dir.exists() or not (staging / ACCEPTED_EPOCH).is_file():
        return None
    staging.rename(data_dir)
    fsync_dir(data_dir.absolute().parent, fsync)
    return f"finished an interrupted --resync: {staging} renamed to {data_dir}"


def promised_epoch(data_dir: Path) -> int:
    """The newest epoch the node of ``data_dir`` may have promised: its acceptedEpoch (or its
    currentEpoch, if a damaged dir holds a higher one). Raises PromiseUnknownError if the dir
    or its acceptedEpoch cannot be read."""
    if not data_dir.is_dir():
        raise PromiseUnknownError(_unknown(data_dir, f"there is no data dir at {data_dir}"))
    try:
        accepted, current = EpochStore(data_dir, readonly=True).read()
    except (StorageError, OSError) as exc:
        raise PromiseUnknownError(_unknown(data_dir, str(exc))) from None
    # A missing acceptedEpoch reads as 0, which is right only for a node that never took part
    # (the first thing a node of an epoch writes is that file); such a node has nothing to
    # resync. Missing in a dir --resync is asked to rebuild, it was lost: with the rest of the
    # damage, or the dir is not the node's (an empty mount point whose volume is not mounted).
    if not (data_dir / ACCEPTED_EPOCH).exists():
        raise PromiseUnknownError(_unknown(data_dir, f"there is no {ACCEPTED_EPOCH} file in {data_dir}"))
    return max(accepted, current)


def set_aside(data_dir: Path, fsync: Fsync = True, stamp: str | None = None) -> SetAside:
    """Rename ``data_dir`` aside (never delete: it may be the evidence of what went wrong) and
    put a new one in its place holding only the old acceptedEpoch, durably. Raises
    PromiseUnknownError, changing nothing, if that acceptedEpoch cannot be read."""
    data_dir = Path(data_dir)
    finish_interrupted(data_dir, fsync)
    lock_fd = _lock_if_free(data_dir)
    try:
        accepted = promised_epoch(data_dir)
        staging = staging_dir(data_dir)
        shutil.rmtree(staging, ignore_errors=True)  # an unfinished one: the old dir is still there
        staging.mkdir()
        EpochStore(staging, fsync).write(accepted=accepted)  # the file and its name in staging
        # The directory holding the names renamed below: the data dir's own parent, not its
        # target's if it is a symlink (the symlink is what is renamed).
        parent = data_dir.absolute().parent
        # staging's own name, before the renames: a power loss after them must find it (or the
        # new dir in its place), never only the aside dir and nothing else.
        fsync_dir(parent, fsync)
        aside = _aside_name(data_dir, stamp or time.strftime('%Y%m%d-%H%M%S'))
        try:
            data_dir.rename(aside)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise StorageError(
                f"--resync cannot rename {data_dir} ({exc.strerror}: a mount point cannot be "
                f"renamed): nothing was moved. Resync it by hand: with the node stopped, move "
                f"everything in {data_dir} elsewhere but {ACCEPTED_EPOCH}, write {accepted} into "
                f"{data_dir / ACCEPTED_EPOCH} (the epoch this node may have promised), and start "
                f"the node without --resync") from None
        try:
            staging.rename(data_dir)
        except FileNotFoundError:
            # Another process's open (finish_interrupted: a node starting, a second --resync)
            # saw the old dir aside and this complete staging dir, and renamed it in first.
            if staging.exists() or not (data_dir / ACCEPTED_EPOCH).is_file():
                raise
        fsync_dir(parent, fsync)
    finally:
        if lock_fd is not None:
            os.close(lock_fd)
    return SetAside(aside, accepted)


def _lock_if_free(data_dir: Path) -> int | None:
    """Take the data dir's single-owner lock (store.py's ``LOCK``) for the resync, so that a
    node still running on the dir (hung, or not the one meant) keeps it: moved from under it,
    its later writes by path would land in the new dir. None if there is no lock file (no node
    ever opened the dir, or there is no dir)."""
    try:
        fd = os.open(data_dir / LOCK_FILE, os.O_RDWR)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip() or "unknown"
        os.close(fd)
        raise StorageError(f"--resync: data dir {data_dir} is in use by a running zmqzab node (pid "
                           f"{holder}, lock {data_dir / LOCK_FILE}); stop it first") from None
    return fd


def _aside_name(data_dir: Path, stamp: str) -> Path:
    """``<name>.aside-<stamp>``, with a counter if a resync of the same second made it already."""
    aside = data_dir.with_name(f"{data_dir.name}.aside-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = data_dir.with_name(f"{data_dir.name}.aside-{stamp}-{n}")
    return aside


def _unknown(data_dir: Path, why: str) -> str:
    accepted = data_dir / ACCEPTED_EPOCH
    return (f"--resync cannot read the epoch this node promised ({why}); started empty it could "
            f"promise an epoch a second time, to a second leader of that epoch. If the node has "
            f"never been part of the cluster, start it without --resync. Else find the highest "
            f"acceptedEpoch of the other nodes (the file {ACCEPTED_EPOCH} in each one's data dir, or "
            f"`zmqzab status --json`), write it into {accepted} (create {data_dir} if it is "
            f"missing; remove {data_dir / CURRENT_EPOCH} if it is damaged) and run --resync again")
