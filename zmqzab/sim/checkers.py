"""Safety and liveness checkers, run after every simulated step.

Theory of operation. The checkers watch the cluster from outside, the way the TLA+ specs in
ZooKeeper's ``zookeeper-specifications`` state ZAB's properties, and keep one global record:

* ``G``, the committed history: the sequence of txns in the order nodes apply them. The first
  node to apply the k-th txn writes it into G; every other node must apply exactly the same txn
  (and get the same game result) as its own k-th. A node's position in G is reset when it
  restarts (it re-applies from its snapshot) or installs a SNAP. That one record gives
  "committed prefixes of any two nodes agree", total order and integrity (every txn in G is an
  op a client submitted).
* ``established``: epoch -> the node that established it (LEADING in BROADCAST). A second node
  establishing the same epoch is a violation. A leader of epoch e must hold in its log (or its
  snapshot below the log window) every txn of G from an epoch before e, whenever either
  happens: "a committed txn is in the history of every later leader". Txns a client was told
  are committed are in G, and are named as such.
* epoch promises: a follower promises (a counting ACKEPOCH) a given epoch at most once (Zab
  phase 1; ZooKeeper's registerWithLeader), so two would-be leaders can never both gather a
  quorum for one epoch. Every counting ACKEPOCH sent is recorded, and so is a would-be leader's
  own promise (it decided the epoch and counts itself); when a leader has its epoch quorum,
  it must be a quorum of promises really sent to it, and none of them (its own included) may
  have gone to another leader. This is the step before "one established leader per epoch"
  breaks, and far more often reached.
* epochs per node: accepted >= current, neither ever goes back, across restarts included
  (the maximum any incarnation held is remembered). And what makes votes sound: the
  currentEpoch c on a node's disk vouches for its durable log, which must hold every txn of G
  committed in an epoch before c (checked whenever c is written, the log is cut or replaced on
  disk, the node restarts, or G grows). A txn's commit epoch is taken as the epoch of the node
  that applied it first: at least the epoch whose leader committed it, so this never blames a
  node for a txn a later leader revived (an uncommitted txn may be committed by a leader whose
  history holds it, if no quorum had moved past it).
* ACKs: an ACK vouches for the node's log up to its zxid (NEWLEADER's, up to the log NEWLEADER
  left); when it leaves, every log op the node handed its writer that it vouches for (each
  Truncate and InstallSnapshot, each Append from that zxid down) must be synced: a power loss
  must not take back anything counted. A follower's PING repeats its last ACK (``zxid_last``)
  and the leader counts it as one (leader.on_ping): it is checked the same way. So is what the
  core believes durable after each report its host takes (``Simulation.durable_report``): a
  leader's own vote in every commit, which no message shows. Checked against what the simulated writer really
  synced, not against what the node believes: a stale durable report (host/durable.py) can make
  it believe a log with the same zxids as the one on disk (ZAB_CHECKLIST #14).
* game state: a checksum of the game's snapshot per applied zxid; two nodes (or one node after
  a restart or a SNAP) at the same applied zxid must have the same state.
* exactly-once: a reference game replays G applying each (client, seq) once, skipping later
  copies itself (not trusting the game's own session records); every node's game at a zxid
  must equal the reference's at that zxid, every application must return the reference's
  result, and every answer a client got must be the result of the request's first commit.
* refusals at once: a request a node refuses before proposing it (``Replica.refusal``: too old
  for the game's window) ends the simulated client's request for good, so the refusal must be
  exactly what ``apply`` gives that op as the next txn on the node's own game (which the
  checksums above hold to the committed history); else a node could tell clients "for good" of
  requests the leader would log, and every other check would count them answered. The node's
  own game is the right reference only for a refusal that stays true on every later state, as
  "too old" does; "too far ahead" does not, which is why no node refuses that at once (a
  follower one COMMIT behind passed this check while refusing a write the leader applies).

A violation raises ``Violation`` (property name + detail); the simulation stops there and
prints the tail of its trace and the seed.
"""

from __future__ import annotations

import zlib
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from zmqzab.core.output import Append, InstallSnapshot, Truncate
from zmqzab.core.roles import Phase, Role
from zmqzab.game.rules import Game
from zmqzab.messages import GameResult, Op, Txn
from zmqzab.sim.trace import describe_op
from zmqzab.state import ReplicatedState, Result, is_game_op
from zmqzab.zxid import fmt_zxid, make_zxid, zxid_epoch

if TYPE_CHECKING:
    from zmqzab.core.peer import Peer


class Violation(Exception):
    """A checked property does not hold. ``prop`` is its short name, ``detail`` says how."""

    def __init__(self, prop: str, detail: str) -> None:
        super().__init__(f"{prop}: {detail}")
        self.prop = prop
        self.detail = detail

    def __reduce__(self):  # sweeps send results between processes
        return (Violation, (self.prop, self.detail))


@dataclass(slots=True)
class NodeView:
    """What the checkers remember about one node across its incarnations."""

    #: Index in G of the next txn this node must apply.
    pos: int = 0
    accepted_max: int = 0
    current_max: int = 0
    #: applied zxid at the last state checksum (to checksum only when it moves).
    fp_zxid: int = -1
    #: (epoch, incarnation) already checked as an established leader.
    leader_checked: tuple[int, int] = (-1, -1)
    #: (epoch, incarnation) whose epoch quorum was already checked.
    quorum_checked: tuple[int, int] = (-1, -1)


@dataclass(slots=True)
class Checkers:
    nodes: list[int]
    #: G: committed zxids in order, the txn and result at each.
    gz: list[int] = field(default_factory=list)
    gtxn: dict[int, Txn] = field(default_factory=dict)
    gres: dict[int, Result] = field(default_factory=dict)
    #: zxid -> epoch of the node that first applied it (>= the epoch that committed it).
    gepoch: dict[int, int] = field(default_factory=dict)
    #: zxid -> (crc32 of the game snapshot, node that first had it).
    gstate: dict[int, tuple[int, int]] = field(default_factory=dict)
    #: The reference state (each game (client, seq) applied once) and its checksum per zxid.
    ref: ReplicatedState = field(default_factory=ReplicatedState)
    refcrc: dict[int, int] = field(default_factory=dict)
    established: dict[int, int] = field(default_factory=dict)
    #: (client, seq) -> (zxid, result) of its first application.
    first: dict[tuple[str, int], tuple[int, GameResult]] = field(default_factory=dict)
    #: (client, seq) -> op, for every request a client sent.
    submitted: dict[tuple[str, int], Op] = field(default_factory=dict)
    #: zxids a client was told are committed.
    acknowledged: dict[int, tuple[str, int]] = field(default_factory=dict)
    view: dict[int, NodeView] = field(default_factory=dict)
    #: (node, epoch) -> the leaders that node sent a counting ACKEPOCH for that epoch to.
    promises: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    steps: int = 0

    def __post_init__(self) -> None:
        self.view = {i: NodeView() for i in self.nodes}
        self.refcrc[0] = zlib.crc32(self.ref.snapshot())

    # ------------------------------------------------------------------ committed history

    def on_applied(self, node: int, txn: Txn, result: Result, epoch: int) -> None:
        v = self.view[node]
        gz = self.gz
        zxid = txn.zxid
        if v.pos < len(gz):
            expected = gz[v.pos]
            if zxid != expected or txn != self.gtxn[expected]:
                raise Violation(
                    "committed prefixes agree",
                    f"n{node} applied {fmt_zxid(zxid)} {describe_op(txn.op)} as committed txn "
                    f"#{v.pos + 1}, but #{v.pos + 1} of the committed history is "
                    f"{fmt_zxid(expected)} {describe_op(self.gtxn[expected].op)}",
                )
            if result != self.gres[zxid]:
                raise Violation(
                    "equal game state at equal applied zxid",
                    f"n{node} applied {fmt_zxid(zxid)} with result '{result.message}', another "
                    f"node got '{self.gres[zxid].message}'",
                )
        else:
            if gz and zxid <= gz[-1]:
                raise Violation(
                    "total order",
                    f"n{node} applied {fmt_zxid(zxid)} after the committed history reached "
                    f"{fmt_zxid(gz[-1])}",
                )
            self._extend(node, txn, result)
            self.gepoch[zxid] = epoch
        v.pos += 1

    def _extend(self, node: int, txn: Txn, result: Result) -> None:
        op = txn.op
        if not is_game_op(op):
            # A tree or session txn: no client (id, seq) to hold it to (the simulator's clients
            # send none yet), but the reference must apply it as every replica does.
            expected = self.ref.apply(txn)
            if result != expected:
                raise Violation(
                    "equal game state at equal applied zxid",
                    f"n{node} applied {fmt_zxid(txn.zxid)} {describe_op(op)} with result "
                    f"'{result.message}'; the committed history gives '{expected.message}'",
                )
            self._record(txn, result)
            return
        key = (op.client_id, op.seq)
        sent = self.submitted.get(key)
        if sent is None or sent != op:
            raise Violation(
                "integrity",
                f"n{node} committed {fmt_zxid(txn.zxid)} {describe_op(op)}, which no client sent"
                + (f" (the client sent {describe_op(sent)})" if sent is not None else ""),
            )
        first = self.first.get(key)
        if first is None:
            expected = self.ref.apply(txn)
            if result != expected:
                raise Violation(
                    "exactly-once per (client, seq)",
                    f"n{node} applied {fmt_zxid(txn.zxid)} {describe_op(op)} with result "
                    f"'{result.message}'; applying each request once gives '{expected.message}'",
                )
            self.first[key] = (txn.zxid, result)
        else:
            self.ref.advance_to(txn.zxid)  # a copy of a committed request changes nothing
            if result != first[1]:
                raise Violation(
                    "exactly-once per (client, seq)",
                    f"{describe_op(op)} committed again at {fmt_zxid(txn.zxid)} gave "
                    f"'{result.message}', but its first commit at {fmt_zxid(first[0])} gave "
                    f"'{first[1].message}'",
                )
        self._record(txn, result)

    def _record(self, txn: Txn, result: Result) -> None:
        self.refcrc[txn.zxid] = zlib.crc32(self.ref.snapshot())
        self.gz.append(txn.zxid)
        self.gtxn[txn.zxid] = txn
        self.gres[txn.zxid] = result

    def reset_position(self, node: int, applied: int, why: str) -> None:
        """The node's game now starts from a snapshot at ``applied`` (restart, SNAP installed)."""
        pos = bisect_right(self.gz, applied)
        if applied and (pos == 0 or self.gz[pos - 1] != applied):
            raise Violation(
                "committed prefixes agree",
                f"n{node} {why} with a game at {fmt_zxid(applied)}, which is not a committed txn",
            )
        self.view[node].pos = pos
        self.view[node].fp_zxid = -1

    def check_history(self, node: int, peer: Peer, what: str) -> None:
        """``peer``, a leader of epoch e, must hold every txn committed in an epoch before e.

        "Later" is by epoch, not by the clock: a leader that was paused may establish epoch 8
        after epoch 9 committed (its quorum ACKed NEWLEADER before moving on); it cannot
        commit anything then, and ZAB promises it nothing of epoch 9.
        """
        log = peer.log
        gz = self.gz
        # Txns at or below the log's base are in the snapshot / applied game the log follows;
        # the state checksums compare those.
        start = bisect_right(gz, log.base)
        stop = bisect_right(gz, make_zxid(peer.epoch, 0))
        for zxid in gz[start:stop]:
            i = log.index_after(zxid) - 1
            held = log.txns[i] if i >= 0 and log.zxids[i] == zxid else None
            if held != self.gtxn[zxid]:
                told = self.acknowledged.get(zxid)
                whose = (f"the client {told[0]} was told #{told[1]} committed at {fmt_zxid(zxid)}"
                         if told else f"committed txn {fmt_zxid(zxid)}")
                have = f"holds {describe_op(held.op)} there" if held else "does not hold it"
                raise Violation(
                    "committed txns are in every later leader's history",
                    f"{whose} ({describe_op(self.gtxn[zxid].op)}), but {what} n{node} {have} "
                    f"(its log: after {fmt_zxid(log.base)} up to {fmt_zxid(log.last)})",
                )

    def check_durable(self, node: int, current_epoch: int, base: int, zxids: set[int],
                      when: str, only: list[int] | None = None) -> None:
        """The disk's currentEpoch vouches, in elections, for the disk's log (ZAB_CHECKLIST #1,
        #14): every committed txn of an earlier epoch must be in it, or below its snapshot."""
        gz = self.gz
        if only is None:
            lo, hi = bisect_right(gz, base), bisect_right(gz, make_zxid(current_epoch, 0))
            only = gz[lo:hi]
        gepoch = self.gepoch
        for zxid in only:
            if zxid > base and gepoch[zxid] < current_epoch and zxid not in zxids:
                raise Violation(
                    "durable history holds every txn committed before currentEpoch",
                    f"n{node}'s disk says currentEpoch {current_epoch} ({when}) but its log lacks "
                    f"{fmt_zxid(zxid)} {describe_op(self.gtxn[zxid].op)}, committed in epoch "
                    f"{gepoch[zxid]} at the latest: that vote can win an election without it",
                )

    def check_ack_synced(self, node: int, zxid: int, covers: int, unsynced: list, sends: str = "ACKs") -> None:
        """``node`` sends an ACK of ``zxid`` vouching for its log up to ``covers``, while the
        log ops ``unsynced`` (in hand-off order) have not been synced by its writer."""
        for op in unsynced:
            kind = type(op)
            if kind is Truncate or kind is InstallSnapshot or (kind is Append and op.txns[0].zxid <= covers):
                what = (f"{kind.__name__} to {fmt_zxid(op.zxid)}" if kind is not Append
                        else f"Append of {fmt_zxid(op.txns[0].zxid)}..{fmt_zxid(op.txns[-1].zxid)}")
                raise Violation(
                    "ACK only after an fsync that covers what it vouches for",
                    f"n{node} {sends} {fmt_zxid(zxid)} (its log up to {fmt_zxid(covers)}) while its "
                    f"{what} is not synced: a power loss now takes back what the ACK counts")

    # ------------------------------------------------------------------ epoch promises

    def on_promise(self, node: int, leader: int, epoch: int) -> None:
        """``node`` sent ``leader`` a counting ACKEPOCH for ``epoch``, or (``leader == node``)
        decided ``epoch`` as a would-be leader: the leader's own promise, which it counts too."""
        sent = self.promises.setdefault((node, epoch), [])
        if leader not in sent:
            sent.append(leader)

    def check_epoch_quorum(self, node: int, epoch: int, counted: list[int], quorum: int) -> None:
        """Leader ``node`` holds a quorum of promises for ``epoch``: itself and the followers it
        ``counted``. Checked from what was sent, not from the leader's word: there must be a
        quorum of them, each follower must have sent ``node`` a counting ACKEPOCH, and none of
        them (the leader included) may have promised ``epoch`` to another leader."""
        prop = "an epoch's promises go to one leader"
        mine = [x for x in self.promises.get((node, epoch), []) if x != node]
        if mine:
            raise Violation(prop, f"n{node} counts itself toward its quorum for epoch {epoch}, but it "
                                  f"had promised epoch {epoch} to n{mine[0]} already")
        if 1 + len(counted) < quorum:
            raise Violation(prop, f"n{node} acts on a quorum for epoch {epoch} with the promises of "
                                  f"{1 + len(counted)} nodes (itself and {counted}), {quorum} needed: "
                                  "it counted ACKEPOCHs that do not count")
        for follower in counted:
            sent = self.promises.get((follower, epoch), [])
            others = [x for x in sent if x != node]
            if others:
                to = ("itself (it had decided that epoch as a would-be leader)" if others[0] == follower
                      else f"n{others[0]}")
                raise Violation(
                    prop,
                    f"n{node} counts n{follower}'s ACKEPOCH toward its quorum for epoch {epoch}, but "
                    f"n{follower} had promised epoch {epoch} to {to} already: two leaders "
                    "can each gather a quorum for one epoch and commit different txns at one zxid",
                )
            if node not in sent:
                raise Violation(prop, f"n{node} counts n{follower} toward its quorum for epoch {epoch}, "
                                      f"but n{follower} never sent it a counting ACKEPOCH for it")

    # ------------------------------------------------------------------ per step

    def after_step(self, node: int, peer: Peer, incarnation: int, disk_epochs: tuple[int, int]) -> None:
        """``disk_epochs``: (acceptedEpoch, currentEpoch) in the node's epoch files now."""
        self.steps += 1
        v = self.view[node]
        acc, cur = peer.accepted_epoch, peer.current_epoch
        if (acc, cur) != disk_epochs:
            # Output step 1 writes them before anything else of the step happens: an epoch the
            # node acts on (ACKEPOCH, NEWLEADER's ACK) must already be on disk (#8, #14).
            raise Violation(
                "epochs are on disk before they are used",
                f"n{node} acts on acceptedEpoch {acc}, currentEpoch {cur}, but its epoch files "
                f"hold {disk_epochs[0]}, {disk_epochs[1]}",
            )
        if acc < cur:
            raise Violation("accepted >= current epoch",
                            f"n{node}: acceptedEpoch {acc} < currentEpoch {cur}")
        if acc < v.accepted_max or cur < v.current_max:
            raise Violation(
                "epochs never go back",
                f"n{node}: acceptedEpoch {v.accepted_max} -> {acc}, currentEpoch "
                f"{v.current_max} -> {cur} (incarnation {incarnation})",
            )
        v.accepted_max, v.current_max = acc, cur
        if zxid_epoch(peer.zxid_last) > acc:
            raise Violation("accepted >= current epoch",
                            f"n{node} logs {fmt_zxid(peer.zxid_last)} but acceptedEpoch is {acc}")
        role = peer.role
        promises = peer.epoch_promises() if role == Role.LEADING else None
        if promises is not None and promises.epoch:
            self.on_promise(node, node, promises.epoch)  # it wrote acceptedEpoch = epoch and counts itself
        if (promises is not None and promises.quorum_promised
                and v.quorum_checked != (promises.epoch, incarnation)):
            v.quorum_checked = (promises.epoch, incarnation)
            self.check_epoch_quorum(node, promises.epoch, list(promises.promised), peer.quorum)
        if role == Role.LEADING and peer.phase == Phase.BROADCAST:
            epoch = peer.epoch
            owner = self.established.setdefault(epoch, node)
            if owner != node:
                raise Violation("one established leader per epoch",
                                f"n{node} and n{owner} both established epoch {epoch}")
            if v.leader_checked != (epoch, incarnation):
                v.leader_checked = (epoch, incarnation)
                self.check_history(node, peer, f"the leader of epoch {epoch}")
        elif role == Role.FOLLOWING and peer.phase == Phase.BROADCAST:
            owner = self.established.get(peer.epoch)
            if owner != peer.leader_id:
                raise Violation(
                    "one established leader per epoch",
                    f"n{node} serves epoch {peer.epoch} under n{peer.leader_id}, but that epoch "
                    + (f"was established by n{owner}" if owner is not None else "has no established leader"),
                )
        applied = peer.zxid_applied
        if applied != v.fp_zxid:
            v.fp_zxid = applied
            crc = zlib.crc32(peer.state.snapshot())
            reference = self.refcrc.get(applied)
            if reference is not None and reference != crc:
                raise Violation(
                    "exactly-once per (client, seq)",
                    f"n{node}'s game at {fmt_zxid(applied)} differs from the committed history "
                    f"applied once per request: n{node}: {peer.state!r}, reference: {self.ref!r}",
                )
            seen = self.gstate.setdefault(applied, (crc, node))
            if seen[0] != crc:
                raise Violation(
                    "equal game state at equal applied zxid",
                    f"n{node} and n{seen[1]} both applied up to {fmt_zxid(applied)} but their "
                    f"games differ; n{node}: {peer.state!r}",
                )

    def on_new_commit_seen(self, leaders: list[tuple[int, Peer]]) -> None:
        """G grew: every established leader of a later epoch must hold the new txns too."""
        if not self.gz:
            return
        newest = self.gz[-1]
        for node, peer in leaders:
            if peer.epoch > zxid_epoch(newest):
                self.check_history(node, peer, f"the leader of epoch {peer.epoch}")

    # ------------------------------------------------------------------ clients

    def on_submitted(self, client: str, seq: int, op: Op) -> None:
        self.submitted[(client, seq)] = op

    def on_refused_at_once(self, node: int, op: Op, refusal: GameResult, game: Game) -> None:
        """Node ``node`` refused ``op`` at once and for good with ``refusal``: it must be the
        result ``apply`` gives ``op`` as the next txn on ``game``, the node's own (its clock not
        moved: no record expires), whatever ``Game.refusal_at_once`` computed."""
        would = Game.restore(game.snapshot()).apply(Txn(game.zxid_applied + 1, op, game.clock_ms))
        if would != refusal:
            raise Violation(
                "a refusal at once is what apply answers",
                f"n{node} refused {describe_op(op)} at once, for good: '{refusal.message}'; "
                f"apply on its game at {fmt_zxid(game.zxid_applied)} gives '{would.message}'",
            )

    def on_answer(self, client: str, seq: int, node: int, zxid: int, result: GameResult) -> None:
        """A client was told its request committed at ``zxid`` with ``result``: the zxid of its
        first commit or of a later copy of it, and in either case the first commit's result."""
        first = self.first.get((client, seq))
        at = self.gtxn.get(zxid)
        if (first is None or result != first[1] or at is None
                or not is_game_op(at.op) or (at.op.client_id, at.op.seq) != (client, seq)):
            raise Violation(
                "exactly-once per (client, seq)",
                f"n{node} answered {client}#{seq} with '{result.message}' at {fmt_zxid(zxid)}"
                + (f", but it first committed at {fmt_zxid(first[0])} with '{first[1].message}'"
                   if first else ", which is not in the committed history"),
            )
        self.acknowledged.setdefault(zxid, (client, seq))
