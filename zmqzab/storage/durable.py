"""The few file-system moves every store builds on: write fully, fsync, replace atomically.

A file's contents are durable after ``fsync(file)``; its *name* (creation, rename, unlink) is
durable only after ``fsync(directory)``. An atomic replace is therefore: write ``<name>.tmp``,
fsync it, rename it over ``<name>``, fsync the directory. A crash leaves either the old file or
the new one, and possibly a stray ``.tmp`` that the owner of the file decides about at open.

``enabled=False`` is the unsafe benchmark switch: same calls, no fsyncs. ``os.fsync`` is looked
up at call time so tests can inject a failing fsync with ``monkeypatch``.

Test only: a node started with ``ZMQZAB_DURABLE_LOG`` set (the chaos nemesis' power-loss
fault) has a witness installed here (``set_witness``, called from zmqzab/chaos/powerloss.py):
every fsync that happened is recorded for it; never a config key. The chaos side installs it, so
storage knows nothing of chaos.

``enabled`` may also be a ``DiskSync``: every fsync of the store then goes through it instead of
the kernel. This is the seam the simulator's disk (zmqzab/sim/disk.py) uses to know what was
made durable, so that a simulated power loss can drop exactly what was not; unit tests use it to
record which files recovery fsyncs. Production passes ``True`` (or ``False``): no behaviour
changes there.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

TMP_SUFFIX = ".tmp"


class FsyncWitness(Protocol):
    """Hears of every fsync the kernel did (test only: the power-loss model of real processes)."""

    def file_synced(self, fd: int) -> None: ...

    def dir_synced(self, path: Path) -> None: ...


_witness: FsyncWitness | None = None


def set_witness(witness: FsyncWitness | None) -> None:
    """Install (or remove, with None) the fsync witness of this process."""
    global _witness
    _witness = witness


def write_all(fd: int, data: bytes | memoryview) -> None:
    """``os.write`` until every byte is written (a regular file may take less than asked)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class DiskSync:
    """Where a store's fsyncs go when it is given one instead of ``True``.

    This base class does what ``True`` does (the kernel's fsync); a subclass records the calls
    (tests) or models the page cache (the simulator's power loss).
    """

    def fsync_fd(self, fd: int) -> None:
        os.fsync(fd)

    def fsync_dir(self, path: Path) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


#: What a store's ``fsync`` argument may be: on, off (unsafe), or a ``DiskSync`` to route to.
Fsync = bool | DiskSync


def fsync_fd(fd: int, enabled: Fsync) -> None:
    if not enabled:
        return
    if isinstance(enabled, DiskSync):
        enabled.fsync_fd(fd)
    else:
        os.fsync(fd)
        if _witness is not None:
            _witness.file_synced(fd)


def fsync_dir(path: Path, enabled: Fsync) -> None:
    if not enabled:
        return
    if isinstance(enabled, DiskSync):
        enabled.fsync_dir(Path(path))
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if _witness is not None:
        _witness.dir_synced(path)


def tmp_path(path: Path) -> Path:
    return path.with_name(path.name + TMP_SUFFIX)


def replace_atomically(path: Path, data: bytes, fsync: Fsync) -> None:
    """Make ``path`` hold ``data``, all or nothing, durable when this returns (if ``fsync``)."""
    tmp = tmp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, data)
        fsync_fd(fd, fsync)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent, fsync)
