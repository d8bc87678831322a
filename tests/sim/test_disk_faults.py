"""Scenarios of the simulated disk's faults: bit rot that recovery must refuse, and the
operator's resync that brings the node back."""

from __future__ import annotations

import pytest

from zmqzab.sim import SimOptions, Simulation, run_seed
from zmqzab.storage.snapshot import PREFIX_SIZE
from zmqzab.storage.txnlog import list_segments

from tests.sim.helpers import LIVENESS_TICKS, followers, wait_serving

pytestmark = [pytest.mark.storage]


def test_bit_rot_in_the_only_snapshot_is_refused_then_resynced():
    """Goal: a damaged snapshot over a purged log stops the node (issue 11 defect 2), and the
    operator's resync heals it. Setup: 5 nodes, calm, clients writing, a snapshot every 5 txns
    keeping 1 (each purge deletes the log before the newest snapshot). Faults: a follower
    crashes; a bit flips in its snapshot's data. Expected: its restart is refused naming the
    snapshot and --resync, recorded as a refused start (not a violation); the operator wipes and
    restarts it once the others hold everything; the cluster converges with it."""
    options = SimOptions(seed=3, faults=False, workload=True, trace_keep=None,
                         snapshot_every_txns=5, snapshots_kept=1)
    print(f"scenario seed {options.seed}")
    with Simulation(options) as sim:
        ld = wait_serving(sim)
        f = followers(sim, ld)[0]
        disk = sim.nodes[f].disk

        def purged() -> bool:
            segs = list_segments(disk.dir / "log")
            snaps = list((disk.dir / "snap").glob("snapshot.*"))
            return bool(snaps) and bool(segs) and segs[0].first_zxid > 1 << 32 | 1

        sim.run_until(purged, 200)
        sim.crash(f)
        snap = sorted((disk.dir / "snap").glob("snapshot.*"))[-1]
        disk.cache.rot(snap, PREFIX_SIZE + 2)
        disk.rotted.add(f"snap/{snap.name}")
        sim.restart(f)
        assert sim.nodes[f].refused and not sim.nodes[f].up
        refusal = [e[-1] for e in sim.trace.entries if "refuses to start" in str(e[-1])]
        print(refusal)
        assert refusal and snap.name in refusal[0] and "--resync" in refusal[0]
        assert sim.counters["refused_start"] == 1
        sim.check_liveness(LIVENESS_TICKS)
        assert sim.counters["resync"] == 1
        assert sim.nodes[f].up and not sim.nodes[f].refused


@pytest.mark.parametrize("seed", [1489, 1605, 1635, 1787, 1999])
def test_regression_seeds_of_the_disk_model(seed):
    """Seeds of 2,000-seed sweeps with the disk model. Four failed for an error of the model,
    not of the protocol: 1489 counted as lost a txn a TRUNC was cutting when the power went;
    1605 and 1999 let bit rot and a resync take two disks that a commit rested on (the operator
    now resyncs, and rot strikes, only while a quorum of the others vouches for the whole
    committed history); 1787 never resynced a node whose acceptedEpoch no other reached (an
    epoch its would-be leader gave up). One found a core bug: 1635, a node that wins an election
    hands it the FOLLOWERINFOs that arrived while it was LOOKING; one of them (acceptedEpoch 15
    above the epoch 14 just picked) made it step down, and the next one hit ``assert st is not
    None`` in leader.on_follower_info (core/peer.py _decide now stops when it is no longer
    leading). Expected: every property holds."""
    print(f"seed {seed}")
    result = run_seed(seed)
    assert result.ok, result.violation
