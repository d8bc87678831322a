"""The follower's side of discovery, synchronization and broadcast (ZooKeeper's Follower and
Learner, Zab 1.0).

Theory of operation.
* DISCOVERY. Send FOLLOWERINFO (with a fresh session number, so late replies to an earlier
  attempt are recognised) until LEADERINFO arrives. A LEADERINFO below our acceptedEpoch means
  that leader is stale: back to election (ZAB_CHECKLIST #8). Above it: persist acceptedEpoch
  (Output step 1) and, in the same Output, answer ACKEPOCH: it can only leave after the write.
  Equal to it: we promised that epoch already (perhaps to another would-be leader of the same
  epoch) and a follower acknowledges an epoch at most once, so the ACKEPOCH says it does not
  count (current_epoch NOT_COUNTED, ZooKeeper's -1); the leader still syncs us once a quorum
  of fresh promises has established the epoch.
* SYNC. SyncStart says DIFF, TRUNC or SNAP; txns follow on the same DEALER, then NEWLEADER.
  SNAP's snapshot comes in SNAPCHUNKs, each acknowledged (SNAPACK: the leader's credit), in
  order; it is assembled in memory and checked against SyncStart's size and crc32.
  The snapshot and the txns are held in memory until NEWLEADER and logged only if all of them
  arrived (a lost TXNS must not leave a hole that a new epoch's first txn would hide, and an
  unfinished SNAP must not replace our history); else we sync again. "All" is a chain: each
  TXNS names the txn before its first, the first continues SyncStart's zxid, and the last held
  must be SyncStart's ``zxid_upto`` (part of a DIFF may be read from the leader's disk, so a
  count is not known in advance). A chunk out of order or a broken chain: the partial stream
  is dropped at once and we sync again (a crash mid-transfer drops it too: it was only in
  memory). initLimit counts from the stream's last progress, so a big SNAP is not cut off.
  On NEWLEADER, in this order (#14): the snapshot and the synced txns are durable (we wait for
  the writer), then currentEpoch is written, then ACK. PROPOSALs seen on PUB before NEWLEADER
  are dropped: the sync stream is still arriving on another socket, and a live txn appended
  before it would hide it. The gap is repaired after UPTODATE.
* BROADCAST (after UPTODATE). PROPOSALs are appended if they continue the log, dropped if
  already held (#17); a gap is repaired over ROUTER/DEALER (FetchTxns). ACKs are cumulative and
  leave only for what the writer reported durable (#18). COMMITs are applied in zxid order and
  never past what we hold (#19, #20).
* LIVENESS. Nothing heard from the leader for initLimit (while syncing) or syncLimit ticks,
  or discovery + sync not done within initLimit of starting to follow: back to election (#27).
  Only PINGs of our own epoch count as hearing the leader. We PING the leader each heartbeat,
  repeating our last ACK.

Where a follower is in all this is one ``FollowerStep`` (core/roles.py), moved only forward by
the messages above; every handler receives the ``FollowerState`` of the current attempt.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from zmqzab.core.output import Output
from zmqzab.core.roles import FOLLOWER_MOVES, FollowerStep, Phase, Role, SyncMode, checked_move
from zmqzab.messages import (
    NOT_COUNTED,
    Ack,
    AckEpoch,
    Commit,
    FetchTxns,
    FollowerInfo,
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
)
from zmqzab.zxid import COUNTER_MASK, fmt_zxid, is_next, make_zxid

if TYPE_CHECKING:
    from zmqzab.core.peer import Peer


@dataclass(slots=True)
class FollowerState:
    """The Peer's role state while FOLLOWING (see peer.py)."""

    role: ClassVar[Role] = Role.FOLLOWING

    leader_id: int
    #: Our vote, repeated to LOOKING peers so they can join our leader.
    decided: Notification
    session: int
    last_heard: int
    info_sent_tick: int
    #: The epoch LEADERINFO proposed (0 before it came).
    epoch: int = 0
    #: Where we are in discovery and sync; see the read-only views below.
    step: FollowerStep = FollowerStep.FOLLOWERINFO_SENT
    #: The last zxid NEWLEADER vouches for (step NEWLEADER_RECEIVED): its ACK waits until the
    #: writer reports it durable.
    newleader_zxid: int = 0
    last_acked: int = 0
    #: When the current gap was first asked for (its repair must finish within syncLimit).
    fetch_since_tick: int | None = None
    fetch_last_tick: int = -1
    sync_mode: SyncMode | None = None
    sync_total: int = 0
    sync_received: int = 0
    #: When we started following this leader: discovery + sync must end within initLimit.
    started_tick: int = 0
    #: The sync stream, held in memory until NEWLEADER shows it arrived whole (ZooKeeper's
    #: Learner does the same): SNAP's snapshot, the zxid the txns follow, the txns, and the
    #: leader's commit point they carried.
    sync_snapshot: tuple[int, bytes] | None = None
    sync_base: int = 0
    sync_txns: list[Txn] = field(default_factory=list)
    sync_committed: int = 0
    #: Where the leader's stream ends (SyncStart.zxid_upto; -1: not said).
    sync_upto: int = -1
    #: SNAP's snapshot in transit: announced size and crc32, chunks so far, the next index.
    snap_size: int = 0
    snap_crc: int = 0
    snap_parts: list[bytes] = field(default_factory=list)
    snap_received: int = 0
    snap_next: int = 0
    #: The last tick the sync stream moved: initLimit counts from here while syncing.
    progress_tick: int = 0

    @property
    def phase(self) -> Phase:
        return self.step.phase

    def move_to(self, step: FollowerStep) -> None:
        self.step = checked_move(FOLLOWER_MOVES, self.step, step,
                                 f"following node {self.leader_id} (session {self.session})")

    @property
    def sync_started(self) -> bool:
        return self.step.reached(FollowerStep.SYNCING)

    @property
    def newleader_seen(self) -> bool:
        """NEWLEADER arrived: our log is the leader's history (PUB traffic may now be used)."""
        return self.step.reached(FollowerStep.NEWLEADER_RECEIVED)

    @property
    def acked_newleader(self) -> bool:
        return self.step.reached(FollowerStep.NEWLEADER_ACKED)

    @property
    def serving(self) -> bool:
        """UPTODATE arrived: BROADCAST phase, client writes are forwarded."""
        return self.step == FollowerStep.UPTODATE_RECEIVED


def become(peer: Peer, leader_id: int, decided: Notification, out: Output) -> None:
    session = peer.rng.getrandbits(31) | 1
    fs = peer.role_state = FollowerState(leader_id=leader_id, decided=decided, session=session,
                                         last_heard=peer.now, info_sent_tick=peer.now,
                                         started_tick=peer.now)
    peer.trace_role(out, f"following node {leader_id}")
    _send_info(peer, fs, out)


def _send_info(peer: Peer, fs: FollowerState, out: Output) -> None:
    fs.info_sent_tick = peer.now
    peer.send(out, fs.leader_id, FollowerInfo(
        session=fs.session, accepted_epoch=peer.accepted_epoch,
        zxid_last=peer.zxid_last, zxid_base=peer.log.base))


def _from_leader(peer: Peer, fs: FollowerState, sender: int, session: int | None, epoch: int | None) -> bool:
    """True if this message belongs to our current attempt with our leader (it counts as
    hearing from it); else it is stale or not from our leader, and dropped."""
    if sender != fs.leader_id:
        return False
    if session is not None and session != fs.session:
        return False
    if epoch is not None and epoch != fs.epoch:
        return False
    fs.last_heard = peer.now
    return True


# ------------------------------------------------------------------------------- discovery


def on_leader_info(peer: Peer, fs: FollowerState, sender: int, msg: LeaderInfo, out: Output) -> None:
    if not _from_leader(peer, fs, sender, msg.session, None) or fs.step != FollowerStep.FOLLOWERINFO_SENT:
        return
    if msg.epoch < peer.accepted_epoch:
        peer.look(out, f"LEADERINFO from node {sender} proposes epoch {msg.epoch}, below our "
                       f"acceptedEpoch {peer.accepted_epoch}")
        return
    # A follower acknowledges a given epoch at most once (Zab; ZooKeeper's registerWithLeader).
    # An epoch equal to our acceptedEpoch was promised already, to this leader or to another
    # one establishing the same epoch: the answer says so (current_epoch NOT_COUNTED) and the
    # leader syncs us without counting us toward that epoch's quorum. Counting it would let two
    # leaders each gather a quorum for one epoch and commit different txns at the same zxid.
    fresh = msg.epoch > peer.accepted_epoch
    if fresh:
        if "skip_accepted_epoch" in peer.cfg.test_faults:
            peer.accepted_epoch = msg.epoch  # TEST FAULT: raised in memory, never persisted
        else:
            peer.write_epochs(out, accepted=msg.epoch)  # durable before the ACKEPOCH below leaves
    elif "ackepoch_counts_twice" in peer.cfg.test_faults:
        fresh = True  # TEST FAULT: acknowledge an already accepted epoch as a counting ACKEPOCH
    fs.epoch = msg.epoch
    fs.move_to(FollowerStep.ACKEPOCH_SENT)
    peer.send(out, sender, AckEpoch(session=fs.session, epoch=msg.epoch,
                                    current_epoch=peer.current_epoch if fresh else NOT_COUNTED,
                                    zxid_last=peer.zxid_last))
    peer.trace_role(out, f"acknowledged epoch {msg.epoch}")


# ------------------------------------------------------------------------------- sync


def on_sync_start(peer: Peer, fs: FollowerState, sender: int, msg: SyncStart, out: Output) -> None:
    if not _from_leader(peer, fs, sender, msg.session, msg.epoch) or fs.step != FollowerStep.ACKEPOCH_SENT:
        return
    mode = SyncMode.parse(msg.mode)
    if mode is None:
        return  # no leader sends it: garbage, dropped
    if mode == SyncMode.TRUNC:
        if msg.zxid < peer.log.base or msg.zxid < peer.zxid_applied:
            peer.look(out, f"cannot TRUNC to {fmt_zxid(msg.zxid)}: our log starts after "
                           f"{fmt_zxid(peer.log.base)}")
            return
        if not _log_written(peer, out):
            return
        peer.truncate(out, msg.zxid)
    elif mode == SyncMode.SNAP:
        # Installed at NEWLEADER, not now: it replaces our whole log, and a sync that never
        # completes must not leave us with the leader's (possibly old) committed point
        # instead of our history, while our currentEpoch still vouches for that history.
        fs.snap_size, fs.snap_crc = msg.snapshot_bytes, msg.snapshot_crc
        fs.snap_parts, fs.snap_received, fs.snap_next = [], 0, 0
    elif msg.zxid != peer.zxid_last:
        peer.look(out, f"DIFF from {fmt_zxid(msg.zxid)} but our log ends at {fmt_zxid(peer.zxid_last)}")
        return
    fs.move_to(FollowerStep.SYNCING)
    fs.sync_mode, fs.sync_total, fs.sync_received = mode, msg.txns_total, 0
    fs.sync_base = msg.zxid
    fs.sync_upto = msg.zxid_upto
    fs.progress_tick = peer.now
    peer.last_sync = {"mode": msg.mode, "reason": msg.reason, "zxid": fmt_zxid(msg.zxid),
                      "txns_total": msg.txns_total, "txns_received": 0, "done": False}
    if mode == SyncMode.SNAP:
        peer.last_sync.update(snapshot_bytes=msg.snapshot_bytes, snapshot_received=0)
    peer.trace(out, "sync", f"{msg.mode} from node {sender} at {fmt_zxid(msg.zxid)}: {msg.reason} "
               f"({msg.txns_total} txns to come)", mode=msg.mode, txns=msg.txns_total)


def on_sync_txns(peer: Peer, fs: FollowerState, sender: int, msg: SyncTxns, out: Output) -> None:
    if not _from_leader(peer, fs, sender, msg.session, msg.epoch) or not fs.sync_started:
        return
    if not fs.serving:
        if fs.newleader_seen:
            return  # the stream ended with NEWLEADER: a late duplicate
        # Held, not logged: if an earlier TXNS was lost, a new epoch's first txn would "follow"
        # our last one (is_next allows it) and the log would keep a hole no later sync can see.
        # Only an unbroken chain is kept (duplicates are skipped), so ending at zxid_upto means
        # the whole stream arrived.
        held = fs.sync_txns
        last = held[-1].zxid if held else fs.sync_base
        prev = msg.prev_zxid if msg.prev_zxid >= 0 else last
        for txn in msg.txns:
            if txn.zxid <= last:
                prev = txn.zxid
                continue
            if prev != last:
                peer.look(out, f"sync stream from node {sender} incomplete: TXNS continue after "
                               f"{fmt_zxid(prev)}, we hold up to {fmt_zxid(last)} (a hole); syncing again")
                return
            held.append(txn)
            last = prev = txn.zxid
        fs.sync_received += len(msg.txns)
        fs.progress_tick = peer.now
        fs.sync_committed = max(fs.sync_committed, msg.zxid_committed)
        peer.last_sync["txns_received"] = fs.sync_received
        return
    gap = _accept(peer, out, msg.txns)
    fs.fetch_since_tick = None
    if gap:
        _request_fetch(peer, fs, out)
    # Our log is a prefix of the leader's: its commit point applies to it.
    peer.commit_to(out, msg.zxid_committed)


def on_new_leader(peer: Peer, fs: FollowerState, sender: int, msg: NewLeader, out: Output) -> None:
    if not _from_leader(peer, fs, sender, msg.session, msg.epoch) or fs.step != FollowerStep.SYNCING:
        return
    last = fs.sync_txns[-1].zxid if fs.sync_txns else fs.sync_base
    if fs.sync_upto >= 0 and last != fs.sync_upto:
        # Part of the stream was lost or overtaken: ACKing would vouch for txns we lack (the
        # leader counts us as holding its whole log). Sync again.
        peer.look(out, f"sync stream from node {sender} incomplete: it reached {fmt_zxid(last)} of "
                       f"{fmt_zxid(fs.sync_upto)} before NEWLEADER ({len(fs.sync_txns)} txns)")
        return
    if fs.sync_mode == SyncMode.SNAP and fs.sync_snapshot is None:
        peer.look(out, f"SNAP from node {sender} incomplete: {fs.snap_received} of {fs.snap_size} "
                       "snapshot bytes arrived before NEWLEADER")
        return
    # ZAB_CHECKLIST #14, #15: the snapshot and the txns are logged, then durable, then ACK.
    txns, fs.sync_txns = fs.sync_txns, []
    if fs.sync_snapshot is not None:
        if not _log_written(peer, out):
            return
        txns = _snap_or_cut(peer, out, fs.sync_snapshot, txns)
        fs.sync_snapshot = None
    if txns:
        peer.append(out, txns)
    fs.move_to(FollowerStep.NEWLEADER_RECEIVED)
    fs.newleader_zxid = peer.zxid_last
    peer.last_sync["done"] = True
    peer.commit_to(out, fs.sync_committed)
    _maybe_ack_newleader(peer, fs, out)


def _log_written(peer: Peer, out: Output) -> bool:
    """Before cutting the log: every append we handed the writer must be reported durable.

    Otherwise an append still queued ahead of the Truncate could land after an earlier report
    made the cut look done, and a crash would leave its txns on disk under the new
    currentEpoch. Rare (the writer is slow, or the process was paused): sync again later.
    """
    if peer.zxid_durable >= peer.zxid_last:
        return True
    peer.look(out, f"our log is still being written ({fmt_zxid(max(peer.zxid_durable, 0))} of "
                   f"{fmt_zxid(peer.zxid_last)} durable): sync again once it is")
    return False


def on_snap_chunk(peer: Peer, fs: FollowerState, sender: int, msg: SnapChunk, out: Output) -> None:
    if (not _from_leader(peer, fs, sender, msg.session, msg.epoch) or fs.step != FollowerStep.SYNCING
            or fs.sync_mode != SyncMode.SNAP or fs.sync_snapshot is not None or msg.index < fs.snap_next):
        return  # not ours, or a duplicate
    if msg.index > fs.snap_next:
        peer.look(out, f"SNAP from node {sender} broke off: chunk {msg.index} arrived, {fs.snap_next} "
                       "expected; the partial snapshot is dropped and we sync again")
        return
    before = fs.snap_received
    fs.snap_parts.append(msg.data)
    fs.snap_received += len(msg.data)
    fs.snap_next += 1
    fs.progress_tick = peer.now
    size = fs.snap_size
    if fs.snap_received > size:
        peer.look(out, f"SNAP from node {sender} is longer than the {size} bytes announced; syncing again")
        return
    peer.send(out, sender, SnapAck(session=fs.session, epoch=fs.epoch, index=msg.index))
    peer.last_sync["snapshot_received"] = fs.snap_received
    if fs.snap_received < size:
        if before * 4 // size != fs.snap_received * 4 // size:  # a line per quarter, not per chunk
            peer.trace(out, "sync", f"snapshot from node {sender}: {fs.snap_received} of {size} bytes "
                       f"({100 * fs.snap_received // size}%)")
        return
    data = b"".join(fs.snap_parts)
    fs.snap_parts = []
    if zlib.crc32(data) != fs.snap_crc:
        peer.look(out, f"SNAP from node {sender}: the snapshot's checksum does not match; syncing again")
        return
    fs.sync_snapshot = (fs.sync_base, data)
    if fs.snap_next > 1:
        peer.trace(out, "sync", f"snapshot from node {sender} complete: {size} bytes in "
                   f"{fs.snap_next} chunks")


def _snap_or_cut(peer: Peer, out: Output, snapshot: tuple[int, bytes], txns: list[Txn]) -> list[Txn]:
    """Install SNAP's snapshot, or cut our log back to the leader's history if we hold part of
    it; returns the txns still to append.

    The snapshot sits at the leader's committed zxid, which lags its history while it is not yet
    established (after a restart, only its own snapshot's zxid). Replacing our log with it
    would, until the txns after it are durable too, leave a shorter history than the one our
    currentEpoch vouches for in elections. But a zxid both logs hold means the same history up
    to it (one leader per epoch), so if we hold the snapshot's zxid or one of the txns, cutting
    back to the last such zxid loses only txns the leader lacks (uncommitted), as TRUNC does.
    Otherwise we diverged before the snapshot's zxid and it replaces nothing we must keep.
    """
    zxid, data = snapshot
    log = peer.log
    for common in reversed([zxid] + [t.zxid for t in txns]):
        if common >= peer.zxid_applied and log.contains(common):
            if common < peer.zxid_last:
                peer.truncate(out, common)
            peer.trace(out, "sync", f"SNAP at {fmt_zxid(zxid)} not installed: our log holds the "
                       f"leader's history up to {fmt_zxid(common)}, cut back to it")
            return [t for t in txns if t.zxid > common]
    peer.install_snapshot(out, zxid, data)
    return txns


def _maybe_ack_newleader(peer: Peer, fs: FollowerState, out: Output) -> None:
    """ZAB_CHECKLIST #14: synced txns durable, then currentEpoch, then ACK."""
    if fs.step != FollowerStep.NEWLEADER_RECEIVED or peer.zxid_durable < fs.newleader_zxid:
        return
    peer.write_epochs(out, current=fs.epoch)
    peer.send(out, fs.leader_id, Ack(session=fs.session, epoch=fs.epoch, zxid=make_zxid(fs.epoch, 0)))
    fs.last_acked = fs.newleader_zxid
    fs.move_to(FollowerStep.NEWLEADER_ACKED)


def on_up_to_date(peer: Peer, fs: FollowerState, sender: int, msg: UpToDate, out: Output) -> None:
    if not _from_leader(peer, fs, sender, msg.session, msg.epoch) or fs.step != FollowerStep.NEWLEADER_ACKED:
        return
    fs.move_to(FollowerStep.UPTODATE_RECEIVED)
    peer.trace_role(out, f"UPTODATE from node {sender} ({fs.sync_mode}, {fs.sync_received} txns)")
    peer.commit_to(out, msg.zxid_committed)
    _ack_durable(peer, fs, out)


# ------------------------------------------------------------------------------- broadcast


def _accept(peer: Peer, out: Output, txns: list[Txn]) -> bool:
    """Append the txns that continue our log; drop those we hold. True if a gap was seen."""
    last = peer.zxid_last
    fresh: list[Txn] = []
    for txn in txns:
        zxid = txn.zxid
        if zxid <= last:
            continue  # duplicate: from the sync stream and the live stream both (#17)
        # is_next's usual case inline (the next counter of the same epoch: last + 1 did not
        # carry into the epoch bits, so its counter is not 0); the call only for the others.
        if ((zxid != last + 1 or not zxid & COUNTER_MASK) and not is_next(last, zxid)
                and "apply_across_gap" not in peer.cfg.test_faults):
            # (TEST FAULT apply_across_gap skips this check: later COMMITs then apply past a hole)
            if fresh:
                peer.append(out, fresh)
            return True
        fresh.append(txn)
        last = zxid
    if fresh:
        peer.append(out, fresh)
    return False


def on_proposal(peer: Peer, fs: FollowerState, sender: int, msg: Proposal, out: Output) -> None:
    if not _from_leader(peer, fs, sender, None, msg.epoch) or not fs.newleader_seen:
        return
    if _accept(peer, out, msg.txns):
        _request_fetch(peer, fs, out)
    if "ack_before_fsync" in peer.cfg.test_faults and fs.serving and peer.zxid_last > fs.last_acked:
        # TEST FAULT: ACK what was only handed to the writer, before it is durable.
        fs.last_acked = peer.zxid_last
        peer.send(out, fs.leader_id, Ack(session=fs.session, epoch=fs.epoch, zxid=fs.last_acked))


def on_commit(peer: Peer, fs: FollowerState, sender: int, msg: Commit, out: Output) -> None:
    if not _from_leader(peer, fs, sender, None, msg.epoch) or not fs.newleader_seen:
        return
    peer.commit_to(out, msg.zxid)
    if msg.zxid > peer.zxid_last:
        _request_fetch(peer, fs, out)


def on_ping(peer: Peer, fs: FollowerState, sender: int, msg: Ping, out: Output) -> None:
    # Only a PING of our epoch shows the leader still leads us: one that moved on to a newer
    # epoch without us must not keep us "hearing" it, stuck in the old epoch for ever.
    heard = _from_leader(peer, fs, sender, None, fs.epoch if msg.epoch == fs.epoch else -1)
    if not heard or not fs.newleader_seen:
        return
    peer.commit_to(out, msg.zxid_committed)
    if msg.zxid_last > peer.zxid_last:
        _request_fetch(peer, fs, out)


def _request_fetch(peer: Peer, fs: FollowerState, out: Output) -> None:
    if not fs.serving:
        return  # the leader serves repairs only after UPTODATE; PINGs bring us back here
    if peer.now - fs.fetch_last_tick < 2:
        return  # one request in flight is enough; PINGs re-trigger after it
    fs.fetch_last_tick = peer.now
    if fs.fetch_since_tick is None:
        fs.fetch_since_tick = peer.now
    peer.send(out, fs.leader_id, FetchTxns(session=fs.session, epoch=fs.epoch, zxid_after=peer.zxid_last))
    peer.trace(out, "repair", f"gap after {fmt_zxid(peer.zxid_last)}: asked node {fs.leader_id} to resend")


def on_persisted(peer: Peer, fs: FollowerState, out: Output) -> None:
    _maybe_ack_newleader(peer, fs, out)
    if fs.serving:
        _ack_durable(peer, fs, out)


def _ack_durable(peer: Peer, fs: FollowerState, out: Output) -> None:
    if peer.zxid_durable > fs.last_acked:
        fs.last_acked = peer.zxid_durable
        peer.send(out, fs.leader_id, Ack(session=fs.session, epoch=fs.epoch, zxid=fs.last_acked))


# ------------------------------------------------------------------------------- time


def tick(peer: Peer, fs: FollowerState, out: Output) -> None:
    limit = peer.cfg.sync_limit_ticks if fs.serving else peer.cfg.init_limit_ticks
    if peer.now - fs.last_heard > limit:
        peer.look(out, f"leader node {fs.leader_id} silent for {limit} ticks ({fs.phase})")
        return
    if not fs.serving and peer.now - max(fs.started_tick, fs.progress_tick) > peer.cfg.init_limit_ticks:
        # However chatty the leader's PINGs are: a lost NEWLEADER, ACK or UPTODATE would leave
        # us in SYNC for ever, and the leader counting us (ZAB_CHECKLIST #27).
        peer.look(out, f"not in sync with leader node {fs.leader_id} within initLimit "
                       f"({peer.cfg.init_limit_ticks} ticks, {fs.phase})")
        return
    if fs.fetch_since_tick is not None and peer.now - fs.fetch_since_tick > peer.cfg.sync_limit_ticks:
        peer.look(out, f"gap after {fmt_zxid(peer.zxid_last)} not repaired within syncLimit: re-sync")
        return
    resend_due = peer.now - fs.info_sent_tick >= peer.cfg.vote_resend_ticks
    if fs.step == FollowerStep.FOLLOWERINFO_SENT and resend_due:
        _send_info(peer, fs, out)
    if fs.snap_next and fs.sync_snapshot is None and not fs.newleader_seen and fs.sync_mode == SyncMode.SNAP:
        # Our last SNAPACK may have been lost: the leader would wait for credit for ever.
        peer.send(out, fs.leader_id, SnapAck(session=fs.session, epoch=fs.epoch, index=fs.snap_next - 1))
    if peer.now % peer.cfg.heartbeat_ticks == 0:
        peer.send(out, fs.leader_id, Ping(epoch=fs.epoch, zxid_committed=peer.zxid_committed,
                                          zxid_last=fs.last_acked, session=fs.session))
