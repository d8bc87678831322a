"""Which of the log writer's durable reports may become ``Peer.persisted(zxid)``.

The writer (storage/writer.py, or the simulator's, sim/disk.py) reports after each fsync the
disk's last zxid and how many of the ops handed to it so far that report covers (the first
ones, in hand-off order). The driver hands the report over to its own thread and then here; the
core believes what passes, and an ACK follows. Both drivers, node.py and the simulator, go
through this class, so that the simulator explores the rule production runs. node.py's loop
hands over the writer's latest report at every wake-up, seen or not: this class is what takes
each report once.

A report passes only if it is newer than every report taken before (each report is taken once:
the same report delivered again, or an older one delivered late, is dropped) and it covers the
last cut (a Truncate or an InstallSnapshot) handed to the writer. A report from before the cut
describes the log before it, maybe with the same zxids as the log refilled since by another
leader (ABA): ``Peer.truncate`` counts on "the next report comes after the Truncate". Two
attacks on node.py broke these rules (tests/unit/test_node_stale_durable_report_attack.py,
test_node_snapshot_batch_report_attack.py); the simulator's report schedules
(sim/reports.py) and the switches below prove it catches both.
"""

from __future__ import annotations

from collections.abc import Iterable

from zmqzab.core.output import InstallSnapshot, Truncate

#: Deliberate host bugs, for the simulator's tests only (like core/settings.py TEST_FAULTS and
#: storage/faults.py): each puts back one of the two defects above
#: (tests/sim/test_durable_report_switches.py). Only ``DurableReports(test_faults=...)`` takes
#: them, and only the simulator passes any; ``zmqzab sim --inject-bug NAME`` accepts them.
HOST_TEST_FAULTS = (
    # Every report delivered passes, again and again, cut or not: node.py before 68912f1
    # re-played the writer's last report at every wake-up of its loop.
    "durable_report_replayed",
    # Each report passes once, but one from before the last cut too: node.py between 68912f1 and
    # e77c58b (the snapshot-batch attack).
    "durable_report_ignores_cut",
    # Not a report's: Replica.refusal never refuses a too-old request, so a node takes it and
    # its client waits for a commit that never comes (before the CI find of session 9).
    "takes_stale_requests",
)



class DurableReports:
    """One writer's reports, for one Peer (a new one at every restart, with the writer's
    counts from zero)."""

    __slots__ = ("zxid", "handed", "cut_at", "taken", "_replayed", "_ignores_cut")

    def __init__(self, zxid: int, test_faults: frozenset[str] = frozenset()) -> None:
        unknown = sorted(test_faults - frozenset(HOST_TEST_FAULTS))
        if unknown:
            raise ValueError(f"unknown host test fault(s) {', '.join(unknown)}; known: {', '.join(HOST_TEST_FAULTS)}")
        #: The last zxid passed to the core: what the host checks an ACK against (effects.py).
        self.zxid = zxid
        #: Ops handed to the writer so far (log ops, and a snapshot's save or commit).
        self.handed = 0
        #: How many of them a report must cover to pass: all up to the last cut.
        self.cut_at = 0
        #: How many the last report taken covered.
        self.taken = 0
        self._replayed = "durable_report_replayed" in test_faults
        self._ignores_cut = "durable_report_ignores_cut" in test_faults

    def handed_over(self, ops: Iterable[object]) -> None:
        """``ops`` go to the writer now, in this order (the driver's hand-off)."""
        handed = self.handed
        for op in ops:
            handed += 1
            if type(op) is Truncate or type(op) is InstallSnapshot:
                self.cut_at = handed
        self.handed = handed

    def take(self, zxid: int, covered: int) -> bool:
        """The writer reported ``zxid`` durable, covering the first ``covered`` ops handed over.
        True: pass it to ``Peer.persisted`` (``self.zxid`` is now ``zxid``)."""
        if not self._replayed:
            if covered <= self.taken:
                return False  # taken already, or older than one taken
            # One from before the last cut is dropped: the report of the cut's batch is to come.
            if covered < self.cut_at and not self._ignores_cut:
                return False
        self.taken = max(self.taken, covered)
        self.zxid = zxid
        return True
