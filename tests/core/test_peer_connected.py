"""A (re)made connection carries our notification again (Peer.peer_connected; ZooKeeper's
QuorumCnxManager resends its last notification on a new connection). No network, no disk.

Why: a restarted node's first vote reaches its peers before their DEALERs have reconnected to
it, so their answers (FOLLOWING / LEADING) are dropped (transport.py: IMMEDIATE). Without a
resend on connection, it waited for its own next vote resend, a tick later, to join.
"""

import random

import pytest

from tests.core.harness import make_state
from zmqzab.core.peer import Peer
from zmqzab.core.roles import Role
from zmqzab.core.settings import CoreConfig
from zmqzab.messages import Notification, Vote

pytestmark = [pytest.mark.election]

VOTERS = [0, 1, 2, 3, 4]


def established() -> dict[int, Peer]:
    """Nodes 0, 1, 2 of 5: node 2 leads, 0 and 1 follow it (node 3 and 4 are down)."""
    peers = {i: Peer(i, VOTERS, CoreConfig(), random.Random(i), make_state) for i in (0, 1, 2)}
    for p in peers.values():
        p.start()
    looking = Notification(1, Role.LOOKING, Vote(2, 0, 0))
    for i, p in peers.items():
        for j in peers:
            if j != i:
                p.step(j, looking)
        for _ in range(3):  # the finalize wait
            p.tick()
    assert [peers[i].role for i in (0, 1, 2)] == [Role.FOLLOWING, Role.FOLLOWING, Role.LEADING]
    return peers


def test_a_restarted_node_joins_the_established_leader_on_connection_without_a_tick():
    """Goal: a node that restarts while a leader is established follows it as soon as its peers'
    connections to it are up, without waiting for a tick. Setup: node 2 leads nodes 0 and 1;
    node 4 starts. Fault: every answer to node 4's first vote is lost (the peers' DEALERs to it
    were still reconnecting). Expected: when each peer's connection to node 4 is made
    (peer_connected), it sends node 4 its FOLLOWING/LEADING notification; node 4, still at tick
    0, follows node 2 (a quorum of 3 reports it, and node 2 itself says LEADING)."""
    peers = established()
    newcomer = Peer(4, VOTERS, CoreConfig(), random.Random(4), make_state)
    first = newcomer.start()
    for s in first.sends:
        if s.to in peers:
            peers[s.to].step(4, s.msg)  # answered, but the answers are lost
    for i, p in peers.items():
        out = p.peer_connected(4)
        notes = [s.msg for s in out.sends if s.to == 4]
        assert notes == [p._notification()], f"node {i} did not tell node 4 its state on connection"
        for note in notes:
            newcomer.step(i, note)
    assert newcomer.now == 0
    assert newcomer.role == Role.FOLLOWING and newcomer.leader_id == 2


def test_a_looking_node_sends_its_vote_on_connection():
    """Goal: a LOOKING node's vote is not lost with a connection that was not up yet. Setup: a
    lone node starts (its first votes dropped). Fault: none. Expected: peer_connected(j) sends
    node j its current vote, and nothing to an id that is not a voter."""
    p = Peer(0, VOTERS, CoreConfig(), random.Random(0), make_state)
    p.start()
    out = p.peer_connected(3)
    assert [(s.to, s.msg) for s in out.sends] == [(3, Notification(1, Role.LOOKING, p.own_vote()))]
    assert not p.peer_connected(7).sends and not p.peer_connected(0).sends
