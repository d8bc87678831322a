"""The simulator runs production's host (zmqzab/host/): scenarios for the paths where its own
copy of that logic had drifted from the node's, each failing on the old copy.

Each runs on a calm simulated network with its faults injected by hand; the checkers run after
every step, and each ends with the liveness phase.
"""

from __future__ import annotations

from tests.sim.helpers import LIVENESS_TICKS, answered, followers, sync_modes, wait_serving
from zmqzab.core.roles import Phase
from zmqzab.core.settings import CoreConfig
from zmqzab.sim.simulation import SimOptions, Simulation
from zmqzab.zxid import make_zxid


def scripted(seed: int, nodes: int = 3, **kwargs) -> Simulation:
    print(f"scenario seed {seed}, {nodes} nodes")
    return Simulation(SimOptions(seed=seed, nodes=nodes, faults=False, workload=False, trace_keep=None,
                                 **kwargs))


def test_restarted_leader_diffs_from_its_disk_not_snap():
    """Goal: a node restarted after snapshots knows how far back its log on disk reaches
    (recovery's log_start), and a follower whose gap that log covers is DIFFed from the
    leader's DISK (ReadLog), as production does, not rebuilt by SNAP. (The simulator once
    started restarted nodes without log_start: they believed their disk began at their newest
    snapshot, so this production path was never simulated.)

    Setup: 3 nodes, calm network, a log window of 4 txns, a snapshot every 4 applied txns with
    3 kept (so the log on disk reaches back to the oldest kept snapshot, far before the newest).
    Faults: a follower F stops after 9 committed guesses; 8 more commit (snapshots at the 12th
    and 16th: the oldest kept is at the 8th, before F's last); then the two others crash and
    restart (every node that can lead has recovered from its data dir); then F restarts.
    Expected: F is beyond the leader's memory window but within its log on disk: the leader
    reads the gap from disk (a ``ReadLog``: "disk read for nF") and F gets DIFF, never SNAP;
    F's game then equals the leader's, and the cluster converges.
    """
    with scripted(17, core=CoreConfig(log_window_txns=4), snapshot_every_txns=4, snapshots_kept=3) as sim:
        ld = wait_serving(sim)
        lag = followers(sim, ld)[0]
        for value in range(9):
            answered(sim, sim.request(ld, value, client="a"))
        sim.run_ticks(3)
        lag_last = sim.nodes[lag].peer.zxid_last
        sim.crash(lag)
        for value in range(8):
            answered(sim, sim.request(ld, 50 + value, client="a"))
        sim.run_ticks(3)
        others = [i for i in sim.ids if i != lag]
        for i in others:
            sim.crash(i)
        for i in others:
            sim.restart(i)
        new = wait_serving(sim)
        disk = sim.nodes[new].disk.storage
        assert disk.log_start <= lag_last < max(s.zxid for s in disk.snapshots.list()), \
            "the scenario needs the leader's log on disk to cover the gap, with a newer snapshot"
        before = len(sync_modes(sim, lag))
        sim.restart(lag)
        sim.run_until(lambda: sim.nodes[lag].peer.phase == Phase.BROADCAST, 60)
        assert sync_modes(sim, lag)[before:] == ["DIFF"]
        reads = [e for e in sim.trace.entries
                 if e[1] == "node" and e[2] == new and e[3].startswith(f"disk read for n{lag} ")]
        assert reads, "the leader should have read the gap from its disk (a ReadLog)"
        sim.run_ticks(3)
        assert sim.nodes[lag].peer.state.snapshot() == sim.nodes[new].peer.state.snapshot()
        sim.check_liveness(LIVENESS_TICKS)


def test_a_refused_retry_does_not_forget_the_request_the_node_took_before():
    """Goal: a node answers a request it took when it applies its txn, even if a retry of the
    same (client, seq) came to it meanwhile and was refused: as node.py, which registers a
    waiter only once the core took the request. (The simulator's copy kept one waiter per
    (client, seq) and dropped it when the retry was refused: the answer was never given.)

    Setup: 3 nodes, calm network, an established leader L; the client does not retry by itself.
    Faults: the client's guess goes to follower F, which forwards it to L; from then on every
    message from L to F is lost, so F gives up its leader (syncLimit) while L and the third node
    commit the guess. The client retries the same request at F, which refuses it (no leader).
    Then L's messages reach F again.
    Expected: F rejoins, learns the txn (DIFF), applies it and answers the request it took
    first, with the committed zxid.
    """
    with scripted(23) as sim:
        ld = wait_serving(sim)
        f = followers(sim, ld)[0]
        request = sim.request(f, 40, client="a")
        client = next(c for c in sim.workload.clients if c.id == "a")
        client.next_tick = 10**9  # only this scenario retries it
        sim.rules.append(lambda src, dst, msg: "drop" if (src, dst) == (ld, f) else None)
        sim.run_until(lambda: sim.nodes[f].peer.phase != Phase.BROADCAST, 60)
        sim.run_until(lambda: sim.nodes[ld].peer.zxid_committed >= make_zxid(1, 1), 20)
        assert request.answer is None
        outcome = sim.attempt(f, request)
        assert outcome.startswith("refused"), outcome
        sim.rules.clear()
        answered(sim, request, 120)
        assert request.answer[1] == f and request.answer[2] == make_zxid(1, 1)
        sim.check_liveness(LIVENESS_TICKS)


def test_a_restarted_node_counts_txns_to_its_next_snapshot_from_zero():
    """Goal: the snapshot policy counts applied txns per process, as node.py does: a restarted
    node takes its next snapshot ``snapshot_every`` applied txns after it started (the txns
    after its snapshot, applied again once committed, count). (The simulator's copy kept the
    count across restarts.)

    Setup: 3 nodes, calm network, a snapshot every 4 applied txns, 2 kept.
    Faults: after 6 committed guesses (a follower F snapshots at the 4th, 2 more applied), F
    loses power and restarts; 2 more guesses commit.
    Expected: F applies the 5th and 6th again (they follow its snapshot) and the 7th and 8th:
    4 in the new process, so its next snapshot is at the 8th txn, not at the 6th.
    """
    with scripted(29, snapshot_every_txns=4, snapshots_kept=2) as sim:
        ld = wait_serving(sim)
        f = followers(sim, ld)[0]
        for value in range(6):
            answered(sim, sim.request(ld, value, client="a"))
        sim.run_ticks(3)
        disk = sim.nodes[f].disk
        assert [s.zxid for s in disk.storage.snapshots.list()] == [make_zxid(1, 4)]
        sim.crash(f)
        sim.restart(f)
        wait_serving(sim)
        for value in range(2):
            answered(sim, sim.request(ld, 10 + value, client="a"))
        sim.run_ticks(3)
        assert sim.nodes[f].peer.zxid_applied == make_zxid(1, 8)
        assert [s.zxid for s in disk.storage.snapshots.list()] == [make_zxid(1, 8), make_zxid(1, 4)]
        sim.check_liveness(LIVENESS_TICKS)


def test_one_snapshot_at_a_time_while_the_disk_is_slow():
    """Goal: a node has one snapshot in flight at most, as node.py: the next is due only once
    the writer reported the last one saved, so a slow disk never piles snapshots up. (The
    simulator's copy queued one every ``snapshot_every`` applied txns whatever the writer did.)

    Setup: 3 nodes, calm network, a snapshot every 2 applied txns.
    Faults: a follower F's fsyncs hang for 30 ticks while 6 guesses commit (the leader and the
    third node are a quorum; F applies what they commit).
    Expected: F queues its first snapshot (at the 2nd txn) and no other while it hangs; when the
    disk comes back, that one is saved, and the next one follows the txns applied after it.
    """
    with scripted(31, snapshot_every_txns=2, snapshots_kept=3) as sim:
        ld = wait_serving(sim)
        f = followers(sim, ld)[0]
        sim.stall_disk(f, 30)
        for value in range(6):
            answered(sim, sim.request(ld, value, client="a"))
        sim.run_until(lambda: sim.nodes[f].peer.zxid_applied == make_zxid(1, 6), 20)
        disk = sim.nodes[f].disk
        queued = [op.zxid for op in disk.queue + disk.inflight if type(op).__name__ == "SaveSnapshot"]
        assert queued == [make_zxid(1, 2)]
        sim.run_ticks(35)
        answered(sim, sim.request(ld, 50, client="a"))
        sim.run_ticks(3)
        saved = [s.zxid for s in disk.storage.snapshots.list()]
        assert saved == [make_zxid(1, 7), make_zxid(1, 2)]
        sim.check_liveness(LIVENESS_TICKS)
