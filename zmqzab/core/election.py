"""Fast leader election (ZooKeeper's FastLeaderElection), as pure data and decisions.

Theory of operation. Every LOOKING node proposes a vote (leader id, that leader's last logged
zxid, its currentEpoch) and sends it to every peer with its election round (ZooKeeper's
logicalclock). Votes are ordered by (epoch, zxid, id) (``totalOrderPredicate``), so the node
with the most recent durable history wins, never one with an empty disk (ZK-261, ZK-2845).

* A higher round from a peer: adopt it, clear the tally, re-propose the better of that peer's
  vote and our own. A lower round: answer the sender with our vote. The same round: switch to
  the peer's vote if it is better.
* Only votes equal to our own current proposal count. When a quorum agrees, wait
  ``election_wait_ticks`` for a better vote before deciding (ZooKeeper's finalizeWait).
* Peers that are FOLLOWING or LEADING answer with the leader they follow. A node that starts
  while a leader is established follows it once a quorum reports that leader and the leader
  itself reports LEADING (``checkLeader``; ZK-1732, ZK-1805).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from zmqzab.core.roles import Phase, Role
from zmqzab.messages import FollowerInfo, Notification, Vote


def vote_key(vote: Vote) -> tuple[int, int, int]:
    """FLE's total order: currentEpoch, then last logged zxid, then node id."""
    return (vote.epoch, vote.zxid, vote.leader)


def better(a: Vote, b: Vote) -> bool:
    """True if vote ``a`` beats vote ``b``."""
    return vote_key(a) > vote_key(b)


@dataclass(slots=True)
class Election:
    """One node's LOOKING state: its round, its proposal and the votes it has heard.

    The Peer's role state while LOOKING (see peer.py): it lives exactly as long as the election.
    """

    role: ClassVar[Role] = Role.LOOKING
    phase: ClassVar[Phase] = Phase.ELECTION

    round: int
    vote: Vote
    started_tick: int
    reason: str
    #: Votes of LOOKING peers in our round (and our own), by node id.
    received: dict[int, Vote] = field(default_factory=dict)
    #: Latest notification from peers that are FOLLOWING or LEADING, by node id.
    outside: dict[int, Notification] = field(default_factory=dict)
    #: The tick at which a quorum on ``vote`` may be decided (finalize wait), or None.
    decide_at: int | None = None
    last_sent_tick: int = 0
    #: FOLLOWERINFOs that arrived while we were still deciding (finalize wait): a follower
    #: that decided first is not made to wait for its resend.
    early_followers: dict[int, FollowerInfo] = field(default_factory=dict)

    def count_for(self, vote: Vote) -> int:
        return sum(1 for v in self.received.values() if v == vote)

    def established_leader(self, quorum: int) -> int | None:
        """A leader that a quorum of non-LOOKING peers follows and that itself says LEADING."""
        by_leader: dict[int, int] = {}
        for n in self.outside.values():
            by_leader[n.vote.leader] = by_leader.get(n.vote.leader, 0) + 1
        for leader in sorted(by_leader):
            if by_leader[leader] < quorum:
                continue
            said = self.outside.get(leader)
            if said is not None and said.state == Role.LEADING and said.vote.leader == leader:
                return leader
        return None
