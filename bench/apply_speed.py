#!/usr/bin/env python3
"""CPU per txn of the work every node does for every committed txn, without a cluster.

    python bench/apply_speed.py [--txns 50000] [--rounds 5] [--batch 64] [--only NAME]

Why: in a pipelined run each node applies every txn (``ReplicatedState.apply`` ->
``Game.apply``), and a follower restarted 50,000 behind applies 50,000 at NEWLEADER; the
follower's core also steps one PROPOSAL and one COMMIT per batch. This times those pure parts
alone (no sockets, no disk, no threads), so a change to them can be measured A/B in seconds:

* ``apply:bench``   one client's sequential guesses as ``zmqzab bench`` sends them (no session
                    fields), round size 3 as the leader stamps it;
* ``apply:session`` the same through the client library's sessions (``first`` = 1);
* ``apply:clients`` 16 clients with sessions, interleaved (their records move in the LRU);
* ``core:follower`` a FOLLOWING ``Peer`` stepping PROPOSAL (``--batch`` txns, 64 as with 64 in
                    flight) then COMMIT for each batch, with its in-memory log trimmed as in a
                    long run (the apply included);
* ``core:leader``   the LEADING ``Peer`` of 5 for each batch: a FORWARD of ``--batch`` ops (it
                    proposes them), its own log's durable report, then the four followers' ACKs
                    (the second commits and applies the batch).

Each figure is the best of ``--rounds`` (CPU time of this process, ``time.process_time``) in
microseconds per txn; the best is the one least disturbed by other processes.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path
from random import Random

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zmqzab.core.follower import FollowerState  # noqa: E402
from zmqzab.core.leader import BROADCASTING, LeaderState, Learner  # noqa: E402
from zmqzab.core.peer import Peer  # noqa: E402
from zmqzab.core.roles import FollowerStep, Phase  # noqa: E402
from zmqzab.core.settings import CoreConfig  # noqa: E402
from zmqzab.game.limits import VALUE_MAX  # noqa: E402
from zmqzab.messages import (Ack, Commit, Forward, Guess, Notification, Proposal, Txn,  # noqa: E402
                             Vote)
from zmqzab.state import ReplicatedState, make_state  # noqa: E402
from zmqzab.zxid import make_zxid  # noqa: E402

EPOCH = 1
ROUND_SIZE = 3  # the default config's, stamped by the leader into every guess


def _txns(n: int, clients: int, first: bool) -> list[Txn]:
    ids = [f"bench-{c:04d}" for c in range(clients)]
    txns = []
    for i in range(n):
        cid = ids[i % clients]
        seq = i // clients + 1
        op = Guess(cid, seq, seq % (VALUE_MAX + 1), ROUND_SIZE, first=1 if first else 0)
        txns.append(Txn(make_zxid(EPOCH, i + 1), op, ts_ms=1_000 + i // 100))
    return txns


def time_apply(txns: list[Txn]) -> float:
    state = ReplicatedState()
    apply = state.apply
    start = time.process_time()
    for txn in txns:
        apply(txn)
    return time.process_time() - start


def _follower() -> Peer:
    """A Peer FOLLOWING node 2 in BROADCAST, as after UPTODATE (no I/O: Outputs are dropped)."""
    peer = Peer(1, (1, 2, 3, 4, 5), CoreConfig(), Random(1), make_state)
    vote = Vote(leader=2, epoch=EPOCH, zxid=0)
    peer.role_state = FollowerState(
        leader_id=2, decided=Notification(round=1, state=FollowerState.role, vote=vote),
        session=1, last_heard=0, info_sent_tick=0, epoch=EPOCH,
        step=FollowerStep.UPTODATE_RECEIVED)
    peer.accepted_epoch = peer.current_epoch = EPOCH
    return peer


def _batches(txns: list[Txn], batch: int) -> list[tuple[list[Txn], int]]:
    """The txns cut into batches of ``batch``, each with its last zxid."""
    return [(txns[i : i + batch], txns[min(i + batch, len(txns)) - 1].zxid)
            for i in range(0, len(txns), batch)]


def _check_applied(peer: Peer, txns: list[Txn], role: str) -> None:
    if peer.zxid_applied != txns[-1].zxid:
        raise RuntimeError(f"the {role} applied up to {peer.zxid_applied:#x}, not the last txn "
                           f"{txns[-1].zxid:#x}: the bench no longer drives the core as intended")


def time_follower(txns: list[Txn], batch: int) -> float:
    peer = _follower()
    messages = [(Proposal(epoch=EPOCH, txns=part), Commit(epoch=EPOCH, zxid=last))
                for part, last in _batches(txns, batch)]
    step = peer.step
    start = time.process_time()
    for proposal, commit in messages:
        step(2, proposal)
        step(2, commit)
    elapsed = time.process_time() - start
    _check_applied(peer, txns, "follower")
    return elapsed


def _leader() -> Peer:
    """The Peer leading 5 in BROADCAST, every follower synced (no I/O: Outputs are dropped)."""
    peer = Peer(1, (1, 2, 3, 4, 5), CoreConfig(), Random(1), make_state)
    vote = Vote(leader=1, epoch=EPOCH, zxid=0)
    st = peer.role_state = LeaderState(
        started_tick=0, decided=Notification(round=1, state=LeaderState.role, vote=vote),
        epoch=EPOCH, phase=Phase.BROADCAST)
    for i in peer.peers:
        st.learners[i] = Learner(id=i, session=i, accepted_epoch=EPOCH, zxid_last=0, zxid_base=0,
                                 last_heard=0, step=BROADCASTING)
    peer.accepted_epoch = peer.current_epoch = EPOCH
    return peer


def time_leader(txns: list[Txn], batch: int) -> float:
    peer = _leader()
    messages = [(Forward(epoch=EPOCH, ops=[t.op for t in part]), last,
                 [(i, Ack(session=i, epoch=EPOCH, zxid=last)) for i in peer.peers])
                for part, last in _batches(txns, batch)]
    step, persisted = peer.step, peer.persisted
    start = time.process_time()
    for forward, last, acks in messages:
        step(2, forward)
        persisted(last)
        for sender, ack in acks:
            step(sender, ack)
    elapsed = time.process_time() - start
    _check_applied(peer, txns, "leader")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--txns", type=int, default=50_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64, help="txns per PROPOSAL (core:*)")
    ap.add_argument("--only", default="", help="run only the figures whose name contains this")
    a = ap.parse_args()
    cases = [
        ("apply:bench", time_apply, _txns(a.txns, 1, first=False)),
        ("apply:session", time_apply, _txns(a.txns, 1, first=True)),
        ("apply:clients", time_apply, _txns(a.txns, 16, first=True)),
        # The follower's log window is 50,000 txns: twice that makes it trim as a long run does.
        ("core:follower", lambda txns: time_follower(txns, a.batch), _txns(2 * a.txns, 1, first=True)),
        ("core:leader", lambda txns: time_leader(txns, a.batch), _txns(2 * a.txns, 1, first=True)),
    ]
    gc.freeze()  # the txns built above are not the bench's garbage
    for name, fn, txns in cases:
        if a.only not in name:
            continue
        best = min(fn(txns) for _ in range(a.rounds))
        print(f"{name:15s} {best / len(txns) * 1e6:7.3f} us/txn  ({len(txns)} txns, best of "
              f"{a.rounds})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
