"""The nemesis: faults from a seeded schedule, never more at once than a quorum survives.

Kinds: kill (kill -9 a random node), kill_leader, pause (SIGSTOP longer than the sync limit,
then SIGCONT), pause_leader, isolate_leader (the leader alone on one side of a partition),
split (2 | 3), bridge (two sides that one node sees both of), kill_two (two nodes at once).
Every fault is undone after a while (restart, SIGCONT, heal) and recorded with its period.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import asdict, dataclass

from zmqzab.localcluster import LocalCluster

KINDS = ("kill", "kill_leader", "pause", "pause_leader", "isolate_leader", "split", "bridge", "kill_two")


@dataclass
class Fault:
    kind: str
    nodes: list[int]
    start: float
    end: float | None = None
    detail: str = ""

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class LeaderChange:
    t: float
    leader: int | None
    epoch: int | None


class Nemesis(threading.Thread):
    def __init__(self, cluster: LocalCluster, seed: int, t0: float, until: float, pause_s: float,
                 stop: threading.Event) -> None:
        super().__init__(name="nemesis", daemon=True)
        self.cluster = cluster
        self.rng = random.Random(seed ^ 0x5EED)
        self.t0 = t0
        self.until = until
        self.pause_s = pause_s
        self.stop_event = stop
        self.faults: list[Fault] = []
        self.error: BaseException | None = None
        #: Kinds are dealt from a shuffled deck, so a run of len(KINDS) faults has every kind.
        self._deck: list[str] = []

    def now(self) -> float:
        return time.monotonic() - self.t0

    def run(self) -> None:
        try:
            self.stop_event.wait(1.0)  # let the clients warm up
            while not self.stop_event.is_set() and self.now() < self.until:
                self.one_fault()
                self.stop_event.wait(self.rng.uniform(0.8, 2.0))
        except BaseException as exc:  # reported by the runner; the run then fails
            self.error = exc

    def _leader(self) -> int:
        ld = self.cluster.leader()
        return ld if ld is not None else self.rng.choice(self.cluster.ids)

    def one_fault(self) -> None:
        c, rng = self.cluster, self.rng
        if not self._deck:
            self._deck = rng.sample(KINDS, len(KINDS))
        kind = self._deck.pop()
        ids = c.ids
        hold = rng.uniform(1.0, 3.0)
        if kind in ("kill", "kill_leader", "kill_two"):
            if kind == "kill_leader":
                victims = [self._leader()]
            else:
                victims = rng.sample(ids, 2 if kind == "kill_two" and len(ids) >= 5 else 1)
            fault = self._begin(kind, victims, f"kill -9 {victims}")
            for v in victims:
                c.kill(v)
            self.stop_event.wait(hold)
            for v in victims:
                c.start(v)
        elif kind in ("pause", "pause_leader"):
            victim = self._leader() if kind == "pause_leader" else rng.choice(ids)
            fault = self._begin(kind, [victim], f"SIGSTOP n{victim} for {self.pause_s + hold:.1f}s")
            c.pause(victim)
            self.stop_event.wait(self.pause_s + hold)  # longer than the sync limit
            c.resume(victim)
        else:
            if kind == "isolate_leader":
                ld = self._leader()
                groups = [{ld}, set(ids) - {ld}]
            elif kind == "split" or len(ids) < 5:
                shuffled = rng.sample(ids, len(ids))
                k = len(ids) // 2
                groups = [set(shuffled[:k]), set(shuffled[k:])]
            else:  # bridge: A,B | C,D with E connected to both sides
                a, b, bridge_node, d, e = rng.sample(ids, 5)
                groups = [{a, b, bridge_node}, {d, e, bridge_node}]
            nodes = sorted(set().union(*groups))
            fault = self._begin(kind, nodes, " | ".join(",".join(map(str, sorted(g))) for g in groups))
            c.partition(groups)
            self.stop_event.wait(hold)
            c.heal()
        fault.end = self.now()

    def _begin(self, kind: str, nodes: list[int], detail: str) -> Fault:
        fault = Fault(kind, sorted(nodes), self.now(), detail=detail)
        self.faults.append(fault)
        return fault


class LeaderWatch(threading.Thread):
    """Polls who leads (10 times a second) to mark leader changes on the timeline."""

    def __init__(self, cluster: LocalCluster, t0: float, stop: threading.Event) -> None:
        super().__init__(name="leader-watch", daemon=True)
        self.cluster, self.t0, self.stop_event = cluster, t0, stop
        self.changes: list[LeaderChange] = []

    def run(self) -> None:
        last = object()
        while not self.stop_event.wait(0.1):
            ld = self.cluster.leader()
            if ld != last:
                st = self.cluster.status(ld) if ld is not None else None
                self.changes.append(LeaderChange(time.monotonic() - self.t0, ld, st["epoch"] if st else None))
                last = ld
