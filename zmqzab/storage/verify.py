"""Read a data dir as the log tools see it: without a lock, without repairing anything.

``txns_of`` walks the durable log of the newest generation, one record at a time (a node's log
can be millions of txns: nothing here holds more than one segment's bytes). ``verify`` checks
what recovery relies on and reports every problem instead of stopping at the first:

* every record's checksum, and that it decodes (a torn end of the last segment is a note:
  recovery cuts it, nothing in it was acknowledged);
* zxids strictly increase, and each segment's first record matches its name;
* continuity: within an epoch counters go up by one, and a new epoch starts at counter 1
  (``is_next``), across segment files too; the log continues from where it says it starts;
* every kept snapshot of the generation: header and data checksums, and the log holds every
  txn after it (so recovery could start from it if the newer ones were damaged);
* the epoch files: readable, and acceptedEpoch >= currentEpoch;
* leftovers: segments of other generations (an interrupted SNAP install), ``.tmp`` files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from zmqzab.messages import Txn
from zmqzab.storage.epochs import EpochStore
from zmqzab.storage.errors import StorageError
from zmqzab.storage.reader import iter_segment
from zmqzab.storage.snapshot import SnapshotInfo, SnapshotStore
from zmqzab.storage.store import LOG_DIR, SNAP_DIR
from zmqzab.storage.txnlog import RECORD_HEADER, Segment, list_segments
from zmqzab.zxid import fmt_zxid, is_next


@dataclass
class DirView:
    """A data dir's files, read-only: the generation in use, its segments and snapshots."""

    data_dir: Path
    gen: int
    segments: list[Segment]
    snapshots: list[SnapshotInfo]  # of this generation, newest first
    other_segments: list[Segment] = field(default_factory=list)

    @property
    def log_start(self) -> int:
        """The zxid the log holds every txn after (the oldest snapshot's; 0 without one)."""
        return min((s.zxid for s in self.snapshots), default=0)


def open_dir(data_dir: Path) -> DirView:
    """The generation a node would use: its newest snapshot's, or a newer one found in the log."""
    data_dir = Path(data_dir)
    if not (data_dir / LOG_DIR).is_dir() and not (data_dir / SNAP_DIR).is_dir():
        raise StorageError(f"{data_dir} is not a zmqzab data dir (no {LOG_DIR}/ or {SNAP_DIR}/ in it)")
    store = SnapshotStore(data_dir / SNAP_DIR, readonly=True)
    infos = store.list()
    segments = list_segments(data_dir / LOG_DIR)
    gen = max([infos[0].gen if infos else 0] + [s.gen for s in segments])
    return DirView(data_dir, gen, [s for s in segments if s.gen == gen], [i for i in infos if i.gen == gen],
                   [s for s in segments if s.gen != gen])


def txns_of(view: DirView, start: int = 0) -> Iterator[tuple[Segment, Txn]]:
    """Every txn of the generation with zxid >= ``start``, in order, with its segment.

    Raises CorruptLogError at a damaged record (a torn end of the last segment just ends it).
    """
    segments = view.segments
    first = 0
    for i, seg in enumerate(segments):
        if seg.first_zxid <= start:
            first = i
    for index in range(first, len(segments)):
        seg = segments[index]
        try:
            buf = seg.path.read_bytes()
        except FileNotFoundError:
            return  # a live node purged it meanwhile
        for _, txn in iter_segment(buf, seg.path, is_last=index == len(segments) - 1):
            if txn.zxid >= start:
                yield seg, txn


@dataclass
class Verified:
    view: DirView
    txns: int = 0
    first: int = 0
    last: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(data_dir: Path) -> Verified:
    view = open_dir(data_dir)
    result = Verified(view)
    problems, notes = result.problems, result.notes
    _check_epochs(view, result)
    for seg in view.other_segments:
        notes.append(f"{seg.path.name} belongs to log generation {seg.gen}, not {view.gen}: left by an "
                     "interrupted SNAP install (the node deletes it at start)")
    for tmp in sorted((view.data_dir / SNAP_DIR).glob("*.tmp")):
        notes.append(f"{tmp.name}: an interrupted snapshot save (the node deletes it at start)")
    snap_zxids = {s.zxid for s in view.snapshots}
    in_log: set[int] = set()  # snapshot zxids that are txns of the log
    prev: int | None = None
    for index, seg in enumerate(view.segments):
        is_last = index == len(view.segments) - 1
        buf = seg.path.read_bytes()
        seen = 0
        end = 0
        try:
            for offset, txn in iter_segment(buf, seg.path, is_last=is_last):
                zxid = txn.zxid
                end = offset
                if seen == 0 and zxid != seg.first_zxid:
                    problems.append(f"{seg.path.name}: first record is {fmt_zxid(zxid)}, the name says "
                                    f"{fmt_zxid(seg.first_zxid)}")
                if prev is not None and zxid <= prev:
                    problems.append(f"{seg.path.name} at byte {offset}: {fmt_zxid(zxid)} follows "
                                    f"{fmt_zxid(prev)}; zxids must increase")
                elif prev is not None and not is_next(prev, zxid):
                    problems.append(f"{seg.path.name} at byte {offset}: {fmt_zxid(zxid)} follows "
                                    f"{fmt_zxid(prev)}: txns are missing in between")
                if zxid in snap_zxids:
                    in_log.add(zxid)
                prev = zxid
                seen += 1
                result.txns += 1
                result.first = result.first or zxid
                result.last = zxid
        except StorageError as exc:
            problems.append(str(exc).split("; the node cannot start")[0])
            continue
        if is_last and seen:
            tail = _tail_size(buf, end)
            if tail:
                notes.append(f"{seg.path.name}: {tail} byte(s) of a torn last write at the end (the node "
                             "cuts them at start; they were never acknowledged)")
        if not seen:
            notes.append(f"{seg.path.name}: an empty segment (the node deletes it at start)")
    if not view.snapshots:
        if view.gen:
            problems.append(f"the log is of generation {view.gen} but no snapshot of it is left: the txns "
                            "before it are lost")
        elif result.first and not is_next(0, result.first):
            problems.append(f"the log starts at {fmt_zxid(result.first)} and there is no snapshot before it")
    store = SnapshotStore(view.data_dir / SNAP_DIR, readonly=True)
    for info in view.snapshots:
        try:
            store.read(info)
        except StorageError as exc:
            problems.append(str(exc))
            continue
        follows = (info.zxid in in_log or not result.txns or info.zxid >= result.last
                   or (info.zxid < result.first and is_next(info.zxid, result.first)))
        if not follows:
            problems.append(f"{info.path.name}: the log does not hold every txn after "
                            f"{fmt_zxid(info.zxid)} (it starts at {fmt_zxid(result.first)}), so recovery "
                            "could not start from it")
    for path, why in store.damaged():
        problems.append(f"snapshot {path.name} is damaged ({why})")
    return result


def _tail_size(buf: bytes, last_offset: int) -> int:
    """Bytes after the last good record (at ``last_offset``): a torn write."""
    (length,) = RECORD_HEADER.unpack_from(buf, last_offset)[:1]
    return len(buf) - (last_offset + RECORD_HEADER.size + length)


def _check_epochs(view: DirView, result: Verified) -> None:
    try:
        accepted, current = EpochStore(view.data_dir, readonly=True).read()
    except StorageError as exc:
        result.problems.append(str(exc))
        return
    if accepted < current:
        result.problems.append(f"acceptedEpoch {accepted} is below currentEpoch {current}")
    result.notes.append(f"acceptedEpoch {accepted}, currentEpoch {current}")


def dir_bytes(data_dir: Path) -> int:
    total = 0
    for root, _, files in os.walk(data_dir):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total
