"""The enums a reader needs to follow ZAB: who a node is, where it is in the protocol, where
each side of one leader-follower pair is, and how a follower's log is brought in line.

``Role`` and ``Phase`` are what a person sees. The two ``...Step`` enums are the finer states
of one follower's discovery and sync, on each side, in the order they happen: a step implies
every step before it, so one value replaces the booleans that had to agree.
"""

from enum import StrEnum
from typing import TypeVar

from zmqzab.core.errors import InvariantError


class Role(StrEnum):
    """ZooKeeper's ServerState (QuorumPeer.ServerState), minus OBSERVING."""

    LOOKING = "LOOKING"
    FOLLOWING = "FOLLOWING"
    LEADING = "LEADING"


class Phase(StrEnum):
    """The Zab 1.0 phases: election, then discovery, synchronization, broadcast."""

    ELECTION = "ELECTION"
    DISCOVERY = "DISCOVERY"
    SYNC = "SYNC"
    BROADCAST = "BROADCAST"


class SyncMode(StrEnum):
    """How the leader brings a follower's log in line (ZooKeeper's SyncMode, minus NONE).

    On the wire SyncStart.mode carries the value; ``parse`` converts it at the follower's edge.
    """

    DIFF = "DIFF"  # send the txns the follower lacks
    TRUNC = "TRUNC"  # cut the follower's log back to a common zxid, then DIFF
    SNAP = "SNAP"  # replace its state with a snapshot, then DIFF from the snapshot's zxid

    @classmethod
    def parse(cls, wire: str) -> "SyncMode | None":
        """The mode a SyncStart names, or None for a value no leader sends (dropped)."""
        try:
            return cls(wire)
        except ValueError:
            return None


class FollowerStep(StrEnum):
    """Where a follower is with its leader (ZooKeeper's Learner: registerWithLeader, then
    syncWithLeader), named for the last message that moved it."""

    FOLLOWERINFO_SENT = "FOLLOWERINFO_SENT"  # waiting for LEADERINFO
    ACKEPOCH_SENT = "ACKEPOCH_SENT"  # waiting for the sync stream's start (DIFF, TRUNC, SNAP)
    SYNCING = "SYNCING"  # the sync stream arrives; held in memory until NEWLEADER
    NEWLEADER_RECEIVED = "NEWLEADER_RECEIVED"  # its ACK waits until the synced log is durable
    NEWLEADER_ACKED = "NEWLEADER_ACKED"  # waiting for UPTODATE
    UPTODATE_RECEIVED = "UPTODATE_RECEIVED"  # BROADCAST: serving, client writes forwarded

    @property
    def phase(self) -> Phase:
        return _FOLLOWER_PHASE[self]

    def reached(self, step: "FollowerStep") -> bool:
        """True if this step is ``step`` or a later one."""
        return _FOLLOWER_ORDER[self] >= _FOLLOWER_ORDER[step]


class LearnerStep(StrEnum):
    """Where one follower is as its leader sees it (ZooKeeper's LearnerHandler.run), named for
    the last message that moved it."""

    FOLLOWERINFO_RECEIVED = "FOLLOWERINFO_RECEIVED"  # LEADERINFO sent once the epoch is decided
    ACKEPOCH_RECEIVED = "ACKEPOCH_RECEIVED"  # synced once a quorum promised the epoch
    SYNCING = "SYNCING"  # the sync stream is under way, NEWLEADER at its end
    NEWLEADER_ACKED = "NEWLEADER_ACKED"  # gets UPTODATE once the epoch is established
    UPTODATE_SENT = "UPTODATE_SENT"  # BROADCAST: its ACKs count toward commits

    @property
    def phase(self) -> Phase:
        return _LEARNER_PHASE[self]


_FOLLOWER_ORDER = {step: i for i, step in enumerate(FollowerStep)}
_FOLLOWER_PHASE = {
    FollowerStep.FOLLOWERINFO_SENT: Phase.DISCOVERY,
    FollowerStep.ACKEPOCH_SENT: Phase.SYNC,
    FollowerStep.SYNCING: Phase.SYNC,
    FollowerStep.NEWLEADER_RECEIVED: Phase.SYNC,
    FollowerStep.NEWLEADER_ACKED: Phase.SYNC,
    FollowerStep.UPTODATE_RECEIVED: Phase.BROADCAST,
}
_LEARNER_PHASE = {
    LearnerStep.FOLLOWERINFO_RECEIVED: Phase.DISCOVERY,
    LearnerStep.ACKEPOCH_RECEIVED: Phase.DISCOVERY,
    LearnerStep.SYNCING: Phase.SYNC,
    LearnerStep.NEWLEADER_ACKED: Phase.SYNC,
    LearnerStep.UPTODATE_SENT: Phase.BROADCAST,
}

#: The legal moves between steps, checked at every move (h11's _state.py keeps its transitions
#: as a table too). A follower's steps go forward one at a time; a learner's may also restart
#: SYNCING (a DIFF from disk that cannot be read before anything was sent becomes SNAP).
FOLLOWER_MOVES: dict[FollowerStep, frozenset[FollowerStep]] = {
    step: frozenset({after}) for step, after in zip(FollowerStep, list(FollowerStep)[1:])
}
LEARNER_MOVES: dict[LearnerStep, frozenset[LearnerStep]] = {
    LearnerStep.FOLLOWERINFO_RECEIVED: frozenset({LearnerStep.ACKEPOCH_RECEIVED}),
    LearnerStep.ACKEPOCH_RECEIVED: frozenset({LearnerStep.SYNCING}),
    LearnerStep.SYNCING: frozenset({LearnerStep.SYNCING, LearnerStep.NEWLEADER_ACKED}),
    LearnerStep.NEWLEADER_ACKED: frozenset({LearnerStep.UPTODATE_SENT}),
}

Step = TypeVar("Step", FollowerStep, LearnerStep)


def checked_move(moves: dict[Step, frozenset[Step]], now: Step, to: Step, who: str) -> Step:
    """``to`` if ``moves`` allows ``now`` -> ``to``; else the handlers broke the protocol's order."""
    if to not in moves.get(now, ()):
        raise InvariantError(f"{who}: step {now} -> {to} breaks the order {' -> '.join(type(to))}")
    return to
