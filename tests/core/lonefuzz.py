"""Differential fuzzer of one Peer fed made-up messages: a follower (node 1 following node 0) or
a leader (node 0, learners 1 and 2), each message drawn from a small pool of sessions, epochs
and zxids so that right ones, stale ones and wrong ones all come, in any order. Run it on two
trees and compare:

    PYTHONPATH=/work/base python tests/core/lonefuzz.py --hash 1 500 > old.txt
    PYTHONPATH=$PWD      python tests/core/lonefuzz.py --hash 1 500 > new.txt

(``lonefuzz.py SEED`` prints one run's log.) Both trees get the same inputs as long as their
outputs agree: the first differing line is where they part.
"""

from __future__ import annotations

import hashlib
import random
import sys
import zlib

try:
    from tests.core.difffuzz import NotReady, make_state, view
except ImportError:  # run as a script on another tree (PYTHONPATH=/work/base)
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from difffuzz import NotReady, make_state, view  # type: ignore[no-redef]
from zmqzab.core.peer import Peer, Recovered  # noqa: E402
from zmqzab.core.roles import Role  # noqa: E402
from zmqzab.core.settings import CoreConfig  # noqa: E402
from zmqzab.messages import (  # noqa: E402
    Ack,
    AckEpoch,
    Commit,
    FetchTxns,
    FollowerInfo,
    Forward,
    Guess,
    LeaderInfo,
    NewLeader,
    Notification,
    Ping,
    Proposal,
    SnapAck,
    SnapChunk,
    SyncStart,
    SyncTxns,
    Txn,
    UpToDate,
    Vote,
)
from zmqzab.zxid import make_zxid  # noqa: E402


def chain(epoch_counts: list[tuple[int, int]]) -> list[Txn]:
    out = []
    for epoch, n in epoch_counts:
        for c in range(1, n + 1):
            out.append(Txn(zxid=make_zxid(epoch, c), op=Guess("c", epoch * 100 + c, (epoch * 7 + c) % 90 + 1),
                           ts_ms=0))
    return out


class Lone:
    def __init__(self, seed: int, steps: int) -> None:
        r = self.r = random.Random(seed)
        self.steps = steps
        self.lines: list[str] = []
        self.mode = r.choice(["follower", "leader"])
        self.cfg = CoreConfig(log_window_txns=r.choice([3, 50_000]), snap_chunk_bytes=r.choice([64, 1 << 20]),
                              snap_chunks_inflight_max=r.choice([1, 3]), sync_batch_txns=r.choice([1, 2, 50]),
                              election_wait_ticks=0, init_limit_ticks=r.choice([6, 30]),
                              sync_limit_ticks=r.choice([4, 20]))
        # Our own history: a prefix of the "true" one (epoch 1: 4 txns, epoch 2: 3), or a branch.
        self.truth = chain([(1, 4), (2, 3)] if r.random() < 0.5 else [(1, 4), (2, 9)])
        self.branch = chain([(1, 2)]) + [Txn(zxid=make_zxid(1, 3), op=Guess("x", 1, 5), ts_ms=0)]
        mine = r.choice([[], self.truth[:2], self.truth[:4], self.branch])
        acc = max([0] + [t.zxid >> 32 for t in mine])
        self.me = 1 if self.mode == "follower" else 0
        self.peer = Peer(self.me, [0, 1, 2], self.cfg, random.Random(seed), make_state,
                         Recovered(acc, acc, 0, None, list(mine)))
        self.durable_pending: list[int] = []
        g = make_state(None)
        for t in self.truth[:4]:
            g.apply(t)
        self.snap = g.snapshot()  # the game at 1:4
        self.sessions = [7, 9]
        self.reads: list = []
        self.call("start", self.peer.start)

    def log(self, s: str) -> None:
        self.lines.append(s)

    def call(self, what: str, fn) -> None:
        self.log(f"> {what}")
        try:
            out = fn()
        except NotReady as exc:
            self.log(f"  NotReady {exc}")
            out = exc.output
            if out is None:
                return
        except Exception as exc:
            self.log(f"  EXC {type(exc).__name__}: {exc}")
            raise StopIteration
        for field in ("epochs", "log", "sends", "applied", "traces", "reads"):
            self.log(f"  {field} {getattr(out, field)!r}")
        self.reads.extend(out.reads)
        p = self.peer
        self.log(f"  = {p.role}/{p.phase} {p.leader_id} e{p.epoch} {p.zxid_last} {p.zxid_durable} "
                 f"{p.zxid_committed} {view(p)}")

    # -------------------------------------------------------------- message pools

    def session(self) -> int:
        p = self.peer
        fs = p.following
        if fs is not None and self.r.random() < 0.85:
            return fs.session
        return self.r.choice(self.sessions)

    def epoch(self) -> int:
        return self.r.choice([0, 1, 2, 3, 3, 3, 4])

    def zxid(self) -> int:
        r = self.r
        return r.choice([0, make_zxid(1, 2), make_zxid(1, 3), make_zxid(1, 4), make_zxid(2, 3), self.peer.zxid_last])

    def txns(self) -> tuple[int, list[Txn]]:
        r = self.r
        src = r.choice([self.truth, self.truth, self.branch, chain([(3, 4)])])
        i = r.randrange(len(src))
        j = r.randint(i, min(len(src), i + 3))
        prev = src[i - 1].zxid if i > 0 else 0
        if r.random() < 0.1:
            prev = -1
        return prev, src[i:j]

    def to_follower(self):
        r = self.r
        s, e = self.session(), self.epoch()
        kind = r.choice(["info", "sync", "txns", "chunk", "newleader", "uptodate", "proposal", "commit", "ping"])
        if kind == "info":
            return LeaderInfo(session=s, epoch=e)
        if kind == "sync":
            mode = r.choice(["DIFF", "TRUNC", "SNAP", "SNAP"])  # an unknown mode is dropped now (deliberate)
            snap = self.snap if mode == "SNAP" else b""
            return SyncStart(session=s, epoch=e, mode=mode, zxid=make_zxid(1, 4) if mode == "SNAP" else self.zxid(),
                             txns_total=r.randrange(5), reason="fuzz", zxid_upto=r.choice([-1, self.zxid()]),
                             snapshot_bytes=len(snap), snapshot_crc=zlib.crc32(snap))
        if kind == "txns":
            prev, txns = self.txns()
            return SyncTxns(session=s, epoch=e, txns=txns, zxid_committed=self.zxid(), prev_zxid=prev)
        if kind == "chunk":
            size = 64
            n = -(-len(self.snap) // size)
            fs = self.peer.following
            nxt = fs.snap_next if fs is not None else 0
            i = nxt if r.random() < 0.8 else r.choice([r.randrange(n), 0, 1])
            return SnapChunk(session=s, epoch=e, index=i, data=self.snap[i * size:(i + 1) * size])
        if kind == "newleader":
            return NewLeader(session=s, epoch=e, zxid=make_zxid(e, 0))
        if kind == "uptodate":
            return UpToDate(session=s, epoch=e, zxid_committed=self.zxid())
        if kind == "proposal":
            return Proposal(epoch=e, txns=self.txns()[1])
        if kind == "commit":
            return Commit(epoch=e, zxid=self.zxid())
        return Ping(epoch=e, zxid_committed=self.zxid(), zxid_last=self.zxid(), session=s)

    def to_leader(self):
        r = self.r
        s, e = r.choice(self.sessions), self.epoch()
        kind = r.choice(["finfo", "finfo", "ackepoch", "ackepoch", "ack", "ack", "ping", "fetch", "snapack", "forward"])
        if kind == "finfo":
            z = r.choice([0, make_zxid(1, 2), make_zxid(1, 4), make_zxid(1, 3), make_zxid(2, 3)])
            return FollowerInfo(session=s, accepted_epoch=r.choice([0, 1, 2, 2, 3]), zxid_last=z,
                                zxid_base=r.choice([0, 0, z]))
        if kind == "ackepoch":
            return AckEpoch(session=s, epoch=e, current_epoch=r.choice([-1, 0, 1, 2]), zxid_last=self.zxid())
        if kind == "ack":
            return Ack(session=s, epoch=e, zxid=r.choice([make_zxid(e, 0), self.zxid(), self.peer.zxid_last]))
        if kind == "ping":
            return Ping(epoch=e, zxid_committed=self.zxid(), zxid_last=r.choice([self.zxid(), self.peer.zxid_last]),
                        session=s)
        if kind == "fetch":
            return FetchTxns(session=s, epoch=e, zxid_after=self.zxid())
        if kind == "snapack":
            return SnapAck(session=s, epoch=e, index=r.randrange(6))
        return Forward(epoch=e, ops=[Guess("f", r.randrange(1000), r.randrange(1, 90))])

    # -------------------------------------------------------------- run

    def step_once(self) -> None:
        r, p = self.r, self.peer
        x = r.random()
        if p.role == Role.LOOKING and x < 0.3:
            # Votes that make us follow node 0 (follower mode) or lead (leader mode).
            ld = 0
            self.call("votes", lambda: self.elect(ld))
            return
        if x < 0.55:
            if self.mode == "follower":
                msg, sender = self.to_follower(), r.choice([0, 0, 0, 2])
            else:
                msg, sender = self.to_leader(), r.choice([1, 2])
            self.call(f"step {sender} {msg!r}", lambda: p.step(sender, msg))
        elif x < 0.7:
            self.call("tick", p.tick)
        elif x < 0.85:
            z = r.choice([p.zxid_last, p.zxid_last, self.zxid()])
            self.call(f"persisted {z}", lambda: p.persisted(z))
        elif x < 0.9 and self.reads:
            rd = self.reads.pop(r.randrange(len(self.reads)))
            ok, hs = r.random() < 0.7, r.random() < 0.5
            last = rd.upto if ok else rd.after
            self.call(f"read_done {rd!r} {ok} {hs}",
                      lambda: p.disk_read_done(rd.to, rd.session, ok, hs or ok, last, "fuzz"))
        elif x < 0.95:
            self.call("submit", lambda: p.submit([Guess("s", r.randrange(1000), r.randrange(1, 90))], 0))
        elif x < 0.97:
            j = r.choice([0, 1, 2])
            self.call(f"unreachable {j}", lambda: p.peer_unreachable(j))
        else:
            self.call("tick", p.tick)

    def elect(self, ld: int):
        p = self.peer
        out_all = None
        e = p.election
        rnd = e.round if e is not None else p.round
        # Both others vote for node 0 (follower mode) or for us (leader mode: node 0 is us).
        vote = Vote(leader=ld, zxid=max(p.zxid_last, make_zxid(2, 3)) if self.mode == "follower" else p.zxid_last,
                    epoch=9 if self.mode == "follower" else p.current_epoch)
        for sender in (2, 1, 0):
            if sender == self.me:
                continue
            out = p.step(sender, Notification(rnd, Role.LOOKING, vote))
            out_all = out if out_all is None else out_all
            if out_all is not out:
                for f in ("log", "sends", "applied", "traces", "reads"):
                    getattr(out_all, f).extend(getattr(out, f))
        return out_all

    def run(self) -> list[str]:
        try:
            for s in range(self.steps):
                self.log(f"--- {s}")
                self.step_once()
        except StopIteration:
            pass
        return self.lines


def main() -> None:
    if sys.argv[1] == "--hash":
        steps = int(sys.argv[4]) if len(sys.argv) > 4 else 400
        for seed in range(int(sys.argv[2]), int(sys.argv[3])):
            run = Lone(seed, steps)
            lines = run.run()
            exc = sum(1 for line in lines if "EXC" in line[:8])
            print(seed, hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16], exc, flush=True)
        return
    for line in Lone(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 400).run():
        print(line)


if __name__ == "__main__":
    main()
