"""The two enums a reader needs to follow ZAB: who a node is, and where it is in the protocol."""

from enum import StrEnum


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
