"""Storage errors: each message is one line that names the file and tells a person what to do.

A ``StorageError`` means the data dir cannot be used as it is, or a write failed; the node must
stop rather than carry on from memory (ZAB_CHECKLIST #25, ZK-4882). The subclasses say *why*, so
the CLI can print the message alone, without a traceback.
"""

from __future__ import annotations

from pathlib import Path

#: The way out of every "this data dir is damaged" error: the leader holds the whole history.
#: --resync, not a data dir moved aside by hand: a node that forgets its acceptedEpoch may
#: promise an epoch twice (storage/resync.py).
WAY_OUT = (
    "start it with `zmqzab node --resync` to rebuild it from the leader (it keeps the epoch "
    "this node promised; moving the data dir aside by hand would lose it)"
)


class StorageError(Exception):
    """The data dir cannot be used as it is, or an operation on it failed or was refused."""


class CorruptLogError(StorageError):
    """A txn log record that is damaged before the end of the log (not a torn last write)."""

    def __init__(self, path: Path | str, offset: int, problem: str) -> None:
        self.path = Path(path)
        self.offset = offset
        self.problem = problem
        super().__init__(
            f"corrupt txn log {self.path} at byte {offset}: {problem}; "
            f"the node cannot start from it: {WAY_OUT}"
        )


class CorruptSnapshotError(StorageError):
    """The snapshot that the log depends on is missing or damaged."""

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"snapshot problem in {self.path}: {problem}; {WAY_OUT}")


class EpochInvariantError(StorageError):
    """acceptedEpoch / currentEpoch are unreadable, or disagree with each other or the log."""
