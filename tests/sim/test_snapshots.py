"""SNAP streaming, DIFF from disk and purges under the deterministic simulator, with every
checker running after every step (zmqzab/sim)."""

from __future__ import annotations

import pytest
from tests.sim.helpers import LIVENESS_TICKS, answered, calm, followers, once, sync_modes, wait_serving
from zmqzab.core.roles import Phase
from zmqzab.core.settings import CoreConfig
from zmqzab.messages import SnapAck, SnapChunk
from zmqzab.sim import SimOptions, run_seed

pytestmark = [pytest.mark.snapshots]

CHUNKED = CoreConfig(log_window_txns=4, snap_chunk_bytes=512, snap_chunks_inflight_max=3)


def test_sim_follower_crashing_mid_snap_starts_over_and_converges():
    """Goal: a follower that dies in the middle of a SNAP transfer starts over cleanly.

    Setup: 5 nodes, calm network, window of 4 txns, snapshots in 512-byte chunks with 3 in
    flight. A follower is down while 12 guesses commit; the leader snapshots and purges its log.
    Faults: the follower crashes right after acknowledging its 2nd chunk (a crash point in the
    middle of the stream); it restarts 3 ticks later.
    Expected: nothing of the partial snapshot reached its disk; it gets a new SNAP from chunk 0,
    installs it, its game equals the leader's; every checker holds; the cluster converges.
    """
    with calm(seed=31, core=CHUNKED, clients=5) as sim:
        ld = wait_serving(sim)
        lag = followers(sim, ld)[0]
        sim.crash(lag)
        for value in range(12):
            answered(sim, sim.request(ld, value, client=f"c{value % 4}"))
        sim.run_ticks(2)
        sim.compact(ld)
        rule = once(lambda n, out: n == lag and any(isinstance(s.msg, SnapAck) and s.msg.index == 1
                                                    for s in out.sends), 0)
        sim.crash_rule = rule
        sim.restart(lag)
        sim.run_until(lambda: bool(rule.fired), 60)
        assert not sim.nodes[lag].up
        sim.crash_rule = None
        sim.run_ticks(3)
        chunks_before = sum(1 for e in sim.trace.entries if e[1] == "msg" and isinstance(e[4], SnapChunk))
        sim.restart(lag)
        sim.run_until(lambda: sim.nodes[lag].peer.phase == Phase.BROADCAST, 80)
        assert sync_modes(sim, lag)[-1] == "SNAP"
        again = [e[4].index for e in sim.trace.entries if e[1] == "msg" and isinstance(e[4], SnapChunk)]
        second = again[chunks_before:]
        assert second == list(range(len(second))) and len(second) > 2  # all of it, from chunk 0
        sim.run_ticks(3)
        assert sim.nodes[lag].peer.state.snapshot() == sim.nodes[ld].peer.state.snapshot()
        sim.check_liveness(LIVENESS_TICKS)


def test_sim_diff_from_disk_then_restarts_after_purges_recover():
    """Goal: a follower behind the memory window but not the disk gets a DIFF read from disk,
    and nodes that snapshot and purge recover the same state after a restart.

    Setup: 5 nodes, calm network, window of 4 txns. A follower is down while 15 guesses commit.
    Faults: none on the network; every node compacts (snapshot + purge, 2 kept) twice along the
    way; then every node is crashed and restarted.
    Expected: the follower's sync is a DIFF "from disk" (no SNAP); after the restarts each node
    recovers from its newest snapshot; the checkers (equal state at equal zxid, committed
    prefixes agree) hold; the cluster converges.
    """
    with calm(seed=32, core=CHUNKED) as sim:
        ld = wait_serving(sim)
        lag = followers(sim, ld)[0]
        sim.crash(lag)
        for value in range(15):
            answered(sim, sim.request(ld, value, client="a"))
        sim.restart(lag)
        sim.run_until(lambda: sim.nodes[lag].peer.phase == Phase.BROADCAST, 60)
        assert sync_modes(sim, lag)[-1] == "DIFF"
        assert any(e[1] == "node" and e[2] == ld and "disk read" in e[3] and "txns sent" in e[3]
                   for e in sim.trace.entries)
        for round_ in range(2):
            for value in range(6):
                answered(sim, sim.request(ld, value, client="b"))
            sim.run_ticks(3)
            for i in sim.ids:
                sim.compact(i, kept=2)
        for i in sim.ids:
            sim.crash(i)
        for i in sim.ids:
            sim.restart(i)
        sim.check_liveness(LIVENESS_TICKS)


def test_sim_seeds_with_periodic_snapshots_small_windows_and_chunks():
    """Goal: random faults (crashes, torn writes, drops, partitions...) against periodic
    snapshots and purges, SNAP in chunks and DIFF from disk. Setup: 12 seeds, 5 nodes, window
    4, 512-byte chunks with credit 3, a snapshot every 5 applied txns with 2 kept. Expected: no
    violation: every restart after a purge recovers a state equal to the committed history's
    (each seed prints its number; a failure shows the trace tail)."""
    for seed in range(9001, 9013):
        print(f"seed {seed}")
        result = run_seed(seed, ticks=200, core=CHUNKED, snapshot_every_txns=5, snapshots_kept=2)
        assert result.ok, f"seed {seed}: {result.violation}\n" + "\n".join(result.trace_tail[-25:])
