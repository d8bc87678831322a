"""The few file-system moves every store builds on: write fully, fsync, replace atomically.

A file's contents are durable after ``fsync(file)``; its *name* (creation, rename, unlink) is
durable only after ``fsync(directory)``. An atomic replace is therefore: write ``<name>.tmp``,
fsync it, rename it over ``<name>``, fsync the directory. A crash leaves either the old file or
the new one, and possibly a stray ``.tmp`` that the owner of the file decides about at open.

``enabled=False`` is the unsafe benchmark switch: same calls, no fsyncs. ``os.fsync`` is looked
up at call time so tests can inject a failing fsync with ``monkeypatch``.

Test only: with ``ZMQZAB_DURABLE_LOG`` set (the chaos nemesis' power-loss fault), every fsync
that happened is recorded there (zmqzab/chaos/powerloss.py); never a config key.
"""

from __future__ import annotations

import os
from pathlib import Path

TMP_SUFFIX = ".tmp"

_witness = None
if os.environ.get("ZMQZAB_DURABLE_LOG"):
    from zmqzab.chaos.powerloss import Witness

    _witness = Witness(os.environ["ZMQZAB_DURABLE_LOG"])


def write_all(fd: int, data: bytes | memoryview) -> None:
    """``os.write`` until every byte is written (a regular file may take less than asked)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_fd(fd: int, enabled: bool) -> None:
    if enabled:
        os.fsync(fd)
        if _witness is not None:
            _witness.file_synced(fd)


def fsync_dir(path: Path, enabled: bool) -> None:
    if not enabled:
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


def replace_atomically(path: Path, data: bytes, fsync: bool) -> None:
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
