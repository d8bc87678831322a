"""Peer messages that decode but cannot be true: dropped and counted before the core sees them.

msgspec checks types; this checks values a correct peer never sends: a negative or over-wide
epoch or zxid (a zxid is 64 bits, an epoch its high 32), a zxid from an epoch later than the
message's own (where the protocol rules it out), a vote for a node that is not in the config, an unknown state or sync mode, a
NEWLEADER whose zxid is not (epoch, 0), forwarded ops a client could not have sent. The core
already ignores messages from a node that is not its leader (sender checks); these checks make
sure that what reaches those rules is at least possible, so a bug there cannot be reached by
garbage. Only O(1) work per message: batches are checked at their ends (contiguity is the
core's business).
"""

from __future__ import annotations

from collections.abc import Callable

from zmqzab.core.roles import Role, SyncMode
from zmqzab.game.limits import op_problem
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
    Ping,
    Proposal,
    SnapAck,
    SnapChunk,
    SyncStart,
    SyncTxns,
    UpToDate,
)
from zmqzab.zkapi.ops import SessionTouches, ZkRequest, forwarded_problem
from zmqzab.zxid import COUNTER_BITS

EPOCH_END = 1 << 32
ZXID_END = 1 << 64
SESSION_END = 1 << 64
STATES = frozenset(role.value for role in Role)
SYNC_MODES = frozenset(mode.value for mode in SyncMode)


def _epoch(e: int) -> bool:
    return 0 <= e < EPOCH_END


def _zxid(z: int, epoch: int) -> bool:
    """A zxid that exists no later than ``epoch``."""
    return 0 <= z < ZXID_END and (z >> COUNTER_BITS) <= epoch


def _session(s: int) -> bool:
    return 0 <= s < SESSION_END


def _op(op) -> bool:
    """An op a correct node could have forwarded: a game op within the game's limits (the node
    refuses the rest before proposing, so the limits are the same ones, from game/limits.py).
    Tree and session txns are never forwarded as txns (the leader's prepare writes them), so
    a FORWARD holding one is implausible; a ZooKeeper client's request (or a follower's session
    touches) within the wire's ranges is."""
    if type(op) is ZkRequest or type(op) is SessionTouches:
        return not forwarded_problem(op)
    return not op_problem(op)


def _notification(m: Notification, ids: frozenset[int]) -> bool:
    v = m.vote
    # A vote's zxid may be from a later epoch than its currentEpoch (a follower that logged a
    # DIFF and lost its leader before NEWLEADER): only the range is checked.
    return (0 <= m.round < ZXID_END and m.state in STATES and v.leader in ids and _epoch(v.epoch)
            and 0 <= v.zxid < ZXID_END)


def _txns(txns, epoch: int, exact: bool) -> bool:
    if not txns:
        return not exact
    first, last = txns[0].zxid, txns[-1].zxid
    if not (_zxid(first, epoch) and _zxid(last, epoch) and first <= last):
        return False
    return not exact or (first >> COUNTER_BITS) == (last >> COUNTER_BITS) == epoch


CHECKS: dict[type, Callable[..., bool]] = {
    Notification: _notification,
    FollowerInfo: lambda m, ids: (_session(m.session) and _epoch(m.accepted_epoch)
                                  and 0 <= m.zxid_last < ZXID_END and 0 <= m.zxid_base <= m.zxid_last),
    LeaderInfo: lambda m, ids: _session(m.session) and _epoch(m.epoch),
    # current_epoch NOT_COUNTED (-1): the follower had accepted this epoch already (issue 11).
    AckEpoch: lambda m, ids: (_session(m.session) and _epoch(m.epoch)
                              and (m.current_epoch == NOT_COUNTED or _epoch(m.current_epoch))
                              and 0 <= m.zxid_last < ZXID_END),
    SyncStart: lambda m, ids: (_session(m.session) and _epoch(m.epoch) and m.mode in SYNC_MODES
                               and _zxid(m.zxid, m.epoch) and 0 <= m.txns_total < ZXID_END
                               and -1 <= m.zxid_upto < ZXID_END and 0 <= m.snapshot_bytes < ZXID_END
                               and 0 <= m.snapshot_crc < EPOCH_END),
    SnapChunk: lambda m, ids: _session(m.session) and _epoch(m.epoch) and 0 <= m.index < EPOCH_END,
    SnapAck: lambda m, ids: _session(m.session) and _epoch(m.epoch) and 0 <= m.index < EPOCH_END,
    SyncTxns: lambda m, ids: (_session(m.session) and _epoch(m.epoch) and _txns(m.txns, m.epoch, False)
                              and _zxid(m.zxid_committed, m.epoch) and -1 <= m.prev_zxid < ZXID_END),
    NewLeader: lambda m, ids: (_session(m.session) and _epoch(m.epoch)
                               and m.zxid == m.epoch << COUNTER_BITS),
    Ack: lambda m, ids: _session(m.session) and _epoch(m.epoch) and _zxid(m.zxid, m.epoch),
    UpToDate: lambda m, ids: _session(m.session) and _epoch(m.epoch) and _zxid(m.zxid_committed, m.epoch),
    Proposal: lambda m, ids: _epoch(m.epoch) and _txns(m.txns, m.epoch, True),
    Commit: lambda m, ids: _epoch(m.epoch) and _zxid(m.zxid, m.epoch),
    # A follower's PING carries its own epoch, which lags its log while it syncs: ranges only.
    Ping: lambda m, ids: (_session(m.session) and _epoch(m.epoch) and 0 <= m.zxid_committed < ZXID_END
                          and 0 <= m.zxid_last < ZXID_END),
    FetchTxns: lambda m, ids: _session(m.session) and _epoch(m.epoch) and _zxid(m.zxid_after, m.epoch),
    Forward: lambda m, ids: _epoch(m.epoch) and all(_op(op) for op in m.ops),
}


def plausible(msg, ids: frozenset[int]) -> bool:
    """False for a peer message no correct node sends (see the module docstring)."""
    check = CHECKS.get(type(msg))
    return check is not None and check(msg, ids)
