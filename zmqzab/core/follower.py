"""The follower's side of discovery, synchronization and broadcast (ZooKeeper's Follower and
Learner, Zab 1.0).

Theory of operation.
* DISCOVERY. Send FOLLOWERINFO (with a fresh session number, so late replies to an earlier
  attempt are recognised) until LEADERINFO arrives. A LEADERINFO below our acceptedEpoch means
  that leader is stale: back to election (ZAB_CHECKLIST #8). Otherwise persist acceptedEpoch
  (Output step 1) and, in the same Output, answer ACKEPOCH: it can only leave after the write.
* SYNC. SyncStart says DIFF, TRUNC or SNAP; txns follow on the same DEALER, then NEWLEADER.
  On NEWLEADER, in this order (#14): the snapshot and the synced txns are durable (we wait for
  the writer), then currentEpoch is written, then ACK. PROPOSALs seen on PUB before NEWLEADER
  are dropped: the sync stream is still arriving on another socket, and a live txn appended
  before it would hide it. The gap is repaired after UPTODATE.
* BROADCAST (after UPTODATE). PROPOSALs are appended if they continue the log, dropped if
  already held (#17); a gap is repaired over ROUTER/DEALER (FetchTxns). ACKs are cumulative and
  leave only for what the writer reported durable (#18). COMMITs are applied in zxid order and
  never past what we hold (#19, #20).
* LIVENESS. Nothing heard from the leader for initLimit (while syncing) or syncLimit ticks:
  back to election (#27). We PING the leader each heartbeat, repeating our last ACK.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from zmqzab.core.output import Output
from zmqzab.core.roles import Phase, Role
from zmqzab.messages import (
    Ack,
    AckEpoch,
    Commit,
    FetchTxns,
    FollowerInfo,
    LeaderInfo,
    NewLeader,
    Ping,
    Proposal,
    SyncStart,
    SyncTxns,
    Txn,
    UpToDate,
)
from zmqzab.zxid import fmt_zxid, is_next, make_zxid

if TYPE_CHECKING:
    from zmqzab.core.peer import Peer


@dataclass(slots=True)
class FollowerState:
    session: int
    last_heard: int
    info_sent_tick: int
    got_leader_info: bool = False
    sync_started: bool = False
    #: NEWLEADER arrived: our log is the leader's history (PUB traffic may now be used).
    newleader_seen: bool = False
    #: The last zxid NEWLEADER vouches for; its ACK waits until the writer reports it durable.
    newleader_pending: int | None = None
    acked_newleader: bool = False
    #: UPTODATE arrived: BROADCAST phase, client writes are forwarded.
    serving: bool = False
    last_acked: int = 0
    #: When the current gap was first asked for (its repair must finish within syncLimit).
    fetch_since_tick: int | None = None
    fetch_last_tick: int = -1
    sync_mode: str = ""
    sync_total: int = 0
    sync_received: int = 0


def become(peer: Peer, out: Output) -> None:
    session = peer.rng.getrandbits(31) | 1
    peer.following = FollowerState(session=session, last_heard=peer.now, info_sent_tick=peer.now)
    peer.epoch = 0
    peer.set_phase(out, Role.FOLLOWING, Phase.DISCOVERY, f"following node {peer.leader_id}")
    _send_info(peer, out)


def _send_info(peer: Peer, out: Output) -> None:
    fs = peer.following
    assert fs is not None and peer.leader_id is not None
    fs.info_sent_tick = peer.now
    peer.send(out, peer.leader_id, FollowerInfo(
        session=fs.session, accepted_epoch=peer.accepted_epoch,
        zxid_last=peer.zxid_last, zxid_base=peer.log.base))


def _from_leader(peer: Peer, sender: int, session: int | None, epoch: int | None) -> FollowerState | None:
    """The follower state if this message belongs to our current attempt, else None."""
    fs = peer.following
    if fs is None or sender != peer.leader_id:
        return None
    if session is not None and session != fs.session:
        return None
    if epoch is not None and epoch != peer.epoch:
        return None
    fs.last_heard = peer.now
    return fs


# ------------------------------------------------------------------------------- discovery


def on_leader_info(peer: Peer, sender: int, msg: LeaderInfo, out: Output) -> None:
    fs = _from_leader(peer, sender, msg.session, None)
    if fs is None or fs.got_leader_info:
        return
    if msg.epoch < peer.accepted_epoch:
        peer.look(out, f"LEADERINFO from node {sender} proposes epoch {msg.epoch}, below our "
                       f"acceptedEpoch {peer.accepted_epoch}")
        return
    if msg.epoch > peer.accepted_epoch:
        if "skip_accepted_epoch" in peer.cfg.test_faults:
            peer.accepted_epoch = msg.epoch  # TEST FAULT: raised in memory, never persisted
        else:
            peer.write_epochs(out, accepted=msg.epoch)  # durable before the ACKEPOCH below leaves
    peer.epoch = msg.epoch
    fs.got_leader_info = True
    peer.send(out, sender, AckEpoch(session=fs.session, epoch=msg.epoch,
                                    current_epoch=peer.current_epoch, zxid_last=peer.zxid_last))
    peer.set_phase(out, Role.FOLLOWING, Phase.SYNC, f"acknowledged epoch {msg.epoch}")


# ------------------------------------------------------------------------------- sync


def on_sync_start(peer: Peer, sender: int, msg: SyncStart, out: Output) -> None:
    fs = _from_leader(peer, sender, msg.session, msg.epoch)
    if fs is None or not fs.got_leader_info or fs.sync_started:
        return
    if msg.mode == "TRUNC":
        if msg.zxid < peer.log.base or msg.zxid < peer.zxid_applied:
            peer.look(out, f"cannot TRUNC to {fmt_zxid(msg.zxid)}: our log starts after "
                           f"{fmt_zxid(peer.log.base)}")
            return
        peer.truncate(out, msg.zxid)
    elif msg.mode == "SNAP":
        peer.install_snapshot(out, msg.zxid, msg.snapshot)
    elif msg.zxid != peer.zxid_last:
        peer.look(out, f"DIFF from {fmt_zxid(msg.zxid)} but our log ends at {fmt_zxid(peer.zxid_last)}")
        return
    fs.sync_started = True
    fs.sync_mode, fs.sync_total, fs.sync_received = msg.mode, msg.txns_total, 0
    peer.last_sync = {"mode": msg.mode, "reason": msg.reason, "zxid": fmt_zxid(msg.zxid),
                      "txns_total": msg.txns_total, "txns_received": 0, "done": False}
    peer.trace(out, "sync", f"{msg.mode} from node {sender} at {fmt_zxid(msg.zxid)}: {msg.reason} "
               f"({msg.txns_total} txns to come)", mode=msg.mode, txns=msg.txns_total)


def on_sync_txns(peer: Peer, sender: int, msg: SyncTxns, out: Output) -> None:
    fs = _from_leader(peer, sender, msg.session, msg.epoch)
    if fs is None or not fs.sync_started:
        return
    gap = _accept(peer, out, msg.txns)
    if not fs.serving:
        fs.sync_received += len(msg.txns)
        peer.last_sync["txns_received"] = fs.sync_received
    else:
        fs.fetch_since_tick = None
        if gap:
            _request_fetch(peer, out)
    # Our log is a prefix of the leader's from SyncStart on: its commit point applies to it.
    peer.commit_to(out, msg.zxid_committed)


def on_new_leader(peer: Peer, sender: int, msg: NewLeader, out: Output) -> None:
    fs = _from_leader(peer, sender, msg.session, msg.epoch)
    if fs is None or not fs.sync_started or fs.newleader_seen:
        return
    fs.newleader_seen = True
    fs.newleader_pending = peer.zxid_last
    peer.last_sync["done"] = True
    _maybe_ack_newleader(peer, out)


def _maybe_ack_newleader(peer: Peer, out: Output) -> None:
    """ZAB_CHECKLIST #14: synced txns durable, then currentEpoch, then ACK."""
    fs = peer.following
    assert fs is not None
    if fs.newleader_pending is None or peer.zxid_durable < fs.newleader_pending:
        return
    peer.write_epochs(out, current=peer.epoch)
    peer.send(out, peer.leader_id, Ack(session=fs.session, epoch=peer.epoch, zxid=make_zxid(peer.epoch, 0)))
    fs.last_acked = fs.newleader_pending
    fs.newleader_pending = None
    fs.acked_newleader = True


def on_up_to_date(peer: Peer, sender: int, msg: UpToDate, out: Output) -> None:
    fs = _from_leader(peer, sender, msg.session, msg.epoch)
    if fs is None or not fs.acked_newleader or fs.serving:
        return
    fs.serving = True
    peer.set_phase(out, Role.FOLLOWING, Phase.BROADCAST,
                   f"UPTODATE from node {sender} ({fs.sync_mode}, {fs.sync_received} txns)")
    peer.commit_to(out, msg.zxid_committed)
    _ack_durable(peer, out)


# ------------------------------------------------------------------------------- broadcast


def _accept(peer: Peer, out: Output, txns: list[Txn]) -> bool:
    """Append the txns that continue our log; drop those we hold. True if a gap was seen."""
    last = peer.zxid_last
    fresh: list[Txn] = []
    for txn in txns:
        if txn.zxid <= last:
            continue  # duplicate: from the sync stream and the live stream both (#17)
        if not is_next(last, txn.zxid) and "apply_across_gap" not in peer.cfg.test_faults:
            # (TEST FAULT apply_across_gap skips this check: later COMMITs then apply past a hole)
            if fresh:
                peer.append(out, fresh)
            return True
        fresh.append(txn)
        last = txn.zxid
    if fresh:
        peer.append(out, fresh)
    return False


def on_proposal(peer: Peer, sender: int, msg: Proposal, out: Output) -> None:
    fs = _from_leader(peer, sender, None, msg.epoch)
    if fs is None or not fs.newleader_seen:
        return
    if _accept(peer, out, msg.txns):
        _request_fetch(peer, out)
    if "ack_before_fsync" in peer.cfg.test_faults and fs.serving and peer.zxid_last > fs.last_acked:
        # TEST FAULT: ACK what was only handed to the writer, before it is durable.
        fs.last_acked = peer.zxid_last
        peer.send(out, peer.leader_id, Ack(session=fs.session, epoch=peer.epoch, zxid=fs.last_acked))


def on_commit(peer: Peer, sender: int, msg: Commit, out: Output) -> None:
    fs = _from_leader(peer, sender, None, msg.epoch)
    if fs is None or not fs.newleader_seen:
        return
    peer.commit_to(out, msg.zxid)
    if msg.zxid > peer.zxid_last:
        _request_fetch(peer, out)


def on_ping(peer: Peer, sender: int, msg: Ping, out: Output) -> None:
    fs = _from_leader(peer, sender, None, None)
    if fs is None or msg.epoch != peer.epoch or not fs.newleader_seen:
        return
    peer.commit_to(out, msg.zxid_committed)
    if msg.zxid_last > peer.zxid_last:
        _request_fetch(peer, out)


def _request_fetch(peer: Peer, out: Output) -> None:
    fs = peer.following
    assert fs is not None
    if not fs.serving:
        return  # the leader serves repairs only after UPTODATE; PINGs bring us back here
    if peer.now - fs.fetch_last_tick < 2:
        return  # one request in flight is enough; PINGs re-trigger after it
    fs.fetch_last_tick = peer.now
    if fs.fetch_since_tick is None:
        fs.fetch_since_tick = peer.now
    peer.send(out, peer.leader_id, FetchTxns(session=fs.session, epoch=peer.epoch, zxid_after=peer.zxid_last))
    peer.trace(out, "repair", f"gap after {fmt_zxid(peer.zxid_last)}: asked node {peer.leader_id} to resend")


def on_persisted(peer: Peer, out: Output) -> None:
    fs = peer.following
    assert fs is not None
    _maybe_ack_newleader(peer, out)
    if fs.serving:
        _ack_durable(peer, out)


def _ack_durable(peer: Peer, out: Output) -> None:
    fs = peer.following
    assert fs is not None
    if peer.zxid_durable > fs.last_acked:
        fs.last_acked = peer.zxid_durable
        peer.send(out, peer.leader_id, Ack(session=fs.session, epoch=peer.epoch, zxid=fs.last_acked))


# ------------------------------------------------------------------------------- time


def tick(peer: Peer, out: Output) -> None:
    fs = peer.following
    assert fs is not None
    limit = peer.cfg.sync_limit_ticks if fs.serving else peer.cfg.init_limit_ticks
    if peer.now - fs.last_heard > limit:
        peer.look(out, f"leader node {peer.leader_id} silent for {limit} ticks ({peer.phase})")
        return
    if fs.fetch_since_tick is not None and peer.now - fs.fetch_since_tick > peer.cfg.sync_limit_ticks:
        peer.look(out, f"gap after {fmt_zxid(peer.zxid_last)} not repaired within syncLimit: re-sync")
        return
    if not fs.got_leader_info and peer.now - fs.info_sent_tick >= peer.cfg.vote_resend_ticks:
        _send_info(peer, out)
    if peer.now % peer.cfg.heartbeat_ticks == 0:
        peer.send(out, peer.leader_id, Ping(epoch=peer.epoch, zxid_committed=peer.zxid_committed,
                                            zxid_last=fs.last_acked, session=fs.session))
