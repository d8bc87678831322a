"""When a node takes a snapshot: every ``every`` applied txns, one at a time.

Counted in applied txns, not zxids (zxids jump at every new epoch). The txns after a snapshot
are applied again (and counted) after a restart once they are committed; a SNAP installed
from the leader counts as a snapshot. Only one is in flight: the next is due once the writer
has reported the last one saved (or failed), so a slow disk never piles snapshots up.
"""

from __future__ import annotations


class SnapshotPolicy:
    __slots__ = ("every", "since", "pending")

    def __init__(self, every: int) -> None:
        #: 0: never.
        self.every = every
        self.since = 0
        self.pending = False

    def applied(self, n: int) -> bool:
        """``n`` more txns applied; True when a snapshot is due now."""
        self.since += n
        return bool(self.every) and self.since >= self.every and not self.pending

    def installed(self) -> None:
        self.since = 0  # the SNAP being installed is a snapshot

    def started(self, in_flight: bool) -> None:
        self.since = 0
        self.pending = in_flight

    def finished(self) -> None:
        self.pending = False
