"""The mechanisms behind the speed (issue 8), tested for correctness, never for speed: real
Peers driven by tests/core/harness.py (the process tests are tests/processes/test_mechanisms_processes.py)."""

from __future__ import annotations

import pytest
from tests.core.harness import Cluster
from zmqzab.core.roles import Role
from zmqzab.messages import Ack, FetchTxns, Guess, Proposal
from zmqzab.zxid import make_zxid

pytestmark = [pytest.mark.perf]


def test_cumulative_ack_never_commits_past_a_gap():
    """Goal: a follower that missed a PROPOSAL does not ACK past the hole, so the leader cannot
    count it for the txns after it. Setup: 3 nodes; one follower cut off entirely, so the leader
    needs the other one. Fault: the first of two PROPOSALs to that follower is lost. Expected:
    nothing commits while the hole is there; once the follower repairs it (FETCH), both commit."""
    c = Cluster(3)
    c.run_until(c.serving, 100)
    ld = c.leader()
    f1, f2 = [i for i in c.ids if i != ld]
    c.partition({f2}, {ld, f1})

    def lossy() -> None:
        """Deliver everything except the first PROPOSAL to f1 and f1's requests to repair it."""
        while c.queue:
            src, dst, msg = c.queue[0]
            hole = dst == f1 and isinstance(msg, Proposal) and msg.txns[0].zxid == make_zxid(1, 1)
            if hole or (src == f1 and isinstance(msg, FetchTxns)):
                c.queue.popleft()
                continue
            c.deliver_one()
        for i in (ld, f1):
            c.persist(i)

    c.execute(ld, c.peers[ld].submit([Guess("a", 1, 10)]))
    c.execute(ld, c.peers[ld].submit([Guess("a", 2, 20)]))
    for _ in range(3):
        lossy()
    acks = [m.zxid for s, d, m in c.delivered if s == f1 and isinstance(m, Ack)]
    assert all(z < make_zxid(1, 1) for z in acks if z & 0xFFFFFFFF), acks
    assert c.peers[f1].zxid_last < make_zxid(1, 1)  # it holds neither, never 1:2 without 1:1
    assert c.peers[ld].zxid_committed < make_zxid(1, 1)
    c.tick(3)  # now the repair may go through: PINGs show f1 the gap; it fetches and catches up
    assert c.peers[ld].zxid_committed == make_zxid(1, 2)
    assert [t.zxid for t in c.disks[f1].txns] == [make_zxid(1, 1), make_zxid(1, 2)]


def test_failure_detector_waits_for_a_slow_but_live_leader():
    """A leader that is slow (silent for less than syncLimit) but whose connections stay open is
    not replaced: only a closed connection or syncLimit of silence starts an election."""
    c = Cluster(5)
    c.run_until(c.serving, 100)
    ld = c.leader()
    c.up.discard(ld)  # the leader stops answering: its messages and ticks are held back ...
    for _ in range(c.cfg.sync_limit_ticks - 1):
        c.tick()
    assert all(c.peers[i].role == Role.FOLLOWING for i in c.up)
    c.up.add(ld)  # ... and comes back before syncLimit
    c.tick(3)
    assert c.serving() and c.leader() == ld and c.peers[ld].epoch == 1
