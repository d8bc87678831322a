"""The CLI's client session, kept between runs: one per user, terminal session and config.

Why: every ``zmqzab guess`` is a new process. With a new random client id each time, a
classroom fills the game's client records (``CLIENTS_MAX``) on its own, and the records evict
one another (issue 17). So the CLI keeps one ``ClientSession`` (client id, last seq, first seq,
last zxid seen; zmqzab/client.py) in a file under the user's state directory:
``$ZMQZAB_STATE_DIR``, else ``$XDG_STATE_HOME/zmqzab``, else ``~/.local/state/zmqzab``, in
``clients/<hash of the config file and the terminal's session id>.json``. The directory is
0700 and the file 0600: the id is the user's, and another user who knew it (without CURVE)
could write under it.

The seq is saved before the write is sent (``Client(before_send=...)``), and again after it: a
run killed with its write in flight (``timeout 5 zmqzab guess 42``) must not leave the file at
the old seq, or the next run would send the same (client id, seq) with another value and get
the first one's answer, its own value never applied.

The file is locked (``flock``) while a write is under way, so two commands run at once in one
terminal take turns instead of sending the same seq. A file that is missing, unreadable or
not a session starts a new session (the game treats it as a new client).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from zmqzab.client import ClientSession

STATE_DIR_ENV = "ZMQZAB_STATE_DIR"


def state_dir() -> Path:
    explicit = os.environ.get(STATE_DIR_ENV)
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "zmqzab"


def session_path(config_file: Path) -> Path:
    """The file of this terminal's session (``os.getsid``: the shell's) for this config."""
    key = f"{config_file.resolve()}|{os.getsid(0)}"
    return state_dir() / "clients" / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def _parse(text: str) -> ClientSession | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    client_id = data.get("client_id")
    numbers = [data.get(k, 0) for k in ("seq", "first", "seen")]
    if not isinstance(client_id, str) or not client_id or not all(
            type(n) is int and n >= 0 for n in numbers):
        return None
    return ClientSession(client_id, *numbers)


class SessionFile:
    """An open, locked session file: ``session`` (None: start one), ``save`` when done."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        raw = b""
        while chunk := os.read(fd, 65536):
            raw += chunk
        self.session = _parse(raw.decode("utf-8", "replace")) if raw else None

    def save(self, session: ClientSession) -> None:
        data = json.dumps({"client_id": session.client_id, "seq": session.seq,
                           "first": session.first, "seen": session.seen}).encode()
        os.lseek(self.fd, 0, os.SEEK_SET)
        os.ftruncate(self.fd, 0)
        os.write(self.fd, data)


@contextmanager
def held_session(config_file: Path) -> Iterator[SessionFile]:
    """The session file of ``config_file`` for this terminal, locked until the block ends.
    OSError if the state directory cannot be made or the file opened."""
    path = session_path(config_file)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)  # an older file with a wider mode, or a umask that widened it
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield SessionFile(fd)
    finally:
        os.close(fd)  # releases the lock
