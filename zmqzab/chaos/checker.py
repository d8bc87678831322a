"""The history checker: could this history have happened on one correct machine?

Inputs: every client request with its outcome (history.py), and per node (``NodeRecord``) what it
left on disk (its latest snapshot and the durable log after it, read with the production
storage code after shutdown) and what it reported live just before (its applied zxid, a digest
of its FULL state there, and the game view). Checks, each a named property that a test breaks on
purpose (tests/unit/test_checker.py):

* ``logs_identical``: any two nodes hold exactly the same txns over the range both logs cover
  (each from its own base, the snapshot it starts after), in both directions, and all end at
  the same zxid;
* ``log_contiguous``: within an epoch a node's log has no hole: the txn after (e, c) is (e, c+1)
  or the first of a later epoch, (e', 1); a log with base 0 starts at (e, 1);
* ``integrity``: every logged op was sent by a client with that kind and value, and stamped
  with the cluster's round size; none invented;
* ``ok_in_log_once``: every request answered ok is in the committed history exactly once, at the
  zxid it was told;
* ``no_duplicates``: no (client, seq) is in the history twice (an unknown one at most once);
* ``failed_not_in_log``: a request refused on every attempt never reached the history, nor
  any log as a proposal;
* ``real_time_order``: if request A was answered before request B was sent, zxid(A) < zxid(B),
  for every B that landed, answered ok or unknown (an unknown one is placed at its zxid);
* ``answers_match_replay``: every answer's game result equals replaying the history up to its
  zxid;
* ``state_matches_log``: each node's full state (game, open round, closed rounds AND the
  exactly-once client records), as it reported it live at its applied zxid, equals a replay of
  its own durable snapshot + log up to that zxid;
* ``snapshot_matches_replay``: a node's snapshot equals a replay of the reference history up to
  the snapshot's zxid (when some node's history reaches back that far); a snapshot AT the
  history start is compared with the start snapshot itself; every snapshot's content is the
  game applied to the zxid it is labelled with;
* ``states_identical``: every node reported the same state at the same zxid;
* ``no_node_failed``: no node stopped on an error of its own (a CRITICAL line in its log: a
  broken local invariant, e.g. an ACK before fsync, or a disk write refused as a bug).

Snapshots: a node's history is its snapshot's state plus the log after it. The reference history
starts at the lowest base any node has; a request answered before it is checked against the
exactly-once records in that snapshot (its zxid and result) where the game still remembers it;
where it does not, the request is counted in ``checked["before_history"]`` only if the game can
have forgotten it (its seq left the client's window, or sessions may have been evicted), and is
a lost write (``ok_in_log_once``) otherwise. The start snapshot's records are held to
``integrity`` too.

Not converged: judged on each node's log cut at its applied zxid, but the uncut logs still may
not hold two different txns at one zxid (a zxid names one proposal), every op in them must pass
``integrity``, and an ok request that no node's committed log reaches must be held where it was
told by every snapshot past it (unless forgotten) or, if none reaches it, by some uncut log. A
snapshot past every cut (a hung leader's) is counted, not compared.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

import msgspec

from zmqzab.chaos.history import FAILED, OK, UNKNOWN, Request
from zmqzab.game.rules import SEQ_WINDOW
from zmqzab.messages import Guess, NewGame, Txn
from zmqzab.state import ReplicatedState, is_game_op
from zmqzab.zxid import fmt_zxid, zxid_counter, zxid_epoch

#: How many examples of one violated property a report shows.
EXAMPLES_MAX = 5

PROPERTIES = (
    "logs_identical", "log_contiguous", "integrity", "ok_in_log_once", "no_duplicates",
    "failed_not_in_log", "real_time_order", "answers_match_replay", "state_matches_log",
    "snapshot_matches_replay", "states_identical", "no_node_failed",
)


def state_digest(snapshot_bytes: bytes) -> str:
    """The digest a node reports of its full state (node.py, read "digest"): sha256 of
    ``ReplicatedState.snapshot()`` (zmqzab/state.py), which holds everything the game keeps,
    client records included (and the tree and the sessions, once ZooKeeper txns are logged)."""
    return hashlib.sha256(snapshot_bytes).hexdigest()


@dataclass
class NodeRecord:
    """What one node left behind.

    ``snapshot_zxid``/``snapshot``: its latest durable snapshot (0/None: none, the empty game);
    ``txns``: its durable log after the snapshot, in order; ``live_zxid``/``live_digest``: the
    applied zxid and the ``state_digest`` of its full state there, as it reported them live
    (None: not collected, the state checks skip this node); ``view``: its ``Game.view()``, for
    people; ``later_snapshots``: (zxid, bytes) of the newer snapshots it keeps inside the range
    of ``txns``, oldest first (``snapshot`` is then its OLDEST kept one): each must equal a
    replay of its own snapshot and log to there.
    """

    txns: list[Txn]
    snapshot_zxid: int = 0
    snapshot: bytes | None = None
    live_zxid: int | None = None
    live_digest: str | None = None
    view: dict[str, Any] | None = None
    later_snapshots: list[tuple[int, bytes]] = field(default_factory=list)

    @property
    def last(self) -> int:
        return self.txns[-1].zxid if self.txns else self.snapshot_zxid


@dataclass
class Violation:
    prop: str
    detail: str


@dataclass
class Verdict:
    violations: list[Violation]
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def props(self) -> set[str]:
        return {v.prop for v in self.violations}


def _result_dict(result) -> dict[str, Any]:
    return msgspec.to_builtins(result)


def _start_game(rec: NodeRecord) -> ReplicatedState:
    return ReplicatedState.restore(rec.snapshot) if rec.snapshot else ReplicatedState()


def _canonical(game: ReplicatedState) -> bytes:
    """The state's bytes in the order ``restore`` gives (the game's client records sorted by
    activity), so that a state rebuilt from a snapshot compares equal to the same state built
    by replay."""
    return ReplicatedState.restore(game.snapshot()).snapshot()


def _committed_part(rec: NodeRecord) -> NodeRecord:
    """``rec`` cut at the zxid the node had applied live (all of it committed); a node that did
    not answer keeps only its snapshot."""
    cut = rec.live_zxid if rec.live_zxid is not None else rec.snapshot_zxid
    return replace(rec, txns=[t for t in rec.txns if t.zxid <= cut])


def check(history: Iterable[Request], nodes: dict[int, NodeRecord], converged: bool = True,
          node_errors: dict[int, list[str]] | None = None, round_size: int | None = None) -> Verdict:
    """``converged``: the cluster healed to one leader and every node applied the same zxid
    before the logs were read. When it did not (a liveness failure, reported by the runner), the
    logs may end in proposals that were never committed, so each node's log is cut at the zxid
    it had applied (committed for sure) and judged on that; logs may then end apart, states
    differ, and an ok request beyond every cut is counted as ``beyond_committed``, not judged.
    ``node_errors``: node -> the errors it stopped on (its log's CRITICAL lines).
    ``round_size``: the cluster's configured round size, which the leader stamps into every op
    (None: not checked)."""
    history = list(history)
    out: list[Violation] = []
    counts: dict[str, int] = {}
    raw = nodes  # uncut: a zxid names one proposal, committed or not
    if not converged:
        nodes = {n: _committed_part(r) for n, r in nodes.items()}

    def violate(prop: str, detail: str) -> None:
        if sum(1 for v in out if v.prop == prop) < EXAMPLES_MAX:
            out.append(Violation(prop, detail))
        counts[f"violations.{prop}"] = counts.get(f"violations.{prop}", 0) + 1

    for n, lines in sorted((node_errors or {}).items()):
        for line in lines:
            violate("no_node_failed", f"node {n}: {line}")
    if not nodes:
        violate("logs_identical", "no node left a log to check")
        return Verdict(out, counts)

    # log_contiguous: each log in zxid order, no hole inside an epoch.
    for n in sorted(nodes):
        prev = nodes[n].snapshot_zxid
        for t in nodes[n].txns:
            e, c = zxid_epoch(t.zxid), zxid_counter(t.zxid)
            pe, pc = zxid_epoch(prev), zxid_counter(prev)
            if not ((e == pe and c == pc + 1) or (e > pe and c == 1)):
                violate("log_contiguous", f"node {n}: {fmt_zxid(t.zxid)} follows {fmt_zxid(prev)}"
                        + (" (its base)" if prev == nodes[n].snapshot_zxid and t is nodes[n].txns[0] else "")
                        + ": the txns between are missing")
                break
            prev = t.zxid

    # snapshot_matches_replay, first part: a snapshot's content is the game at the zxid it is
    # labelled with (the zxid its log resumes after); else a txn is lost or applied twice.
    for n in sorted(nodes):
        if nodes[n].snapshot:
            try:
                inside = ReplicatedState.restore(nodes[n].snapshot).zxid_applied
            except ValueError:
                continue  # reported where the snapshot is read below
            if inside != nodes[n].snapshot_zxid:
                violate("snapshot_matches_replay", f"node {n}: its snapshot at {fmt_zxid(nodes[n].snapshot_zxid)} "
                        f"holds the game applied to {fmt_zxid(inside)}")

    # ... and each newer snapshot a node keeps equals a replay of its own snapshot + log to there
    # (the log before its latest snapshot is still on disk while older snapshots are kept).
    for n in sorted(raw):
        rec = raw[n]
        if not rec.later_snapshots:
            continue
        try:
            own = _start_game(rec)
        except ValueError:
            continue  # reported where the snapshot is read below
        pending = list(rec.later_snapshots)
        for t in rec.txns:
            if not pending:
                break
            own.apply(t)
            while pending and pending[0][0] <= t.zxid:
                at, data = pending.pop(0)
                try:
                    theirs = ReplicatedState.restore(data)
                except ValueError as exc:
                    violate("snapshot_matches_replay", f"node {n}: its snapshot at {fmt_zxid(at)} cannot be read: {exc}")
                    continue
                if at != t.zxid or _canonical(theirs) != _canonical(own):
                    violate("snapshot_matches_replay", f"node {n}: its snapshot at {fmt_zxid(at)} is {theirs.view()}, "
                            f"a replay of its own older snapshot and log gives {own.view()} at {fmt_zxid(t.zxid)}")
        for at, _ in pending:
            violate("snapshot_matches_replay", f"node {n}: its snapshot at {fmt_zxid(at)} is past its log")
    counts["later_snapshots_compared"] = sum(len(r.later_snapshots) for r in raw.values())

    # logs_identical: pairwise, over the range both cover, both directions.
    lasts = {n: r.last for n, r in nodes.items()}
    if converged and len(set(lasts.values())) != 1:
        violate("logs_identical", "logs end at different zxids: " +
                ", ".join(f"node {n} at {fmt_zxid(z)}" for n, z in sorted(lasts.items())))
    ids = sorted(nodes)
    for k, a in enumerate(ids):
        for b in ids[k + 1:]:
            lo = max(nodes[a].snapshot_zxid, nodes[b].snapshot_zxid)
            hi = min(lasts[a], lasts[b])
            ta = {t.zxid: t for t in nodes[a].txns if lo < t.zxid <= hi}
            tb = {t.zxid: t for t in nodes[b].txns if lo < t.zxid <= hi}
            for z in sorted(set(ta) | set(tb)):
                if ta.get(z) != tb.get(z):
                    sa, sb = (f"{x[z].op!r}" if z in x else "nothing" for x in (ta, tb))
                    violate("logs_identical", f"at {fmt_zxid(z)} (both logs cover {fmt_zxid(lo)}.."
                            f"{fmt_zxid(hi)}) node {a} has {sa}, node {b} has {sb}")
                    break
    if not converged:
        # Past the cut the logs may end in proposals never committed, so ranges are not compared
        # there; but a zxid names one proposal (one leader per epoch, counters never reused), so
        # two logs holding different txns at the same zxid diverged, committed or not.
        for k, a in enumerate(ids):
            ta = {t.zxid: t for t in raw[a].txns}
            for b in ids[k + 1:]:
                for t in raw[b].txns:
                    if t.zxid in ta and ta[t.zxid] != t:
                        violate("logs_identical", f"at {fmt_zxid(t.zxid)} (uncommitted tails included) node {a} "
                                f"has {ta[t.zxid].op!r}, node {b} has {t.op!r}")
                        break
    counts["logs_compared"] = len(nodes)

    # The reference: the union of every log, from the lowest base (its snapshot is the start).
    ref_node = min(ids, key=lambda n: (nodes[n].snapshot_zxid, -len(nodes[n].txns), n))
    start = nodes[ref_node].snapshot_zxid
    merged: dict[int, Txn] = {}
    for n in ids:
        for t in nodes[n].txns:
            merged.setdefault(t.zxid, t)
    ref = [merged[z] for z in sorted(merged)]
    try:
        game = _start_game(nodes[ref_node])
    except ValueError as exc:
        violate("snapshot_matches_replay", f"node {ref_node}: its snapshot at {fmt_zxid(start)} "
                f"cannot be read: {exc}")
        game = ReplicatedState()
    # Requests the start snapshot remembers: key -> (zxid, result).
    remembered: dict[tuple[str, int], tuple[int, dict[str, Any]]] = {}
    # Client -> its highest seq in the start snapshot: a request it no longer remembers was
    # forgotten only if it left the seq window, or if sessions may have been evicted.
    seq_max_at_start: dict[str, int] = {}
    for s in game.game._sessions.values():  # noqa: SLF001 - the checker reads the exactly-once records
        seq_max_at_start[s.client_id] = s.seq_max
        for seq, (z, res) in s.results.items():
            remembered[(s.client_id, seq)] = (z, _result_dict(res))
    may_evict = len({r.client_id for r in history}) > game.game.clients_max

    def forgotten(key: tuple[str, int]) -> bool:
        top = seq_max_at_start.get(key[0])
        return may_evict or (top is not None and key[1] <= top - SEQ_WINDOW)

    # integrity: every op in the history was sent, with that kind and value.
    sent = {r.key: r for r in history}
    for key, (z, _) in sorted(remembered.items(), key=lambda kv: kv[1][0]):
        if key not in sent:
            violate("integrity", f"node {ref_node}'s snapshot at {fmt_zxid(start)} remembers {key} applied at "
                    f"{fmt_zxid(z)}: no client ever sent it")
    raw_merged: dict[int, Txn] = dict(merged)
    every: dict[Txn, None] = {t: None for t in ref}  # and every other txn of any log, uncut
    for n in ids:
        for t in raw[n].txns:
            raw_merged.setdefault(t.zxid, t)
            every.setdefault(t)
    for t in sorted(every, key=lambda t: t.zxid):  # proposals past the cut too
        op = t.op
        if not is_game_op(op):
            # A tree or session txn. The chaos workload sends none (the ZooKeeper client port is
            # not wired in yet), so any in a log is one no client sent (found by an outside read:
            # skipping them let a phantom txn pass).
            violate("integrity", f"{fmt_zxid(t.zxid)} = {op!r}: a ZooKeeper txn, but no client of "
                    "this run sends any")
            continue
        r = sent.get((op.client_id, op.seq))
        if r is None:
            violate("integrity", f"{fmt_zxid(t.zxid)} = {op!r}: no client ever sent "
                    f"({op.client_id!r}, {op.seq})")
        elif (type(op) is Guess) != (r.kind == "guess") or (type(op) is NewGame) != (r.kind == "new_game"):
            violate("integrity", f"{fmt_zxid(t.zxid)} = {op!r}: client sent a {r.kind} as ({op.client_id!r}, {op.seq})")
        elif type(op) is Guess and op.value != r.value:
            violate("integrity", f"{fmt_zxid(t.zxid)} = {op!r}: client sent value {r.value}, the log has {op.value}")
        elif round_size is not None and op.round_size != round_size:
            violate("integrity", f"{fmt_zxid(t.zxid)} = {op!r}: stamped with round size {op.round_size}, "
                    f"the cluster's is {round_size}")

    # no_duplicates, and where each request landed
    where: dict[tuple[str, int], list[int]] = {}
    for t in ref:
        if is_game_op(t.op):
            where.setdefault((t.op.client_id, t.op.seq), []).append(t.zxid)
    for key, (z, _) in remembered.items():
        if key in where:
            where[key].insert(0, z)
    for key, zxids in where.items():
        if len(zxids) > 1:
            violate("no_duplicates", f"request {key} is in the history {len(zxids)} times: "
                    + ", ".join(map(fmt_zxid, zxids)))

    # replay of the reference; snapshot_matches_replay for each node's snapshot on the way.
    result_at: dict[int, dict[str, Any]] = {}
    # Every snapshot but the start's own, also those AT the start (several nodes purged to the
    # same zxid): each must equal the replay there.
    others = [n for n in ids if n != ref_node and nodes[n].snapshot_zxid >= start and nodes[n].snapshot_zxid > 0]
    snaps: dict[int, list[int]] = {nodes[n].snapshot_zxid: [] for n in others}
    for n in others:
        snaps[nodes[n].snapshot_zxid].append(n)

    def compare_snapshots(at: int) -> None:
        if at not in snaps:
            return
        mine = _canonical(game)
        for n in snaps.pop(at):
            try:
                theirs = _canonical(_start_game(nodes[n]))
            except ValueError as exc:
                violate("snapshot_matches_replay", f"node {n}: its snapshot at {fmt_zxid(at)} cannot be read: {exc}")
                continue
            if theirs != mine:
                violate("snapshot_matches_replay", f"node {n}: its snapshot at {fmt_zxid(at)} is "
                        f"{ReplicatedState.restore(theirs).view()}, a replay of the history gives {game.view()}")

    compare_snapshots(start)
    for t in ref:
        result_at[t.zxid] = _result_dict(game.apply(t))
        compare_snapshots(t.zxid)
    ref_end = ref[-1].zxid if ref else start
    for at in sorted(snaps):  # a snapshot at a zxid the history does not hold
        if not converged and at > ref_end:
            # Past every cut (e.g. the node that took it is a leader that hung and did not
            # report): the committed history that far is not known, so it cannot be compared.
            counts["snapshots_beyond_committed"] = counts.get("snapshots_beyond_committed", 0) + len(snaps[at])
            continue
        violate("snapshot_matches_replay", f"node(s) {snaps[at]} hold a snapshot at {fmt_zxid(at)}, "
                "a zxid no log holds")
    counts["snapshots_compared"] = len(others)

    snap_games: dict[int, ReplicatedState] = {}

    def snapshot_says(r: Request, z: int) -> str | None:
        """Whether the snapshots at or past ``z`` hold ``r`` there: "no" if one cannot have
        forgotten it and does not, else "yes"/"forgotten", None if no snapshot reaches z."""
        seen: set[str] = set()
        for n in ids:
            if not nodes[n].snapshot or nodes[n].snapshot_zxid < z:
                continue
            if n not in snap_games:
                try:
                    snap_games[n] = _start_game(nodes[n])
                except ValueError:
                    continue  # reported where the snapshot is read
            sess = snap_games[n].game._sessions.get(r.client_id)  # noqa: SLF001 - exactly-once records
            if sess is not None and r.seq in sess.results:
                z_there, res = sess.results[r.seq]
                seen.add("yes" if z_there == z and _result_dict(res) == r.result else "no")
            elif may_evict or (sess is not None and r.seq <= sess.seq_max - SEQ_WINDOW):
                seen.add("forgotten")
            else:
                seen.add("no")
        return "no" if "no" in seen else next(iter(sorted(seen)), None)

    proposed_at: dict[tuple[str, int], list[int]] = {}  # in any log, uncut
    for t in sorted(every, key=lambda t: t.zxid):
        if is_game_op(t.op):
            proposed_at.setdefault((t.op.client_id, t.op.seq), []).append(t.zxid)
    landed_at: dict[tuple[str, int], int] = {}
    for r in history:
        landed = where.get(r.key, [])
        if not landed and r.key in remembered:
            landed = [remembered[r.key][0]]
        if landed:
            landed_at[r.key] = landed[0]
        if r.outcome == OK:
            counts["ok"] = counts.get("ok", 0) + 1
            z = r.zxid or 0
            if not converged and not landed and z > start and \
                    not any(nodes[n].snapshot_zxid < z <= lasts[n] for n in ids):
                # No node's committed log reaches z (applied by no node that answered). Where a
                # node's snapshot does, its records must hold it (unless forgotten); else,
                # acknowledged means a quorum logged it durably: some uncut log holds it at z.
                said = snapshot_says(r, z)
                t = raw_merged.get(z)
                if said == "no" or (said is None and (t is None or not is_game_op(t.op)
                                                    or (t.op.client_id, t.op.seq) != r.key)):
                    violate("ok_in_log_once", f"{r.key} was answered ok at {fmt_zxid(z)} but no node's log "
                            "holds it there, not even past what it applied" if said is None else
                            f"{r.key} was answered ok at {fmt_zxid(z)} but a snapshot past it does not hold it "
                            "there")
                    continue
                counts["beyond_committed"] = counts.get("beyond_committed", 0) + 1
                continue
            if r.zxid is not None and r.zxid <= start and r.key not in where:
                # Before the history any log still holds: the start snapshot's records say.
                if r.key not in remembered:
                    if not forgotten(r.key):
                        top = seq_max_at_start.get(r.client_id)
                        violate("ok_in_log_once", f"{r.key} was answered ok at {fmt_zxid(r.zxid)}, before the "
                                f"history start {fmt_zxid(start)}, but node {ref_node}'s snapshot there does not "
                                "remember it and cannot have forgotten it ("
                                + (f"client {r.client_id!r} has no record at all" if top is None else
                                   f"seq {r.seq} is inside its window, latest seq {top}") + "): lost")
                        continue
                    counts["before_history"] = counts.get("before_history", 0) + 1
                    continue
                z, res = remembered[r.key]
                if z != r.zxid:
                    violate("ok_in_log_once", f"{r.key} was answered ok at {fmt_zxid(r.zxid)} but node "
                            f"{ref_node}'s snapshot records it at {fmt_zxid(z)}")
                elif res != r.result:
                    violate("answers_match_replay", f"{r.key} at {fmt_zxid(r.zxid)}: answered {r.result}, "
                            f"the snapshot records {res}")
                continue
            if len(landed) != 1 or landed[0] != r.zxid:
                violate("ok_in_log_once", f"{r.key} was answered ok at {fmt_zxid(r.zxid or 0)} but the "
                        f"history has it at [{', '.join(map(fmt_zxid, landed))}]")
                continue
            if result_at.get(r.zxid) != r.result:
                violate("answers_match_replay", f"{r.key} at {fmt_zxid(r.zxid)}: answered {r.result}, "
                        f"replay gives {result_at.get(r.zxid)}")
        elif r.outcome == FAILED:
            counts["failed"] = counts.get("failed", 0) + 1
            proposed = landed or proposed_at.get(r.key, [])
            if proposed:  # past a cut too: refused means nobody proposed it
                violate("failed_not_in_log", f"{r.key} was refused on every attempt but is in the history "
                        f"at {', '.join(map(fmt_zxid, proposed))}" + ("" if landed else " (uncommitted)"))
        else:
            counts["unknown"] = counts.get("unknown", 0) + 1
            if landed:
                counts["unknown_landed"] = counts.get("unknown_landed", 0) + 1

    # real_time_order: A answered (ok) before B was sent => zxid(A) < zxid(B), for every B that
    # landed. An unknown request has no response time, so it is only ever the later one.
    done = sorted((r for r in history if r.outcome == OK and r.completed is not None and r.zxid is not None),
                  key=lambda r: r.completed)
    later = sorted((r for r in history if r.outcome in (OK, UNKNOWN) and r.key in landed_at),
                   key=lambda r: r.invoked)
    i, best, best_req = 0, -1, None
    for b in later:
        while i < len(done) and done[i].completed < b.invoked:
            if done[i].zxid > best:
                best, best_req = done[i].zxid, done[i]
            i += 1
        zb = landed_at[b.key]
        if best_req is not None and zb <= best:
            violate("real_time_order", f"{best_req.key} was answered (t={best_req.completed:.3f}s, "
                    f"{fmt_zxid(best)}) before {b.key} ({b.outcome}) was sent (t={b.invoked:.3f}s) but "
                    f"{b.key} landed at {fmt_zxid(zb)}")

    # state_matches_log: each node's live full state = a replay of its own snapshot + log.
    for n in ids:
        rec = nodes[n]
        if rec.live_digest is None or rec.live_zxid is None:
            if not converged:  # a node that did not answer: its disk is still judged above
                counts["states_unreported"] = counts.get("states_unreported", 0) + 1
                continue
            violate("state_matches_log", f"node {n} did not report its state live (digest read "
                    "failed): its state cannot be compared with its disk")
            continue
        if not converged and rec.snapshot_zxid > rec.live_zxid:
            # Still syncing when collect() read it: a SNAP installed between its live report and
            # the disk read. Its snapshot is judged above; its report is older than its disk.
            counts["states_moved_on"] = counts.get("states_moved_on", 0) + 1
            continue
        counts["states_replayed"] = counts.get("states_replayed", 0) + 1
        if rec.last < rec.live_zxid or rec.snapshot_zxid > rec.live_zxid:
            violate("state_matches_log", f"node {n} applied up to {fmt_zxid(rec.live_zxid)} live but its "
                    f"durable history covers {fmt_zxid(rec.snapshot_zxid)}..{fmt_zxid(rec.last)}")
            continue
        try:
            own = _start_game(rec)
        except ValueError as exc:
            violate("state_matches_log", f"node {n}: its snapshot cannot be read: {exc}")
            continue
        for t in rec.txns:
            if t.zxid > rec.live_zxid:
                break
            own.apply(t)
        if state_digest(own.snapshot()) != rec.live_digest and \
                state_digest(_canonical(own)) != rec.live_digest:
            violate("state_matches_log", f"node {n} at {fmt_zxid(rec.live_zxid)}: its live state "
                    f"(digest {rec.live_digest[:12]}, {rec.view}) differs from a replay of its disk "
                    f"({state_digest(own.snapshot())[:12]}, {own.view()})")

    # states_identical (only meaningful when every node applied the same zxid)
    live = {n: (r.live_zxid, r.live_digest) for n, r in nodes.items() if r.live_digest is not None}
    if converged and len(set(live.values())) > 1:
        violate("states_identical", "nodes report different states: " + "; ".join(
            f"node {n} at {fmt_zxid(z)}: {d[:12]}" for n, (z, d) in sorted(live.items())))
    views = {n: msgspec.json.encode(r.view) for n, r in nodes.items() if r.view is not None}
    if converged and len(set(views.values())) > 1:
        violate("states_identical", "game views differ: " + "; ".join(
            f"node {n}: {nodes[n].view}" for n in sorted(views)))
    counts["requests"] = len(history)
    counts["log_txns"] = len(ref)
    counts["history_start"] = start
    return Verdict(out, counts)
