"""The per-run secret of `zmqzab up`'s controls (issue 17), and the owner-only file it lives in.

`zmqzab up` makes a new secret each run and writes it, with the controls' URL, to a file that
only its owner can read (mode 0600, beside the run's data: up/control.py's ``control_file``).
Every control request must carry it: the CLI reads the file and sends ``SECRET_HEADER``; the
page gets it from the fragment of the address `zmqzab up` printed (``#secret=...``: never sent
to a server) and keeps it in ``sessionStorage`` (per origin, port included). No cookie holds
it: browsers send a 127.0.0.1 cookie to every port of 127.0.0.1, i.e. to any other local
user's server the owner's browser visits. Other local users cannot read the file, other web
sites cannot read the page's storage, so neither can crash, pause or partition the cluster.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from pathlib import Path

SECRET_HEADER = "X-Zmqzab-Secret"
#: 32 random bytes, URL-safe base64.
SECRET_BYTES = 32


class RunFileError(Exception):
    """The run file is missing, unreadable, or readable by others."""


def new_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def secret_matches(given: str | None, secret: str) -> bool:
    """Constant-time comparison; an absent or empty secret never matches."""
    return bool(given) and bool(secret) and hmac.compare_digest(given.encode(), secret.encode())


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as 0600 from the first byte (a temp file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    # A fresh file, never one found there: a symlink planted at the temp name (by whoever may
    # write in data_dir) would make us truncate and overwrite the file it points to.
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode is cut by umask
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_private(path: Path) -> str:
    """The text of an owner-only file; RunFileError if it is missing or others may read it."""
    try:
        st = path.stat()
        text = path.read_text()
    except OSError as exc:
        raise RunFileError(f"{path}: {exc.strerror or exc}") from None
    if st.st_uid != os.getuid():
        raise RunFileError(f"{path} belongs to another user: the controls are the owner's only")
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise RunFileError(f"{path} is readable by others (mode {stat.S_IMODE(st.st_mode):o}): not "
                           f"trusted; restart zmqzab up (it writes the file 0600)")
    return text
