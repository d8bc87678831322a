"""Peer: one ZAB participant as a pure state machine.

Inputs:  ``start()``, ``tick()``, ``step(sender, msg)``, ``submit(ops, ts_ms)``,
         ``persisted(zxid)`` (the writer made the log durable up to ``zxid``),
         ``disk_read_done(...)`` (a ``ReadLog`` of a DIFF from disk ended),
         ``log_purged(zxid)`` (the durable log now starts after ``zxid``).
Output:  an ``Output`` (core/output.py) whose fields the driver carries out in order.

No sockets, files, clocks, threads or global random here: time arrives as ticks, randomness as an
injected ``random.Random``. The driver (node.py) and the simulator (sim/) run this same class.

The Peer holds what every role shares: epochs, the in-memory log window, the durable, committed
and applied positions, and the game. What belongs to one role lives in ``role_state``, exactly
one of ``Election`` (LOOKING), ``LeaderState`` (LEADING) or ``FollowerState`` (FOLLOWING), made
when the role begins and dropped when it ends; role, phase, leader and epoch are read from it,
so they cannot disagree. Role-specific handlers live in election.py, leader.py and follower.py;
``step`` dispatches on (role state, message) with one ``match`` and hands each handler its
role's state. ``status()`` gives views a frozen ``PeerStatus`` (core/status.py).

Positions, always ``applied <= committed <= last`` and ``durable <= last``:
  * ``zxid_last``      the last txn in the log (in memory; handed to the writer);
  * ``zxid_durable``   the disk holds our log up to here (reported by the writer);
  * ``zxid_committed`` known committed (quorum of ACKs, or the leader said so);
  * ``zxid_applied``   applied to the game.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Callable, Hashable, Protocol

from zmqzab.core import follower, leader
from zmqzab.core.election import Election, better
from zmqzab.core.errors import InvariantError, NotReady
from zmqzab.core.follower import FollowerState
from zmqzab.core.leader import LeaderState
from zmqzab.core.log import MemoryLog
from zmqzab.core.output import (
    Append,
    BROADCAST,
    EpochWrite,
    InstallSnapshot,
    Output,
    ReadLog,
    Send,
    Trace,
    Truncate,
)
from zmqzab.core.roles import Phase, Role
from zmqzab.core.settings import CoreConfig
from zmqzab.core.status import EpochPromises, PeerStatus, TailTxn
from zmqzab.messages import (
    Ack,
    AckEpoch,
    Commit,
    FetchTxns,
    FollowerInfo,
    Forward,
    GameResult,
    LeaderInfo,
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
    Vote,
)
from zmqzab.zxid import fmt_zxid

#: Who handles a message in each role, by the exact types of the role state and the message.
#: A dict, not a ``match`` over the pairs: the match tested its cases in turn (~1.8 us to reach
#: PROPOSAL and COMMIT, the last ones, which every follower gets for every batch). It holds the
#: functions as imported: a test that monkeypatches ``leader.on_ack`` must patch this table too.
_HANDLERS: dict[tuple[type, type], Callable[..., None]] = {
    (LeaderState, FollowerInfo): leader.on_follower_info,
    (LeaderState, AckEpoch): leader.on_ack_epoch,
    (LeaderState, Ack): leader.on_ack,
    (LeaderState, Ping): leader.on_ping,
    (LeaderState, FetchTxns): leader.on_fetch,
    (LeaderState, SnapAck): leader.on_snap_ack,
    (LeaderState, Forward): leader.on_forward,
    (FollowerState, LeaderInfo): follower.on_leader_info,
    (FollowerState, SyncStart): follower.on_sync_start,
    (FollowerState, SyncTxns): follower.on_sync_txns,
    (FollowerState, SnapChunk): follower.on_snap_chunk,
    (FollowerState, NewLeader): follower.on_new_leader,
    (FollowerState, UpToDate): follower.on_up_to_date,
    (FollowerState, Proposal): follower.on_proposal,
    (FollowerState, Commit): follower.on_commit,
    (FollowerState, Ping): follower.on_ping,
}

if TYPE_CHECKING:
    from random import Random  # injected: the core never draws from the global one


class StateMachine(Protocol):
    zxid_applied: int

    def apply(self, txn: Txn) -> GameResult | Any:
        """The txn's result: a GameResult for a game op, the state's own record for the other
        ops (zmqzab/state.py's ZkResult); the core only passes it on in ``Output.applied``."""

    def snapshot(self) -> bytes: ...

    def prepare(self, op: Op, zxid: int) -> Op | None:
        """The leader's prepare of an op without a request key, about to be proposed as the
        txn ``zxid``: the op to log, or None to log nothing (zmqzab/state.py)."""

    def request_key(self, op: Op) -> Hashable:
        """Identifies a client request (client id, seq): retries carry the same key. None: an
        op without such a key (a tree or session txn), which the leader never deduplicates."""

    def is_applied(self, key: Hashable) -> bool:
        """Applied already, or never applicable any more: the leader does not propose it."""


@dataclass(frozen=True, slots=True)
class Recovered:
    """What a node starts from: storage's recovery returns it (``open_storage``) and the Peer
    takes it as is, so no driver can drop a field on the way (the simulator once lost
    ``log_start`` and never DIFFed from disk). ``txns`` are those after the snapshot."""

    accepted_epoch: int = 0
    current_epoch: int = 0
    snapshot_zxid: int = 0
    snapshot: bytes | None = None
    txns: tuple[Txn, ...] | list[Txn] = ()
    #: The durable log holds every txn after this zxid (None: after the snapshot's): the oldest
    #: kept snapshot of the log's generation. A DIFF from disk reaches back this far.
    log_start: int | None = None
    #: What recovery repaired or noticed, for the node's log (not read by the core).
    notes: tuple[str, ...] | list[str] = ()

    @property
    def last_zxid(self) -> int:
        return self.txns[-1].zxid if self.txns else self.snapshot_zxid


#: The one role state: exactly one of these, each holding what only that role needs.
RoleState = Election | LeaderState | FollowerState


class Peer:
    def __init__(
        self,
        node_id: int,
        voters: list[int] | tuple[int, ...],
        config: CoreConfig,
        rng: Random,
        make_state: Callable[[bytes | None], StateMachine],
        recovered: Recovered = Recovered(),
    ) -> None:
        if node_id not in voters:
            raise InvariantError(f"node {node_id} is not one of the voters {sorted(voters)}")
        self.id = node_id
        self.voters = tuple(sorted(voters))
        self.peers = tuple(v for v in self.voters if v != node_id)
        self.quorum = len(self.voters) // 2 + 1
        self.cfg = config
        self.rng = rng
        self.make_state = make_state

        self.accepted_epoch = recovered.accepted_epoch
        self.current_epoch = recovered.current_epoch
        self.state = make_state(recovered.snapshot)
        self.log = MemoryLog(recovered.snapshot_zxid, list(recovered.txns))
        # What recovery read is on disk by definition.
        self.zxid_durable = self.log.last
        self.zxid_committed = recovered.snapshot_zxid
        # Reports from the writer below this fence describe a log we have since replaced (SNAP).
        self._durable_fence = 0
        #: The durable log holds every txn after this zxid: a DIFF reaches back this far by
        #: reading the disk (ReadLog); a follower further behind gets SNAP.
        self.zxid_disk_base = (recovered.snapshot_zxid if recovered.log_start is None
                               else recovered.log_start)

        self.now = 0
        #: The driver's wall clock in ms, set by it as time passes (0 in a simulation that does
        #: not): the ts_ms of the txns a leader proposes for FORWARDed ops, which the tree
        #: stamps as a znode's ctime / mtime. Only stamped into txns; never read to decide.
        self.wall_ms = 0
        self.round = 0
        #: The one role state (etcd-io/raft swaps its step function the same way): what belongs
        #: to a role lives in it, only while that role does. Until ``start()``, an election
        #: that has sent nothing yet.
        self.role_state: RoleState = Election(round=0, vote=self.own_vote(), started_tick=0,
                                              reason="not started")
        self.last_sync: dict[str, Any] = {}

    # ---------------------------------------------------------------- positions

    @property
    def zxid_last(self) -> int:
        return self.log.last

    @property
    def zxid_applied(self) -> int:
        return self.state.zxid_applied

    def own_vote(self) -> Vote:
        return Vote(leader=self.id, zxid=self.zxid_last, epoch=self.current_epoch)

    # ---------------------------------------------------------------- role (read-only views)

    @property
    def role(self) -> Role:
        return self.role_state.role

    @property
    def phase(self) -> Phase:
        return self.role_state.phase

    @property
    def leader_id(self) -> int | None:
        """The leader we follow or are; None while LOOKING."""
        st = self.role_state
        if isinstance(st, FollowerState):
            return st.leader_id
        return self.id if isinstance(st, LeaderState) else None

    @property
    def epoch(self) -> int:
        """The epoch being established or served (LEADERINFO's); 0 while LOOKING or before."""
        st = self.role_state
        return 0 if isinstance(st, Election) else st.epoch

    @property
    def election(self) -> Election | None:
        st = self.role_state
        return st if isinstance(st, Election) else None

    @property
    def leading(self) -> LeaderState | None:
        st = self.role_state
        return st if isinstance(st, LeaderState) else None

    @property
    def following(self) -> FollowerState | None:
        st = self.role_state
        return st if isinstance(st, FollowerState) else None

    # ---------------------------------------------------------------- inputs

    def start(self) -> Output:
        out = Output()
        self._look(out, "start-up")
        return out

    def tick(self) -> Output:
        self.now += 1
        out = Output()
        match self.role_state:
            case Election() as e:
                self._election_tick(e, out)
            case LeaderState() as st:
                leader.tick(self, st, out)
            case FollowerState() as fs:
                follower.tick(self, fs, out)
        return out

    def step(self, sender: int, msg: PeerMessage) -> Output:
        """Handle one message from peer ``sender``. Unknown senders are dropped silently."""
        out = Output()
        if sender == self.id or sender not in self.voters:
            return out
        if isinstance(msg, Notification):
            self._on_notification(sender, msg, out)
            return out
        role_state = self.role_state
        handler = _HANDLERS.get((type(role_state), type(msg)))
        if handler is not None:
            handler(self, role_state, sender, msg, out)
        elif type(role_state) is Election and type(msg) is FollowerInfo:
            role_state.early_followers[sender] = msg
        # Any other message is for another role: stale, or from a peer that has not caught up.
        return out

    def submit(self, ops: list[Op], ts_ms: int = 0) -> Output:
        """Client ops taken by this node: propose them (leader) or forward them (follower).

        Raises NotReady when there is no established leader to take them; its ``output``
        holds whatever the core did meanwhile (see NotReady), for the driver to carry out.
        """
        out = Output()
        match self.role_state:
            case LeaderState() as st:
                try:
                    leader.propose(self, st, ops, ts_ms, out)
                except NotReady as exc:
                    if out:
                        exc.output = out
                    raise
            case FollowerState() as fs if fs.serving:
                out.sends.append(Send(fs.leader_id, Forward(epoch=fs.epoch, ops=list(ops))))
            case _:
                raise NotReady(self.not_ready_reason())
        return out

    def peer_unreachable(self, peer_id: int) -> Output:
        """The connection to ``peer_id`` closed (its process died): a faster signal than a
        missed heartbeat. A hung peer keeps its connection open; the heartbeat still catches it.
        """
        out = Output()
        match self.role_state:
            case Election() as e:
                # A FOLLOWERINFO that came while we were still deciding: it is from a follower
                # that has gone (it sends a new one if it comes back) and must not decide our
                # epoch.
                if "ackepoch_counts_twice" not in self.cfg.test_faults:  # (TEST FAULT: kept)
                    e.early_followers.pop(peer_id, None)
            case FollowerState() as fs if peer_id == fs.leader_id:
                self._look(out, f"connection to leader node {peer_id} closed")
            case LeaderState() as st:
                leader.learner_gone(self, st, peer_id, out)
        return out

    def peer_connected(self, peer_id: int) -> Output:
        """Our connection to ``peer_id`` is (re)made: tell it our vote, or whom we follow or lead
        (ZooKeeper's QuorumCnxManager sends its last notification again on a new connection).
        What we sent while it was down was dropped (transport.py): a node that restarts while a
        leader is established hears a quorum of FOLLOWING/LEADING as soon as their connections
        are up, instead of after its next vote resend (a tick later). A notification is only
        ever our current state, so an extra one is harmless: a FOLLOWING or LEADING peer ignores
        it, a LOOKING one counts it as it counts any.
        """
        out = Output()
        if peer_id in self.peers:
            self.send(out, peer_id, self._notification())
        return out

    def force_election(self, reason: str) -> Output:
        """Give up the current role and start an election (a demo control; also for tests)."""
        out = Output()
        self._look(out, reason)
        return out

    def not_ready_reason(self) -> str:
        if self.role == Role.LOOKING:
            return "no leader: election in progress"
        return f"no leader yet: {self.role} node is in {self.phase}"

    def persisted(self, zxid: int) -> Output:
        """The writer reports the disk's log now ends at ``zxid`` (everything before it synced)."""
        out = Output()
        if zxid < self._durable_fence or zxid > self.zxid_last:
            return out
        if zxid > self.log.base and not self.log.contains(zxid):
            return out  # describes log content we truncated since; a later report will come
        self.zxid_durable = zxid
        match self.role_state:
            case LeaderState() as st:
                leader.on_persisted(self, st, out)
            case FollowerState() as fs:
                follower.on_persisted(self, fs, out)
        return out

    def disk_read_done(self, to: int, session: int, ok: bool, header_sent: bool, last: int,
                       error: str = "") -> Output:
        """A ``ReadLog`` for peer ``to`` ended: ``ok`` with every txn up to ``last`` sent, or not
        (``error``), after sending its header or before. A leader continues that sync stream."""
        out = Output()
        st = self.role_state
        if isinstance(st, LeaderState):
            leader.disk_read_done(self, st, to, session, ok, header_sent, last, error, out)
        return out

    def log_purged(self, zxid: int) -> None:
        """The driver purged the durable log: it now holds every txn after ``zxid`` only."""
        self.zxid_disk_base = max(self.zxid_disk_base, zxid)

    # ---------------------------------------------------------------- shared helpers

    def trace(self, out: Output, event: str, text: str, **fields: Any) -> None:
        out.traces.append(Trace(event, text, fields))

    def send(self, out: Output, to: int, msg: PeerMessage) -> None:
        out.sends.append(Send(to, msg))

    def broadcast(self, out: Output, msg: PeerMessage) -> None:
        out.sends.append(Send(BROADCAST, msg))

    def read_log(self, out: Output, read: ReadLog) -> None:
        out.reads.append(read)

    def trace_role(self, out: Output, why: str) -> None:
        """Trace the role and phase we just entered (callers call it on every change of either)."""
        role, phase = self.role, self.phase
        self.trace(out, "role", f"{role} / {phase}: {why}", role=str(role), phase=str(phase))

    def write_epochs(self, out: Output, accepted: int | None = None, current: int | None = None) -> None:
        """Raise the epochs in memory and ask the driver to persist them first (Output step 1)."""
        if accepted is not None:
            if accepted < self.accepted_epoch:
                raise InvariantError(f"acceptedEpoch would go back {self.accepted_epoch} -> {accepted}")
            self.accepted_epoch = accepted
        if current is not None:
            if current < self.current_epoch or current > self.accepted_epoch:
                raise InvariantError(
                    f"currentEpoch {self.current_epoch} -> {current} breaks "
                    f"accepted ({self.accepted_epoch}) >= current >= old current"
                )
            self.current_epoch = current
        prev = out.epochs or EpochWrite()
        out.epochs = EpochWrite(
            accepted_epoch=accepted if accepted is not None else prev.accepted_epoch,
            current_epoch=current if current is not None else prev.current_epoch,
        )
        self.trace(out, "epoch", f"epochs: accepted {self.accepted_epoch}, current {self.current_epoch}",
                   accepted_epoch=self.accepted_epoch, current_epoch=self.current_epoch)

    def append(self, out: Output, txns: list[Txn]) -> None:
        self.log.extend(txns)
        out.log.append(Append(txns))

    def truncate(self, out: Output, zxid: int) -> None:
        if zxid < self.zxid_applied:
            raise InvariantError(
                f"TRUNC to {fmt_zxid(zxid)} would undo applied txn {fmt_zxid(self.zxid_applied)}"
            )
        self.log.truncate_after(zxid)
        # Not durable until the writer has cut the disk's log too: until it reports, the disk
        # still holds the txns after zxid, and NEWLEADER's currentEpoch and ACK must not vouch
        # for a log without them (callers truncate only a log whose appends were all reported,
        # so the next report comes after the Truncate).
        self.zxid_durable = -1
        self.zxid_committed = min(self.zxid_committed, zxid)
        out.log.append(Truncate(zxid))

    def install_snapshot(self, out: Output, zxid: int, data: bytes) -> None:
        self.state = self.make_state(data)
        if self.state.zxid_applied != zxid:
            raise InvariantError(
                f"snapshot says {fmt_zxid(self.state.zxid_applied)}, SNAP said {fmt_zxid(zxid)}"
            )
        self.log.reset(zxid)
        self.zxid_committed = zxid
        self.zxid_durable = -1  # nothing of the new history is known durable yet
        self._durable_fence = zxid
        self.zxid_disk_base = zxid  # the new log generation starts after the snapshot
        out.log.append(InstallSnapshot(zxid, data))

    def commit_to(self, out: Output, zxid: int) -> None:
        """Mark txns up to ``zxid`` (capped at our log) committed and apply them in order."""
        target = min(zxid, self.zxid_last)
        if target <= self.zxid_committed:
            return
        self.zxid_committed = target
        apply = self.state.apply
        applied = out.applied
        for txn in self.log.between(self.zxid_applied, target):
            applied.append((txn, apply(txn)))
        # Keep memory bounded: forget the oldest applied txns beyond the window (a follower
        # that needs them gets SNAP instead of DIFF).
        # Trimmed in chunks: deleting the front of a long list moves all of it.
        excess = len(self.log) - self.cfg.log_window_txns
        if excess > self.cfg.log_window_txns // 16:
            self.log.drop_through(min(self.zxid_applied, self.log.txns[excess - 1].zxid))

    # ---------------------------------------------------------------- election

    def _look(self, out: Output, reason: str) -> None:
        """Enter LOOKING: a new election round with our own vote (ZooKeeper: lookForLeader)."""
        was_looking = isinstance(self.role_state, Election)
        self.round += 1
        e = self.role_state = Election(round=self.round, vote=self.own_vote(), started_tick=self.now,
                                       reason=reason)
        e.received[self.id] = e.vote
        if not was_looking:
            self.trace_role(out, reason)
        self.trace(out, "election", f"election round {self.round} started: {reason}",
                   round=self.round, reason=reason)
        self._send_vote_to_all(out)
        self._check_quorum(e, out)

    def look(self, out: Output, reason: str) -> None:
        """Give up the current role and start an election (leader.py / follower.py call this)."""
        self._look(out, reason)

    def _notification(self) -> Notification:
        match self.role_state:
            case Election() as e:
                return Notification(round=e.round, state=Role.LOOKING, vote=e.vote)
            case st:
                return st.decided

    def _send_vote_to_all(self, out: Output) -> None:
        note = self._notification()
        for p in self.peers:
            self.send(out, p, note)
        if isinstance(self.role_state, Election):
            self.role_state.last_sent_tick = self.now

    def _on_notification(self, sender: int, n: Notification, out: Output) -> None:
        e = self.role_state
        if not isinstance(e, Election):
            if (n.state == Role.LOOKING and type(e) is FollowerState and sender == e.leader_id
                    and n.round > e.decided.round
                    and not (e.sync_started and n.vote.epoch < e.epoch)):
                # Our leader looks in a round after the one we followed it in: it gave up
                # leading (ZooKeeper's leader closes its connections as it shuts down). Waiting
                # for it to fall silent costs syncLimit (initLimit in discovery) for nothing.
                # Unless the vote is older than its leadership: we may have decided in a lower
                # round than it did, and a reordered vote of its own later round, sent while it
                # was still LOOKING, arrives after we synced. A leader writes currentEpoch = its
                # epoch before any sync stream leaves, and votes order by currentEpoch first,
                # so every vote it sends after stepping down names that epoch or a later one.
                self._look(out, f"leader node {sender} started election round {n.round}")
                self._on_notification(sender, n, out)
                return
            # FOLLOWING or LEADING: tell a LOOKING peer whom we follow, so it can join us.
            if n.state == Role.LOOKING:
                self.send(out, sender, self._notification())
            return
        if n.state != Role.LOOKING:
            e.outside[sender] = n
            self._check_established(e, out)
            return
        e.outside.pop(sender, None)
        if n.round > e.round:
            e.round = self.round = n.round
            e.received.clear()
            own = self.own_vote()
            e.vote = n.vote if better(n.vote, own) else own
            e.decide_at = None
            self._send_vote_to_all(out)
        elif n.round < e.round:
            self.send(out, sender, self._notification())
            return
        elif better(n.vote, e.vote):
            e.vote = n.vote
            e.decide_at = None
            self._send_vote_to_all(out)
        e.received[sender] = n.vote
        e.received[self.id] = e.vote
        self._check_quorum(e, out)

    def _check_quorum(self, e: Election, out: Output) -> None:
        if e.count_for(e.vote) >= self.quorum:
            if e.decide_at is None:
                e.decide_at = self.now + self.cfg.election_wait_ticks
            if self.now >= e.decide_at:
                self._decide(e, out, e.vote.leader, "a quorum agreed")
        else:
            e.decide_at = None

    def _check_established(self, e: Election, out: Output) -> None:
        established = e.established_leader(self.quorum)
        if established is not None and established != self.id:
            n = e.outside[established]
            e.round = self.round = max(e.round, n.round)
            e.vote = n.vote
            self._decide(e, out, established, "joined the established leader")

    def _election_tick(self, e: Election, out: Output) -> None:
        self._check_quorum(e, out)
        # Still LOOKING (this election, or a new one the decision ended in): resend our vote.
        resend_due = self.now - e.last_sent_tick >= self.cfg.vote_resend_ticks
        if isinstance(self.role_state, Election) and resend_due:
            self._send_vote_to_all(out)

    def _decide(self, e: Election, out: Output, leader_id: int, how: str) -> None:
        took = self.now - e.started_tick
        role = Role.LEADING if leader_id == self.id else Role.FOLLOWING
        #: The vote this node decided on, repeated to LOOKING peers while FOLLOWING/LEADING.
        decided = Notification(round=e.round, state=role, vote=e.vote)
        self.trace(
            out, "elected",
            f"round {e.round}: node {leader_id} leads ({how}; vote {fmt_zxid(e.vote.zxid)} epoch "
            f"{e.vote.epoch}; took {took} ticks; started by: {e.reason})",
            leader=leader_id, round=e.round, ticks=took, reason=e.reason,
        )
        early = e.early_followers
        if role == Role.LEADING:
            st = leader.become(self, decided, out)
            for sender in sorted(early):
                if self.role_state is not st:
                    # One of them made us step down (it accepted an epoch above the one just
                    # picked): the others follow whoever the new election picks.
                    break
                leader.on_follower_info(self, st, sender, early[sender], out)
        else:
            follower.become(self, leader_id, decided, out)
        # Tell everyone still looking what we decided (helps them converge quickly).
        self._send_vote_to_all(out)

    # ---------------------------------------------------------------- views

    def status(self, log_tail_txns: int = 0) -> PeerStatus:
        """Everything a person or the web page wants to see about this node, with the newest
        ``log_tail_txns`` txns of the log."""
        e, st = self.election, self.leading
        tail = self.log.txns[-log_tail_txns:] if log_tail_txns > 0 else []
        learners: list[leader.Learner] = []
        if st is not None and st.established:
            # Who holds each txn is BROADCAST's arithmetic: while the leader establishes its
            # epoch there are no proposals to count ACKs for.
            learners = [ln for ln in st.learners.values() if ln.phase == Phase.BROADCAST]
            rows = tuple(TailTxn(txn, tuple(([self.id] if self.zxid_durable >= txn.zxid else [])
                                            + sorted(ln.id for ln in learners if ln.acked >= txn.zxid)))
                         for txn in tail)
        else:
            rows = tuple(TailTxn(txn, None) for txn in tail)
        return PeerStatus(
            id=self.id, role=self.role, phase=self.phase, leader=self.leader_id, epoch=self.epoch,
            accepted_epoch=self.accepted_epoch, current_epoch=self.current_epoch,
            zxid_last=self.zxid_last, zxid_durable=self.zxid_durable,
            zxid_committed=self.zxid_committed, zxid_applied=self.zxid_applied,
            zxid_disk_base=self.zxid_disk_base, log_base=self.log.base, round=self.round,
            quorum=self.quorum, voters=self.voters,
            vote=e.vote if e is not None else None,
            votes_received=tuple(sorted(e.received.items())) if e is not None else (),
            established=st.established if st is not None else None,
            learners=tuple(leader.learner_status(self, ln) for ln in leader.sorted_learners(st))
            if st is not None else (),
            log_tail=rows,
            last_sync=MappingProxyType(dict(self.last_sync)),
        )

    def epoch_promises(self) -> EpochPromises | None:
        """A leader's epoch quorum as it counts it (None unless LEADING)."""
        st = self.leading
        if st is None:
            return None
        return EpochPromises(st.epoch, st.epoch_acked, tuple(sorted(st.epoch_promised)))
