"""Scripted scenarios on the simulator: the classic ways ZAB implementations lose data.

Each scenario runs on a calm simulated network and injects its faults by hand; the checkers
(zmqzab/sim/checkers.py) run after every step all the same, and every scenario ends with the
liveness phase (heal everything; one leader, equal commits, every request answered).
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from tests.sim.helpers import (
    LIVENESS_TICKS,
    answered,
    calm,
    followers,
    kind_rule,
    once,
    sends_kind,
    sync_modes,
    wait_serving,
)
from zmqzab.core.output import InstallSnapshot, Truncate
from zmqzab.core.roles import Phase, Role
from zmqzab.core.settings import CoreConfig
from zmqzab.messages import Proposal
from zmqzab.zxid import make_zxid, zxid_epoch


def committed_keys(sim) -> list[tuple[str, int]]:
    """(client, seq) of every txn in the committed history, in order."""
    return [(sim.checkers.gtxn[z].op.client_id, sim.checkers.gtxn[z].op.seq) for z in sim.checkers.gz]


def test_leader_crashes_after_its_proposal_reached_exactly_one_follower():
    """Goal: a txn that reached one follower only when the leader died is neither half-lost
    nor applied twice, and its client learns the outcome exactly once.

    Setup: 5 nodes, calm network, an established leader, one committed guess.
    Faults: the leader's next PROPOSAL is dropped on its way to every follower but one (F), and
    the leader crashes right after sending it, before any ACK can come back.
    Expected: F's log is now the longest, so F wins the next election (votes order by the last
    logged zxid, ZAB_CHECKLIST #1) and commits the txn with its history in epoch 2. The client's
    request to the dead leader times out; its retry is answered with the original result at the
    original zxid 1:2; the txn is in the committed history once; the cluster converges after the
    old leader restarts.
    """
    with calm(seed=11) as sim:
        ld = wait_serving(sim)
        answered(sim, sim.request(ld, 40, client="a"))
        lucky = followers(sim, ld)[0]
        sim.rules.append(lambda s, d, m: "drop" if s == ld and isinstance(m, Proposal) and d != lucky else None)
        sim.crash_rule = once(lambda n, out: n == ld and sends_kind(out, "PROPOSAL"), point=1)
        request = sim.request(ld, 60, client="b")
        assert not sim.nodes[ld].up, "the leader should have crashed after sending its PROPOSAL"
        sim.rules.clear()
        new = wait_serving(sim)
        assert new == lucky
        assert sim.nodes[new].peer.epoch == 2
        answered(sim, request)
        assert request.answer[2] == make_zxid(1, 2)
        assert [a for a in request.attempts if a[2] == "taken"][0][1] == ld
        assert committed_keys(sim).count(("b", 1)) == 1
        sim.check_liveness(LIVENESS_TICKS)


def test_leader_isolated_in_a_minority():
    """Goal: a leader cut off with a minority can neither commit nor block the majority.

    Setup: 5 nodes, calm network, an established leader L, one committed guess.
    Faults: L and one follower are partitioned from the other three; a client sends a guess to L
    during the partition; later the partition heals.
    Expected: L cannot commit (2 of 5), steps down within syncLimit (ZAB_CHECKLIST #26); the
    majority elects a leader of epoch 2 and commits new writes. The guess sent to L is never
    answered from epoch 1: it is committed (once) only through a retry in epoch 2. After the heal
    L's uncommitted txn is cut away (TRUNC) and every node converges.
    """
    with calm(seed=12) as sim:
        ld = wait_serving(sim)
        answered(sim, sim.request(ld, 10, client="a"))
        buddy = followers(sim, ld)[0]
        rest = [i for i in sim.ids if i not in (ld, buddy)]
        sim.partition([[ld, buddy], rest])
        stranded = sim.request(ld, 20, client="b")
        limit = sim.core.sync_limit_ticks
        sim.run_until(lambda: sim.nodes[ld].peer.role == Role.LOOKING, limit + 3)
        sim.run_until(lambda: sim.established_leader() in rest, 60)
        new = sim.established_leader()
        assert sim.nodes[new].peer.epoch == 2
        fresh = sim.request(new, 30, client="c")
        answered(sim, fresh)
        assert zxid_epoch(fresh.answer[2]) == 2
        sim.run_ticks(30)
        sim.heal()
        sim.check_liveness(LIVENESS_TICKS)
        assert stranded.answer is not None and zxid_epoch(stranded.answer[2]) == 2
        assert committed_keys(sim).count(("b", 1)) == 1
        assert make_zxid(1, 2) not in sim.checkers.gtxn
        assert sync_modes(sim, ld)[-1] == "TRUNC"


def test_follower_with_uncommitted_txns_from_an_old_epoch_is_truncated():
    """Goal: txns that only a follower logged in an old epoch never reach the committed history.

    Setup: 5 nodes, calm network, leader L, one committed guess (1:1).
    Faults: L and F are cut off from the rest while L proposes 1:2 and 1:3 (only F logs them,
    nothing commits); then L and F crash and the partition heals. The
    other three elect a leader of epoch 2 and commit a new guess; then F restarts.
    Expected: the new leader sends F a TRUNC to 1:1 (the last zxid both logs hold, inside
    epoch 1, ZAB_CHECKLIST #11), then the epoch-2 txns; 1:2 and 1:3 are gone from F's log and
    were never applied anywhere; every node converges to the same state.
    """
    with calm(seed=13) as sim:
        ld = wait_serving(sim)
        answered(sim, sim.request(ld, 10, client="a"))
        f = followers(sim, ld)[0]
        sim.partition([[ld, f], [i for i in sim.ids if i not in (ld, f)]])
        sim.request(ld, 20, client="b")
        sim.request(ld, 21, client="c")
        sim.run_ticks(2)
        assert sim.nodes[f].peer.zxid_last == make_zxid(1, 3)
        assert sim.nodes[ld].peer.zxid_committed == make_zxid(1, 1)
        sim.crash(ld)
        sim.crash(f)
        sim.heal()
        new = wait_serving(sim)
        answered(sim, sim.request(new, 50, client="d"))
        sim.restart(f)
        sim.run_until(lambda: sim.nodes[f].peer.phase == Phase.BROADCAST, 60)
        assert sync_modes(sim, f)[-1] == "TRUNC"
        held = sim.nodes[f].peer.log.zxids
        assert make_zxid(1, 2) not in held and make_zxid(1, 3) not in held
        sim.restart(ld)
        sim.check_liveness(LIVENESS_TICKS)
        assert make_zxid(1, 2) not in sim.checkers.gtxn and make_zxid(1, 3) not in sim.checkers.gtxn


def test_follower_beyond_the_leaders_window_gets_snap():
    """Goal: a follower further behind than the leader's log (in memory and on disk) is rebuilt
    by SNAP.

    Setup: 5 nodes, calm network, log window of 4 txns (CoreConfig.log_window_txns).
    Faults: a follower is down while 12 guesses commit; the leader snapshots and purges its log
    (Simulation.compact); then the follower restarts.
    Expected: the leader cannot DIFF from the follower's last zxid (it left the window and the
    disk), so it sends SNAP: the game at its committed zxid, then the txns after it
    (ZAB_CHECKLIST #11, #15).
    The follower's game equals the leader's; restarts later replay from its saved snapshot.
    """
    with calm(seed=14, core=CoreConfig(log_window_txns=4)) as sim:
        ld = wait_serving(sim)
        lag = followers(sim, ld)[0]
        sim.crash(lag)
        for value in range(12):
            answered(sim, sim.request(ld, value, client="a"))
        sim.run_ticks(2)
        sim.compact(ld)
        sim.restart(lag)
        sim.run_until(lambda: sim.nodes[lag].peer.phase == Phase.BROADCAST, 60)
        assert sync_modes(sim, lag)[-1] == "SNAP"
        sim.run_ticks(3)
        assert sim.nodes[lag].peer.state.snapshot() == sim.nodes[ld].peer.state.snapshot()
        sim.crash(lag)
        sim.restart(lag)  # recovers from the snapshot it installed
        sim.check_liveness(LIVENESS_TICKS)


MESSAGE_KINDS = ["VOTE", "FOLLOWERINFO", "LEADERINFO", "ACKEPOCH", "SYNC", "SNAPCHUNK", "SNAPACK",
                 "TXNS", "NEWLEADER", "ACK", "UPTODATE", "PROPOSAL", "COMMIT", "PING", "FETCH",
                 "FORWARD"]
#: SNAP (in small chunks) only happens to a follower behind the leader's window.
SNAP_KINDS = {"SNAPCHUNK", "SNAPACK"}


@pytest.mark.parametrize("mode", ["duplicate", "reorder"])
@pytest.mark.parametrize("kind", MESSAGE_KINDS)
def test_duplicates_and_reordering_of_every_message_kind(kind, mode):
    """Goal: no message kind relies on arriving exactly once, or in order.

    Setup: 5 nodes, calm network, clients writing all along, sync batches of 2 txns (for the
    SNAP kinds: a window of 4 txns and 64-byte snapshot chunks, so the restart gets SNAP).
    Faults: once a leader is established, every message of ``kind`` is delivered twice
    (duplicate), or held up by 0 to 1.5 ticks outside its connection's FIFO order (reorder). To
    make every kind appear: a follower crashes and restarts (DIFF sync; SNAP for the SNAP kinds,
    the leader having compacted its log), every third PROPOSAL to it is lost (FETCH repairs),
    and the leader crashes (election, discovery, sync).
    Expected: every safety checker holds after every step. Duplicates go on through the
    liveness phase; reordering stops there (a real connection is FIFO, and a sync stream that
    arrived out of order is given up and redone). Then: one leader, equal commits, every
    request answered; and messages of ``kind`` were really tampered with.
    """
    core = (CoreConfig(sync_batch_txns=2, log_window_txns=4, snap_chunk_bytes=64)
            if kind in SNAP_KINDS else CoreConfig(sync_batch_txns=2))
    with calm(seed=15, workload=True, core=core) as sim:
        tampered = [0]
        rng = random.Random(f"{kind}/{mode}")
        verdict = "dup" if mode == "duplicate" else (lambda: rng.randint(0, 150))
        ld = wait_serving(sim)
        tampering = kind_rule(kind, verdict, tampered)
        sim.rules.append(tampering)
        sim.run_ticks(15)
        f = followers(sim, ld)[-1]
        sim.crash(f)
        sim.run_ticks(15)
        if kind in SNAP_KINDS:
            sim.compact(sim.established_leader() or ld)  # f is now behind the leader's disk too
        sim.restart(f)
        proposals = [0]

        def lossy(src, dst, msg):
            if dst == f and isinstance(msg, Proposal):
                proposals[0] += 1
                return "drop" if proposals[0] % 3 == 0 else None
            return None

        sim.rules.append(lossy)
        sim.run_ticks(30)
        sim.crash(sim.established_leader() or ld)
        sim.run_ticks(30)
        if mode == "reorder":
            # One connection never reorders on a real DEALER: the core may give up a sync whose
            # stream arrived out of order (and retry), so liveness is required once it stops.
            sim.rules.remove(tampering)
        sim.check_liveness(LIVENESS_TICKS)
        assert tampered[0] > 0, f"no {kind} message was sent in this scenario"


def _leading(sim, n: int) -> bool:
    p = sim.nodes[n].peer
    return p is not None and p.role == Role.LEADING


def _following(sim, n: int) -> bool:
    p = sim.nodes[n].peer
    return p is not None and p.role == Role.FOLLOWING


#: (name, who, Output test, crash point): -1 crashes before the Output is carried out, k after
#: its epoch write, its log hand-off and k of its sends.
SYNC_CRASH_POINTS = [
    ("leader before writing acceptedEpoch", "leader",
     lambda out: out.epochs is not None and sends_kind(out, "LEADERINFO"), -1),
    ("leader after acceptedEpoch, before LEADERINFO", "leader",
     lambda out: out.epochs is not None and sends_kind(out, "LEADERINFO"), 0),
    ("leader after LEADERINFO to one follower", "leader",
     lambda out: out.epochs is not None and sends_kind(out, "LEADERINFO"), 1),
    ("follower before persisting acceptedEpoch", "follower",
     lambda out: out.epochs is not None and sends_kind(out, "ACKEPOCH"), -1),
    ("follower after acceptedEpoch, before ACKEPOCH", "follower",
     lambda out: out.epochs is not None and sends_kind(out, "ACKEPOCH"), 0),
    ("leader after currentEpoch, before any sync stream", "leader",
     lambda out: out.epochs is not None and sends_kind(out, "SYNC"), 0),
    ("leader in the middle of a sync stream", "leader",
     lambda out: sends_kind(out, "SYNC") and len(out.sends) > 3, 2),
    ("follower after NEWLEADER's txns are durable, before currentEpoch", "follower",
     lambda out: out.epochs is not None and sends_kind(out, "ACK"), -1),
    ("follower after currentEpoch, before NEWLEADER's ACK", "follower",
     lambda out: out.epochs is not None and sends_kind(out, "ACK"), 0),
    ("leader established, before any UPTODATE", "leader",
     lambda out: sends_kind(out, "UPTODATE"), 0),
    ("leader after UPTODATE to one follower", "leader",
     lambda out: sends_kind(out, "UPTODATE") and len(out.sends) > 2, 1),
    ("follower on UPTODATE, before applying", "follower",
     lambda out: any(t.event == "role" and "UPTODATE" in t.text for t in out.traces), 99),
]


@pytest.mark.parametrize("name,who,test,point", SYNC_CRASH_POINTS, ids=[p[0] for p in SYNC_CRASH_POINTS])
def test_crash_at_each_step_of_the_sync_phase(name, who, test, point):
    """Goal: a crash between any persist and any send of discovery and sync loses nothing
    committed and leaves no node unable to rejoin (ZAB_CHECKLIST: crash points of the sync phase).

    Setup: 5 nodes, calm network; four guesses committed, one follower (B) down for the last
    three of them, so the next sync has real txns to DIFF.
    Faults: the leader crashes and B restarts; in the election, discovery and sync that follow,
    the first node (leader or follower, per case) whose Output matches the case crashes at that
    point: before the Output, or after its epoch write and log hand-off and k of its sends.
    It restarts 5 ticks later.
    Expected: every checker holds after every step (epochs never go back, no second leader of an
    epoch, committed txns in every later leader's history); the cluster converges.
    """
    with calm(seed=16) as sim:
        ld = wait_serving(sim)
        answered(sim, sim.request(ld, 1, client="a"))
        behind = followers(sim, ld)[0]
        sim.crash(behind)
        for value in (2, 3, 4):
            answered(sim, sim.request(ld, value, client="a"))
        committed_before = list(sim.checkers.gz)
        role_ok = _leading if who == "leader" else _following
        rule = once(lambda n, out: role_ok(sim, n) and test(out), point)
        sim.crash_rule = lambda n, out: _clamp(rule, n, out)
        sim.crash(ld)
        sim.restart(behind)
        sim.run_until(lambda: bool(rule.fired), 80)
        victim = rule.fired[0]
        sim.run_ticks(5)
        sim.restart(victim)
        if sim.nodes[ld].up is False:
            sim.restart(ld)
        sim.check_liveness(LIVENESS_TICKS)
        assert sim.checkers.gz[: len(committed_before)] == committed_before


def _clamp(rule, n, out):
    point = rule(n, out)
    return None if point is None else min(point, len(out.sends))


@pytest.mark.parametrize("op", ["TRUNC", "SNAP"])
def test_crash_after_trunc_or_snap_handed_to_the_writer(op):
    """Goal: a follower that dies after its TRUNC or SNAP went to the writer, before it was
    durable, recovers to a consistent log (ZAB_CHECKLIST #15, ZK-3642).

    Setup: as the TRUNC scenario (a follower holding uncommitted epoch-1 txns) or the SNAP one
    (a follower behind a window of 4 txns and the leader's purged log).
    Faults: the follower crashes right after the Output that hands the Truncate (on SyncStart)
    or the InstallSnapshot (on NEWLEADER, with the synced txns) to its writer; the writer's
    batch is lost. It restarts 3 ticks later.
    Expected: it recovers its old log (nothing of the sync is on disk), syncs again, converges.
    """
    core = CoreConfig(log_window_txns=4) if op == "SNAP" else None
    kind = Truncate if op == "TRUNC" else InstallSnapshot
    with calm(seed=17, core=core) as sim:
        ld = wait_serving(sim)
        answered(sim, sim.request(ld, 10, client="a"))
        f = followers(sim, ld)[0]
        if op == "TRUNC":
            sim.partition([[ld, f], [i for i in sim.ids if i not in (ld, f)]])
            sim.request(ld, 20, client="b")
            sim.run_ticks(2)
            sim.crash(ld)
            sim.crash(f)
            sim.heal()
            new = wait_serving(sim)
            answered(sim, sim.request(new, 50, client="d"))
        else:
            sim.crash(f)
            for value in range(10):
                answered(sim, sim.request(ld, value, client="a"))
            sim.run_ticks(2)
            sim.compact(ld)
        rule = once(lambda n, out: n == f and any(type(o) is kind for o in out.log), 0)
        sim.crash_rule = rule
        sim.restart(f)
        sim.run_until(lambda: bool(rule.fired), 60)
        assert not sim.nodes[f].up
        sim.run_ticks(3)
        sim.restart(f)
        sim.run_until(lambda: sim.nodes[f].peer.phase == Phase.BROADCAST, 80)
        assert sync_modes(sim, f)[-1] == op
        sim.check_liveness(LIVENESS_TICKS)


@pytest.mark.parametrize("stale", [0.0, 1.0])
def test_connection_flap_between_the_leader_and_a_follower(stale):
    """Goal: a flap (both ends' connections close and reopen) is told to both ends, and what
    was in flight on the old connection is lost or arrives late, without harm.

    Setup: 5 nodes, calm network; a follower F's client write is forwarded to the leader.
    Faults: right after the FORWARD leaves, the connections of F and the leader flap; in-flight
    messages are lost (stale 0) or arrive after the new connection's (stale 1).
    Expected: F re-elects at once ("connection to leader node ... closed") and is following
    again within initLimit; the leader keeps its quorum; the write commits exactly once (the
    client retries if it was lost); the liveness phase passes, with its fresh write.
    """
    with calm(seed=31) as sim:
        sim.profile = replace(sim.profile, stale_delivery=stale)
        ld = wait_serving(sim)
        f = followers(sim, ld)[0]
        request = sim.request(f, 42, client="a")
        sim.flap(ld, f)
        sim.run_ticks(2)
        lost = [e for e in sim.trace.entries if e[1] == "lost" and "its connection flapped" in str(e)]
        assert (sim.counters["stale_delivery"] > 0, bool(lost)) == (stale > 0, stale == 0)
        assert any(entry[1] == "node" and entry[2] == f and "connection to leader node" in entry[3]
                   for entry in sim.trace.entries)
        sim.run_until(lambda: sim.nodes[f].peer.role == Role.FOLLOWING
                      and sim.nodes[f].peer.phase == Phase.BROADCAST, sim.core.init_limit_ticks)
        assert sim.established_leader() == ld
        answered(sim, request)
        assert committed_keys(sim).count(("a", 1)) == 1
        sim.check_liveness(LIVENESS_TICKS)

