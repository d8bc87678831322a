"""The history checker: could this history have happened on one correct machine?

Inputs: every client request with its outcome (history.py), and each node's durable log and game
state after the run (healed, every node synced to the same committed zxid). Checks, each a named
property that a test breaks on purpose:

* ``ok_in_log_once``: every request answered ok is in the committed log exactly once, at the
  zxid it was told;
* ``no_duplicates``: no (client, seq) is in the log twice (an unknown one at most once);
* ``failed_not_in_log``: a request refused on every attempt never reached the log;
* ``logs_identical``: every node's log holds the same txns wherever two logs overlap (a node
  that got SNAP starts later), and all end at the same zxid;
* ``real_time_order``: if request A was answered before request B was sent, zxid(A) < zxid(B);
* ``answers_match_replay``: every answer's game result equals replaying the log up to its zxid;
* ``states_identical``: every node's game state is the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import msgspec

from zmqzab.chaos.history import FAILED, OK, Request
from zmqzab.game import Game
from zmqzab.messages import Txn
from zmqzab.zxid import fmt_zxid

#: How many examples of one violated property a report shows.
EXAMPLES_MAX = 5


@dataclass
class Violation:
    prop: str
    detail: str


@dataclass
class Verdict:
    violations: list[Violation]
    checked: dict[str, int]

    @property
    def ok(self) -> bool:
        return not self.violations


def _result_dict(result) -> dict[str, Any]:
    return msgspec.to_builtins(result)


def check(history: Iterable[Request], logs: dict[int, list[Txn]], states: dict[int, Any],
          full_log_base: dict[int, int] | None = None) -> Verdict:
    """``logs``: node -> durable txns; ``full_log_base``: node -> zxid its log starts after
    (0 for a full history; a snapshot's zxid after SNAP). ``states``: node -> game view."""
    history = list(history)
    bases = full_log_base or {n: 0 for n in logs}
    out: list[Violation] = []
    counts: dict[str, int] = {}

    def violate(prop: str, detail: str) -> None:
        if sum(1 for v in out if v.prop == prop) < EXAMPLES_MAX:
            out.append(Violation(prop, detail))
        counts[f"violations.{prop}"] = counts.get(f"violations.{prop}", 0) + 1

    # The reference log: the longest full history (the others are compared against it).
    full = sorted((n for n in logs if bases.get(n, 0) == 0), key=lambda n: (-len(logs[n]), n))
    if not full:
        violate("logs_identical", "no node holds the full history (all started from a snapshot)")
        return Verdict(out, counts)
    ref_node = full[0]
    ref = logs[ref_node]

    # logs_identical
    ref_by_zxid = {t.zxid: t for t in ref}
    last = {n: (log[-1].zxid if log else bases.get(n, 0)) for n, log in logs.items()}
    if len(set(last.values())) != 1:
        violate("logs_identical", "logs end at different zxids: " +
                ", ".join(f"node {n} at {fmt_zxid(z)}" for n, z in sorted(last.items())))
    for n in sorted(logs):
        for t in logs[n]:
            other = ref_by_zxid.get(t.zxid)
            if other is None or other != t:
                violate("logs_identical", f"node {n} has {fmt_zxid(t.zxid)} = {t.op!r}, node {ref_node} "
                        f"has {other.op if other else 'nothing'!r} there")
                break
    counts["logs_compared"] = len(logs)

    # no_duplicates, and where each request landed
    where: dict[tuple[str, int], list[int]] = {}
    for t in ref:
        where.setdefault((t.op.client_id, t.op.seq), []).append(t.zxid)
    for key, zxids in where.items():
        if len(zxids) > 1:
            violate("no_duplicates", f"request {key} is in the log {len(zxids)} times: "
                    + ", ".join(map(fmt_zxid, zxids)))

    # replay
    game = Game()
    result_at: dict[int, dict[str, Any]] = {}
    for t in ref:
        result_at[t.zxid] = _result_dict(game.apply(t))

    for r in history:
        landed = where.get(r.key, [])
        if r.outcome == OK:
            counts["ok"] = counts.get("ok", 0) + 1
            if len(landed) != 1 or landed[0] != r.zxid:
                violate("ok_in_log_once", f"{r.key} was answered ok at {fmt_zxid(r.zxid or 0)} but the "
                        f"log has it at [{', '.join(map(fmt_zxid, landed))}]")
                continue
            if result_at.get(r.zxid) != r.result:
                violate("answers_match_replay", f"{r.key} at {fmt_zxid(r.zxid)}: answered {r.result}, "
                        f"replay gives {result_at.get(r.zxid)}")
        elif r.outcome == FAILED:
            counts["failed"] = counts.get("failed", 0) + 1
            if landed:
                violate("failed_not_in_log", f"{r.key} was refused on every attempt but is in the log "
                        f"at {', '.join(map(fmt_zxid, landed))}")
        else:
            counts["unknown"] = counts.get("unknown", 0) + 1

    # real_time_order: sort ok requests by completion; each later-invoked one must have a larger zxid.
    oks = sorted((r for r in history if r.outcome == OK and r.completed is not None), key=lambda r: r.completed)
    by_invoked = sorted((r for r in history if r.outcome == OK), key=lambda r: r.invoked)
    # Sweep: for each B (by invocation), the max zxid among requests completed before B.invoked.
    i, best, best_req = 0, -1, None
    for b in by_invoked:
        while i < len(oks) and oks[i].completed < b.invoked:
            if oks[i].zxid > best:
                best, best_req = oks[i].zxid, oks[i]
            i += 1
        if best_req is not None and b.zxid <= best:
            violate("real_time_order", f"{best_req.key} was answered (t={best_req.completed:.3f}s, "
                    f"{fmt_zxid(best)}) before {b.key} was sent (t={b.invoked:.3f}s) but got "
                    f"{fmt_zxid(b.zxid)}")

    # states_identical
    views = {n: msgspec.json.encode(v) for n, v in states.items()}
    if len(set(views.values())) > 1:
        violate("states_identical", "game states differ: " + "; ".join(
            f"node {n}: {states[n]}" for n in sorted(states)))
    counts["requests"] = len(history)
    counts["log_txns"] = len(ref)
    return Verdict(out, counts)
