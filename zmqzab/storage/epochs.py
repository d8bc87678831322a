"""acceptedEpoch and currentEpoch: two small files, each replaced atomically.

Like ZooKeeper, each file holds one decimal number. ``acceptedEpoch`` is the newest epoch this
node promised to follow (written before ACKEPOCH); ``currentEpoch`` the epoch of the last leader
whose NEWLEADER it acknowledged. A missing file reads as 0 (a fresh node).

Each value is written as ``<name>.tmp``, fsynced, renamed over ``<name>`` and the directory
fsynced; ``write()`` returns only then, and the driver sends nothing that depends on the new
value before it returns. So a ``<name>.tmp`` found at open is the trace of a crash *during* a
write: nobody was told about the new value, the old file is authoritative, and the tmp is
deleted with a note (ZAB_CHECKLIST #10, ZK-1653).

When both values are given, acceptedEpoch is written first, so that every crash state keeps
accepted >= current.
"""

from __future__ import annotations

import os
from pathlib import Path

from zmqzab.storage.durable import Fsync, fsync_dir, replace_atomically, tmp_path
from zmqzab.storage.errors import WAY_OUT, EpochInvariantError, StorageError

ACCEPTED_EPOCH = "acceptedEpoch"
CURRENT_EPOCH = "currentEpoch"
#: An epoch is the high half of a zxid.
EPOCH_MAX = (1 << 32) - 1


class EpochStore:
    def __init__(self, dir: Path, fsync: Fsync = True, *, readonly: bool = False) -> None:
        self.dir = Path(dir)
        self.fsync = fsync
        self.readonly = readonly
        #: Warnings found at open, for the node's log.
        self.notes: list[str] = []
        if not readonly:
            self.dir.mkdir(parents=True, exist_ok=True)
        self._handle_leftover_tmps()
        self._accepted, self._current = self.read()

    @property
    def accepted_path(self) -> Path:
        return self.dir / ACCEPTED_EPOCH

    @property
    def current_path(self) -> Path:
        return self.dir / CURRENT_EPOCH

    def read(self) -> tuple[int, int]:
        """(acceptedEpoch, currentEpoch) as on disk now."""
        accepted = self._read_one(self.accepted_path)
        current = self._read_one(self.current_path)
        self._accepted, self._current = accepted, current
        return accepted, current

    def write(self, accepted: int | None = None, current: int | None = None) -> None:
        """Durably set the given values (None leaves a file as it is)."""
        if self.readonly:
            raise StorageError(f"epoch files in {self.dir} were opened read-only")
        new_accepted = self._accepted if accepted is None else accepted
        new_current = self._current if current is None else current
        # These can only come from a bug in the caller; refusing keeps the disk sane for restart.
        for name, old, new in (
            (ACCEPTED_EPOCH, self._accepted, new_accepted),
            (CURRENT_EPOCH, self._current, new_current),
        ):
            if not 0 <= new <= EPOCH_MAX:
                raise EpochInvariantError(f"refusing to write {name}={new}: out of range")
            if new < old:
                raise EpochInvariantError(
                    f"refusing to lower {name} from {old} to {new} in {self.dir}: "
                    "epochs never go backwards (a bug in the caller)"
                )
        if new_accepted < new_current:
            raise EpochInvariantError(
                f"refusing to write acceptedEpoch={new_accepted} below currentEpoch={new_current} "
                f"in {self.dir}: a node accepts an epoch before it joins it (a bug in the caller)"
            )
        if accepted is not None:
            replace_atomically(self.accepted_path, f"{accepted}\n".encode(), self.fsync)
            self._accepted = accepted
        if current is not None:
            replace_atomically(self.current_path, f"{current}\n".encode(), self.fsync)
            self._current = current

    def _read_one(self, path: Path) -> int:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return 0
        text = raw.decode("ascii", errors="replace").strip()
        if not text.isdigit() or int(text) > EPOCH_MAX:
            raise EpochInvariantError(
                f"epoch file {path} holds {raw[:40]!r}, not an epoch number; {WAY_OUT}"
            )
        return int(text)

    def _handle_leftover_tmps(self) -> None:
        removed = False
        for name in (ACCEPTED_EPOCH, CURRENT_EPOCH):
            tmp = tmp_path(self.dir / name)
            if not tmp.exists():
                continue
            old = self._read_one(self.dir / name)
            action = "left in place (read-only)" if self.readonly else "removed"
            self.notes.append(
                f"found {tmp}: a crash interrupted a write of {name}; the previous value {old} "
                f"stands, since nothing that depended on the new value was sent (ZK-1653); "
                f"tmp file {action}"
            )
            if not self.readonly:
                os.unlink(tmp)
                removed = True
        if removed:
            fsync_dir(self.dir, self.fsync)
