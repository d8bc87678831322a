"""The simulator's trace: one readable line per event, e.g. ``t=412 n3->n1 ACK 2:17``.

Entries are kept as small tuples and formatted only when someone reads them (``--trace``, a
failure's tail, the determinism test): formatting every message of a 1000-seed sweep would
cost more than simulating it. Lines contain nothing that differs between two runs of the same
seed (no temp-dir paths, no wall clock, no ids of Python objects), so a trace is byte-identical
from run to run and can be diffed.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable

from zmqzab.messages import (
    NOT_COUNTED,
    Ack,
    AckEpoch,
    Commit,
    FetchTxns,
    FollowerInfo,
    Forward,
    Guess,
    LeaderInfo,
    NewGame,
    NewLeader,
    Notification,
    Op,
    PeerMessage,
    Ping,
    Proposal,
    SnapAck,
    SnapChunk,
    SyncStart,
    SyncTxns,
    Txn,
    UpToDate,
)
from zmqzab.zxid import fmt_zxid, zxid_counter

#: Simulated time units per tick (the trace prints whole ticks: ``t=412``).
TICK = 100


def describe_op(op: Op) -> str:
    if isinstance(op, Guess):
        return f"guess {op.value} ({op.client_id}#{op.seq})"
    if isinstance(op, NewGame):
        return f"new-game ({op.client_id}#{op.seq})"
    return repr(op)


def _span(txns: list[Txn]) -> str:
    if not txns:
        return "none"
    if len(txns) == 1:
        return fmt_zxid(txns[0].zxid)
    return f"{fmt_zxid(txns[0].zxid)}..{fmt_zxid(txns[-1].zxid)}"


def describe(msg: PeerMessage) -> str:
    """One message in ZooKeeper's vocabulary, with the fields a reader needs."""
    match msg:
        case Notification(round=r, state=state, vote=v):
            return f"VOTE r{r} {state} for n{v.leader} (epoch {v.epoch}, {fmt_zxid(v.zxid)})"
        case FollowerInfo():
            return (f"FOLLOWERINFO s{msg.session % 1000:03d} acceptedEpoch {msg.accepted_epoch} "
                    f"last {fmt_zxid(msg.zxid_last)}")
        case LeaderInfo():
            return f"LEADERINFO s{msg.session % 1000:03d} epoch {msg.epoch}"
        case AckEpoch():
            counted = ("NOT COUNTED (epoch accepted already)" if msg.current_epoch == NOT_COUNTED
                       else f"currentEpoch {msg.current_epoch}")
            return (f"ACKEPOCH s{msg.session % 1000:03d} epoch {msg.epoch} {counted} "
                    f"last {fmt_zxid(msg.zxid_last)}")
        case SyncStart():
            return f"{msg.mode} {fmt_zxid(msg.zxid)} ({msg.txns_total} txns to come)"
        case SyncTxns():
            return f"TXNS {_span(msg.txns)} committed {fmt_zxid(msg.zxid_committed)}"
        case SnapChunk():
            return f"SNAPCHUNK #{msg.index} ({len(msg.data)} bytes)"
        case SnapAck():
            return f"SNAPACK #{msg.index}"
        case NewLeader():
            return f"NEWLEADER {fmt_zxid(msg.zxid)}"
        case Ack():
            return f"ACK {fmt_zxid(msg.zxid)}" + (" (NEWLEADER)" if zxid_counter(msg.zxid) == 0 else "")
        case UpToDate():
            return f"UPTODATE committed {fmt_zxid(msg.zxid_committed)}"
        case Proposal():
            ops = ", ".join(describe_op(t.op) for t in msg.txns[:3])
            more = f", +{len(msg.txns) - 3}" if len(msg.txns) > 3 else ""
            return f"PROPOSAL {_span(msg.txns)} [{ops}{more}]"
        case Commit():
            return f"COMMIT {fmt_zxid(msg.zxid)}"
        case Ping():
            return f"PING committed {fmt_zxid(msg.zxid_committed)} last {fmt_zxid(msg.zxid_last)}"
        case FetchTxns():
            return f"FETCH after {fmt_zxid(msg.zxid_after)}"
        case Forward():
            return f"FORWARD [{', '.join(describe_op(op) for op in msg.ops)}]"
    return type(msg).__name__


class Trace:
    """Entries ``(time, kind, payload...)``; ``keep`` bounds memory (None keeps everything).

    ``echo`` (e.g. ``print``) receives each line as it happens, for ``zmqzab sim --trace``.
    """

    def __init__(self, keep: int | None = 400, echo: Callable[[str], None] | None = None) -> None:
        self.entries: deque[tuple[Any, ...]] = deque(maxlen=keep)
        self.echo = echo
        self.count = 0

    def add(self, *entry: Any) -> None:
        self.entries.append(entry)
        self.count += 1
        if self.echo is not None:
            self.echo(format_entry(entry))

    def lines(self, last: int | None = None) -> list[str]:
        entries = list(self.entries)
        if last is not None:
            entries = entries[-last:]
        return [format_entry(e) for e in entries]


def format_entry(entry: tuple[Any, ...]) -> str:
    time, kind = entry[0], entry[1]
    head = f"t={time // TICK}"
    match kind:
        case "msg":
            _, _, src, dst, msg, note = entry
            return f"{head} n{src}->n{dst} {describe(msg)}{note}"
        case "lost":
            _, _, src, dst, msg, why = entry
            return f"{head} n{src}->n{dst} {describe(msg)}  [lost: {why}]"
        case "node":
            _, _, node, text = entry
            return f"{head} n{node}  {text}"
        case "fault":
            return f"{head} ** {entry[2]}"
        case "client":
            return f"{head} {entry[2]}"
        case "disk":
            _, _, node, zxid = entry
            return f"{head} n{node}  fsync done: log durable to {fmt_zxid(zxid)}"
        case "phase":
            return f"{head} == {entry[2]}"
    return f"{head} {entry[1:]}"
