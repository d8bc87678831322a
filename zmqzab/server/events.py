"""What happens on one node, as a bounded stream of events for ``/events`` and ``zmqzab watch``.

Theory of operation
-------------------
The node's socket thread *records*; HTTP threads *render*. Recording must cost next to nothing,
because it sits on the paths the cluster's throughput goes through: ``EventLog.add`` appends one
small tuple ``(seq, time, kind, data)`` to a ring (a ``deque`` with ``maxlen``) where ``data``
holds references to objects the node already has (a ``Trace``, a sent message, the applied
list of an Output), never formatted text. Commits are recorded once per Output (a range), not
once per txn; sends and receives once per message, pings never.

Readers follow by sequence number (``since``). The ring keeps the last ``RING_SIZE`` events;
a second, smaller ring keeps only *key* events (role, election, sync, control: everything but
message traffic and commits), so a burst of traffic cannot push an election out of sight of
a reader that fell behind. What a reader missed all the same is reported as one ``gap`` event.

Rendering (``render``) turns a record into a JSON-able dict with a one-line ``text`` (a message
in the words of ``messages.describe``, the simulator trace's words too);
``bounded`` bounds one flush of a stream: traffic of one kind and peer merges into
ranges ("→ all 300× PROPOSAL 3:5..3:900, 896 txns") before anything is rendered, and past the
cap the rest becomes one ``summary`` event (``bounded``). So 50k commits/s reach a browser as a few events per flush.

Only the socket thread calls ``add``/``sent``/``received``/``committed``. ``deque.append`` is
atomic under the GIL; a reader copies the ring with ``tuple()`` and retries on the rare
"mutated during iteration".
"""

from __future__ import annotations

import os
import time
from collections import deque
from typing import Any, Callable

from zmqzab.core.output import BROADCAST, Trace
from zmqzab.messages import (
    Ack,
    Commit,
    GameResult,
    Notification,
    Ping,
    Proposal,
    SyncTxns,
    Txn,
    describe,
    describe_op,
    wire_name,
)
from zmqzab.zxid import fmt_zxid

#: Events kept per node (all kinds).
RING_SIZE = 2000
#: Key events (no traffic) kept apart, so a flood of traffic cannot hide them.
KEY_RING_SIZE = 500
#: Longest ``text`` sent to a reader.
TEXT_MAX_CHARS = 240
#: Txn results kept with one commit record (more are counted, not shown).
COMMIT_SAMPLE_MAX = 4

#: Record kinds that are message traffic: coalesced when busy, not kept in the key ring.
TRAFFIC = frozenset({"send", "recv", "commit", "client", "answer", "refused"})

#: Received messages worth an event (the send side records the rest of each exchange).
_RECV_TYPES = (Ack, Proposal, Commit, Notification)

class EventLog:
    """The ring of one node's events. Written by the socket thread only."""

    def __init__(self, node_id: int, size: int = RING_SIZE, key_size: int = KEY_RING_SIZE,
                 clock: Callable[[], float] = time.time) -> None:
        self.node = node_id
        #: Seconds since the Unix epoch; the simulator's recorder passes its virtual time.
        self.clock = clock
        #: Changes at every process start: a reader's Last-Event-ID from before is not ours.
        self.boot = os.urandom(4).hex()
        self.seq = 0
        self.ring: deque[tuple[int, float, str, Any]] = deque(maxlen=size)
        self.key: deque[tuple[int, float, str, Any]] = deque(maxlen=key_size)
        self._vote_sent: tuple | None = None
        self._votes_heard: dict[int, tuple] = {}

    # ------------------------------------------------------------------ recording (hot paths)

    def add(self, kind: str, data: Any) -> None:
        self.seq += 1
        item = (self.seq, self.clock(), kind, data)
        self.ring.append(item)
        if kind not in TRAFFIC:
            self.key.append(item)

    def sent(self, to: int, msg: Any) -> None:
        t = type(msg)
        if t is Ping:
            return
        if t is Notification:
            # One event per vote, not per copy: the core sends the same vote to every peer and
            # repeats it while LOOKING; only a changed vote (or round, or state) is news.
            seen = (msg.round, msg.state, msg.vote)
            if seen == self._vote_sent:
                return
            self._vote_sent = seen
            if msg.state == "LOOKING":
                to = BROADCAST  # a LOOKING node's vote goes to every peer
        self.add("send", (to, msg))

    def received(self, sender: int, msg: Any) -> None:
        t = type(msg)
        if t not in _RECV_TYPES:
            return
        if t is Notification:
            seen = (msg.round, msg.state, msg.vote)
            if self._votes_heard.get(sender) == seen:
                return  # a periodic resend: nothing new
            self._votes_heard[sender] = seen
        self.add("recv", (sender, msg))

    def committed(self, applied: list[tuple[Txn, GameResult]]) -> None:
        """One record for all txns one Output applied (called with a non-empty list)."""
        n = len(applied)
        sample = applied if n <= COMMIT_SAMPLE_MAX else applied[-1:]
        self.add("commit", (applied[0][0].zxid, applied[-1][0].zxid, n, tuple(sample)))

    # ------------------------------------------------------------------ reading (HTTP threads)

    def snapshot(self) -> tuple[tuple, tuple]:
        for _ in range(50):
            try:
                return tuple(self.ring), tuple(self.key)
            except RuntimeError:  # appended while we copied: try again
                continue
        return (), ()

    def since(self, seq: int, limit: int = RING_SIZE) -> tuple[list[tuple], int]:
        """Records after ``seq`` (oldest first, at most ``limit``: the newest) and how many are lost.

        Key events the big ring already dropped are taken from the key ring.
        """
        ring, key = self.snapshot()
        if not ring:
            return [], 0
        first = ring[0][0]
        items: list[tuple] = []
        if seq + 1 < first:
            items = [it for it in key if seq < it[0] < first]
        start = max(0, seq + 1 - first)
        items.extend(ring[start:])
        lost = max(0, first - seq - 1) - sum(1 for it in items if it[0] < first)
        excess = len(items) - limit
        if excess > 0:
            # Over the limit: the oldest *traffic* goes. Cutting the front would drop first the
            # very key events the key ring kept for a reader that fell behind.
            lost += excess
            kept = []
            for it in items:
                if excess and it[2] in TRAFFIC:
                    excess -= 1
                    continue
                kept.append(it)
            items = kept[-limit:]
        return items, lost

    def backlog(self, n: int) -> list[tuple]:
        """The last ``n`` records."""
        ring, _ = self.snapshot()
        return list(ring[-n:]) if n > 0 else []


# ------------------------------------------------------------------------------- rendering


def _short(client_id: str) -> str:
    return client_id if len(client_id) <= 10 else client_id[:8] + "…"


def _range(lo: int, hi: int) -> str:
    return fmt_zxid(lo) if lo == hi else f"{fmt_zxid(lo)}..{fmt_zxid(hi)}"


def _txns_range(txns: list[Txn]) -> tuple[int, int]:
    return (txns[0].zxid, txns[-1].zxid) if txns else (0, 0)


def _msg_zxids(msg: Any) -> tuple[int, int, int]:
    """(lo, hi, txns) a message is about, for merging ranges; (0, 0, 0) when none."""
    match msg:
        case Proposal(txns=txns) | SyncTxns(txns=txns):
            lo, hi = _txns_range(txns)
            return lo, hi, len(txns)
        case Ack(zxid=z) | Commit(zxid=z):
            return z, z, 0
    return 0, 0, 0


def render(item: tuple, node: int) -> dict[str, Any]:
    """One record as a JSON-able dict: seq, t (ms since the Unix epoch), node, kind, text, ..."""
    seq, t, kind, data = item
    ev: dict[str, Any] = {"seq": seq, "t": round(t * 1000, 1), "node": node, "kind": kind}
    if kind == "trace":
        trace: Trace = data
        ev["kind"] = trace.event
        ev["text"] = trace.text
        for k, v in trace.fields.items():
            if k not in ev and (v is None or isinstance(v, (int, str, float, bool))):
                ev[k] = v
    elif kind in ("send", "recv"):
        peer, msg = data
        ev["msg"] = wire_name(msg)
        if kind == "send":
            ev["to"] = "all" if peer == BROADCAST else peer
            where = "all" if peer == BROADCAST else f"n{peer}"
            ev["text"] = f"→ {where} {describe(msg)}"
        else:
            ev["from"] = peer
            ev["text"] = f"← n{peer} {describe(msg)}"
        lo, hi, n = _msg_zxids(msg)
        if lo:
            ev["zxid"], ev["zxid_to"] = fmt_zxid(lo), fmt_zxid(hi)
        if isinstance(msg, Notification):
            ev["vote"] = {"leader": msg.vote.leader, "epoch": msg.vote.epoch,
                          "zxid": fmt_zxid(msg.vote.zxid), "round": msg.round, "state": msg.state}
    elif kind == "commit":
        lo, hi, n, sample = data
        ev["zxid"], ev["zxid_to"], ev["count"] = fmt_zxid(lo), fmt_zxid(hi), n
        if n == 1:
            txn, result = sample[0]
            ev["text"] = f"committed {fmt_zxid(lo)} {describe_op(txn.op)}: {result.message}"
        else:
            last = "; ".join(r.message for _, r in sample[-2:])
            ev["text"] = f"committed {_range(lo, hi)} ({n} txns); last: {last}"
        ev["results"] = [{"zxid": fmt_zxid(txn.zxid), "op": describe_op(txn.op), "kind": r.kind,
                          "message": r.message} for txn, r in sample]
    elif kind == "client":
        n, sample, path = data
        ops = ", ".join(describe_op(op) for op in sample)
        more = f" (+{n - len(sample)} more)" if n > len(sample) else ""
        ev["count"] = n
        ev["text"] = f"client request{'s' if n != 1 else ''}: {ops}{more}; {path}"
    elif kind == "answer":
        answered = data
        first_txn, first_result = answered[0]
        ev["count"] = len(answered)
        ev["zxid"] = fmt_zxid(first_txn.zxid)
        if len(answered) == 1:
            ev["text"] = (f"answered {_short(first_txn.op.client_id)}: {fmt_zxid(first_txn.zxid)} "
                          f"{first_result.message}")
        else:
            ev["text"] = f"answered {len(answered)} clients ({_range(first_txn.zxid, answered[-1][0].zxid)})"
    elif kind == "refused":
        n, reason = data
        ev["count"] = n
        ev["text"] = f"refused {n} client request{'s' if n != 1 else ''}: {reason}"
    else:  # control, note: plain text
        ev["text"] = str(data)
    text = ev.get("text", kind)
    if len(text) > TEXT_MAX_CHARS:
        ev["text"] = text[: TEXT_MAX_CHARS - 1] + "…"
    return ev


def _record_key(item: tuple) -> tuple | None:
    """How a raw record merges when busy: None for key events and votes (never merged)."""
    kind = item[2]
    if kind == "send" or kind == "recv":
        peer, msg = item[3]
        t = type(msg)
        return None if t is Notification else (kind, t, peer)
    if kind in TRAFFIC or kind == "refused":
        return (kind,)
    return None


class _Group:
    """Records of one merge key within one flush."""

    __slots__ = ("first", "last", "n", "lo", "hi", "txns", "count")

    def __init__(self, first: tuple) -> None:
        self.first = self.last = first
        self.n = 0
        self.lo = self.hi = self.txns = self.count = 0

    def add(self, item: tuple) -> None:
        self.n += 1
        self.last = item
        kind, data = item[2], item[3]
        if kind == "send" or kind == "recv":
            lo, hi, txns = _msg_zxids(data[1])
        elif kind == "commit":
            lo, hi, txns = data[0], data[1], data[2]
        else:
            lo = hi = txns = 0
            self.count += len(data) if kind == "answer" else data[0]
        if lo:
            self.lo = lo if not self.lo else min(self.lo, lo)
            self.hi = max(self.hi, hi)
            self.txns += txns

    def render(self, node: int) -> dict[str, Any]:
        ev = render(self.last, node)
        if self.n == 1:
            return ev
        ev["merged"] = self.n
        rng = _range(self.lo, self.hi) if self.lo else ""
        if self.lo:
            ev["zxid"], ev["zxid_to"] = fmt_zxid(self.lo), fmt_zxid(self.hi)
        kind = ev["kind"]
        if kind == "commit":
            ev["count"] = self.txns
            ev["text"] = f"committed {rng} ({self.txns} txns in {self.n} batches)"
            ev.pop("results", None)
        elif kind in ("send", "recv"):
            arrow = "→" if kind == "send" else "←"
            who = ev.get("to", ev.get("from"))
            where = "all" if who == "all" else f"n{who}"
            size = f", {self.txns} txns" if self.txns else ""
            ev["text"] = f"{arrow} {where} {self.n}× {ev.get('msg')} {rng}{size}".rstrip()
        else:
            ev["count"] = self.count
            what = {"client": "client requests", "answer": "clients answered",
                    "refused": "client requests refused"}.get(kind, kind)
            ev["text"] = f"{self.count} {what} in {self.n} batches"
        return ev


def bounded(items: list[tuple], node: int, cap: int) -> list[dict[str, Any]]:
    """Render one flush of records as at most about ``cap`` events.

    Under the cap every record becomes one event. Over it, traffic merges per kind and peer
    (one event at the place of the first record, carrying the last one's seq and the whole
    zxid range) without rendering each record; key events and votes are never merged. If that
    is still over the cap, the traffic beyond it is counted in one ``summary`` event.
    """
    if len(items) <= cap:
        return [render(it, node) for it in items]
    slots: list[tuple | _Group] = []
    groups: dict[tuple, _Group] = {}
    for it in items:
        key = _record_key(it)
        if key is None:
            slots.append(it)
            continue
        g = groups.get(key)
        if g is None:
            g = groups[key] = _Group(it)
            slots.append(g)
        g.add(it)
    n_key = sum(1 for sl in slots if type(sl) is tuple)
    room = max(0, cap - n_key - 1) if len(slots) > cap else len(slots)
    out: list[dict[str, Any]] = []
    dropped: dict[str, int] = {}
    dropped_seq, dropped_t = 0, 0.0
    for sl in slots:
        if type(sl) is tuple:
            out.append(render(sl, node))
        elif room > 0:
            room -= 1
            out.append(sl.render(node))
        else:
            kind, data = sl.last[2], sl.last[3]
            name = wire_name(data[1]) if kind in ("send", "recv") else kind
            dropped[name] = dropped.get(name, 0) + sl.n
            dropped_seq = max(dropped_seq, sl.last[0])
            dropped_t = max(dropped_t, sl.last[1])
    if dropped:
        out.append({"seq": dropped_seq, "t": round(dropped_t * 1000, 1), "node": node, "kind": "summary",
                    "text": "busy: " + ", ".join(f"{n} {k}" for k, n in sorted(dropped.items()))
                            + " not shown one by one"})
    return out
