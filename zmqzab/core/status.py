"""A typed, frozen picture of one Peer for views (the node's /status page) and checkers.

``Peer.status()`` builds it; nothing in it refers back to the Peer's live state, so a view may
keep it while the core moves on. Zxids are ints here: a view formats them (``fmt_zxid``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from zmqzab.core.roles import LearnerStep, Phase, Role, SyncMode
from zmqzab.messages import Txn, Vote


@dataclass(frozen=True, slots=True)
class LearnerStatus:
    """One follower as its leader sees it (a row of the leader's follower table)."""

    id: int
    step: LearnerStep
    #: Cumulative ACK: the follower holds every txn up to here durably.
    acked: int
    heard_ticks_ago: int
    #: How it was synced; None before its sync started.
    sync_mode: SyncMode | None
    #: SNAP chunks sent, acknowledged, in all; only while the snapshot is still being sent.
    snap_chunks_sent: int
    snap_chunks_acked: int
    snap_chunks: int
    snap_sending: bool
    #: A DIFF from disk is under way.
    disk_reading: bool

    @property
    def phase(self) -> Phase:
        return self.step.phase


@dataclass(frozen=True, slots=True)
class TailTxn:
    """A txn of the log's tail; ``ackers`` (an established leader only, else None): the nodes
    known to hold it durably, the leader first."""

    txn: Txn
    ackers: tuple[int, ...] | None


@dataclass(frozen=True, slots=True)
class PeerStatus:
    id: int
    role: Role
    phase: Phase
    leader: int | None
    epoch: int
    accepted_epoch: int
    current_epoch: int
    zxid_last: int
    #: -1 while a TRUNC or SNAP is not yet durable.
    zxid_durable: int
    zxid_committed: int
    zxid_applied: int
    zxid_disk_base: int
    #: The memory log holds the txns after this zxid.
    log_base: int
    round: int
    quorum: int
    voters: tuple[int, ...]
    #: LOOKING: our current proposal, and the votes of our round by node id (sorted).
    vote: Vote | None
    votes_received: tuple[tuple[int, Vote], ...]
    #: LEADING: whether the epoch is established, and the followers by id (sorted).
    established: bool | None
    learners: tuple[LearnerStatus, ...]
    #: The newest txns of the log (as many as asked for), oldest first.
    log_tail: tuple[TailTxn, ...]
    #: The last sync this node went through as a follower (a copy): mode, reason, zxid,
    #: txns_total, txns_received, done, and for SNAP snapshot_bytes, snapshot_received.
    last_sync: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class EpochPromises:
    """A leader's epoch quorum (for the simulator's checkers): the epoch it decided (0: not
    yet), whether a quorum promised it, and the followers whose promise it counted."""

    epoch: int
    quorum_promised: bool
    promised: tuple[int, ...]
