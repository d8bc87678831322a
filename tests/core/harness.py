"""A small deterministic cluster for core tests: real Peers in production's host (a
``Replica`` each, zmqzab/host/), an in-memory disk whose un-synced ops are lost on a crash, and
a FIFO network that can be cut.

Nothing here sleeps or reads a clock: time is ``tick()``.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

from zmqzab.core.output import Append, InstallSnapshot, LogOp, Trace, Truncate
from zmqzab.core.errors import NotReady
from zmqzab.core.peer import Peer, Recovered
from zmqzab.core.roles import Phase, Role
from zmqzab.core.settings import CoreConfig
from zmqzab.game.rules import Game
from zmqzab.host.reads import DiskStream
from zmqzab.host.recovery import make_state, new_peer
from zmqzab.host.replica import Replica
from zmqzab.messages import GameResult, Guess, PeerMessage, Txn

__all__ = ["Cluster", "HoldingCluster", "MemDisk", "make_state"]


@dataclass
class MemDisk:
    accepted: int = 0
    current: int = 0
    base: int = 0
    snapshot: bytes | None = None
    txns: list[Txn] = field(default_factory=list)
    pending: list[LogOp] = field(default_factory=list)
    #: The log holds every txn after this zxid (a purge moves it; see ``purge``).
    log_start: int = 0

    @property
    def last(self) -> int:
        return self.txns[-1].zxid if self.txns else self.base

    def flush(self) -> int:
        for op in self.pending:
            match op:
                case Append(txns=txns):
                    self.txns.extend(txns)
                case Truncate(zxid=z):
                    self.txns = [t for t in self.txns if t.zxid <= z]
                case InstallSnapshot(zxid=z, data=data):
                    self.base, self.snapshot, self.txns = z, data, []
                    self.log_start = z
        self.pending.clear()
        return self.last

    def purge(self, zxid: int) -> None:
        """Drop the txns up to ``zxid`` (as storage's purge does below the oldest snapshot)."""
        self.txns = [t for t in self.txns if t.zxid > zxid]
        self.log_start = max(self.log_start, zxid)

    def read(self, after: int, upto: int) -> list[Txn] | None:
        """Txns after < zxid <= upto if the log holds that range whole, else None (LogGap)."""
        zxids = [t.zxid for t in self.txns]
        if after != self.log_start and after not in zxids:
            return None
        got = [t for t in self.txns if after < t.zxid <= upto]
        return got if got and got[-1].zxid == upto else None

    def recovered(self) -> Recovered:
        return Recovered(self.accepted, self.current, self.base, self.snapshot, list(self.txns),
                         log_start=self.log_start)


class NodeIO:
    """The harness's ``HostIO``: the in-memory disk and network of ``Cluster``."""

    def __init__(self, cluster: "Cluster", node_id: int) -> None:
        self.c, self.id = cluster, node_id

    def write_epochs(self, accepted, current):
        disk = self.c.disks[self.id]
        if accepted is not None:
            disk.accepted = accepted
        if current is not None:
            disk.current = current

    def submit_log(self, op):
        self.c.disks[self.id].pending.append(op)

    def durable_zxid(self):
        return self.c.disks[self.id].last

    def send(self, to, msg):
        self.c.queue.append((self.id, to, msg))

    def publish(self, msg):
        for p in self.c.ids:
            if p != self.id:
                self.c.queue.append((self.id, p, msg))

    def read_log(self, stream: DiskStream):
        self.c.reads.append((self.id, stream))

    def applied(self, txn, result):
        self.c.applied[self.id].append((txn.zxid, result))

    def answer(self, waiters, txn, result):
        pass  # the harness's submit() waits for nobody: tests read ``applied``

    def take_snapshot(self, zxid: int, state: Game) -> bool:
        raise AssertionError("the harness takes no periodic snapshots (snapshot_every is 0)")

    def trace(self, trace: Trace):
        self.c.traces.append((self.c.now, self.id, trace))


class Cluster:
    def __init__(self, n: int = 5, seed: int = 0, cfg: CoreConfig | None = None, auto_persist: bool = True):
        self.ids = list(range(n))
        self.cfg = cfg or CoreConfig()
        self.seed = seed
        self.auto_persist = auto_persist
        self.disks = {i: MemDisk() for i in self.ids}
        self.peers: dict[int, Peer] = {}
        self.replicas: dict[int, Replica] = {}
        self.up: set[int] = set()
        self.queue: deque[tuple[int, int, PeerMessage]] = deque()
        self.cut: set[frozenset[int]] = set()
        self.applied: dict[int, list[tuple[int, GameResult]]] = {i: [] for i in self.ids}
        self.traces: list[tuple[int, int, Trace]] = []
        self.now = 0
        self.delivered: list[tuple[int, int, PeerMessage]] = []
        #: ReadLogs waiting for the "driver" (done in settle(), as a reader thread would later).
        self.reads: list[tuple[int, DiskStream]] = []
        self.disk_reads: list[tuple[int, DiskStream, bool]] = []
        self.starts = 0
        for i in self.ids:
            self.start(i)

    # --- lifecycle
    def start(self, i: int) -> None:
        self.disks[i].pending.clear()
        self.starts += 1  # every incarnation draws its own randomness (follower sessions)
        peer = new_peer(i, self.ids, self.cfg, random.Random(self.seed * 10_000 + self.starts),
                        self.disks[i].recovered())
        self.peers[i] = peer
        self.replicas[i] = Replica(peer, NodeIO(self, i))
        self.up.add(i)
        self.applied[i] = []
        self.execute(i, peer.start())

    def crash(self, i: int) -> None:
        """Stop node i; whatever it had not synced is lost."""
        self.up.discard(i)
        self.disks[i].pending.clear()
        self.queue = deque(m for m in self.queue if m[1] != i and m[0] != i)

    def execute(self, i: int, out) -> None:
        self.replicas[i].execute(out)

    # --- network
    def partition(self, *groups: set[int]) -> None:
        self.cut = {frozenset((a, b)) for g in groups for h in groups if g is not h for a in g for b in h}

    def heal(self) -> None:
        self.cut = set()

    def deliver_one(self) -> bool:
        if not self.queue:
            return False
        src, dst, msg = self.queue.popleft()
        if dst not in self.up or src not in self.up or frozenset((src, dst)) in self.cut:
            return True
        self.delivered.append((src, dst, msg))
        self.execute(dst, self.peers[dst].step(src, msg))
        return True

    def persist(self, i: int) -> None:
        if i in self.up and self.disks[i].pending:
            last = self.disks[i].flush()
            self.execute(i, self.peers[i].persisted(last))

    def do_read(self) -> bool:
        """Carry out the oldest ReadLog as node.py's reader does: check, send, report."""
        if not self.reads:
            return False
        i, stream = self.reads.pop(0)
        if i not in self.up:
            return True
        read = stream.read
        txns = self.disks[i].read(read.after, read.upto)
        self.disk_reads.append((i, stream, txns is not None))
        if txns is None:
            self.execute(i, stream.done(self.peers[i], "not in the log"))
            return True
        batch = self.cfg.sync_batch_txns
        for k in range(0, len(txns), batch):
            header = stream.header()
            if header is not None:
                self.queue.append((i, read.to, header))
            self.queue.append((i, read.to, stream.txns(txns[k : k + batch])))
        self.execute(i, stream.done(self.peers[i]))
        return True

    def settle(self, limit: int = 100_000) -> None:
        """Deliver messages (and flush disks, if auto) until nothing is left to do."""
        for _ in range(limit):
            if self.deliver_one():
                continue
            if self.do_read():
                continue
            if self.auto_persist and any(self.disks[i].pending for i in self.up):
                for i in sorted(self.up):
                    self.persist(i)
                continue
            return
        raise AssertionError("cluster did not settle")

    def tick(self, n: int = 1) -> None:
        for _ in range(n):
            self.now += 1
            for i in sorted(self.up):
                self.execute(i, self.replicas[i].tick())
            self.settle()

    def run_until(self, cond, max_ticks: int = 500) -> int:
        self.settle()
        for t in range(max_ticks):
            if cond():
                return t
            self.tick()
        raise AssertionError(f"condition not reached in {max_ticks} ticks; roles: {self.roles()}")

    # --- views
    def roles(self) -> dict[int, str]:
        return {i: f"{self.peers[i].role}/{self.peers[i].phase}" for i in sorted(self.up)}

    def leader(self) -> int | None:
        leaders = [i for i in sorted(self.up)
                   if self.peers[i].role == Role.LEADING and self.peers[i].phase == Phase.BROADCAST]
        return leaders[0] if len(leaders) == 1 else None

    def serving(self) -> bool:
        """One established leader and every up node following it in BROADCAST."""
        ld = self.leader()
        if ld is None:
            return False
        return all(self.peers[i].phase == Phase.BROADCAST and self.peers[i].leader_id == ld for i in self.up)

    def submit(self, i: int, value: int, client: str = "c", seq: int = 1) -> None:
        try:
            out = self.peers[i].submit([Guess(client, seq, value)], ts_ms=0)
        except NotReady as exc:
            if exc.output is not None:
                self.execute(i, exc.output)  # as node.py: the core's work before refusing
            raise
        self.execute(i, out)
        self.settle()


class HoldingCluster(Cluster):
    """The cluster, with a rule that holds matching messages back (in flight, or reordered):
    ``hold(src, dst, msg)`` true keeps the message in ``held`` until the test puts it back."""

    hold = None

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.held: list = []

    def deliver_one(self) -> bool:
        if self.queue and self.hold is not None and self.hold(*self.queue[0]):
            self.held.append(self.queue.popleft())
            return True
        return super().deliver_one()
