"""The core's sender checks, seen from security: a node that is not the leader cannot make a
follower do what only the leader may (propose, commit, sync, elect itself), even with messages
of the right epoch that pass every plausibility check. (With CURVE a process cannot even claim
another node's id; these checks are what stops a real but wrong-headed peer.)"""

from __future__ import annotations

import pytest

from zmqzab.core.roles import Phase, Role
from zmqzab.messages import (
    Ack,
    Commit,
    Guess,
    LeaderInfo,
    NewLeader,
    Ping,
    Proposal,
    SyncStart,
    SyncTxns,
    Txn,
    UpToDate,
)
from zmqzab.security.plausible import plausible
from zmqzab.zxid import make_zxid

from tests.core.harness import Cluster

pytestmark = [pytest.mark.security]


@pytest.fixture
def serving() -> Cluster:
    c = Cluster(n=5, seed=3)
    c.run_until(c.serving)
    ld = c.leader()
    for seq in range(1, 6):
        c.submit(ld, seq * 10, client="real", seq=seq)
    c.settle()
    return c


def snapshot(c: Cluster, i: int):
    p = c.peers[i]
    return (p.role, p.phase, p.leader_id, p.epoch, p.zxid_last, p.zxid_committed, p.state.view())


def leader_only_messages(c: Cluster, victim: int) -> list:
    p = c.peers[victim]
    e, last = p.epoch, p.zxid_last
    nxt = last + 1
    forged = Txn(nxt, Guess("forged", 1, 77, 3))
    session = p.following.session if p.following is not None else 0
    return [
        Proposal(epoch=e, txns=[forged]),
        Commit(epoch=e, zxid=last),
        Commit(epoch=e, zxid=nxt),  # a COMMIT for a zxid never proposed
        Ping(epoch=e, zxid_committed=nxt, zxid_last=make_zxid(e, 10**6), session=0),
        UpToDate(session=session, epoch=e, zxid_committed=nxt),
        NewLeader(session=session, epoch=e, zxid=make_zxid(e, 0)),
        SyncStart(session=session, epoch=e, mode="TRUNC", zxid=make_zxid(e, 1), txns_total=0, reason="forged"),
        SyncTxns(session=session, epoch=e, txns=[forged], zxid_committed=nxt),
        LeaderInfo(session=session, epoch=e + 1),
    ]


def test_a_follower_ignores_leader_messages_from_another_follower(serving):
    c = serving
    ld = c.leader()
    victim, forger = [i for i in c.ids if i != ld][:2]
    before = snapshot(c, victim)
    for msg in leader_only_messages(c, victim):
        assert plausible(msg, frozenset(c.ids)), msg  # only the sender check can stop these
        c.execute(victim, c.peers[victim].step(forger, msg))
        c.settle()
        assert snapshot(c, victim) == before, f"{type(msg).__name__} from node {forger} changed node {victim}"
    c.submit(ld, 55, client="real", seq=6)  # and the cluster goes on
    assert c.peers[victim].zxid_committed > before[5]


def test_the_leader_ignores_commits_proposals_and_acks_ahead_of_its_log(serving):
    c = serving
    ld = c.leader()
    forger = next(i for i in c.ids if i != ld)
    p = c.peers[ld]
    before = snapshot(c, ld)
    e, last = p.epoch, p.zxid_last
    session = p.leading.learners[forger].session
    for msg in (Proposal(epoch=e, txns=[Txn(last + 1, Guess("forged", 1, 1, 3))]), Commit(epoch=e, zxid=last + 5),
                Ack(session=session, epoch=e, zxid=make_zxid(e, 10**6))):
        c.execute(ld, p.step(forger, msg))
        c.settle()
        assert snapshot(c, ld) == before, type(msg).__name__
    assert p.role == Role.LEADING and p.phase == Phase.BROADCAST
    # An ACK "far ahead" must not count for txns proposed later: the next write still needs a
    # real quorum. Cut the leader off from every follower but the forger; nothing may commit.
    others = {i for i in c.ids if i not in (ld, forger)}
    c.partition({ld, forger}, others)
    c.crash(forger)
    c.submit(ld, 9, client="real", seq=7)
    assert p.zxid_committed == before[5]
