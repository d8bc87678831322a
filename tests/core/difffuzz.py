"""Differential fuzzer of the pure core: one scripted, seeded, hostile run of a few Peers, written
as a log of every input and every Output. Run it on two trees and diff the logs:

    PYTHONPATH=/work/base python tests/core/difffuzz.py SEED > old.log
    PYTHONPATH=$PWD      python tests/core/difffuzz.py SEED > new.log

The run's choices come from the seed and from what the cores sent (so two cores that agree make
the same choices, and the first line that differs is where they part). The driver is its own
(no host code), so both trees are fed exactly the same inputs: messages delivered in any order,
duplicated, dropped or replayed from long ago (older epochs and incarnations), ticks, writer
reports (persisted) after partial flushes, disk-read reports (ok, failed before or after the
header), submits, crashes and restarts, closed connections.

It also checks, on either tree: no ACK above what the disk holds, one op per zxid on every node,
committed zxids applied in order, one established leader per epoch; a core exception is logged
(and the node restarted) rather than stopping the run.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass, field

from zmqzab.core.output import Append, InstallSnapshot, Truncate
from zmqzab.core.peer import Peer, Recovered
from zmqzab.core.roles import Phase, Role
from zmqzab.core.settings import CoreConfig
from zmqzab.messages import Ack, Guess, NewGame, SyncTxns, Txn
from zmqzab.zxid import fmt_zxid, zxid_counter

try:
    from zmqzab.game.rules import Game
except ImportError:  # the tree before issue 12
    from zmqzab.game import Game  # type: ignore[no-redef]

try:
    from zmqzab.core.errors import NotReady
except ImportError:
    from zmqzab.core.peer import NotReady  # type: ignore[no-redef,attr-defined]

BROADCAST = -1


def make_state(data: bytes | None) -> Game:
    return Game.restore(data) if data else Game()


@dataclass
class Disk:
    accepted: int = 0
    current: int = 0
    base: int = 0
    snapshot: bytes | None = None
    txns: list[Txn] = field(default_factory=list)
    pending: list = field(default_factory=list)

    @property
    def last(self) -> int:
        return self.txns[-1].zxid if self.txns else self.base

    def flush(self, k: int) -> None:
        for op in self.pending[:k]:
            match op:
                case Append(txns=txns):
                    self.txns.extend(txns)
                case Truncate(zxid=z):
                    self.txns = [t for t in self.txns if t.zxid <= z]
                case InstallSnapshot(zxid=z, data=data):
                    self.base, self.snapshot, self.txns = z, data, []
        del self.pending[:k]

    def read(self, after: int, upto: int) -> list[Txn] | None:
        zxids = [t.zxid for t in self.txns]
        if after != self.base and after not in zxids:
            return None
        got = [t for t in self.txns if after < t.zxid <= upto]
        return got if got and got[-1].zxid == upto else None

    def recovered(self) -> Recovered:
        return Recovered(self.accepted, self.current, self.base, self.snapshot, list(self.txns))


def view(p: Peer) -> str:
    """The core's part of the node's /status, as either tree renders it (op texts left out)."""
    import json
    try:
        from zmqzab.server.status import peer_view
    except ImportError:  # the tree before issue 12: Peer.status() and node.py's extras
        v = p.status()
        learners = []
        if p.leading is not None and p.leading.established:
            learners = [ln for ln in p.leading.learners.values() if ln.phase == Phase.BROADCAST]
        rows = []
        for txn in p.log.txns[-16:]:
            row = {"zxid": fmt_zxid(txn.zxid), "client": txn.op.client_id[:12],
                   "committed": txn.zxid <= p.zxid_committed}
            if p.leading is not None and p.leading.established:
                ackers = [p.id] if p.zxid_durable >= txn.zxid else []
                ackers += sorted(ln.id for ln in learners if ln.acked >= txn.zxid)
                row.update(acks=len(ackers), ackers=ackers)
            rows.append(row)
        votes = {}
        if p.election is not None:
            votes = {str(i): v.leader for i, v in sorted(p.election.received.items())}
        v.update(log_base=fmt_zxid(p.log.base), log_tail=rows, quorum=p.quorum, voters=list(p.voters),
                 votes_received=votes, last_sync=dict(p.last_sync))
    else:
        v = peer_view(p.status(16))
        for row in v["log_tail"]:
            row.pop("cmd")
    return json.dumps(v, sort_keys=True, default=str)


class Run:
    def __init__(self, seed: int, steps: int) -> None:
        self.rng = random.Random(seed)
        r = self.rng
        self.n = r.choice([3, 3, 5])
        self.ids = list(range(1, self.n + 1))
        self.fifo = r.random() < 0.5
        #: How hostile the run is (faults' weight).
        self.faults = r.choice([0.05, 0.2, 1.0])
        self.cfg = CoreConfig(
            log_window_txns=r.choice([4, 8, 50_000]),
            snap_chunk_bytes=r.choice([32, 128, 256 * 1024]),
            snap_chunks_inflight_max=r.choice([1, 2, 8]),
            sync_batch_txns=r.choice([1, 3, 5000]),
            fetch_max_txns=r.choice([2, 50000]),
            election_wait_ticks=r.choice([0, 1, 2]),
            init_limit_ticks=r.choice([8, 20]),
            sync_limit_ticks=r.choice([5, 10]),
            zxid_counter_max=r.choice([12, 1 << 31]),
        )
        self.steps = steps
        self.disks = {i: Disk() for i in self.ids}
        self.peers: dict[int, Peer] = {}
        self.starts = 0
        self.flight: list[tuple[int, int, object]] = []
        self.history: list[tuple[int, int, object]] = []
        self.reads: list[tuple[int, object]] = []
        self.lines: list[str] = []
        self.zxid_op: dict[int, object] = {}
        self.applied_last: dict[int, int] = {}
        self.leaders: dict[int, int] = {}
        self.violations: list[str] = []
        self.seq = 0
        self.cut: set[frozenset[int]] = set()
        self.log(f"n={self.n} fifo={self.fifo} faults={self.faults} cfg={self.cfg}")
        for i in self.ids:
            self.start(i)

    def log(self, text: str) -> None:
        self.lines.append(text)

    def violation(self, text: str) -> None:
        self.violations.append(text)
        self.log("VIOLATION " + text)

    # -------------------------------------------------------------- lifecycle

    def start(self, i: int) -> None:
        self.starts += 1
        disk = self.disks[i]
        disk.pending.clear()
        self.peers[i] = Peer(i, self.ids, self.cfg, random.Random(self.starts * 7919), make_state,
                             disk.recovered())
        self.applied_last[i] = self.peers[i].zxid_applied
        self.call(i, "start", lambda: self.peers[i].start())

    def crash(self, i: int) -> None:
        self.log(f"crash {i}")
        self.disks[i].pending.clear()
        self.flight = [m for m in self.flight if m[1] != i]
        self.reads = [r for r in self.reads if r[0] != i]
        self.start(i)

    # -------------------------------------------------------------- calls

    def call(self, i: int, what: str, fn) -> None:
        self.log(f"> {i} {what}")
        try:
            out = fn()
        except NotReady as exc:
            self.log(f"  NotReady {exc} kind={exc.kind}")
            if exc.output is not None:
                self.execute(i, exc.output)
            return
        except Exception as exc:  # InvariantError, AssertionError, ...: the node stops
            self.log(f"  EXC {type(exc).__name__}: {exc}")
            self.crash(i)
            return
        self.execute(i, out)
        self.check(i)

    def execute(self, i: int, out) -> None:
        disk = self.disks[i]
        if out.epochs is not None:
            if out.epochs.accepted_epoch is not None:
                disk.accepted = out.epochs.accepted_epoch
            if out.epochs.current_epoch is not None:
                disk.current = out.epochs.current_epoch
            self.log(f"  epochs {out.epochs}")
        durable_before = disk.last if not any(isinstance(o, (Truncate, InstallSnapshot))
                                              for o in disk.pending) else -1
        for op in out.log:
            self.log(f"  log {op!r}")
            disk.pending.append(op)
        for s in out.sends:
            self.log(f"  send {s.to} {s.msg!r}")
            if isinstance(s.msg, Ack) and zxid_counter(s.msg.zxid) and s.msg.zxid > durable_before:
                self.violation(f"n{i} ACKs {fmt_zxid(s.msg.zxid)} with {fmt_zxid(durable_before)} durable")
            dsts = [p for p in self.ids if p != i] if s.to == BROADCAST else [s.to]
            for d in dsts:
                self.flight.append((i, d, s.msg))
        for txn, result in out.applied:
            self.log(f"  applied {fmt_zxid(txn.zxid)} {result!r}")
            known = self.zxid_op.setdefault(txn.zxid, txn.op)
            if known != txn.op:
                self.violation(f"n{i} applies {txn.op!r} at {fmt_zxid(txn.zxid)}, another node {known!r}")
            if txn.zxid <= self.applied_last[i]:
                self.violation(f"n{i} applies {fmt_zxid(txn.zxid)} after {fmt_zxid(self.applied_last[i])}")
            self.applied_last[i] = txn.zxid
        for t in out.traces:
            self.log(f"  trace {t.event}: {t.text} {sorted(t.fields.items())}")
        for rd in out.reads:
            self.log(f"  read {rd!r}")
            self.reads.append((i, rd))

    def check(self, i: int) -> None:
        p = self.peers[i]
        self.log(f"  view {view(p)}")
        self.log(f"  = {p.role}/{p.phase} leader={p.leader_id} epoch={p.epoch} acc={p.accepted_epoch} "
                 f"cur={p.current_epoch} last={fmt_zxid(p.zxid_last)} dur={p.zxid_durable} "
                 f"com={fmt_zxid(p.zxid_committed)} app={fmt_zxid(p.zxid_applied)}")
        if p.role == Role.LEADING and p.phase == Phase.BROADCAST:
            owner = self.leaders.setdefault(p.epoch, i)
            if owner != i:
                self.violation(f"epoch {p.epoch} established by n{owner} and n{i}")

    # -------------------------------------------------------------- actions

    def deliver(self, k: int, keep: bool = False) -> None:
        src, dst, msg = self.flight[k] if keep else self.flight.pop(k)
        if frozenset((src, dst)) in self.cut:
            return
        self.history.append((src, dst, msg))
        self.call(dst, f"step {src} {msg!r}", lambda: self.peers[dst].step(src, msg))

    def pick_fifo(self) -> int:
        """The oldest message of a random link."""
        links: dict[tuple[int, int], int] = {}
        for k, (s, d, _) in enumerate(self.flight):
            links.setdefault((s, d), k)
        return links[self.rng.choice(sorted(links))]

    def do_read(self) -> None:
        k = self.rng.randrange(len(self.reads))
        i, read = self.reads.pop(k)
        disk = self.disks[i]
        txns = disk.read(read.after, read.upto)
        if txns is None or self.rng.random() < 0.1:
            sent = read.header is None or (txns is not None and self.rng.random() < 0.5)
            if read.header is not None and sent:
                self.flight.append((i, read.to, read.header))
            self.call(i, f"read failed {read!r} header_sent={sent}",
                      lambda: self.peers[i].disk_read_done(read.to, read.session, False, sent,
                                                           read.after, "not in the log"))
            return
        if read.header is not None:
            self.flight.append((i, read.to, read.header))
        prev = read.after
        batch = self.cfg.sync_batch_txns
        for j in range(0, len(txns), batch):
            part = txns[j: j + batch]
            self.flight.append((i, read.to, SyncTxns(read.session, read.epoch, part, read.zxid_committed, prev)))
            prev = part[-1].zxid
        last = prev
        self.call(i, f"read ok {read!r}",
                  lambda: self.peers[i].disk_read_done(read.to, read.session, True, True, last))

    def submit(self, i: int) -> None:
        self.seq += 1
        r = self.rng
        op = (Guess(f"c{r.randrange(3)}", self.seq, r.randrange(1, 100)) if r.random() < 0.9
              else NewGame(f"c{r.randrange(3)}", self.seq))
        self.call(i, f"submit {op!r}", lambda: self.peers[i].submit([op], ts_ms=0))

    def persist(self, i: int) -> None:
        disk = self.disks[i]
        k = self.rng.randint(1, len(disk.pending))
        disk.flush(k)
        last = disk.last
        self.call(i, f"persisted {fmt_zxid(last)} ({k} ops)", lambda: self.peers[i].persisted(last))

    def compact(self, i: int) -> None:
        """A snapshot at the applied zxid, the log purged through it (storage keeps one)."""
        p, disk = self.peers[i], self.disks[i]
        z = p.zxid_applied
        if disk.pending or z > disk.last or z <= disk.base:
            return
        disk.base, disk.snapshot = z, p.state.snapshot()
        disk.txns = [t for t in disk.txns if t.zxid > z]
        self.log(f"> {i} log_purged {fmt_zxid(z)}")
        p.log_purged(z)

    def step_once(self) -> None:
        r = self.rng
        f = self.faults
        actions = [("deliver", 50 if self.flight else 0), ("tick", 3 if self.flight else 12),
                   ("tick_all", 1 if self.flight else 6),
                   ("persist", 14 if any(d.pending for d in self.disks.values()) else 0),
                   ("read", 6 if self.reads else 0), ("submit", 4),
                   ("dup", 2 * f if self.flight else 0), ("drop", 2 * f if self.flight else 0),
                   ("replay", 2 * f if self.history else 0), ("crash", 0.2 * f),
                   ("unreachable", 0.5 * f), ("force", 0.1 * f), ("compact", 0.5),
                   ("cut", 0.3 * f), ("heal", 0.6 if self.cut else 0)]
        name = r.choices([a for a, _ in actions], [w for _, w in actions])[0]
        i = r.choice(self.ids)
        if name == "deliver":
            self.deliver(self.pick_fifo() if self.fifo else r.randrange(len(self.flight)))
        elif name == "tick":
            self.call(i, "tick", lambda: self.peers[i].tick())
        elif name == "tick_all":
            for j in self.ids:
                self.call(j, "tick", lambda: self.peers[j].tick())
        elif name == "persist":
            j = r.choice([d for d in self.ids if self.disks[d].pending])
            self.persist(j)
        elif name == "read":
            self.do_read()
        elif name == "submit":
            self.submit(i)
        elif name == "dup":
            self.flight.append(self.flight[r.randrange(len(self.flight))])
        elif name == "drop":
            self.flight.pop(r.randrange(len(self.flight)))
        elif name == "replay":
            self.flight.append(self.history[r.randrange(len(self.history))])
        elif name == "crash":
            self.crash(i)
        elif name == "unreachable":
            j = r.choice([p for p in self.ids if p != i])
            self.call(i, f"unreachable {j}", lambda: self.peers[i].peer_unreachable(j))
        elif name == "cut":  # a partition: one node apart, both ways, until a heal
            self.cut = {frozenset((i, j)) for j in self.ids if j != i}
            self.log(f"cut {i}")
        elif name == "heal":
            self.cut = set()
            self.log("heal")
        elif name == "compact":
            self.compact(i)
        elif name == "force":
            self.call(i, "force_election", lambda: self.peers[i].force_election("fuzz"))

    def run(self) -> list[str]:
        for s in range(self.steps):
            self.log(f"--- step {s}")
            self.step_once()
        return self.lines


def main() -> None:
    if sys.argv[1] == "--hash":  # one line per seed: its log's digest and violations
        import hashlib
        steps = int(sys.argv[4]) if len(sys.argv) > 4 else 3000
        for seed in range(int(sys.argv[2]), int(sys.argv[3])):
            run = Run(seed, steps)
            digest = hashlib.sha256("\n".join(run.run()).encode()).hexdigest()[:16]
            exc = sum(1 for line in run.lines if line.startswith("  EXC"))
            print(seed, digest, len(run.violations), exc, flush=True)
        return
    seed = int(sys.argv[1])
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
    print(f"seed {seed}")
    run = Run(seed, steps)
    for line in run.run():
        print(line)
    for v in run.violations:
        print("VIOLATION", v, file=sys.stderr)


if __name__ == "__main__":
    main()
