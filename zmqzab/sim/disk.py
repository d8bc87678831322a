"""A node's simulated disk: the production ``Storage`` on a temp dir, a simulated group-commit
writer, and a page cache that a power loss empties.

Theory of operation. In production (storage/writer.py) the driver hands log ops to a writer
thread, which applies a batch (its writes land in the page cache), fsyncs once and reports the
disk's last zxid; the driver turns that into ``Peer.persisted(zxid)``. Here the writer is
simulated and the files are real:

* ``submit`` queues an op in memory. When the writer is idle, ``take_batch`` takes the whole
  queue and applies it to the real ``Storage`` at once (the writes), and its fsync completes
  some simulated time later (the simulation schedules it): ``complete`` syncs, and returns
  ``storage.last_zxid`` for ``persisted``.
* Storage runs with ``fsync=PageCache`` (storage/durable.py's ``DiskSync`` seam): every fsync
  of a file or a directory goes to the page cache model, which records what it made durable:
  a file's bytes at its last fsync, a directory's names at its last fsync. Nothing else in
  production storage changes.
* A process crash (kill -9) loses what the writer had not taken (it was only in memory); what
  it wrote stays, synced or not, as the kernel's page cache keeps it.
* A power loss (``power=True``) also empties the page cache: every directory goes back to the
  names its last fsync saw (a file created or renamed since vanishes, a file unlinked since
  comes back), every file to its bytes at its last fsync. Optionally (the profile's ``torn``)
  part of the newest segment's unsynced bytes had reached the platter: a prefix of them is
  kept, often cut mid-record, or zeros follow the synced bytes (the file grew but its data
  never landed). Restart then runs production recovery (``open_storage``).
* ``arm_crash`` makes the node die just before one of the next fsyncs of a batch that
  installs a snapshot, saves one and purges, or truncates: between the file operations of
  that op, not only between ops (a kill -9 or a power loss there, the caller says which).
* ``rot`` flips a bit on the platter: in a snapshot's data (rarely its header), or in a record
  of a segment other than the log's very last record (which recovery cannot tell from a torn
  write, as in ZooKeeper). Recovery must detect it and refuse to start (``rotted`` names the
  files, so the simulation can tell a refusal for bit rot from a bug).
* Epoch files are written synchronously, as in production (Output step 1).
* A ``SaveSnapshot`` (periodic snapshots, when the simulation takes them as node.py does) is
  carried out by production ``Storage.save_snapshot`` (save, seal, purge) in its batch; its
  report waits in ``reports`` for the simulation to tell the core where the log now starts.
  As production's writer, the batch also reports the disk's last zxid just before each save
  (``early_reports``); the simulation delivers those only with its report schedules on
  (sim/reports.py).
* ``synced_ops`` counts the ops of completed batches since the open: what a report covers, as
  the production writer's ``reported_ops`` (the host's rule, host/durable.py, needs it).

What is not modelled: directories themselves never vanish (the data dir and its ``log`` and
``snap`` are created once); an fsync never fails; writes reach the page cache whole and in
order; a file's unsynced bytes are all lost or (torn) a prefix of them kept, never a
reordering of pages within a file.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

from zmqzab.core.output import Append, InstallSnapshot, LogOp, Truncate
from zmqzab.storage.compaction import SaveSnapshot, SnapshotSaved
from zmqzab.storage.durable import DiskSync
from zmqzab.storage.epochs import EpochStore
from zmqzab.storage.resync import set_aside
from zmqzab.storage.snapshot import PREFIX_SIZE, _NAME_RE
from zmqzab.storage.store import LOG_DIR, SNAP_DIR, SNAPSHOTS_KEPT, Recovered, Storage, open_storage
from zmqzab.storage.txnlog import RECORD_HEADER, list_segments
from zmqzab.zxid import fmt_zxid


class DiskDied(BaseException):
    """Raised by an armed ``PageCache`` just before an fsync: the node dies there. A
    BaseException, so that no ``except Exception`` in storage takes it for an I/O error."""

    def __init__(self, where: str, power: bool) -> None:
        super().__init__(where)
        self.where = where
        self.power = power


class PageCache(DiskSync):
    """What fsync made durable in one data dir (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        #: Files are known by inode (a rename keeps it). Every inode the model knows is pinned
        #: by a hard link here, outside the data dir, so that the file system cannot reuse its
        #: number for a new file while a durable name may still refer to the old one.
        self.pins = root.parent / (root.name + ".pins")
        self._pinned: set[int] = set()
        #: inode -> the file's bytes at its last fsync.
        self.content: dict[int, bytes] = {}
        #: directory -> {name: inode} at its last fsync.
        self.entries: dict[str, dict[str, int]] = {}
        self.fsyncs = 0
        #: Die just before fsync number ``die_at`` (None: never), a power loss if ``die_power``.
        self.die_at: int | None = None
        self.die_power = False

    def _maybe_die(self, what: str) -> None:
        self.fsyncs += 1
        if self.die_at is not None and self.fsyncs >= self.die_at:
            self.die_at = None
            raise DiskDied(what, self.die_power)

    def fsync_fd(self, fd: int) -> None:
        path = os.readlink(f"/proc/self/fd/{fd}")
        self._maybe_die(f"the fsync of {Path(path).name}")
        ino = os.fstat(fd).st_ino
        with open(f"/proc/self/fd/{fd}", "rb") as f:
            self.content[ino] = f.read()
        self._pin(ino, Path(path))

    def fsync_dir(self, path: Path) -> None:
        self._maybe_die(f"the fsync of {Path(path).name}/")
        names = _files(Path(path))
        self.entries[str(path)] = names
        for name, ino in names.items():
            self._pin(ino, Path(path) / name)
        self._collect()

    def _pin(self, ino: int, path: Path) -> None:
        if ino in self._pinned:
            return
        self.pins.mkdir(exist_ok=True)
        os.link(path, self.pins / str(ino))
        self._pinned.add(ino)

    def _unpin_all(self) -> None:
        for ino in sorted(self._pinned):
            os.unlink(self.pins / str(ino))
        self._pinned = set()

    def _dirs(self) -> list[Path]:
        return [self.root, self.root / LOG_DIR, self.root / SNAP_DIR]

    def _collect(self) -> None:
        """Forget the bytes of inodes no name refers to, durably or now."""
        live = {ino for names in self.entries.values() for ino in names.values()}
        for d in self._dirs():
            live.update(_files(d).values())
        for ino in [i for i in self.content if i not in live]:
            del self.content[ino]
        live.update(self.content)
        for ino in sorted(self._pinned - live):
            os.unlink(self.pins / str(ino))
            self._pinned.discard(ino)

    def undurable(self) -> list[str]:
        """Files a power loss now would change (unsynced bytes or names), sorted."""
        found = []
        for d in self._dirs():
            now = _files(d)
            durable = self.entries.get(str(d), {})
            for name in sorted(set(now) | set(durable)):
                rel = f"{d.relative_to(self.root)}/{name}".lstrip("./")
                if name not in durable:
                    found.append(f"{rel} (its name was never fsynced)")
                elif name not in now:
                    found.append(f"{rel} (its removal was never fsynced)")
                elif durable[name] != now[name]:
                    found.append(f"{rel} (renamed over, never fsynced)")
                elif self.content.get(now[name]) != (d / name).read_bytes():
                    found.append(f"{rel} (bytes never fsynced)")
        return found

    def power_loss(self, rng: random.Random, torn_rate: float) -> str:
        """Put every file back as the last fsyncs left it; returns a note on a torn tail."""
        note = ""
        log_dir = self.root / LOG_DIR
        segments = list_segments(log_dir)
        torn_name, torn_bytes = None, b""
        if segments and torn_rate and rng.random() < torn_rate:
            seg = segments[-1]
            ino = self.entries.get(str(log_dir), {}).get(seg.path.name)
            synced = self.content.get(ino, b"") if ino is not None else None
            now = seg.path.read_bytes()
            if synced is not None and len(now) > len(synced) and now.startswith(synced):
                extra = now[len(synced):]
                if rng.random() < 0.5:
                    cut = rng.randint(1, len(extra))
                    torn_bytes = synced + extra[:cut]
                    note = f", {cut} of its {len(extra)} unsynced byte(s) reached the platter (torn write)"
                else:
                    zeros = rng.randint(1, 64)
                    torn_bytes = synced + b"\0" * zeros
                    note = f", followed by {zeros} zero byte(s) (torn write)"
                torn_name = seg.path.name
        images: dict[Path, dict[str, bytes]] = {}
        for d in self._dirs():
            durable = self.entries.get(str(d), {})
            images[d] = {name: self.content.get(ino, b"") for name, ino in durable.items()}
        if torn_name is not None:
            images[log_dir][torn_name] = torn_bytes
        self.content, self.entries = {}, {}
        self._unpin_all()
        for d, files in images.items():
            if not d.is_dir():
                continue
            for name in sorted(_files(d)):
                os.unlink(d / name)
            for name in sorted(files):
                (d / name).write_bytes(files[name])
            # What the platter holds now is durable by definition.
            self.entries[str(d)] = _files(d)
            for name, ino in self.entries[str(d)].items():
                self.content[ino] = files[name]
                self._pin(ino, d / name)
        return note

    def rot(self, path: Path, offset: int) -> None:
        """Flip one bit at ``offset`` of ``path``, on the platter (and so in the page cache)."""
        raw = bytearray(path.read_bytes())
        raw[offset] ^= 1 << (offset % 8)
        ino = path.stat().st_ino
        path.write_bytes(bytes(raw))
        synced = self.content.get(ino)
        if synced is not None and offset < len(synced):
            fixed = bytearray(synced)
            fixed[offset] ^= 1 << (offset % 8)
            self.content[ino] = bytes(fixed)


def _records(raw: bytes) -> list[tuple[int, int]]:
    """The whole records of a log segment's bytes: (payload start, end) of each."""
    offset, records = 0, []
    while offset + RECORD_HEADER.size <= len(raw):
        length, _ = RECORD_HEADER.unpack_from(raw, offset)
        end = offset + RECORD_HEADER.size + length
        if length == 0 or end > len(raw):
            break
        records.append((offset + RECORD_HEADER.size, end))  # payload only
        offset = end
    return records


def _files(d: Path) -> dict[str, int]:
    if not d.is_dir():
        return {}
    return {e.name: e.inode() for e in os.scandir(d) if e.is_file(follow_symlinks=False)}


class SimDisk:
    def __init__(self, data_dir: Path, snapshots_kept: int = SNAPSHOTS_KEPT,
                 test_faults: frozenset[str] = frozenset()) -> None:
        self.dir = data_dir
        self.snapshots_kept = snapshots_kept
        #: Storage fault switches (storage/faults.py), passed to every open.
        self.test_faults = test_faults
        self.cache = PageCache(data_dir)
        #: What the periodic snapshots of completed batches did (the simulation takes them).
        self.reports: list[SnapshotSaved] = []
        self.storage: Storage | None = None
        #: Ops submitted and not yet taken by the writer.
        self.queue: list[LogOp | SaveSnapshot] = []
        #: The batch written and waiting for its fsync (empty when the writer is idle).
        self.inflight: list[LogOp | SaveSnapshot] = []
        #: A batch a kill -9 left written but unsynced in the page cache, until the next open
        #: (recovery fsyncs it) or power loss (which may keep or drop any of it): a TRUNC or SNAP
        #: among them is still "being done", so what it cuts away is not owed after a power loss.
        self.cached: list[LogOp | SaveSnapshot] = []
        #: The last zxid the writer reported durable.
        self.reported = 0
        #: Ops of completed batches since the open (in submission order): what the writer's
        #: latest report covers.
        self.synced_ops = 0
        #: The in-flight batch's reports before each SaveSnapshot in it: (the disk's last zxid
        #: then, ops covered), as storage/writer.py makes them.
        self.early_reports: list[tuple[int, int]] = []
        #: What the node reported durable, for the checkers: the snapshot's zxid and the zxids
        #: of the log after it (mirrored op by op, so no file is read while the simulation runs).
        self.durable_base = 0
        self.durable_zxids: set[int] = set()
        #: Scripted scenarios: fsyncs do not complete before this time (a hung disk).
        self.stalled_until = 0
        #: The epoch files' values (written synchronously, so durable).
        self.accepted_epoch = 0
        self.current_epoch = 0
        #: After a power loss: what the node had reported durable then (base, zxids, epochs),
        #: for the check at the next open that the power loss took none of it.
        self.claims: tuple[int, set[int], int, int] | None = None
        #: Files (relative paths) with a bit flipped by ``rot`` since the last wipe.
        self.rotted: set[str] = set()

    def open(self) -> Recovered:
        """Open the data dir through production recovery (a fresh process starting)."""
        self.queue, self.inflight, self.reports, self.cached = [], [], [], []
        self.synced_ops, self.early_reports = 0, []
        self.storage, recovered = open_storage(self.dir, fsync=self.cache, lock=False,
                                               snapshots_kept=self.snapshots_kept,
                                               test_faults=self.test_faults)
        self.reported = recovered.last_zxid
        self.accepted_epoch, self.current_epoch = recovered.accepted_epoch, recovered.current_epoch
        self.durable_base = recovered.snapshot_zxid
        self.durable_zxids = {t.zxid for t in recovered.txns}
        return recovered

    def lost_claims(self, rec: Recovered) -> str:
        """After a power loss: what the node had reported durable and recovery no longer
        finds ("" if nothing). Reported durable means fsynced: a power loss takes none of it."""
        if self.claims is None:
            return ""
        base, zxids, accepted, current = self.claims
        self.claims = None
        have = {t.zxid for t in rec.txns}
        missing = sorted(z for z in zxids if z > rec.snapshot_zxid and z not in have)
        problems = []
        if missing:
            problems.append(f"{len(missing)} txn(s) from {fmt_zxid(missing[0])} on (base "
                            f"{fmt_zxid(base)}, recovered base {fmt_zxid(rec.snapshot_zxid)})")
        if rec.accepted_epoch < accepted or rec.current_epoch < current:
            problems.append(f"epochs {accepted}/{current} (recovered {rec.accepted_epoch}/{rec.current_epoch})")
        return "; ".join(problems)

    @property
    def epochs(self) -> tuple[int, int]:
        return self.accepted_epoch, self.current_epoch

    def write_epochs(self, accepted: int | None, current: int | None) -> None:
        assert self.storage is not None
        self.storage.write_epochs(accepted, current)
        if accepted is not None:
            self.accepted_epoch = accepted
        if current is not None:
            self.current_epoch = current

    def submit(self, op: LogOp | SaveSnapshot) -> None:
        self.queue.append(op)

    def take_batch(self, rng: random.Random | None = None, file_op_crash: float = 0.0) -> bool:
        """The idle writer takes everything queued and writes it; True if a batch (and an
        fsync) started. With ``file_op_crash``, a batch that installs, saves or truncates may
        be armed to die inside that op (``DiskDied`` then comes from here)."""
        if self.inflight or not self.queue:
            return False
        self.inflight, self.queue = self.queue, []
        if (rng is not None and file_op_crash and any(type(op) is not Append for op in self.inflight)
                and rng.random() < file_op_crash):
            self.cache.die_at = self.cache.fsyncs + rng.randint(1, 6)
            self.cache.die_power = rng.random() < 0.5
        try:
            for k, op in enumerate(self.inflight):
                if type(op) is SaveSnapshot:
                    assert self.storage is not None
                    self.early_reports.append((self.storage.last_zxid, self.synced_ops + k))
                self._apply(op)
        finally:
            self.cache.die_at = None  # not reached within the batch's own file operations
        return True

    def complete(self) -> int:
        """The batch's fsync is done: it is on disk. Returns the disk's last zxid."""
        storage = self.storage
        assert storage is not None
        storage.sync()
        for op in self.inflight:
            self._mirror(op)
        self.synced_ops += len(self.inflight)
        self.inflight = []
        self.reported = storage.last_zxid
        return self.reported

    def _mirror(self, op: LogOp | SaveSnapshot) -> None:
        if type(op) is Append:
            self.durable_zxids.update(t.zxid for t in op.txns)
        elif type(op) is Truncate:
            self.durable_zxids = {z for z in self.durable_zxids if z <= op.zxid}
        elif type(op) is InstallSnapshot:
            self.durable_base, self.durable_zxids = op.zxid, set()

    def crash(self, rng: random.Random, torn_rate: float, power: bool) -> tuple[int, str]:
        """The process dies (``power``: the machine loses power too). Returns (ops lost, a note
        on what the disk kept)."""
        lost = len(self.queue) + (len(self.inflight) if power else 0)
        if self.storage is not None:
            self.storage.close()
            self.storage = None
        self.cache.die_at = None
        note = ""
        if power:
            note = self.power_loss(rng, torn_rate)
        elif self.inflight:
            note = f"{len(self.inflight)} written, unsynced op(s) stay in the page cache"
            self.cached += self.inflight
        self.queue, self.inflight, self.early_reports = [], [], []
        return lost, note

    def power_loss(self, rng: random.Random, torn_rate: float) -> str:
        """The page cache is lost (the node is down, or dies with it: see ``crash``)."""
        if self.claims is None:
            zxids = set(self.durable_zxids)
            # A crash with them, or a kill -9 that left them in the page cache: half done.
            pending = self.cached + self.inflight + self.queue
            if any(type(op) is InstallSnapshot for op in pending):
                zxids = set()  # the log was being replaced: only the epochs are owed
            cuts = [op.zxid for op in pending if type(op) is Truncate]
            if cuts:
                zxids = {z for z in zxids if z <= min(cuts)}  # being cut away: not owed
            self.claims = (self.durable_base, zxids, self.accepted_epoch, self.current_epoch)
        self.cached = []
        return "the page cache is lost" + self.cache.power_loss(rng, torn_rate)

    def _apply(self, op: LogOp | SaveSnapshot) -> None:
        storage = self.storage
        assert storage is not None
        if type(op) is SaveSnapshot:
            self.reports.append(storage.save_snapshot(op))
        else:
            storage.apply(op)

    def rot(self, rng: random.Random) -> str:
        """Flip a bit in a snapshot's data or in a record of a segment (the node is down).
        Returns what was hit, or "" if the disk holds nothing to rot."""
        snaps = sorted(p for p in (self.dir / SNAP_DIR).glob("snapshot.*") if _NAME_RE.fullmatch(p.name))
        targets: list[tuple[Path, int, int]] = []  # (file, first offset, end offset)
        log_dir = self.dir / LOG_DIR
        segs = list_segments(log_dir)
        # The log's last record is a torn write to recovery, so rot there would be silent loss.
        # "Last" as the file is now (a kill -9 keeps the page cache) and as a power loss would
        # leave it: the last segment whose name is durable, cut to its fsynced bytes (an
        # unsynced record after a durable one, or an unsynced newer segment, goes with the
        # power, and the durable record before it becomes the tail).
        durable_names = self.cache.entries.get(str(log_dir), {})
        durable_tail: tuple[Path, int, int] | None = None  # (segment, first offset, end offset)
        for seg in reversed(segs):
            ino = seg.path.stat().st_ino
            synced = _records(self.cache.content.get(ino, b"")) if durable_names.get(seg.path.name) == ino else []
            if synced:
                durable_tail = (seg.path, *synced[-1])
                break
        for seg_index, seg in enumerate(segs):
            records = _records(seg.path.read_bytes())
            if seg_index == len(segs) - 1:
                records = records[:-1]  # the log's last record now
            if durable_tail is not None and durable_tail[0] == seg.path:
                # the last record a power loss would leave (a flipped bit lands in it too)
                _, t_start, t_end = durable_tail
                records = [(a, b) for a, b in records if not (a < t_end and t_start < b)]
            targets.extend((seg.path, a, b) for a, b in records)
        if snaps and (not targets or rng.random() < 0.5):
            path = snaps[-1] if rng.random() < 0.6 else rng.choice(snaps)
            size = path.stat().st_size
            if size <= PREFIX_SIZE:
                return ""
            start = 0 if rng.random() < 0.1 else PREFIX_SIZE  # the header, now and then
            offset = rng.randrange(start, size)
        elif targets:
            path, a, b = rng.choice(targets)
            offset = rng.randrange(a, b)
        else:
            return ""
        self.cache.rot(path, offset)
        rel = str(path.relative_to(self.dir))
        self.rotted.add(rel)
        return f"bit rot in {rel} at byte {offset}"

    def wipe(self) -> None:
        """The operator's resync, through production code (`zmqzab node --resync`): the data
        dir set aside (here: then removed); the node starts empty but for the acceptedEpoch it
        promised."""
        self.close()
        moved = set_aside(self.dir, fsync=False, stamp="sim")
        shutil.rmtree(moved.aside, ignore_errors=True)
        shutil.rmtree(self.cache.pins, ignore_errors=True)
        self.cache = PageCache(self.dir)
        # set_aside fsynced nothing the page-cache model saw (the operator's tool does, before
        # the node starts): written again through the new model, a power loss keeps it.
        EpochStore(self.dir, self.cache).write(accepted=moved.accepted_epoch)
        self.queue, self.inflight, self.reports, self.cached = [], [], [], []
        self.synced_ops, self.early_reports = 0, []
        self.reported = self.durable_base = 0
        self.durable_zxids = set()
        self.accepted_epoch, self.current_epoch = moved.accepted_epoch, 0
        self.claims = None
        self.rotted = set()

    def close(self) -> None:
        if self.storage is not None:
            self.storage.close()
            self.storage = None
