"""One node's data dir: epoch files, txn log and snapshots, opened and recovered together.

Layout::

    <data_dir>/LOCK              flock'd while a node has the dir open; holds its pid
    <data_dir>/acceptedEpoch     decimal text (zmqzab/storage/epochs.py)
    <data_dir>/currentEpoch
    <data_dir>/log/log.<gen>.<first zxid hex16>          (zmqzab/storage/txnlog.py)
    <data_dir>/snap/snapshot.<zxid hex16>                (zmqzab/storage/snapshot.py)

Log generations make a SNAP install atomic (ZAB_CHECKLIST #15, ZK-3642). ``install_snapshot``
(1) saves the snapshot with gen = current gen + 1 (tmp, fsync, rename, fsync dir: the rename is
the commit point), then (2) deletes every segment of older generations; later appends go to
segments of the new generation. At open, the newest valid snapshot (gen g) is the base; only
segments of gen g are replayed, and only records with zxid > the snapshot's. Segments of older
generations are what a crash between (1) and (2) left behind: they are deleted with a note.
Their records must never be replayed, even those with a zxid above the snapshot's (a divergent
tail from a failed epoch, which the SNAP was sent to replace).

Every segment of generation g > 0 was created after its snapshot was durable, so a segment whose
generation is newer than the snapshot found proves a snapshot is missing or damaged: the txns
before it are gone, and the node refuses to start (CorruptSnapshotError). Without a snapshot
the generation is 0.

At open the epochs must satisfy accepted >= current >= epoch(last logged zxid), where the last
logged zxid is the log's last or, with an empty log, the snapshot's (ZAB_CHECKLIST #10). A node
that crashed after persisting a sync but before writing currentEpoch (#14's order) fails the
second half and is refused too, as ZooKeeper does ("the current epoch is older than the last
zxid"); the way out is a resync.

Periodic snapshots (``save_snapshot``) stay in the current generation, and a purge keeps the
``snapshots_kept`` newest and the segments they need (zmqzab/storage/compaction.py). So every
kept snapshot of the newest generation is a valid base, and a damaged newest one falls back to
the one before it with nothing lost (the damaged file is set aside as ``.damaged``, out of the
purge's count, which verifies the data of the snapshots it keeps). A snapshot whose header is
unreadable counts as this generation's when the log of this generation runs past it. Any other
fallback (to no snapshot, or to an older generation's) may replay a
purged log over a hole: the node refuses to start (``_check_base``). ``log_start`` is the zxid
the log holds every txn after.

What recovery reads back may be only in the page cache (a kill -9 leaves it there): before
``open_storage`` returns it, and so before the node reports any of it durable, every segment,
the snapshot used, the epoch files and their directories (and the data dir's parent) are
fsynced; the snapshot used and its directory first, before recovery deletes anything that
snapshot replaces (older generations' segments, the start-up purge).

I/O here is synchronous and single-owner: the LogWriter thread (zmqzab/storage/writer.py) in a
node, the simulator directly. ``write_epochs`` touches only the epoch files, so the driver may
call it while the writer works on the log. Readers (zmqzab/storage/reader.py: DIFF from disk,
the log tools) read the files on their own; ``reading()`` holds purges back meanwhile.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from zmqzab.core.output import Append, InstallSnapshot, LogOp, Truncate
from zmqzab.core.peer import Recovered
from zmqzab.messages import Txn
from zmqzab.storage.compaction import CommitSnapshot, SaveSnapshot, SnapshotSaved
from zmqzab.storage.epochs import EpochStore
from zmqzab.storage.errors import WAY_OUT, CorruptSnapshotError, EpochInvariantError, StorageError
from zmqzab.storage.durable import TMP_SUFFIX, Fsync, fsync_dir, fsync_fd
from zmqzab.storage.faults import check_storage_faults
from zmqzab.storage.resync import finish_interrupted
from zmqzab.storage.snapshot import SnapshotStore, snapshot_name
from zmqzab.storage.txnlog import SEGMENT_MAX_BYTES, TxnLog, list_segments
from zmqzab.zxid import fmt_zxid, zxid_epoch

LOCK_FILE = "LOCK"
LOG_DIR = "log"
SNAP_DIR = "snap"
#: The newest and two before it, so a damaged newest has something to fall back on
#: (config: [storage] snapshots_kept).
SNAPSHOTS_KEPT = 3


class Storage:
    """A node's open data dir. Build it with ``open_storage``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        epochs: EpochStore,
        snapshots: SnapshotStore,
        log: TxnLog,
        snapshot_zxid: int,
        gen: int,
        lock_fd: int | None,
        snapshots_kept: int = SNAPSHOTS_KEPT,
        log_start: int = 0,
    ) -> None:
        self.data_dir = data_dir
        self.epochs = epochs
        self.snapshots = snapshots
        self.log = log
        #: zxid of the snapshot the log follows (0: none).
        self.snapshot_zxid = snapshot_zxid
        #: Log generation: bumped by every install_snapshot.
        self.gen = gen
        self._lock_fd = lock_fd
        self._failed: BaseException | None = None
        if snapshots_kept < 1:
            raise ValueError("snapshots_kept must be at least 1")
        self.snapshots_kept = snapshots_kept
        #: The log holds every txn after this zxid (see Recovered.log_start).
        self.log_start = log_start
        # Readers running (reader.py): a purge waits for the next snapshot while there are any.
        self._readers = 0
        self._readers_lock = threading.Lock()

    @property
    def last_zxid(self) -> int:
        """Last zxid on disk (possibly not yet fsynced): the log's, or the snapshot's."""
        return max(self.log.last_zxid, self.snapshot_zxid)

    def apply(self, op: LogOp) -> None:
        """Carry out one log change of zmqzab/core/output.py. Appends need ``sync()`` after."""
        self._check_usable()
        if type(op) is Append:
            self.append(op.txns)
        elif type(op) is Truncate:
            self.truncate_after(op.zxid)
        elif type(op) is InstallSnapshot:
            self.install_snapshot(op.zxid, op.data)
        else:
            raise TypeError(f"not a log op: {op!r}")

    def append(self, txns: list[Txn]) -> None:
        self._check_usable()
        if txns and txns[0].zxid <= self.last_zxid:
            raise StorageError(
                f"refusing to append zxid {fmt_zxid(txns[0].zxid)} at or before "
                f"{fmt_zxid(self.last_zxid)} in {self.data_dir} (a bug in the caller)"
            )
        self.log.append(txns)

    def sync(self) -> None:
        self._check_usable()
        self.log.sync()

    def truncate_after(self, zxid: int) -> None:
        """TRUNC: keep txns with zxid <= ``zxid``. Durable when it returns."""
        self._check_usable()
        if zxid < self.snapshot_zxid:
            raise StorageError(
                f"refusing to truncate the log of {self.data_dir} to {fmt_zxid(zxid)}: the "
                f"snapshot at {fmt_zxid(self.snapshot_zxid)} already holds later txns "
                "(the leader should have sent SNAP)"
            )
        self.log.truncate_after(zxid)

    def install_snapshot(self, zxid: int, data: bytes) -> None:
        """SNAP: ``data`` at ``zxid`` replaces state and log. Durable when it returns."""
        self._check_usable()
        gen = self.gen + 1
        try:
            self.snapshots.save(zxid, data, gen)  # the commit point
            self.gen = gen
            self.snapshot_zxid = zxid
            self.log.new_generation(gen)
            self.log_start = zxid
            self.snapshots.prune(self.snapshots_kept)
        except BaseException as exc:
            # Somewhere between "old base" and "new base": only recovery at open can tell.
            self._failed = exc
            raise

    def save_snapshot(self, op: SaveSnapshot) -> SnapshotSaved:
        """A periodic snapshot: save it in this generation, seal the log, purge. See
        zmqzab/storage/compaction.py. A failed save is reported, not raised: the log is whole,
        and the next snapshot tries again. A failed log fsync raises (the log is in doubt).
        """
        self._check_usable()
        report = SnapshotSaved(zxid=op.zxid, size_bytes=len(op.data), gen=self.gen, taken_s=op.taken_s,
                               log_start=self.log_start)
        if op.zxid > self.last_zxid:
            raise StorageError(
                f"refusing a snapshot at {fmt_zxid(op.zxid)}: the log of {self.data_dir} ends at "
                f"{fmt_zxid(self.last_zxid)} (a bug in the caller: it must follow its appends)"
            )
        if op.zxid <= self.snapshot_zxid:
            report.skipped = f"the newest snapshot is already at {fmt_zxid(self.snapshot_zxid)}"
            return report
        return self._make_newest(report, op.zxid, "save",
                                  lambda: self.snapshots.save(op.zxid, op.data, self.gen))

    def commit_snapshot(self, op: CommitSnapshot) -> SnapshotSaved:
        """Make a snapshot written by another process (``SnapshotStore.write_tmp``) the newest:
        fsync the log, rename the file into place, seal, purge. Dropped (its file deleted) if a
        SNAP install changed the generation since, or it is not newer than the newest."""
        self._check_usable()
        report = SnapshotSaved(zxid=op.zxid, size_bytes=op.size_bytes, gen=op.gen, taken_s=op.taken_s,
                               child_s=op.child_s, log_start=self.log_start)
        if op.gen != self.gen or op.zxid <= self.snapshot_zxid or op.zxid > self.last_zxid:
            report.skipped = (f"generation {op.gen}, zxid {fmt_zxid(op.zxid)}: the log is now generation "
                              f"{self.gen} at {fmt_zxid(self.snapshot_zxid)}..{fmt_zxid(self.last_zxid)}")
            try:
                os.unlink(self.snapshots.dir / (snapshot_name(op.zxid) + TMP_SUFFIX))
            except FileNotFoundError:
                pass
            return report
        return self._make_newest(report, op.zxid, "commit", lambda: self.snapshots.commit_tmp(op.zxid))

    def _make_newest(self, report: SnapshotSaved, zxid: int, verb: str, write) -> SnapshotSaved:
        """The shared order of save and commit: the log it covers durable, the snapshot file in
        place (``write``), then seal the segment and purge what no kept snapshot needs."""
        self.log.sync()  # step 1: every txn the snapshot covers is durable first
        t0 = time.perf_counter()
        try:
            write()
        except OSError as exc:
            report.error = f"could not {verb} the snapshot in {self.snapshots.dir}: {exc}"
            return report
        report.write_s = time.perf_counter() - t0
        self.snapshot_zxid = zxid
        self.log.seal()
        self.purge(report)
        return report

    def purge(self, report: SnapshotSaved | None = None) -> SnapshotSaved | None:
        """Keep the ``snapshots_kept`` newest snapshots and the segments they need.

        Only snapshots whose data verifies count (damaged ones are set aside as ``.damaged``):
        a rotted older snapshot kept in place of an intact one would let the purge delete the
        last intact fallback and the log after it."""
        try:
            kept = self.snapshots.intact(self.snapshots_kept)
            deleted = self.snapshots.prune(self.snapshots_kept)
        except OSError as exc:
            if report is not None:
                report.error = f"could not delete old snapshots: {exc}"
            return report
        ours = [info.zxid for info in kept if info.gen == self.gen]
        if not ours:
            return report
        oldest = min(ours)
        with self._readers_lock:
            if self._readers:
                return report  # a DIFF from disk is reading: next time
            try:
                segments = self.log.purge_through(oldest)
            except OSError as exc:
                if report is not None:
                    report.error = f"could not delete old log segments: {exc}"
                return report
            self.log_start = max(self.log_start, oldest)
        if report is not None:
            report.snapshots_deleted = [p.name for p in deleted]
            report.segments_deleted = [seg.path.name for seg in segments]
            report.log_start = self.log_start
        return report

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Hold purges back while a reader thread reads the log files."""
        with self._readers_lock:
            self._readers += 1
        try:
            yield
        finally:
            with self._readers_lock:
                self._readers -= 1

    def write_epochs(self, accepted: int | None = None, current: int | None = None) -> None:
        """Atomically and durably set the given epoch files (accepted first)."""
        self.epochs.write(accepted, current)

    def read_epochs(self) -> tuple[int, int]:
        return self.epochs.read()

    def _check_usable(self) -> None:
        if self._failed is not None:
            raise StorageError(
                f"storage in {self.data_dir} failed earlier ({self._failed}); restart the node "
                "to recover it from disk"
            )

    def close(self) -> None:
        """Release files and the lock. No sync: unsynced appends are left as a crash would."""
        self.log.close()
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            os.close(fd)  # releases the flock


def open_storage(
    data_dir: Path,
    fsync: Fsync = True,
    *,
    segment_max_bytes: int = SEGMENT_MAX_BYTES,
    readonly: bool = False,
    lock: bool = True,
    snapshots_kept: int = SNAPSHOTS_KEPT,
    test_faults: frozenset[str] = frozenset(),
) -> tuple[Storage, Recovered]:
    """Open (creating if needed) and recover a node's data dir.

    ``fsync=False`` is the unsafe benchmark switch; a ``DiskSync`` routes every fsync through
    it (the simulator's disk). ``readonly`` is for tools looking at a dir a live node may own:
    no lock, no repair. ``lock=False`` skips the single-owner lock (the simulator, which may
    reopen a dir it "crashed" without closing). ``test_faults``: storage/faults.py (the
    simulator's tests only).
    """
    check_storage_faults(test_faults)
    data_dir = Path(data_dir)
    resync_note = None
    if readonly:
        if not data_dir.is_dir():
            raise StorageError(f"no data dir at {data_dir}")
    else:
        # A --resync that crashed between its two renames: its new dir (holding the node's
        # promise) goes in place first, or the node would start empty and forget it.
        resync_note = finish_interrupted(data_dir, fsync)
        data_dir.mkdir(parents=True, exist_ok=True)
    lock_fd = _lock(data_dir) if lock and not readonly else None
    log: TxnLog | None = None
    try:
        epochs = EpochStore(data_dir, fsync, readonly=readonly)
        snapshots = SnapshotStore(data_dir / SNAP_DIR, fsync, readonly=readonly)
        loaded = snapshots.load_latest()
        snapshot_zxid, gen, snapshot = loaded if loaded is not None else (0, 0, None)
        _check_generations(data_dir, gen, snapshots)
        if "recover_over_hole" not in test_faults:
            _check_base(loaded is not None, snapshot_zxid, gen, snapshots, list_segments(data_dir / LOG_DIR))
        if not readonly and "trust_recovered_tail" not in test_faults:
            # The base may be durable only in the page cache (a kill -9 between its rename and
            # the fsync of snap/): make it durable before anything relies on it, that is before
            # the log's open deletes older generations and the start-up purge deletes the
            # segments it covers (a power loss in between would leave neither).
            _make_base_durable(snapshots, snapshot_zxid if loaded is not None else None, fsync)
        log = TxnLog(
            data_dir / LOG_DIR,
            fsync,
            segment_max_bytes=segment_max_bytes,
            gen=gen,
            readonly=readonly,
            collect_after=snapshot_zxid,
        )
        txns, log.recovered = log.recovered, []
        storage = Storage(
            data_dir,
            epochs=epochs,
            snapshots=snapshots,
            log=log,
            snapshot_zxid=snapshot_zxid,
            gen=gen,
            lock_fd=lock_fd,
            snapshots_kept=snapshots_kept,
            log_start=min((i.zxid for i in snapshots.list() if i.gen == gen), default=0),
        )
        accepted, current = epochs.read()
        epoch_note = _check_epochs(storage, accepted, current)
        if not readonly:
            if "recover_over_hole" not in test_faults:
                # Damaged snapshots newer than the base are no base (the check above made sure
                # none is needed): out of the purge's count, or it would keep them in place of
                # intact ones and delete the segments the base needs.
                for bad in snapshots.unusable:
                    if bad.path.exists():
                        aside = snapshots.set_aside(bad.path)
                        snapshots.notes.append(f"set the damaged snapshot aside as {aside.name}")
                storage.log_start = min((i.zxid for i in snapshots.list() if i.gen == gen), default=0)
            # A crash between a snapshot's commit and its purge left a snapshot (and segments)
            # more than kept: finish that purge now, as the commit would have.
            storage.purge()
            if "trust_recovered_tail" not in test_faults:
                _make_recovered_durable(storage, fsync)
    except BaseException:
        if log is not None:
            log.close()
        if lock_fd is not None:
            os.close(lock_fd)
        raise
    notes = epochs.notes + snapshots.notes + log.notes + ([epoch_note] if epoch_note else [])
    if resync_note:
        notes.insert(0, resync_note)
    if not fsync:
        notes.append(
            f"fsync is OFF for {data_dir} (unsafe benchmark mode): a power failure can lose "
            "acknowledged txns"
        )
    recovered = Recovered(
        accepted_epoch=accepted,
        current_epoch=current,
        snapshot_zxid=snapshot_zxid,
        snapshot=snapshot,
        txns=txns,
        notes=notes,
        log_start=storage.log_start,
    )
    return storage, recovered


def _lock(data_dir: Path) -> int:
    path = data_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", errors="replace").strip() or "unknown"
        os.close(fd)
        raise StorageError(
            f"data dir {data_dir} is in use by another zmqzab node (pid {holder}, lock {path}); "
            "stop that node first, or give this one its own data dir"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _check_generations(data_dir: Path, gen: int, snapshots: SnapshotStore) -> None:
    newer = [s for s in list_segments(data_dir / LOG_DIR) if s.gen > gen]
    if not newer:
        return
    seg = newer[0]
    base = f"the generation-{gen} snapshot" if gen else "no snapshot"
    raise CorruptSnapshotError(
        data_dir / SNAP_DIR,
        f"log segment {seg.path.name} belongs to generation {seg.gen}, but the newest valid "
        f"snapshot is {base}: the generation-{seg.gen} snapshot is missing or damaged, so the "
        f"txns before {fmt_zxid(seg.first_zxid)} are lost"
        + (f" ({'; '.join(snapshots.notes)})" if snapshots.notes else ""),
    )


def _check_base(loaded: bool, base: int, gen: int, snapshots: SnapshotStore, segments=()) -> None:
    """Refuse a base that the log does not cover from (issue 11, defect 2).

    Falling back past a damaged snapshot is safe only to an intact snapshot of the same log
    generation: every purge kept the segments the oldest kept snapshot of the generation needs,
    and an intact one is among them. Any other fallback may start over a hole: with no usable
    snapshot at all, the purge that followed the damaged one deleted the segments before it (so
    replaying "from the start" replays from the middle onto an empty game, with a last zxid high
    enough to win elections and SNAP the wrong state to others); past a damaged snapshot of a
    newer generation, a SNAP's state is gone. ZooKeeper refuses the same way ("No snapshot
    found, but there are log entries. Something is broken!").
    """
    for bad in snapshots.unusable:
        if loaded and bad.zxid <= base and (bad.gen is None or bad.gen <= gen):
            continue  # older than the base: not needed
        if loaded and bad.gen == gen:
            continue  # same generation, the base is an intact older one the log covers from
        if loaded and bad.gen is None and any(seg.gen == gen and seg.first_zxid > bad.zxid for seg in segments):
            # Header unreadable, but the base's generation logged txns after it: it was taken in
            # that generation (a newer generation's install deletes this one's segments once its
            # snapshot is durable), so it is a same-generation fallback like the one above.
            continue
        what = (f"generation {bad.gen}, zxid {fmt_zxid(bad.zxid)}" if bad.gen is not None
                else f"zxid {fmt_zxid(bad.zxid)} by its name, header unreadable")
        used = (f"the older snapshot at {fmt_zxid(base)} (generation {gen})" if loaded
                else "no snapshot at all")
        raise CorruptSnapshotError(
            bad.path,
            f"this snapshot ({what}) is damaged ({bad.problem}) and the only base left is {used}; "
            "its purge deleted the log before it, so the txns between that base and the log's "
            "first txn are gone and starting would serve a history with a hole in it",
        )


def _make_recovered_durable(storage: Storage, fsync: Fsync) -> None:
    """fsync what recovery read before anything is reported durable (issue 11, defect 3).

    After a kill -9 the log's last writes may still be only in the page cache: recovery reads
    them back, and the node reports its last zxid as durable at once (an ACK of NEWLEADER, the
    leader's currentEpoch write and the epoch's establishment all rest on it). A power loss
    before the kernel writes them back would lose txns a quorum counted on. So every segment
    of the log, the snapshot used and the epoch files are fsynced, each with its directory
    (a file created or renamed just before the kill may exist only as an unsynced directory
    entry). Cheap when nothing is dirty.
    """
    if not fsync:
        return
    # The snapshot used and its directory were made durable first (``_make_base_durable``),
    # and the purge and set-asides since fsync that directory themselves.
    for seg in storage.log.segments:
        _fsync_file(seg.path, fsync)
    fsync_dir(storage.log.dir, fsync)
    for path in (storage.epochs.accepted_path, storage.epochs.current_path):
        if path.exists():
            _fsync_file(path, fsync)
    fsync_dir(storage.data_dir, fsync)
    # The data dir's own name: new at a first start, or after `--resync` renamed the old one
    # aside (both in the parent; a power loss could otherwise bring the old dir back).
    fsync_dir(storage.data_dir.resolve().parent, fsync)


def _make_base_durable(snapshots: SnapshotStore, snapshot_zxid: int | None, fsync: Fsync) -> None:
    """fsync the snapshot recovery uses and its directory (see ``_make_recovered_durable``)."""
    if not fsync:
        return
    if snapshot_zxid is not None:
        _fsync_file(snapshots.dir / snapshot_name(snapshot_zxid), fsync)
    fsync_dir(snapshots.dir, fsync)


def _fsync_file(path: Path, fsync: Fsync) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        fsync_fd(fd, fsync)
    finally:
        os.close(fd)


def _check_epochs(storage: Storage, accepted: int, current: int) -> str | None:
    """accepted >= current and accepted >= epoch(last zxid) must hold; returns a note or None.

    Txns of epoch E reach a log only after acceptedEpoch E is on disk (LEADERINFO is persisted
    before ACKEPOCH, and no txn of E is sent before that), so a log ahead of acceptedEpoch is
    damage. currentEpoch behind the log is not: a follower that crashed after persisting a
    sync stream but before NEWLEADER's currentEpoch write (ZAB_CHECKLIST #14's order) looks
    like that. It starts with the lower currentEpoch, which only makes its vote weaker, and
    the leader syncs it again; ZooKeeper refuses here and needs a hand (ZK-1653's cousin).
    """
    last = storage.last_zxid
    last_epoch = zxid_epoch(last)
    epochs = storage.epochs
    if accepted < current or accepted < last_epoch:
        culprit = (
            f"{epochs.accepted_path} is behind {epochs.current_path}"
            if accepted < current
            else f"{epochs.accepted_path} is behind the log in {storage.log.dir}"
        )
        raise EpochInvariantError(
            f"epochs in {storage.data_dir} break accepted >= current and accepted >= epoch(last "
            f"zxid): acceptedEpoch={accepted}, currentEpoch={current}, last logged zxid "
            f"{fmt_zxid(last)} (epoch {last_epoch}); {culprit}; {WAY_OUT}"
        )
    if current < last_epoch:
        return (
            f"currentEpoch {current} is behind the last logged zxid {fmt_zxid(last)}: the node "
            "stopped during a sync, before NEWLEADER; it starts with the lower currentEpoch and "
            "the leader syncs it again"
        )
    return None
