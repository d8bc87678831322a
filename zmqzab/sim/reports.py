"""Report schedules: the simulated writer's durable reports reach a node's host as node.py's do.

In node.py the writer thread replaces the latest report (the disk's last zxid, the ops it
covers) and pokes the wake pipe; the loop reads it at each wake-up and gives it to the host
(host/durable.py), which decides whether it becomes ``Peer.persisted``. So a report can arrive
late (the loop is busy, or paused: meanwhile it has handed the writer more ops, a Truncate among
them, and the writer has gone on with the next batch), be coalesced (a newer report replaces
one the loop has not seen; the older one is never delivered), and reports come at every batch's
end and before each snapshot save in it (storage/writer.py), also for a batch taken before a
cut. The loop also wakes up for other reasons (a control command, a snapshot child, a disk
read) and then hands the host the same latest report again; here too every wake-up with no new
report delivers the last one again, and the host must take each report once.

Off by default (``SimOptions.report_schedules``, ``zmqzab sim --report-schedules``): then each
report is delivered at its fsync's completion, once, in order, and a seed's trace is what it
was before. Draws come from a stream of their own ("reports"), so every other draw of a seed
is unchanged when they are on.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from zmqzab.sim.events import ReportWake
from zmqzab.sim.trace import TICK
from zmqzab.zxid import fmt_zxid

if TYPE_CHECKING:
    from zmqzab.sim.simulation import Simulation, SimNode

#: Chance per node and tick of a wake-up of its loop for something else (a command, a snapshot
#: child, a disk read), which hands the latest report over again.
OTHER_WAKE = 0.3


class ReportSchedules:
    def __init__(self, sim: Simulation, rng: random.Random) -> None:
        self.sim = sim
        self.rng = rng
        #: node -> the report the writer made latest and the loop has not seen.
        self.untaken: dict[int, tuple[int, int]] = {}
        #: node -> the last report the loop took (what a stale re-delivery hands over again).
        self.last: dict[int, tuple[int, int]] = {}

    def post(self, node: SimNode, zxid: int, covered: int) -> None:
        """The writer reports (on its thread): the latest report replaced, the wake pipe poked."""
        sim = self.sim
        if node.id in self.untaken:
            sim.counters["report_coalesced"] += 1  # the older one is never delivered
        self.untaken[node.id] = (zxid, covered)
        roll = self.rng.random()
        # Mostly at once; often within the tick (the loop is in a pass); now and then ticks
        # later (a long pass: a big DIFF applied, a collection).
        delay = 0 if roll < 0.5 else self.rng.randint(1, TICK) if roll < 0.85 else self.rng.randint(TICK, 4 * TICK)
        if delay:
            sim.counters["report_late"] += 1
        sim.push(sim.now + delay, ReportWake(node.id, node.incarnation))

    def other_wakes(self) -> None:
        """Each tick: some loops wake up for something else within it."""
        sim = self.sim
        for node in sim.up_nodes():
            if self.rng.random() < OTHER_WAKE:
                sim.push(sim.now + self.rng.randint(0, TICK - 1), ReportWake(node.id, node.incarnation))

    def woken(self, node: SimNode) -> None:
        """The node's loop wakes up: it hands the host the report waiting, if any, else the last
        one again."""
        sim = self.sim
        report = self.untaken.pop(node.id, None)
        again = report is None
        if report is None:
            report = self.last.get(node.id)
            if report is None:
                return
            sim.counters["report_replayed"] += 1
        else:
            self.last[node.id] = report
        zxid, covered = report
        replica = node.replica
        assert replica is not None
        sim.trace.add(sim.now, "node", node.id, f"durable report {fmt_zxid(zxid)} (covering {covered} of "
                      f"{replica.reports.handed} ops handed over){' again' if again else ''}")
        sim._run_step(node, lambda: sim.durable_report(node, zxid, covered))

    def forget(self, node_id: int) -> None:
        """The node died: its writer and its loop with it."""
        self.untaken.pop(node_id, None)
        self.last.pop(node_id, None)
