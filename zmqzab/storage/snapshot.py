"""Snapshots: the game state at a zxid, as opaque bytes, checksummed and saved atomically.

File ``snapshot.<zxid, 16 hex digits>``::

    b"ZZSNAP1\\n"
    gen: u64 | zxid: u64 | length: u64 | crc32(data): u32     (big-endian)
    crc32(magic + the four fields above): u32
    data: ``length`` bytes

``gen`` is the log generation the snapshot starts (zmqzab/storage/store.py). The header has a
checksum of its own so that a flipped bit in ``gen`` or ``zxid`` is caught, not believed.

``save`` writes ``<name>.tmp``, fsyncs it, renames it over the name and fsyncs the directory: the
rename is the commit point. A ``.tmp`` found at open is an interrupted save, never reported
durable to anyone, and is deleted with a note.

"Newest" means highest (gen, zxid), not highest zxid: a later SNAP may carry a lower zxid than
an earlier one, and the generation is what orders installs. ``load_latest`` tries snapshots
newest first and falls back past damaged ones, with a note for each. Whether the fallback is
usable depends on the log (the caller checks that the log generations still match).
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from zmqzab.storage.durable import TMP_SUFFIX, Fsync, fsync_dir, fsync_fd, replace_atomically, tmp_path, write_all
from zmqzab.storage.errors import StorageError
from zmqzab.zxid import fmt_zxid

MAGIC = b"ZZSNAP1\n"
HEADER = struct.Struct(">QQQI")
HEADER_CRC = struct.Struct(">I")
PREFIX_SIZE = len(MAGIC) + HEADER.size + HEADER_CRC.size

_NAME_RE = re.compile(r"snapshot\.([0-9a-f]{16})")


def snapshot_name(zxid: int) -> str:
    return f"snapshot.{zxid:016x}"


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """A snapshot file whose header checks out (its data is verified only when loaded)."""

    path: Path
    gen: int
    zxid: int
    length: int
    data_crc: int


@dataclass(frozen=True, slots=True)
class Unusable:
    """A snapshot file ``load_latest`` passed over: ``gen`` is None when its header is damaged
    (then ``zxid`` comes from the file name)."""

    path: Path
    gen: int | None
    zxid: int
    problem: str


#: A damaged snapshot set aside at start-up (store.py) ends with this.
DAMAGED_SUFFIX = ".damaged"


class SnapshotStore:
    def __init__(self, dir: Path, fsync: Fsync = True, *, readonly: bool = False) -> None:
        self.dir = Path(dir)
        self.fsync = fsync
        self.readonly = readonly
        #: Warnings found at open or load, for the node's log.
        self.notes: list[str] = []
        #: The damaged snapshots the last ``load_latest`` passed over, newest first.
        self.unusable: list[Unusable] = []
        #: Snapshots this process has read back intact: a purge (on the writer thread, after
        #: every snapshot) re-reads only the new one, not all it keeps; rot that sets in later
        #: is for the next start-up to find.
        self._verified: set[Path] = set()
        if not readonly:
            self.dir.mkdir(parents=True, exist_ok=True)
            self._remove_leftover_tmps()

    def save(self, zxid: int, data: bytes, gen: int) -> Path:
        """Write the snapshot atomically; durable when this returns (if fsync is on)."""
        if self.readonly:
            raise StorageError(f"snapshot dir {self.dir} was opened read-only")
        header = MAGIC + HEADER.pack(gen, zxid, len(data), zlib.crc32(data))
        path = self.dir / snapshot_name(zxid)
        replace_atomically(path, header + HEADER_CRC.pack(zlib.crc32(header)) + data, self.fsync)
        return path

    def write_tmp(self, zxid: int, data: bytes, gen: int) -> Path:
        """The first half of ``save``, for a snapshot written by another process: the file as
        ``<name>.tmp``, fsynced, not yet renamed (``commit_tmp`` does that). Until then it is
        nothing: a crash leaves a ``.tmp`` that the next open deletes."""
        if self.readonly:
            raise StorageError(f"snapshot dir {self.dir} was opened read-only")
        header = MAGIC + HEADER.pack(gen, zxid, len(data), zlib.crc32(data))
        tmp = tmp_path(self.dir / snapshot_name(zxid))
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            write_all(fd, header + HEADER_CRC.pack(zlib.crc32(header)))
            write_all(fd, data)
            fsync_fd(fd, self.fsync)
        finally:
            os.close(fd)
        return tmp

    def commit_tmp(self, zxid: int) -> Path:
        """Rename ``write_tmp``'s file into place and fsync the directory: the commit point."""
        path = self.dir / snapshot_name(zxid)
        os.replace(tmp_path(path), path)
        fsync_dir(self.dir, self.fsync)
        return path

    def load_latest(self) -> tuple[int, int, bytes] | None:
        """(zxid, gen, data) of the newest snapshot that verifies, or None if there is none.

        Every damaged file seen on the way (header or data) is listed in ``unusable``: whether
        falling back past it loses history is the caller's question (store.py's base check).
        """
        valid, damaged = self._survey()
        self.unusable = []
        for path, problem in damaged:
            self.notes.append(f"snapshot {path} is damaged ({problem}); ignoring it")
            match = _NAME_RE.fullmatch(path.name)
            self.unusable.append(Unusable(path, None, int(match[1], 16) if match else 0, problem))
        for info in valid:
            data, problem = self._read_data(info)
            if data is not None:
                return info.zxid, info.gen, data
            self.notes.append(
                f"snapshot {info.path} (generation {info.gen}, zxid {fmt_zxid(info.zxid)}) is "
                f"damaged ({problem}); falling back to an older one"
            )
            self.unusable.append(Unusable(info.path, info.gen, info.zxid, problem))
        return None

    def set_aside(self, path: Path) -> Path:
        """Rename a damaged snapshot to ``<name>.damaged`` (kept as evidence, no longer listed,
        so a purge never counts it as one of the snapshots it keeps)."""
        aside = path.with_name(path.name + DAMAGED_SUFFIX)
        os.replace(path, aside)
        fsync_dir(self.dir, self.fsync)
        return aside

    def intact(self, keep: int) -> list[SnapshotInfo]:
        """The ``keep`` newest snapshots whose data verifies, newest first; every damaged one met
        on the way is set aside (``set_aside``), so that ``prune(keep)`` then keeps these."""
        found: list[SnapshotInfo] = []
        listing = self.list()
        self._verified.intersection_update(info.path for info in listing)  # bounded by the dir
        for info in listing:
            if len(found) >= keep:
                break
            if info.path in self._verified:
                found.append(info)
                continue
            data, problem = self._read_data(info)
            if data is not None:
                self._verified.add(info.path)
                found.append(info)
                continue
            aside = self.set_aside(info.path)
            self.notes.append(f"snapshot {info.path} is damaged ({problem}); set it aside as {aside.name}")
        return found

    def list(self) -> list[SnapshotInfo]:
        """Snapshots whose header verifies, newest first."""
        return self._survey()[0]

    def damaged(self) -> list[tuple[Path, str]]:
        """Snapshot files whose header does not check out, with the reason."""
        return self._survey()[1]

    def prune(self, keep: int = 2) -> list[Path]:
        """Delete every snapshot file but the ``keep`` newest with a good header; returns them."""
        valid, damaged = self._survey()
        doomed = [info.path for info in valid[keep:]] + [path for path, _ in damaged]
        for path in doomed:
            os.unlink(path)
        if doomed:
            fsync_dir(self.dir, self.fsync)
        return doomed

    def read(self, info: SnapshotInfo) -> bytes:
        """The data of one snapshot, verified; StorageError if it is damaged."""
        data, problem = self._read_data(info)
        if data is None:
            raise StorageError(f"snapshot {info.path} is damaged: {problem}")
        return data

    # ----------------------------------------------------------------------------------------

    def _survey(self) -> tuple[list[SnapshotInfo], list[tuple[Path, str]]]:
        valid: list[SnapshotInfo] = []
        damaged: list[tuple[Path, str]] = []
        if not self.dir.is_dir():
            return valid, damaged
        for entry in os.scandir(self.dir):
            match = _NAME_RE.fullmatch(entry.name)
            if not match or not entry.is_file():
                continue
            path = Path(entry.path)
            info_or_problem = self._read_header(path, int(match[1], 16))
            if isinstance(info_or_problem, str):
                damaged.append((path, info_or_problem))
            else:
                valid.append(info_or_problem)
        valid.sort(key=lambda i: (i.gen, i.zxid), reverse=True)
        damaged.sort()
        return valid, damaged

    @staticmethod
    def _read_header(path: Path, name_zxid: int) -> SnapshotInfo | str:
        with open(path, "rb") as f:
            prefix = f.read(PREFIX_SIZE)
            size = os.fstat(f.fileno()).st_size
        if len(prefix) < PREFIX_SIZE:
            return f"file is {size} bytes, shorter than the {PREFIX_SIZE}-byte header"
        if not prefix.startswith(MAGIC):
            return f"does not start with {MAGIC!r}"
        header_end = len(MAGIC) + HEADER.size
        (header_crc,) = HEADER_CRC.unpack_from(prefix, header_end)
        if zlib.crc32(prefix[:header_end]) != header_crc:
            return "header checksum mismatch"
        gen, zxid, length, data_crc = HEADER.unpack_from(prefix, len(MAGIC))
        if zxid != name_zxid:
            return f"header says zxid {fmt_zxid(zxid)}, file name says {fmt_zxid(name_zxid)}"
        if size != PREFIX_SIZE + length:
            return f"header says {length} data bytes, file holds {size - PREFIX_SIZE}"
        return SnapshotInfo(path, gen, zxid, length, data_crc)

    @staticmethod
    def _read_data(info: SnapshotInfo) -> tuple[bytes | None, str]:
        with open(info.path, "rb") as f:
            f.seek(PREFIX_SIZE)
            data = f.read()
        if len(data) != info.length:
            return None, f"expected {info.length} data bytes, read {len(data)}"
        if zlib.crc32(data) != info.data_crc:
            return None, "data checksum mismatch"
        return data, ""

    def _remove_leftover_tmps(self) -> None:
        tmps = [p for p in self.dir.iterdir() if p.name.endswith(TMP_SUFFIX)]
        for tmp in tmps:
            os.unlink(tmp)
            self.notes.append(
                f"removed {tmp}: a crash interrupted saving that snapshot, which was never "
                "reported durable; the previous snapshot stands"
            )
        if tmps:
            fsync_dir(self.dir, self.fsync)
