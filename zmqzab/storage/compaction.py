"""Periodic snapshots and purge: what keeps a node's disk bounded under a steady write load.

ZooKeeper takes a snapshot every ``snapCount`` txns, rolls the txn log at that point, and its
PurgeTxnLog keeps the last N snapshots and the log files they need. Here the same, in three
steps the writer thread carries out for a ``SaveSnapshot`` (``Storage.save_snapshot``):

1. fsync the log: every txn up to the snapshot's zxid is durable before a snapshot names it,
   so the log never has a hole below a snapshot (a crash cannot leave snapshot Z with the log
   ending before Z, which a DIFF from disk would then read across);
2. save the snapshot atomically (tmp, fsync, rename, fsync dir) in the *current* log generation
   (it replaces nothing: recovery may start from any kept snapshot of the generation and replay
   the log after it, ZAB_CHECKLIST #24), then seal the active segment so the next append
   starts a new file (ZooKeeper's rollLog);
3. purge: keep the ``snapshots_kept`` newest snapshots; delete every segment whose txns are all
   at or below the oldest kept snapshot of the current generation (nothing needs them: a
   recovery from the oldest kept snapshot replays only what follows it). That zxid becomes the
   log's new ``log_start``: a DIFF from disk can reach back to it, no further.

A crash anywhere in between leaves a usable dir: before the rename, the previous snapshots
stand (the ``.tmp`` is deleted at open); after it, an unfinished purge only leaves more files
than needed, and the next purge deletes them. The snapshot is taken by the driver (the game's
state at an exact applied zxid, not a fuzzy one) and is queued after the appends it covers.

Two ways in. ``SaveSnapshot`` carries the bytes (the simulator, tests). ``CommitSnapshot``
names a ``.tmp`` file already written and fsynced by someone else: node.py forks, and the child
serializes the game (copy-on-write: the node does not stop for the seconds a big game takes to
encode) and writes the file; the writer then only does steps 1, the rename, and 3. A commit for
another log generation (a SNAP was installed meanwhile) is dropped, its file deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True, frozen=True)
class SaveSnapshot:
    """A storage op (not a protocol decision): save ``data``, the game at ``zxid``, then purge."""

    zxid: int
    data: bytes
    #: When the driver took it (for the report): seconds spent in ``Game.snapshot()``.
    taken_s: float = 0.0


@dataclass(slots=True, frozen=True)
class CommitSnapshot:
    """A storage op: make the snapshot another process wrote (``SnapshotStore.write_tmp``) at
    ``zxid`` in generation ``gen`` the newest one, then purge."""

    zxid: int
    gen: int
    size_bytes: int
    #: Seconds the node stood still for it (the fork), and the child's whole run.
    taken_s: float = 0.0
    child_s: float = 0.0


@dataclass(slots=True)
class SnapshotSaved:
    """What one ``SaveSnapshot`` did, for the node's log and ``/status``."""

    zxid: int
    size_bytes: int
    gen: int
    taken_s: float
    write_s: float = 0.0
    #: For a CommitSnapshot: the child process's run (encode, write, fsync).
    child_s: float = 0.0
    #: The error if the save failed (not fatal: the log is whole; the next snapshot retries).
    error: str = ""
    skipped: str = ""
    snapshots_deleted: list[str] = field(default_factory=list)
    segments_deleted: list[str] = field(default_factory=list)
    #: The log holds every txn after this zxid (DIFF from disk reaches back to here).
    log_start: int = 0
