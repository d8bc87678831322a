"""The leader's side of discovery, synchronization and broadcast (ZooKeeper's Leader and
LearnerHandler, Zab 1.0 phases 1-3).

Theory of operation.
* DISCOVERY. Every follower sends FOLLOWERINFO with its acceptedEpoch. Once a quorum including
  the leader has, the new epoch is max(acceptedEpoch) + 1 (ZAB_CHECKLIST #7); the leader
  persists it as its own acceptedEpoch and sends LEADERINFO. Followers persist it and answer
  ACKEPOCH with their currentEpoch and last zxid. A follower with a more recent history than
  the leader's means the election went wrong: the leader gives up (#9). So does a leader whose
  epoch is decided when a late follower has accepted a higher one: that follower would refuse
  LEADERINFO for ever, and only a new election finds an epoch it accepts.
  The epoch's quorum counts only fresh promises (ZooKeeper's waitForEpochAck): a follower that
  had already accepted this epoch (from another would-be leader of the same epoch, or from us
  before a reconnect) answers ACKEPOCH with NOT_COUNTED; it is synced once the epoch stands,
  like a late joiner, and its history is not checked against ours (#9 is about the quorum
  whose histories the new epoch continues; a follower outside it gets TRUNC or SNAP). Since a
  node promises an epoch at most once and the promise is on its disk, two leaders can never
  both gather a quorum for one epoch. A counted promise stays counted if that follower's
  connection closes (it is durable), but a FOLLOWERINFO does not: a learner whose connection
  closed (``peer_unreachable``) before the epoch is decided is forgotten, and a newer
  FOLLOWERINFO (a new session) replaces the old one, so the max() above and the FOLLOWERINFO
  quorum use only followers that are still with us, with the acceptedEpoch they now have.
* SYNC. Once a quorum has ACKed the epoch the leader writes currentEpoch and brings every such
  follower in line with its own log: DIFF (send what it lacks), TRUNC (cut back to the last
  common zxid, then DIFF) or SNAP (the game at the committed zxid, then the rest), chosen by
  ``choose_sync``, then NEWLEADER, strictly after the whole stream (#13). Everything sent to one
  follower goes through one DEALER, so it arrives in this order. Two kinds of stream take more
  than one step, and NEWLEADER waits for their end:
  - SNAP's snapshot goes in SNAPCHUNKs, at most ``snap_chunks_inflight_max`` unacknowledged
    (the follower SNAPACKs each): a big snapshot is never one huge message, nor queued whole
    for a slow follower.
  - a DIFF from further back than the memory window reads the older txns from disk: the core
    asks the driver (``ReadLog``), which sends them and reports back (``disk_read_done``); the
    rest follows from memory. If the disk cannot serve the range (purged meanwhile, or the
    follower's zxid is not in our history) before anything was sent, SNAP instead.
* ESTABLISHED when a quorum (the leader counting itself once its log is durable) has ACKed
  NEWLEADER (#16): the leader commits its whole history and sends UPTODATE. Followers joining
  later go through the same steps and get UPTODATE at once.
* BROADCAST. PROPOSALs (batches of txns) go out on PUB before the leader's own fsync; the leader
  counts its own ACK when the writer reports the batch durable (#18). ACKs are cumulative; the
  commit point is the highest zxid of this epoch that a quorum holds, committed in order (#19).
* LIVENESS. A leader that has heard from less than a quorum for syncLimit ticks steps down (#26);
  one that cannot establish itself within initLimit ticks too.

Where each follower is, as the leader sees it, is one ``LearnerStep`` (core/roles.py); the
leader's own phase is ``LeaderState.phase``. Every handler receives the ``LeaderState``, and a
learner's message passes one guard (``LeaderState.learner``: its session, our epoch, its phase).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from zmqzab.core.errors import NotReady
from zmqzab.core.output import Output, ReadLog
from zmqzab.core.roles import LEARNER_MOVES, LearnerStep, Phase, Role, SyncMode, checked_move
from zmqzab.core.status import LearnerStatus
from zmqzab.messages import (
    NOT_COUNTED,
    Ack,
    AckEpoch,
    Commit,
    FetchTxns,
    FollowerInfo,
    Forward,
    LeaderInfo,
    NewLeader,
    Notification,
    Op,
    Ping,
    Proposal,
    SnapAck,
    SnapChunk,
    SyncStart,
    SyncTxns,
    Txn,
    UpToDate,
    encoder,
)
from zmqzab.zxid import fmt_zxid, make_zxid, zxid_counter, zxid_epoch

if TYPE_CHECKING:
    from zmqzab.core.peer import Peer

#: What choose_sync decides for one follower: the mode, the zxid it starts from, and why.
SyncChoice = tuple[SyncMode, int, str]


#: The one learner step in BROADCAST (its ACKs count toward commits); compared by identity on
#: the per-ACK paths, where the ``phase`` property's lookup showed in profiles.
BROADCASTING = LearnerStep.UPTODATE_SENT

@dataclass(slots=True)
class Learner:
    """The leader's view of one follower (ZooKeeper's LearnerHandler)."""

    id: int
    session: int
    accepted_epoch: int
    zxid_last: int
    zxid_base: int
    last_heard: int
    #: Where it is in discovery and sync. Its ACKEPOCH arrived (ACKEPOCH_RECEIVED), counted or
    #: not (see epoch_promised): it is synced once the epoch stands.
    step: LearnerStep = LearnerStep.FOLLOWERINFO_RECEIVED
    #: The leader's last zxid when the sync stream was built: NEWLEADER's ACK vouches for it.
    synced_to: int = 0
    #: Cumulative ACK: the follower holds every txn up to here durably.
    acked: int = 0
    sync_mode: SyncMode | None = None
    #: SNAP streaming: the snapshot still to send (emptied once all of it is sent), its number
    #: of chunks, the next chunk to send, and how many the follower has acknowledged.
    snap: bytes = b""
    snap_chunks: int = 0
    snap_next: int = 0
    snap_acked: int = 0
    #: DIFF from disk: a ReadLog is under way (its end comes back through disk_read_done).
    disk_reading: bool = False

    @property
    def phase(self) -> Phase:
        return self.step.phase

    def move_to(self, step: LearnerStep) -> None:
        self.step = checked_move(LEARNER_MOVES, self.step, step,
                                 f"learner node {self.id} (session {self.session})")

    @property
    def acked_epoch(self) -> bool:
        return self.step != LearnerStep.FOLLOWERINFO_RECEIVED

    @property
    def acked_newleader(self) -> bool:
        return self.step in (LearnerStep.NEWLEADER_ACKED, LearnerStep.UPTODATE_SENT)


@dataclass(slots=True)
class LeaderState:
    """The Peer's role state while LEADING (see peer.py)."""

    role: ClassVar[Role] = Role.LEADING

    started_tick: int
    #: Our vote, repeated to LOOKING peers (ZooKeeper answers them with its current vote).
    decided: Notification
    learners: dict[int, Learner] = field(default_factory=dict)
    #: The new epoch, once a quorum of FOLLOWERINFO decided it; 0 before.
    epoch: int = 0
    #: Followers whose ACKEPOCH for ``epoch`` counts: they promised it fresh (ZooKeeper's
    #: electingFollowers). Kept if the follower goes: the promise is on its disk.
    epoch_promised: set[int] = field(default_factory=set)
    #: DISCOVERY until a quorum promised the epoch, SYNC until a quorum ACKed NEWLEADER
    #: (established), then BROADCAST.
    phase: Phase = Phase.DISCOVERY
    #: The zxid counter of this epoch (the next proposal gets counter + 1).
    counter: int = 0
    #: (currentEpoch, last zxid) of the leader before this epoch: what ACKEPOCHs are checked against.
    history_key: tuple[int, int] = (0, 0)
    #: Request keys of proposals not yet committed: a client's retry (through another node, after
    #: a timeout) is not proposed twice; the original's commit answers it everywhere.
    inflight: dict[Any, int] = field(default_factory=dict)
    #: The last tick a sync stream moved (a SNAPACK, a disk read done): while syncs make
    #: progress, establishing the epoch is not given up for taking longer than initLimit.
    progress_tick: int = 0
    #: The state serialized by choose_sync to weigh it (its zxid, its bytes): the SNAP that
    #: follows at once sends these instead of serializing again; _sync drops them.
    measured: tuple[int, bytes] | None = None

    @property
    def epoch_acked(self) -> bool:
        return self.phase != Phase.DISCOVERY

    @property
    def established(self) -> bool:
        return self.phase == Phase.BROADCAST

    def learner(self, sender: int, session: int, epoch: int | None = None,
                phase: Phase | None = None) -> Learner | None:
        """The learner ``sender`` if a message of ``session`` (and ``epoch`` of ours, and for a
        learner in ``phase``, when given) is for its current attempt; else None: the message is
        stale (an earlier session or epoch) or not for this step, and dropped."""
        ln = self.learners.get(sender)
        if ln is None or ln.session != session:
            return None
        if epoch is not None and epoch != self.epoch:
            return None
        if phase is not None and ln.phase != phase:
            return None
        return ln


# ------------------------------------------------------------------------------- entering


def become(peer: Peer, decided: Notification, out: Output) -> LeaderState:
    st = peer.role_state = LeaderState(started_tick=peer.now, decided=decided,
                                       history_key=(peer.current_epoch, peer.zxid_last))
    peer.trace_role(out, "won the election")
    _progress(peer, st, out)
    return st


def _quorum_of(peer: Peer, st: LeaderState, predicate: Callable[[Learner], bool]) -> bool:
    """True if the leader plus the learners satisfying ``predicate`` make a quorum."""
    count = 1 + sum(1 for ln in st.learners.values() if predicate(ln))
    return count >= peer.quorum


def _progress(peer: Peer, st: LeaderState, out: Output) -> None:
    """Move discovery and sync forward as far as what we have heard allows.

    Called after every leader event, so a single-node cluster runs through all of it at once.
    """
    if peer.role_state is not st:
        return  # this event ended our leadership
    if st.epoch == 0 and _quorum_of(peer, st, lambda ln: True):
        new_epoch = max([peer.accepted_epoch] + [ln.accepted_epoch for ln in st.learners.values()]) + 1
        st.epoch = new_epoch
        peer.write_epochs(out, accepted=new_epoch)
        peer.trace(out, "discovery", f"new epoch {new_epoch} (max acceptedEpoch of a quorum + 1)",
                   epoch=new_epoch)
        for ln in sorted_learners(st):
            peer.send(out, ln.id, LeaderInfo(session=ln.session, epoch=new_epoch))
    # currentEpoch vouches, in every election to come, for the history we lead with (votes
    # order by it first): like a follower's (#14), it is written only once that history is on
    # our disk, or a crash leaves the new epoch on top of a shorter log that can win elections.
    if (st.epoch and not st.epoch_acked and 1 + len(st.epoch_promised) >= peer.quorum
            and peer.zxid_durable >= peer.zxid_last):
        st.phase = Phase.SYNC
        peer.write_epochs(out, current=st.epoch)
        peer.trace_role(out, f"a quorum acknowledged epoch {st.epoch}")
        for ln in sorted_learners(st):
            if ln.step == LearnerStep.ACKEPOCH_RECEIVED:
                _sync(peer, st, ln, out)
    if st.epoch_acked and not st.established:
        self_ready = peer.zxid_durable >= peer.zxid_last
        if self_ready and _quorum_of(peer, st, lambda ln: ln.acked_newleader):
            _establish(peer, st, out)


def sorted_learners(st: LeaderState) -> list[Learner]:
    return [st.learners[i] for i in sorted(st.learners)]


# ------------------------------------------------------------------------------- discovery


def on_follower_info(peer: Peer, st: LeaderState, sender: int, msg: FollowerInfo, out: Output) -> None:
    known = st.learners.get(sender)
    if known is not None and known.session == msg.session:
        # A resend: the LEADERINFO may have been lost while the connection was coming up.
        if st.epoch and known.phase == Phase.DISCOVERY:
            peer.send(out, sender, LeaderInfo(session=msg.session, epoch=st.epoch))
        known.last_heard = peer.now
        return
    st.learners[sender] = Learner(
        id=sender, session=msg.session, accepted_epoch=msg.accepted_epoch,
        zxid_last=msg.zxid_last, zxid_base=msg.zxid_base, last_heard=peer.now,
    )
    peer.trace(out, "follower", f"node {sender} wants to follow (acceptedEpoch {msg.accepted_epoch}, "
               f"last {fmt_zxid(msg.zxid_last)})", follower=sender)
    if st.epoch:
        if msg.accepted_epoch > st.epoch:
            # It promised a newer epoch (another leader's failed attempt) and would refuse ours
            # for ever, left out of the cluster; only a new election gives an epoch it accepts.
            # We take its acceptedEpoch as ours first (a stricter promise: we refuse more, never
            # less), so any quorum we join decides an epoch above it. Without that, the quorums
            # that lack the nodes holding it decide one epoch after another below it, each
            # leader stepping down when such a node joins (seed 140249 churned for ever).
            if msg.accepted_epoch > peer.accepted_epoch:
                peer.write_epochs(out, accepted=msg.accepted_epoch)
            peer.look(out, f"node {sender} accepted epoch {msg.accepted_epoch}, above ours "
                           f"({st.epoch}): a new election picks one every node can accept")
            return
        # Late: the epoch is decided; the follower syncs into it.
        peer.send(out, sender, LeaderInfo(session=msg.session, epoch=st.epoch))
    else:
        _progress(peer, st, out)


def on_ack_epoch(peer: Peer, st: LeaderState, sender: int, msg: AckEpoch, out: Output) -> None:
    ln = st.learner(sender, msg.session, msg.epoch)
    if ln is None or ln.step != LearnerStep.FOLLOWERINFO_RECEIVED:
        return
    ln.last_heard = peer.now
    counts = msg.current_epoch != NOT_COUNTED
    # Only the followers of the establishing quorum are checked, as in ZooKeeper's
    # waitForEpochAck: a later joiner with extra txns, or one whose ACKEPOCH does not count
    # (it is not part of that quorum), gets TRUNC or SNAP.
    if counts and not st.epoch_acked and (msg.current_epoch, msg.zxid_last) > st.history_key:
        peer.look(out, f"node {sender} has a newer history (epoch {msg.current_epoch}, "
                       f"{fmt_zxid(msg.zxid_last)}) than this leader")
        return
    ln.move_to(LearnerStep.ACKEPOCH_RECEIVED)
    ln.zxid_last = msg.zxid_last
    if counts:
        st.epoch_promised.add(sender)
    elif not st.epoch_acked:
        peer.trace(out, "follower", f"node {sender} had accepted epoch {st.epoch} already: synced "
                   "once the epoch stands, not counted toward it", follower=sender)
    if st.epoch_acked:
        _sync(peer, st, ln, out)  # the quorum is already there: sync this one now
    else:
        _progress(peer, st, out)


# ------------------------------------------------------------------------------- sync


def choose_sync(peer: Peer, follower_last: int, follower_base: int) -> SyncChoice:
    """Pick DIFF, TRUNC or SNAP for a follower whose log ends at ``follower_last``.

    Returns (mode, zxid, reason): TRUNC cuts back to ``zxid`` and DIFFs from there; DIFF sends
    txns after ``zxid``; SNAP sends the game at ``zxid`` then txns after it. Zxids are unique
    (one leader per epoch), so a zxid both logs hold is the same txn with the same history
    before it; TRUNC is only safe within one epoch the leader can see (ZAB_CHECKLIST #11).
    """
    log = peer.log
    last = log.last
    snap = (SyncMode.SNAP, peer.zxid_committed)
    if follower_last == last:
        return SyncMode.DIFF, follower_last, "already up to date"
    if follower_last > last:
        if zxid_epoch(follower_last) == zxid_epoch(last) and last >= follower_base:
            return SyncMode.TRUNC, last, f"follower has txns after {fmt_zxid(last)} that the leader does not"
        return (*snap, f"follower has epoch {zxid_epoch(follower_last)} txns the leader never saw")
    if follower_last < log.base:
        if follower_last >= peer.zxid_disk_base:
            on_disk = _count_between(follower_last, log.base)
            return _snap_if_smaller(peer, follower_last, on_disk) or (SyncMode.DIFF, follower_last, (
                f"follower ({fmt_zxid(follower_last)}) is behind the memory window (starts after "
                f"{fmt_zxid(log.base)}): older txns from disk"))
        return (*snap, f"follower ({fmt_zxid(follower_last)}) is behind the leader's log (it starts "
                       f"after {fmt_zxid(peer.zxid_disk_base)}; older txns were purged)")
    if log.contains(follower_last):
        behind = len(log) - log.index_after(follower_last)
        return _snap_if_smaller(peer, follower_last, 0) or (SyncMode.DIFF, follower_last,
                                                            f"{behind} txns behind")
    common = log.last_before(follower_last)
    if zxid_epoch(common) == zxid_epoch(follower_last) and common >= follower_base:
        return SyncMode.TRUNC, common, (f"follower has txns after {fmt_zxid(common)} in epoch "
                               f"{zxid_epoch(common)} that the leader does not")
    return (*snap, f"follower diverged in epoch {zxid_epoch(follower_last)} where the leader "
                   "cannot see the common point")


#: Txns sampled (evenly over the missing txns in memory) to estimate the size of those on disk.
_SIZE_SAMPLES = 16
_encode = encoder.encode  # as the txns travel in TXNS


def _snap_if_smaller(peer: Peer, follower_last: int, on_disk: int) -> SyncChoice | None:
    """SNAP if the committed txns a follower lacks outweigh ``snapshot_size_factor`` times the
    snapshot (ZooKeeper's LearnerHandler with zookeeper.snapshotSizeFactor), else None: DIFF.
    ``on_disk``: how many of them are older than the memory window (read from disk by a DIFF).

    Why: a restarted follower 50,000 game txns behind would be sent ~2 MB of txns to log, fsync
    and apply one by one, where the game at the committed zxid is ~30 KiB. Only for a follower
    that holds nothing uncommitted (``follower_last`` <= our committed zxid): the snapshot sits
    at that zxid, so everything the follower holds is in it, and the follower replaces no txn it
    may have ACKed without it being committed.
    What is weighed is what SNAP saves: the committed txns the follower lacks, (follower_last,
    committed]. The txns after the committed zxid (a leader not yet established, or proposals
    in flight) go in both streams. Those in memory are measured as they travel (msgpack), as
    ZooKeeper sums the sizes of the txns it would send, stopping once the answer is known; those
    on disk are estimated from a sample of the ones in memory. The snapshot is serialized only
    for a DIFF of ``snapshot_size_min_diff_bytes`` or more.
    """
    cfg = peer.cfg
    committed = peer.zxid_committed
    if cfg.snapshot_size_factor < 0 or follower_last > committed:
        return None
    missing = peer.log.between(follower_last, committed)
    behind = on_disk + len(missing)
    if behind <= 0:
        return None
    diff_bytes = 0
    if on_disk:
        known = missing or peer.log.txns
        if not known:
            return None  # nothing in memory to tell the size of the txns on disk: DIFF
        step = max(1, len(known) // _SIZE_SAMPLES)
        sample = known[::step][:_SIZE_SAMPLES]
        diff_bytes = on_disk * sum(len(_encode(t)) for t in sample) // len(sample)
    limit = -1  # factor x the snapshot, once the DIFF reached the floor
    snap_bytes = 0
    more = ""
    for txn in missing:
        if diff_bytes >= cfg.snapshot_size_min_diff_bytes and limit < 0:
            snap_bytes = _measure(peer)
            limit = cfg.snapshot_size_factor * snap_bytes
        if limit >= 0 and diff_bytes > limit:
            more = " or more"  # the answer is known: the rest is not measured
            break
        diff_bytes += len(_encode(txn))
    if diff_bytes < cfg.snapshot_size_min_diff_bytes:
        return None
    if limit < 0:
        snap_bytes = _measure(peer)
        limit = cfg.snapshot_size_factor * snap_bytes
    if diff_bytes <= limit:
        return None
    return SyncMode.SNAP, committed, (
        f"{behind} committed txns behind (~{diff_bytes} bytes{more}), more than "
        f"{cfg.snapshot_size_factor:g} x the {snap_bytes}-byte snapshot")


def _measure(peer: Peer) -> int:
    """The size of the state serialized; a leader keeps the bytes for the SNAP that may follow."""
    data = peer.state.snapshot()
    st = peer.leading
    if st is not None:
        st.measured = (peer.zxid_applied, data)
    return len(data)


def _sync(peer: Peer, st: LeaderState, ln: Learner, out: Output, choice: SyncChoice | None = None) -> None:
    """Start the sync stream to one follower; NEWLEADER ends it (ZAB_CHECKLIST #12, #13)."""
    mode, zxid, reason = choice or choose_sync(peer, ln.zxid_last, ln.zxid_base)
    if mode == SyncMode.TRUNC and "diff_instead_of_trunc" in peer.cfg.test_faults:
        mode, zxid = SyncMode.DIFF, ln.zxid_last  # TEST FAULT: the follower keeps txns the leader lacks
    measured, st.measured = st.measured, None
    log = peer.log
    ln.move_to(LearnerStep.SYNCING)
    ln.synced_to = upto = peer.zxid_last
    ln.sync_mode = mode
    if mode == SyncMode.DIFF and zxid < log.base:
        # Behind the memory window: the driver reads (zxid, base] from disk and sends it, with
        # SYNC in front once it found zxid there; the rest follows in disk_read_done.
        total = len(log) + _count_between(zxid, log.base)
        ln.disk_reading = True
        peer.read_log(out, ReadLog(ln.id, ln.session, st.epoch, zxid, log.base, peer.zxid_committed,
                                   SyncStart(session=ln.session, epoch=st.epoch, mode=mode.value, zxid=zxid,
                                             txns_total=total, reason=reason, zxid_upto=upto)))
        peer.trace(out, "sync", f"{mode} to node {ln.id} from {fmt_zxid(zxid)}: {reason} (~{total} txns, "
                   f"up to {fmt_zxid(log.base)} read from disk)", follower=ln.id, mode=mode.value,
                   reason=reason, txns=total)
        return
    txns = log.after(zxid)
    snapshot = b""
    if mode == SyncMode.SNAP:
        fresh = measured is not None and measured[0] == zxid == peer.zxid_applied
        snapshot = measured[1] if fresh else peer.state.snapshot()
    peer.send(out, ln.id, SyncStart(session=ln.session, epoch=st.epoch, mode=mode.value, zxid=zxid,
                                    txns_total=len(txns), reason=reason, zxid_upto=upto,
                                    snapshot_bytes=len(snapshot), snapshot_crc=zlib.crc32(snapshot)))
    _send_txns(peer, ln, out, zxid, txns)
    peer.trace(out, "sync", f"{mode} to node {ln.id} from {fmt_zxid(ln.zxid_last)}: {reason} "
               f"({len(txns)} txns"
               + (f", snapshot {len(snapshot)} bytes" if mode == SyncMode.SNAP else "") + ")",
               follower=ln.id, mode=mode.value, reason=reason, txns=len(txns))
    if mode == SyncMode.SNAP:
        chunk = peer.cfg.snap_chunk_bytes
        ln.snap, ln.snap_chunks = snapshot, max(1, -(-len(snapshot) // chunk))
        ln.snap_next = ln.snap_acked = 0
        _send_chunks(peer, ln, out)
    else:
        _send_newleader(peer, ln, out)


def _count_between(lo: int, hi: int) -> int:
    """Txns with lo < zxid <= hi, for progress only: exact within one epoch, else a lower bound
    (the core cannot see how long the older epochs on disk are)."""
    if zxid_epoch(lo) == zxid_epoch(hi):
        return max(0, hi - lo)
    return zxid_counter(hi)


def _send_txns(peer: Peer, ln: Learner, out: Output, prev: int, txns: list[Txn]) -> None:
    """TXNS in batches, each naming the txn before it (the follower checks the chain)."""
    batch = peer.cfg.sync_batch_txns
    epoch = peer.epoch
    for i in range(0, len(txns), batch):
        part = txns[i : i + batch]
        peer.send(out, ln.id, SyncTxns(session=ln.session, epoch=epoch, txns=part,
                                       zxid_committed=peer.zxid_committed, prev_zxid=prev))
        prev = part[-1].zxid


def _send_chunks(peer: Peer, ln: Learner, out: Output) -> None:
    """Send SNAP chunks up to the credit; after the last one, NEWLEADER (#13)."""
    size = peer.cfg.snap_chunk_bytes
    limit = min(ln.snap_chunks, ln.snap_acked + peer.cfg.snap_chunks_inflight_max)
    snap = ln.snap
    while ln.snap_next < limit:
        i = ln.snap_next
        peer.send(out, ln.id, SnapChunk(session=ln.session, epoch=peer.epoch, index=i,
                                        data=snap[i * size : (i + 1) * size]))
        ln.snap_next += 1
    if ln.snap_next == ln.snap_chunks and snap:
        ln.snap = b""  # all of it is on its way; nothing is ever re-sent
        if ln.snap_chunks > 1:
            peer.trace(out, "sync", f"SNAP to node {ln.id}: all {len(snap)} bytes sent in "
                       f"{ln.snap_chunks} chunks", follower=ln.id)
        _send_newleader(peer, ln, out)


def _send_newleader(peer: Peer, ln: Learner, out: Output) -> None:
    peer.send(out, ln.id, NewLeader(session=ln.session, epoch=peer.epoch, zxid=make_zxid(peer.epoch, 0)))


def on_snap_ack(peer: Peer, st: LeaderState, sender: int, msg: SnapAck, out: Output) -> None:
    ln = st.learner(sender, msg.session, msg.epoch, Phase.SYNC)
    if ln is None:
        return
    ln.last_heard = st.progress_tick = peer.now
    ln.snap_acked = max(ln.snap_acked, min(msg.index + 1, ln.snap_next))
    if ln.snap:
        _send_chunks(peer, ln, out)


def disk_read_done(peer: Peer, st: LeaderState, to: int, session: int, ok: bool, header_sent: bool,
                   last: int, error: str, out: Output) -> None:
    """The driver finished a ReadLog for ``to``: continue its sync stream from ``last``."""
    ln = st.learner(to, session)
    if ln is None or ln.step != LearnerStep.SYNCING or not ln.disk_reading:
        return
    ln.disk_reading = False
    st.progress_tick = peer.now
    if not ok:
        if not header_sent:
            _sync(peer, st, ln, out, (SyncMode.SNAP, peer.zxid_committed,
                                  f"its txns after {fmt_zxid(ln.zxid_last)} cannot be read from disk ({error})"))
        else:
            # Part of the stream left: NEWLEADER now shows the follower the chain is cut short,
            # and it syncs again (a purge or TRUNC raced with the read). The log on disk cannot
            # be read past ``last`` up to the memory window (damage, an I/O error): no later
            # sync counts on it, or this follower would be DIFFed from the same disk, break off
            # at the same place and sync again, forever. Followers behind the window get SNAP.
            peer.zxid_disk_base = max(peer.zxid_disk_base, peer.log.base)
            peer.trace(out, "sync", f"DIFF to node {to} broke off reading the disk ({error}); it "
                       "will sync again", follower=to)
            _send_newleader(peer, ln, out)
        return
    log = peer.log
    target = min(log.base, ln.synced_to)
    if last < target:
        # The memory window moved on while we read: the next stretch comes from disk too.
        ln.disk_reading = True
        peer.read_log(out, ReadLog(ln.id, ln.session, st.epoch, last, target, peer.zxid_committed))
        return
    _send_txns(peer, ln, out, last, log.between(last, ln.synced_to))
    _send_newleader(peer, ln, out)


def _establish(peer: Peer, st: LeaderState, out: Output) -> None:
    st.phase = Phase.BROADCAST
    peer.trace_role(out, f"a quorum acknowledged NEWLEADER; epoch {st.epoch} established")
    # The new leader's history is the history: commit it all (Zab: it was accepted by a quorum).
    peer.commit_to(out, peer.zxid_last)
    for ln in sorted_learners(st):
        if ln.acked_newleader:
            _up_to_date(peer, ln, out)
    peer.broadcast(out, Commit(epoch=st.epoch, zxid=peer.zxid_committed))


def _up_to_date(peer: Peer, ln: Learner, out: Output) -> None:
    ln.move_to(LearnerStep.UPTODATE_SENT)
    ln.acked = max(ln.acked, ln.synced_to)
    peer.send(out, ln.id, UpToDate(session=ln.session, epoch=peer.epoch, zxid_committed=peer.zxid_committed))
    peer.trace(out, "follower", f"node {ln.id} is up to date ({ln.sync_mode})", follower=ln.id)


# ------------------------------------------------------------------------------- broadcast


def on_ack(peer: Peer, st: LeaderState, sender: int, msg: Ack, out: Output) -> None:
    ln = st.learner(sender, msg.session, msg.epoch)
    if ln is None:
        return
    ln.last_heard = peer.now
    if ln.phase == Phase.SYNC:
        if msg.zxid == make_zxid(st.epoch, 0) and ln.step == LearnerStep.SYNCING:
            ln.move_to(LearnerStep.NEWLEADER_ACKED)
            if st.established:
                _up_to_date(peer, ln, out)
                # Its NEWLEADER ACK vouches for our whole log: it may complete a quorum for txns
                # waiting to commit, and no other ACK may ever come to re-check them.
                _advance_commit(peer, st, out)
            else:
                _progress(peer, st, out)
        return
    if zxid_counter(msg.zxid) == 0:
        return  # NEWLEADER's ACK again (a duplicate): it names no txn, so it must not commit one
    if ln.step is BROADCASTING and msg.zxid > ln.acked and msg.zxid <= peer.zxid_last:
        ln.acked = msg.zxid
        # An ACK at or below the commit point cannot move it (the late ACKs of a committed
        # batch, half of a 5-node cluster's): it could only complete a quorum it is not in.
        if msg.zxid > peer.zxid_committed:
            _advance_commit(peer, st, out)


def on_ping(peer: Peer, st: LeaderState, sender: int, msg: Ping, out: Output) -> None:
    ln = st.learner(sender, msg.session)
    if ln is None:
        return
    ln.last_heard = peer.now
    # A follower's PING repeats its last ACK: recovers from an ACK lost on the way.
    if msg.epoch == st.epoch and ln.step is BROADCASTING and ln.acked < msg.zxid_last <= peer.zxid_last:
        ln.acked = msg.zxid_last
        _advance_commit(peer, st, out)


def on_persisted(peer: Peer, st: LeaderState, out: Output) -> None:
    if st.established:
        _advance_commit(peer, st, out)
    else:
        _progress(peer, st, out)


def _advance_commit(peer: Peer, st: LeaderState, out: Output) -> None:
    """Commit the highest zxid of this epoch that a quorum holds durably (ZAB_CHECKLIST #19)."""
    acks = [peer.zxid_durable] + [ln.acked for ln in st.learners.values() if ln.step is BROADCASTING]
    if "commit_without_quorum" in peer.cfg.test_faults:
        acks = [peer.zxid_durable] * peer.quorum  # TEST FAULT: the leader's own copy is "a quorum"
    if len(acks) < peer.quorum:
        return
    acks.sort(reverse=True)
    candidate = acks[peer.quorum - 1]
    if candidate > peer.zxid_committed and zxid_epoch(candidate) == st.epoch:
        key_of, inflight = peer.state.request_key, st.inflight
        for txn in peer.log.between(peer.zxid_committed, candidate):
            inflight.pop(key_of(txn.op), None)
        peer.commit_to(out, candidate)
        peer.broadcast(out, Commit(epoch=st.epoch, zxid=peer.zxid_committed))


def propose(peer: Peer, st: LeaderState, ops: list[Op], ts_ms: int, out: Output) -> None:
    if not st.established:
        raise NotReady(f"leader node {peer.id} is still establishing epoch {st.epoch or '?'}")
    inflight = len(peer.log) - peer.log.index_after(peer.zxid_committed)
    if inflight + len(ops) > peer.cfg.proposals_inflight_max:
        raise NotReady(f"leader busy: {inflight} proposals waiting for a quorum", kind="busy")
    if st.counter + len(ops) > peer.cfg.zxid_counter_max:
        peer.look(out, f"zxid counter of epoch {st.epoch} is exhausted (ZK-1277): forcing a new epoch")
        # ``out`` now holds the votes and the role change: Peer.submit hands it to the driver
        # on the NotReady (on_forward returns it as its own Output).
        raise NotReady("leader is changing epoch (zxid counter exhausted); retry")
    txns = []
    state = peer.state
    inflight = st.inflight
    for op in ops:
        key = state.request_key(op)
        if key is not None:  # None: a tree or session txn, which has no exactly-once key
            if key in inflight or state.is_applied(key):
                continue  # a retry of a request already proposed or applied: never log it twice
            st.counter += 1
            zxid = make_zxid(st.epoch, st.counter)
            inflight[key] = zxid
        else:
            # A ZooKeeper client's request becomes its txn here, against the tree as it will
            # be once everything proposed before it is applied (PrepRequestProcessor).
            zxid = make_zxid(st.epoch, st.counter + 1)
            prepared = state.prepare(op, zxid)
            if prepared is None:
                continue  # nothing to propose (a follower's session touches)
            op = prepared
            st.counter += 1
        txns.append(Txn(zxid=zxid, op=op, ts_ms=ts_ms))
    if not txns:
        return
    peer.append(out, txns)
    # Sent before our own fsync; our own ACK counts when the writer reports it (on_persisted).
    peer.broadcast(out, Proposal(epoch=st.epoch, txns=txns))


def on_forward(peer: Peer, st: LeaderState, sender: int, msg: Forward, out: Output) -> None:
    if msg.epoch != st.epoch or not st.established:
        return  # the follower's client times out and retries
    try:
        propose(peer, st, msg.ops, peer.wall_ms, out)
    except NotReady:
        return


def on_fetch(peer: Peer, st: LeaderState, sender: int, msg: FetchTxns, out: Output) -> None:
    """Gap repair: resend txns a follower missed on PUB/SUB, over ROUTER/DEALER."""
    ln = st.learner(sender, msg.session, msg.epoch, Phase.BROADCAST)
    if ln is None:
        return
    ln.last_heard = peer.now
    if msg.zxid_after < peer.log.base or not peer.log.contains(msg.zxid_after):
        return  # beyond our window: unanswered, the follower times out and re-syncs (SNAP)
    txns = peer.log.after(msg.zxid_after, peer.cfg.fetch_max_txns)
    batch = peer.cfg.sync_batch_txns
    for i in range(0, max(len(txns), 1), batch):
        peer.send(out, sender, SyncTxns(session=ln.session, epoch=st.epoch, txns=txns[i : i + batch],
                                        zxid_committed=peer.zxid_committed))


# ------------------------------------------------------------------------------- time


def tick(peer: Peer, st: LeaderState, out: Output) -> None:
    if peer.now % peer.cfg.heartbeat_ticks == 0:
        peer.broadcast(out, Ping(epoch=st.epoch, zxid_committed=peer.zxid_committed, zxid_last=peer.zxid_last))
    for ln in sorted_learners(st):
        if ln.snap and peer.now - ln.last_heard > peer.cfg.init_limit_ticks:
            ln.snap = b""  # a follower gone mid-SNAP: free the snapshot; it syncs anew if it returns
            peer.trace(out, "sync", f"SNAP to node {ln.id} abandoned: silent for "
                       f"{peer.cfg.init_limit_ticks} ticks", follower=ln.id)
    if not st.established:
        if peer.now - max(st.started_tick, st.progress_tick) > peer.cfg.init_limit_ticks:
            synced = sum(1 for ln in st.learners.values() if ln.acked_newleader)
            peer.look(out, f"could not establish epoch {st.epoch or '?'} within initLimit: "
                           f"{synced + 1} of {len(peer.voters)} nodes synced, {peer.quorum} needed")
        return
    check_quorum(peer, st, out)


def learner_gone(peer: Peer, st: LeaderState, sender: int, out: Output) -> None:
    """The connection to ``sender`` closed. While the epoch is still to be decided, a learner
    in discovery is forgotten: its FOLLOWERINFO must not decide our epoch (it may follow
    another leader by now, with a higher acceptedEpoch) nor make up the FOLLOWERINFO quorum;
    if it comes back it sends a new one. Its counted ACKEPOCH stays counted (``epoch_promised``:
    a durable promise). Once the epoch is decided its FOLLOWERINFO feeds nothing more, and the
    entry is kept like a later phase's: the close we see is our own DEALER's connection only,
    the follower may not have noticed, and its ACKEPOCH on its way to us is a fresh promise of
    this epoch that no other leader can count (its next answer to this epoch is NOT_COUNTED).
    A kept entry is aged so the quorum check sees it gone."""
    ln = st.learners.get(sender)
    if ln is None:
        return
    if (ln.phase == Phase.DISCOVERY and not st.epoch
            and "ackepoch_counts_twice" not in peer.cfg.test_faults):
        # (TEST FAULT ackepoch_counts_twice keeps the stale FOLLOWERINFO, as before the fix)
        del st.learners[sender]
        peer.trace(out, "follower", f"node {sender} gone during discovery: its FOLLOWERINFO no "
                   "longer counts", follower=sender)
        return
    ln.last_heard = peer.now - peer.cfg.sync_limit_ticks - 1
    check_quorum(peer, st, out)


def check_quorum(peer: Peer, st: LeaderState, out: Output) -> None:
    """An established leader that has heard from less than a quorum within syncLimit steps down."""
    if not st.established:
        return
    limit = peer.cfg.sync_limit_ticks
    alive = [ln.id for ln in sorted_learners(st)
             if ln.step is BROADCASTING and peer.now - ln.last_heard <= limit]
    if len(alive) + 1 < peer.quorum:
        silent = [i for i in peer.peers if i not in alive]
        peer.look(out, f"lost the quorum: nodes {', '.join(map(str, silent))} silent or gone")


def learner_status(peer: Peer, ln: Learner) -> LearnerStatus:
    return LearnerStatus(
        id=ln.id, step=ln.step, acked=ln.acked, heard_ticks_ago=peer.now - ln.last_heard,
        sync_mode=ln.sync_mode, snap_chunks_sent=ln.snap_next, snap_chunks_acked=ln.snap_acked,
        snap_chunks=ln.snap_chunks, snap_sending=bool(ln.snap), disk_reading=ln.disk_reading)
