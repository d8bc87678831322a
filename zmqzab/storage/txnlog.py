"""The txn log: segment files of checksummed records, append-only, cut back only by TRUNC.

Layout (one directory)::

    log.<gen>.<first zxid, 16 hex digits>      e.g. log.0.0000000100000001

``gen`` is the log generation (see zmqzab/storage/store.py: a SNAP install starts a new one and
the older generations are deleted). Within a generation, segments are ordered by first zxid and
a segment's name is always the zxid of its first record.

Record::

    length: u32 big-endian | crc32(payload): u32 big-endian | payload = msgpack(Txn)

Appends are one ``os.write`` per batch with no fsync; ``sync()`` is the fsync (group commit is
the caller's: zmqzab/storage/writer.py). When the active segment would pass
``segment_max_bytes``, it is fsynced and closed and a new one begun. That fsync is what lets
recovery be strict: every segment but the last is whole on disk, so damage anywhere but at the
very end of the last segment is corruption, never a torn write.

Recovery on open (ZAB_CHECKLIST #23, ZooKeeper's behaviour):

* The end of the last segment may hold a torn write: a short header, a length running past the
  end of the file, a record whose checksum fails and that reaches the end of the file, or zeros
  to the end (file systems may extend a file before its data lands). Nothing in it was
  acknowledged (ACKs follow fsync), so it is truncated away with a note naming file, offset and
  bytes dropped. A segment left empty is deleted.
* Any other damaged record, an undecodable record with a good checksum, a zxid that does not
  strictly increase, or a segment whose first record disagrees with its name, is corruption:
  ``CorruptLogError`` names file and offset, and the node refuses to start.

With ``readonly=True`` (for tools that read a live node's log) nothing is repaired or deleted;
the notes still say what was found, and reading stops quietly at a torn tail.
"""

from __future__ import annotations

import bisect
import os
import re
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from zmqzab.messages import DecodeError, Txn, encoder, txn_decoder
from zmqzab.storage.durable import Fsync, fsync_dir, fsync_fd, write_all
from zmqzab.storage.errors import CorruptLogError, StorageError
from zmqzab.zxid import fmt_zxid

RECORD_HEADER = struct.Struct(">II")
SEGMENT_MAX_BYTES = 64 << 20

_SEGMENT_RE = re.compile(r"log\.(\d+)\.([0-9a-f]{16})")


@dataclass(frozen=True, slots=True, order=True)
class Segment:
    gen: int
    first_zxid: int
    path: Path = field(compare=False)


def segment_name(gen: int, first_zxid: int) -> str:
    return f"log.{gen}.{first_zxid:016x}"


def list_segments(dir: Path) -> list[Segment]:
    """Every segment file in ``dir``, oldest first (by generation, then first zxid)."""
    if not dir.is_dir():
        return []
    found = []
    for entry in os.scandir(dir):
        match = _SEGMENT_RE.fullmatch(entry.name)
        if match and entry.is_file():
            found.append(Segment(int(match[1]), int(match[2], 16), Path(entry.path)))
    return sorted(found)


@dataclass(frozen=True, slots=True)
class BadRecord:
    """The first damaged record of a segment's bytes."""

    offset: int
    problem: str
    #: The damage runs to the end of the file, as a write cut short leaves it.
    reaches_end: bool

    def torn(self, buf: bytes, *, is_last: bool) -> bool:
        """A torn write, not corruption: only at the very end of the log, and only if it looks
        like a write cut short (it reaches the end of the file, or zeros follow to the end:
        file systems may extend a file before its data lands)."""
        return is_last and (self.reaches_end or buf.count(0, self.offset) == len(buf) - self.offset)


def records(buf: bytes) -> Iterator[tuple[int, int] | BadRecord]:
    """``(offset, end)`` of each record whose checksum holds, in order; at the first damaged
    record one ``BadRecord``, and nothing after it. The one reader of the record framing:
    recovery, its checksum-only pass, DIFF reads from disk and the log tools all use it, so
    they cannot disagree on what is a record, a torn tail or damage."""
    size = len(buf)
    view = memoryview(buf)
    header_size = RECORD_HEADER.size
    unpack = RECORD_HEADER.unpack_from
    crc32 = zlib.crc32
    offset = 0
    while offset < size:
        if size - offset < header_size:
            yield BadRecord(offset, f"short record header ({size - offset} of {header_size} bytes)", True)
            return
        length, crc = unpack(buf, offset)
        end = offset + header_size + length
        if length == 0:
            yield BadRecord(offset, "record length is 0", False)
            return
        if end > size:
            yield BadRecord(offset, f"record length {length} runs {end - size} bytes past the end of the file", True)
            return
        if crc32(view[offset + header_size : end]) != crc:
            yield BadRecord(offset, f"checksum mismatch in a {length}-byte record", end == size)
            return
        yield offset, end
        offset = end


def decode_record(buf: bytes, path: Path, offset: int, end: int) -> Txn:
    """The txn of a record whose checksum holds; a record that does not decode is corruption."""
    try:
        return txn_decoder.decode(memoryview(buf)[offset + RECORD_HEADER.size : end])
    except DecodeError as exc:
        raise CorruptLogError(path, offset, f"record has a good checksum but does not decode ({exc})") from None


@dataclass(slots=True)
class _Scan:
    txns: list[Txn]
    ends: list[int]  # byte offset just past each record, to cut a segment after any of them
    valid_end: int
    torn: str | None  # why the bytes after valid_end are a torn tail; None if there are none


def _scan_segment(
    buf: bytes, path: Path, *, is_last: bool, prev_zxid: int, first_zxid: int
) -> _Scan:
    """Decode and check every record of one segment's bytes (see the module docstring)."""
    txns: list[Txn] = []
    ends: list[int] = []
    # Recovery's hot loop: the decoder and the view are bound once (decode_record per record
    # costs a third more on a big log).
    view = memoryview(buf)
    header_size = RECORD_HEADER.size
    decode = txn_decoder.decode
    for rec in records(buf):
        if isinstance(rec, BadRecord):
            if rec.torn(buf, is_last=is_last):
                return _Scan(txns, ends, rec.offset, rec.problem)
            where = "before the end of the log" if is_last else "in a segment that is not the last"
            raise CorruptLogError(path, rec.offset, f"{rec.problem}, {where}")
        offset, end = rec
        try:
            txn = decode(view[offset + header_size : end])
        except DecodeError:
            decode_record(buf, path, offset, end)  # raises the CorruptLogError that names it
            raise
        if txn.zxid <= prev_zxid:
            raise CorruptLogError(path, offset, f"zxid {fmt_zxid(txn.zxid)} follows {fmt_zxid(prev_zxid)}; "
                                                "zxids must strictly increase")
        if not txns and txn.zxid != first_zxid:
            raise CorruptLogError(path, offset, f"first record has zxid {fmt_zxid(txn.zxid)} but the file name "
                                                f"says {fmt_zxid(first_zxid)}")
        txns.append(txn)
        ends.append(end)
        prev_zxid = txn.zxid
    return _Scan(txns, ends, len(buf), None)


def _checksum_segment(buf: bytes, path: Path, *, prev_zxid: int, first_zxid: int) -> tuple[Txn, Txn]:
    """Check every record's checksum of a whole (not the last) segment, decoding only its first
    and last: recovery's fast path for segments that lie entirely below the snapshot it starts
    from (their txns are not replayed; a damaged record is still corruption, as in ZooKeeper).
    Returns (first txn, last txn)."""
    first = last = (0, 0)
    for rec in records(buf):
        if isinstance(rec, BadRecord):
            raise CorruptLogError(path, rec.offset, f"{rec.problem}, in a segment that is not the last")
        if not rec[0]:
            first = rec
        last = rec
    first_txn = decode_record(buf, path, *first)
    last_txn = decode_record(buf, path, *last) if last[0] else first_txn
    if first_txn.zxid != first_zxid:
        raise CorruptLogError(path, 0, f"first record has zxid {fmt_zxid(first_txn.zxid)} but the file name "
                                       f"says {fmt_zxid(first_zxid)}")
    if first_txn.zxid <= prev_zxid or last_txn.zxid < first_txn.zxid:
        raise CorruptLogError(path, 0, f"zxids {fmt_zxid(first_txn.zxid)}..{fmt_zxid(last_txn.zxid)} after "
                                       f"{fmt_zxid(prev_zxid)}; zxids must strictly increase")
    return first_txn, last_txn


class TxnLog:
    """One directory of segments. Not thread-safe: one owner (the writer thread, or the sim)."""

    def __init__(
        self,
        dir: Path,
        fsync: Fsync = True,
        *,
        segment_max_bytes: int = SEGMENT_MAX_BYTES,
        gen: int | None = None,
        readonly: bool = False,
        collect_after: int | None = None,
    ) -> None:
        """Open (and recover) the log in ``dir``.

        ``gen``: the generation to use; segments of older generations are deleted as leftovers
        of an interrupted SNAP install, newer ones are refused. None: the newest one present.
        ``collect_after``: keep the txns with a larger zxid found by the recovery scan in
        ``self.recovered`` (saves a second pass over the log at start-up).
        """
        if segment_max_bytes <= 0:
            raise ValueError("segment_max_bytes must be positive")
        self.dir = Path(dir)
        self.fsync = fsync
        self.segment_max_bytes = segment_max_bytes
        self.readonly = readonly
        #: Warnings found at open, for the node's log.
        self.notes: list[str] = []
        #: Txns found at open with zxid > collect_after (empty unless asked); the owner may
        #: clear it.
        self.recovered: list[Txn] = []
        self._fd: int | None = None
        self._size = 0
        self._last_zxid = 0
        self._unsynced = False  # bytes written to the active segment since its last fsync
        self._dir_dirty = False  # a segment created or removed since the last directory fsync
        self._failed: BaseException | None = None
        self._closed = False
        #: first zxid of a segment -> its last zxid (what a purge needs to know).
        self._seg_last: dict[int, int] = {}

        if not readonly:
            self.dir.mkdir(parents=True, exist_ok=True)
        found = list_segments(self.dir)
        self.gen = max((s.gen for s in found), default=0) if gen is None else gen
        for seg in found:
            if seg.gen > self.gen:
                raise CorruptLogError(
                    seg.path,
                    0,
                    f"segment belongs to log generation {seg.gen}, newer than generation "
                    f"{self.gen} of the snapshot it should follow (that snapshot is missing)",
                )
        self._drop_old_generations([s for s in found if s.gen < self.gen])
        self._segments = [s for s in found if s.gen == self.gen]
        self._recover(collect_after)
        if not readonly:
            if self._dir_dirty:
                fsync_dir(self.dir, fsync)
            self._dir_dirty = False
            if self._segments:
                self._open_active(self._segments[-1])

    # ----------------------------------------------------------------------------------------
    # Reading

    @property
    def last_zxid(self) -> int:
        """zxid of the last record in the log (0 if it is empty)."""
        return self._last_zxid

    @property
    def segments(self) -> list[Segment]:
        return list(self._segments)

    def read_all(self, after: int = 0) -> list[Txn]:
        return list(self.read_from(after))

    def read_from(self, after: int = 0) -> Iterator[Txn]:
        """Every txn with zxid > ``after``, in order, read from disk one segment at a time."""
        segments = list(self._segments)
        starts = [s.first_zxid for s in segments]
        # The segment holding ``after`` is the last one starting at or before it.
        first = max(bisect.bisect_right(starts, after) - 1, 0)
        for index in range(first, len(segments)):
            seg = segments[index]
            try:
                buf = seg.path.read_bytes()
            except FileNotFoundError:
                if self.readonly:  # the live node removed it meanwhile (TRUNC or SNAP)
                    return
                raise
            is_last = index == len(segments) - 1
            scan = _scan_segment(
                buf, seg.path, is_last=is_last, prev_zxid=0, first_zxid=seg.first_zxid
            )
            txns = scan.txns
            if index == first and after:
                txns = txns[bisect.bisect_right([t.zxid for t in txns], after) :]
            yield from txns

    # ----------------------------------------------------------------------------------------
    # Writing

    def append(self, txns: Iterable[Txn]) -> None:
        """Write ``txns`` (strictly increasing zxids, after last_zxid) in one write. No fsync."""
        self._check_usable()
        encode = encoder.encode
        pack = RECORD_HEADER.pack
        crc32 = zlib.crc32
        parts: list[bytes] = []
        first = 0
        last = self._last_zxid
        for txn in txns:
            if txn.zxid <= last:
                raise StorageError(
                    f"refusing to append zxid {fmt_zxid(txn.zxid)} after {fmt_zxid(last)} to "
                    f"{self.dir}: zxids in the log must strictly increase (a bug in the caller)"
                )
            first = first or txn.zxid
            last = txn.zxid
            payload = encode(txn)
            parts.append(pack(len(payload), crc32(payload)))
            parts.append(payload)
        if not parts:
            return
        data = b"".join(parts)
        try:
            if self._fd is None or (self._size and self._size + len(data) > self.segment_max_bytes):
                self._roll(first)
            assert self._fd is not None
            write_all(self._fd, data)
        except OSError as exc:
            self._failed = exc
            raise
        self._size += len(data)
        self._last_zxid = last
        self._seg_last[self._segments[-1].first_zxid] = last
        self._unsynced = True

    def sync(self) -> None:
        """Make every append so far durable (one fsync; plus the directory if it changed)."""
        self._check_usable()
        try:
            if self._unsynced and self._fd is not None:
                fsync_fd(self._fd, self.fsync)
            if self._dir_dirty:
                fsync_dir(self.dir, self.fsync)
        except OSError as exc:
            # After a failed fsync the kernel may have dropped the dirty pages; retrying would
            # "succeed" on data that is not there (the fsyncgate lesson). Never trust it again.
            self._failed = exc
            raise
        self._unsynced = False
        self._dir_dirty = False

    def truncate_after(self, zxid: int) -> None:
        """Keep the records with zxid <= ``zxid``; durable when this returns (if fsync is on)."""
        self._check_usable()
        if zxid >= self._last_zxid:
            return
        keep = [s for s in self._segments if s.first_zxid <= zxid]
        drop = [s for s in self._segments if s.first_zxid > zxid]
        self._close_active()
        try:
            # Newest first, and made durable before the cut below: a crash anywhere in between
            # leaves a prefix of the old log, never a log with a hole in it.
            for seg in reversed(drop):
                os.unlink(seg.path)
            self._segments = keep
            if drop:
                fsync_dir(self.dir, self.fsync)
            if not keep:
                self._last_zxid = 0
                return
            seg = keep[-1]
            buf = seg.path.read_bytes()
            scan = _scan_segment(
                buf, seg.path, is_last=True, prev_zxid=0, first_zxid=seg.first_zxid
            )
            kept = bisect.bisect_right([t.zxid for t in scan.txns], zxid)
            cut = scan.ends[kept - 1]  # kept >= 1: the segment starts at or before zxid
            self._open_active(seg)
            assert self._fd is not None
            os.ftruncate(self._fd, cut)
            fsync_fd(self._fd, self.fsync)
        except OSError as exc:
            self._failed = exc
            raise
        self._size = cut
        self._last_zxid = scan.txns[kept - 1].zxid
        self._seg_last[seg.first_zxid] = self._last_zxid
        self._unsynced = False

    def new_generation(self, gen: int) -> None:
        """Drop every segment and write generation ``gen`` from now on (after a SNAP install).

        Call it only once the snapshot of generation ``gen`` is durable: until then the old
        segments are the node's history. Their removal needs no fsync of its own, since
        recovery deletes older generations anyway; the next ``sync()`` covers it.
        """
        self._check_usable()
        if gen <= self.gen:
            raise StorageError(f"log generation must grow: {gen} after {self.gen}")
        self._close_active()
        try:
            for seg in reversed(self._segments):
                os.unlink(seg.path)
        except OSError as exc:
            self._failed = exc
            raise
        self._dir_dirty = self._dir_dirty or bool(self._segments)
        self._segments = []
        self._seg_last.clear()
        self.gen = gen
        self._last_zxid = 0
        self._size = 0
        self._unsynced = False

    def seal(self) -> None:
        """Make the active segment whole on disk and close it: the next append starts a new one.

        Called after each periodic snapshot (ZooKeeper's rollLog), so that segments end near
        snapshots and a purge can delete whole files instead of keeping one that only grows.
        """
        self._check_usable()
        if self._fd is None:
            return
        self.sync()
        self._close_active()

    def purge_through(self, zxid: int) -> list[Segment]:
        """Delete the segments holding only txns with zxid <= ``zxid``; returns them.

        A segment may go when its last txn is at most ``zxid`` (or, if that is not known, when
        the next segment starts at most at ``zxid + 1``). The last segment always stays (it is
        the one appends go to).
        Oldest first: a crash midway leaves a log that still starts at a segment boundary and
        still holds every txn after ``zxid``.
        """
        self._check_usable()
        segments = self._segments
        doomed: list[Segment] = []
        for seg, following in zip(segments, segments[1:]):
            last = self._seg_last.get(seg.first_zxid, following.first_zxid - 1)
            if last > zxid:
                break
            doomed.append(seg)
        removed: list[Segment] = []
        try:
            for seg in doomed:
                os.unlink(seg.path)
                removed.append(seg)
        finally:
            # A failed unlink only leaves more history on disk than needed: not a reason to
            # stop the node. The caller reports it; the next purge tries again.
            self._segments = segments[len(removed):]
            if removed:
                fsync_dir(self.dir, self.fsync)
        return removed

    def close(self) -> None:
        """Release the file; no fsync (what was not synced is as a crash would leave it)."""
        self._close_active()
        self._closed = True

    # ----------------------------------------------------------------------------------------

    def _check_usable(self) -> None:
        if self.readonly:
            raise StorageError(f"txn log {self.dir} was opened read-only")
        if self._closed:
            raise StorageError(f"txn log {self.dir} is closed")
        if self._failed is not None:
            raise StorageError(
                f"txn log {self.dir} failed earlier ({self._failed}); its state on disk is "
                "unknown until the node restarts and recovers it"
            )

    def _open_active(self, seg: Segment) -> None:
        self._fd = os.open(seg.path, os.O_WRONLY | os.O_APPEND)
        self._size = os.fstat(self._fd).st_size

    def _close_active(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
        self._size = 0

    def _roll(self, first_zxid: int) -> None:
        if self._fd is not None:
            # Whole on disk before the next segment exists: recovery relies on it.
            if self._unsynced:
                fsync_fd(self._fd, self.fsync)
                self._unsynced = False
            if self._dir_dirty:
                fsync_dir(self.dir, self.fsync)
                self._dir_dirty = False
            self._close_active()
        seg = Segment(self.gen, first_zxid, self.dir / segment_name(self.gen, first_zxid))
        self._fd = os.open(seg.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        self._size = 0
        self._segments.append(seg)
        self._dir_dirty = True

    def _drop_old_generations(self, old: list[Segment]) -> None:
        if not old:
            return
        names = ", ".join(s.path.name for s in old)
        if self.readonly:
            self.notes.append(
                f"{self.dir}: ignoring {len(old)} segment(s) of older log generations ({names}); "
                f"generation {self.gen} replaced them"
            )
            return
        for seg in old:
            os.unlink(seg.path)
        self._dir_dirty = True
        self.notes.append(
            f"{self.dir}: deleted {len(old)} segment(s) of older log generations ({names}): a "
            f"crash interrupted their removal after the generation-{self.gen} snapshot was saved"
        )

    def _recover(self, collect_after: int | None) -> None:
        prev = 0
        survivors: list[Segment] = []
        count = len(self._segments)
        for index, seg in enumerate(self._segments):
            buf = seg.path.read_bytes()
            is_last = index == count - 1
            if (buf and not is_last and collect_after is not None
                    and self._segments[index + 1].first_zxid <= collect_after + 1):
                # Entirely below the snapshot: checksums only (restart time grows with what is
                # replayed, not with the log kept for DIFFs from disk).
                _, last_txn = _checksum_segment(buf, seg.path, prev_zxid=prev, first_zxid=seg.first_zxid)
                survivors.append(seg)
                prev = last_txn.zxid
                self._seg_last[seg.first_zxid] = prev
                continue
            scan = _scan_segment(
                buf, seg.path, is_last=is_last, prev_zxid=prev, first_zxid=seg.first_zxid
            )
            if scan.torn is not None:
                dropped = len(buf) - scan.valid_end
                action = "ignored (read-only)" if self.readonly else "dropped"
                self.notes.append(
                    f"{seg.path}: torn record at byte {scan.valid_end} ({scan.torn}): {action} "
                    f"the last {dropped} byte(s) of the log; a crash cut short a write that was "
                    "never acknowledged"
                )
                if not self.readonly:
                    fd = os.open(seg.path, os.O_WRONLY)
                    try:
                        os.ftruncate(fd, scan.valid_end)
                        fsync_fd(fd, self.fsync)
                    finally:
                        os.close(fd)
            if not scan.txns:
                # Only a crash right after creating a segment (or cutting its first record
                # short) leaves one without records; its name would lie about the next append.
                if not self.readonly:
                    os.unlink(seg.path)
                    self._dir_dirty = True
                    self.notes.append(f"{seg.path}: deleted an empty log segment")
                continue
            survivors.append(seg)
            prev = scan.txns[-1].zxid
            self._seg_last[seg.first_zxid] = prev
            if collect_after is not None:
                txns = scan.txns
                if txns[0].zxid <= collect_after:
                    txns = [t for t in txns if t.zxid > collect_after]
                self.recovered.extend(txns)
        self._segments = survivors
        self._last_zxid = prev
