"""Core scenarios: a real Peer per node, driven by ticks and FIFO delivery (tests/core/harness.py).

Each test names the ZAB_CHECKLIST item it covers. No sockets, no files, no clock.
"""

import random

import pytest

from tests.core.harness import Cluster, make_state
from zmqzab.core.election import better
from zmqzab.core.errors import NotReady
from zmqzab.core.leader import choose_sync
from zmqzab.core.peer import Peer, Recovered
from zmqzab.core.roles import Phase, Role
from zmqzab.core.settings import CoreConfig
from zmqzab.messages import Ack, AckEpoch, FollowerInfo, Guess, LeaderInfo, Notification, SyncStart, Txn, Vote
from zmqzab.zxid import fmt_zxid, make_zxid


def committed(c: Cluster) -> dict[int, str]:
    return {i: fmt_zxid(c.peers[i].zxid_committed) for i in sorted(c.up)}


def elect(c: Cluster) -> int:
    c.run_until(c.serving, 200)
    return c.leader()


def test_vote_order_epoch_then_zxid_then_id():
    """#1: (currentEpoch, last logged zxid, id)."""
    assert better(Vote(1, 5, 2), Vote(4, 9, 1))  # higher epoch wins over a longer log
    assert better(Vote(1, 9, 1), Vote(4, 5, 1))
    assert better(Vote(4, 5, 1), Vote(1, 5, 1))
    assert not better(Vote(0, 0, 0), Vote(1, 0, 0))


@pytest.mark.parametrize("n", [1, 3, 5, 7])
def test_elects_one_leader_and_commits_everywhere(n):
    c = Cluster(n)
    ld = elect(c)
    assert sum(1 for i in c.ids if c.peers[i].role == Role.LEADING) == 1
    c.submit(ld, 50, "a", 1)
    c.submit(c.ids[-1 if ld != c.ids[-1] else 0], 10, "b", 1)  # through a follower when n > 1
    c.tick(2)
    assert set(committed(c).values()) == {"1:2"}
    for i in c.ids:
        assert c.peers[i].state.view()["target"] == 50
        assert c.disks[i].current == 1 and c.disks[i].accepted == 1


def test_empty_history_never_beats_a_history():
    """#2 (ZK-261): a wiped node must not win against nodes that have a log."""
    c = Cluster(3)
    ld = elect(c)
    c.submit(ld, 7)
    c.tick(2)
    for i in c.ids:
        c.crash(i)
    wiped = max(c.ids)  # the highest id would win a tie
    c.disks[wiped] = type(c.disks[wiped])()
    for i in c.ids:
        c.start(i)
    ld2 = elect(c)
    assert ld2 != wiped
    c.tick(2)
    assert c.peers[wiped].state.view()["target"] == 7  # and it was brought back by the leader


def test_ack_only_after_fsync_and_no_commit_without_quorum():
    """#18/#19: nothing is ACKed before the writer reports it durable; no commit without a quorum."""
    c = Cluster(3)
    ld = elect(c)
    c.auto_persist = False
    c.submit(ld, 42)
    assert not any(isinstance(m, Ack) and m.zxid == make_zxid(1, 1) for _, _, m in c.delivered)
    assert c.peers[ld].zxid_committed == 0
    follower = next(i for i in c.ids if i != ld)
    c.persist(follower)
    c.settle()
    assert c.peers[ld].zxid_committed == 0  # one follower ACK, but the leader itself is not durable
    c.persist(ld)
    c.settle()
    assert c.peers[ld].zxid_committed == make_zxid(1, 1)


def test_leader_crash_reelects_and_keeps_committed():
    c = Cluster(5)
    ld = elect(c)
    for s in range(1, 4):
        c.submit(ld, 10 * s, "a", s)
    c.tick(1)
    c.crash(ld)
    t = c.run_until(c.serving, 100)
    ld2 = c.leader()
    assert ld2 != ld and t <= c.cfg.sync_limit_ticks + 10
    assert c.peers[ld2].epoch == 2
    c.submit(ld2, 99, "b", 1)
    c.tick(1)
    assert set(committed(c).values()) == {"2:1"}
    # the restarted old leader catches up by DIFF
    c.start(ld)
    c.run_until(lambda: c.peers[ld].phase == Phase.BROADCAST, 100)
    c.tick(2)
    assert c.peers[ld].zxid_committed == make_zxid(2, 1)
    assert c.peers[ld].last_sync["mode"] == "DIFF"


def test_restarted_node_joins_established_leader():
    """#5 (ZK-1732): a node that starts while a leader is established follows it."""
    c = Cluster(5)
    ld = elect(c)
    c.crash(0 if ld != 0 else 1)
    rejoin = 0 if ld != 0 else 1
    c.start(rejoin)
    c.run_until(c.serving, 50)
    assert c.leader() == ld
    assert c.peers[ld].epoch == 1  # no new election was needed


def test_uncommitted_txn_from_old_epoch_is_truncated():
    """#11, #20: a follower holding a txn the new leader never saw is cut back (TRUNC)."""
    c = Cluster(3)
    ld = elect(c)
    c.submit(ld, 30, "a", 1)
    c.tick(1)
    others = [i for i in c.ids if i != ld]
    # the leader proposes one more txn, logs it, then is cut off before anyone else gets it
    c.partition({ld}, set(others))
    c.execute(ld, c.peers[ld].submit([Guess("a", 2, 31)]))
    c.settle()
    assert c.peers[ld].zxid_last == make_zxid(1, 2)
    c.crash(ld)
    c.heal()
    c.run_until(c.serving, 100)
    new = c.leader()
    c.submit(new, 60, "b", 1)
    c.tick(1)
    c.start(ld)
    c.run_until(lambda: c.peers[ld].phase == Phase.BROADCAST, 100)
    c.tick(2)
    assert c.peers[ld].last_sync["mode"] == "TRUNC"
    assert [t.zxid for t in c.disks[ld].txns] == [make_zxid(1, 1), make_zxid(2, 1)]
    assert c.peers[ld].state.view()["target"] == 30


def test_far_behind_follower_gets_snap():
    """#11: a follower behind the leader's log (memory window and purged disk) gets SNAP, then
    the rest."""
    c = Cluster(3, cfg=CoreConfig(log_window_txns=5))
    ld = elect(c)
    lagger = next(i for i in c.ids if i != ld)
    c.crash(lagger)
    for s in range(1, 21):
        c.submit(ld, s % 100, "a", s)
    c.tick(1)
    purged = c.peers[ld].log.base  # the leader's disk keeps no more than its memory does
    c.disks[ld].purge(purged)
    c.peers[ld].log_purged(purged)
    c.start(lagger)
    c.run_until(lambda: c.peers[lagger].phase == Phase.BROADCAST, 100)
    c.tick(2)
    assert c.peers[lagger].last_sync["mode"] == "SNAP"
    assert c.peers[lagger].zxid_committed == c.peers[ld].zxid_committed
    assert c.peers[lagger].state.snapshot() == c.peers[ld].state.snapshot()


def test_choose_sync_never_truncates_across_an_unseen_epoch():
    """#11: follower ends in an epoch the leader never saw -> SNAP, not TRUNC."""
    p = Peer(0, [0, 1, 2], CoreConfig(), random.Random(0), make_state,
             Recovered(2, 2, 0, None, [Txn(make_zxid(1, 1), Guess("a", 1, 5)), Txn(make_zxid(2, 1), Guess("a", 2, 6))]))
    assert choose_sync(p, make_zxid(2, 1), 0)[0] == "DIFF"
    assert choose_sync(p, make_zxid(1, 1), 0)[:2] == ("DIFF", make_zxid(1, 1))
    assert choose_sync(p, make_zxid(2, 3), 0)[:2] == ("TRUNC", make_zxid(2, 1))
    assert choose_sync(p, make_zxid(1, 4), 0)[:2] == ("TRUNC", make_zxid(1, 1))
    assert choose_sync(p, make_zxid(3, 2), 0)[0] == "SNAP"
    assert choose_sync(p, make_zxid(0, 0), 0)[0] == "DIFF"


def test_follower_rejects_stale_leaderinfo_and_persists_accepted_before_ackepoch():
    """#8: acceptedEpoch is written in the Output that sends ACKEPOCH; a lower epoch is refused."""
    p = Peer(1, [0, 1, 2], CoreConfig(), random.Random(1), make_state, Recovered(accepted_epoch=3, current_epoch=3))
    p.start()
    p.step(0, Notification(1, Role.LEADING, Vote(0, 0, 3)))
    p.step(2, Notification(1, Role.FOLLOWING, Vote(0, 0, 3)))
    assert p.role == Role.FOLLOWING
    session = p.following.session
    out = p.step(0, LeaderInfo(session=session, epoch=4))
    assert out.epochs.accepted_epoch == 4
    assert isinstance(out.sends[0].msg, AckEpoch)
    p2 = Peer(1, [0, 1, 2], CoreConfig(), random.Random(1), make_state, Recovered(accepted_epoch=5, current_epoch=3))
    p2.start()
    p2.step(0, Notification(1, Role.LEADING, Vote(0, 0, 3)))
    p2.step(2, Notification(1, Role.FOLLOWING, Vote(0, 0, 3)))
    p2.step(0, LeaderInfo(session=p2.following.session, epoch=4))
    assert p2.role == Role.LOOKING


def test_leader_gives_up_when_ackepoch_shows_newer_history():
    """#9."""
    p = Peer(0, [0, 1, 2], CoreConfig(), random.Random(0), make_state)
    p.start()
    p.step(1, Notification(1, Role.LOOKING, Vote(0, 0, 0)))
    p.tick(); p.tick(); p.tick()
    assert p.role == Role.LEADING
    p.step(1, FollowerInfo(session=7, accepted_epoch=0, zxid_last=0))
    assert p.leading.epoch == 1
    p.step(1, AckEpoch(session=7, epoch=1, current_epoch=1, zxid_last=make_zxid(1, 4)))
    assert p.role == Role.LOOKING


def test_leader_in_minority_steps_down_and_majority_moves_on():
    """#26: an isolated leader loses its quorum within syncLimit; the majority elects anew."""
    c = Cluster(5)
    ld = elect(c)
    rest = set(c.ids) - {ld}
    c.partition({ld}, rest)
    c.tick(c.cfg.sync_limit_ticks + 2)
    assert c.peers[ld].role == Role.LOOKING
    c.run_until(lambda: any(c.peers[i].role == Role.LEADING and c.peers[i].phase == Phase.BROADCAST for i in rest), 100)
    with pytest.raises(NotReady):
        c.peers[ld].submit([Guess("x", 1, 1)])
    c.heal()
    c.run_until(c.serving, 100)
    assert c.leader() != ld


def test_epochs_never_go_back_across_restarts():
    """#10: accepted >= current, and both only grow."""
    c = Cluster(3)
    seen = {i: (0, 0) for i in c.ids}
    for round_ in range(4):
        ld = elect(c)
        for i in c.ids:
            d = c.disks[i]
            assert d.accepted >= d.current
            assert (d.accepted, d.current) >= seen[i]
            seen[i] = (d.accepted, d.current)
        c.crash(ld)
        c.start(ld)
    assert max(c.disks[i].current for i in c.ids) >= 3


def test_zxid_counter_exhaustion_forces_new_epoch():
    """#22 (ZK-1277)."""
    c = Cluster(3, cfg=CoreConfig(zxid_counter_max=3))
    ld = elect(c)
    for s in range(1, 4):
        c.submit(ld, s, "a", s)
    with pytest.raises(NotReady):
        c.execute(ld, c.peers[ld].submit([Guess("a", 4, 4)]))
    c.run_until(c.serving, 100)
    assert c.peers[c.leader()].epoch == 2


def test_a_retried_request_is_logged_once():
    """Exactly-once without duplicates in the log: a retry of an in-flight or applied request
    (same client, seq), through another node, is not proposed again."""
    c = Cluster(3)
    ld = elect(c)
    f1, f2 = [i for i in c.ids if i != ld]
    c.auto_persist = False
    c.execute(f1, c.peers[f1].submit([Guess("c", 1, 10)]))
    c.settle()
    c.execute(f2, c.peers[f2].submit([Guess("c", 1, 10)]))  # the client's retry, still in flight
    c.settle()
    c.auto_persist = True
    c.tick(2)
    c.submit(ld, 10, "c", 1)  # a retry after it was applied
    c.tick(2)
    for i in c.ids:
        assert [t.zxid for t in c.disks[i].txns] == [make_zxid(1, 1)]
        assert [r.kind for _, r in c.applied[i]] == ["target_set"]


def test_closed_connection_to_the_leader_starts_an_election_at_once():
    """Issue 8's fast failure detector: a dead peer's connection closing is a faster signal than
    a missed heartbeat. Followers re-elect without waiting syncLimit; a leader that loses its
    quorum's connections steps down."""
    c = Cluster(5)
    ld = elect(c)
    c.crash(ld)
    for i in sorted(c.up):
        c.execute(i, c.peers[i].peer_unreachable(ld))
    assert all(c.peers[i].role == Role.LOOKING for i in c.up)
    t = c.run_until(c.serving, 50)
    assert t < c.cfg.sync_limit_ticks
    ld2 = c.leader()
    first, second, _ = [i for i in c.ids if i not in (ld, ld2)]
    c.execute(ld2, c.peers[ld2].peer_unreachable(first))
    assert c.peers[ld2].role == Role.LEADING  # itself and two followers: still a quorum of 5
    c.execute(ld2, c.peers[ld2].peer_unreachable(second))
    assert c.peers[ld2].role == Role.LOOKING
