"""The seed sweep: many seeds of 5 nodes with random faults, every property checked.

``ZMQZAB_SIM_SEEDS`` sets the number of seeds (default 200); ``ZMQZAB_SIM_SEED_START`` the
first one (default 1). A failure names every failing seed with its violated property and the
command line that replays it with a full trace.
"""

from __future__ import annotations

import os

import pytest

from zmqzab.sim import SimOptions, sweep

SEEDS = int(os.environ.get("ZMQZAB_SIM_SEEDS", "200"))
START = int(os.environ.get("ZMQZAB_SIM_SEED_START", "1"))
JOBS = min(2, os.cpu_count() or 1)


def _report(summary) -> str:
    lines = [f"{len(summary.failures)} of {summary.seeds} seeds violated a property:"]
    for result in summary.failures:
        lines.append(f"  seed {result.options.seed}: {result.violation}")
        lines.append(f"  reproduce: {result.options.reproduce()} --trace")
    first = summary.failures[0]
    lines.append(f"trace tail of seed {first.options.seed}:")
    lines.extend(f"  {line}" for line in first.trace_tail[-30:])
    return "\n".join(lines)


def test_seed_sweep_5_nodes_with_faults():
    """Goal: no seed breaks safety or liveness. Setup: 5 nodes, 300 ticks of faults drawn from
    each seed's swarm profile, then the liveness phase. Expected: no violation, and every kind
    of fault was actually injected somewhere."""
    seeds = range(START, START + SEEDS)
    print(f"sweeping seeds {seeds.start}..{seeds.stop - 1} (5 nodes, {JOBS} processes)")
    summary = sweep(seeds, SimOptions(nodes=5), jobs=JOBS)
    print(f"faults injected: {dict(sorted(summary.faults.items()))}; slowest liveness "
          f"{summary.liveness_max} ticks")
    assert not summary.failures, _report(summary)
    assert summary.seeds == SEEDS
    assert summary.answered == summary.requests
    if SEEDS >= 100:
        for kind in ("drop", "duplicate", "reorder", "delay_spike", "held", "partition",
                     "one_way_partition", "crash", "crash_mid_output", "restart", "lost_write",
                     "torn_write", "slow_fsync", "pause", "force_election", "flap", "stale_delivery",
                     "bridge",
                     # the disk model (sim/disk.py)
                     "power_loss", "crash_in_file_op", "bit_rot", "refused_start", "resync"):
            assert summary.faults[kind] > 0, f"no {kind} fault was injected in {SEEDS} seeds"


@pytest.mark.parametrize("nodes", [1, 3, 4, 7, 9])
def test_seed_sweep_other_cluster_sizes(nodes):
    """Goal: the protocol holds for every cluster size the config allows. Setup: 20 seeds of
    ``nodes`` nodes with faults (150 ticks). Expected: no violation."""
    seeds = range(START, START + 20)
    print(f"sweeping seeds {seeds.start}..{seeds.stop - 1} ({nodes} nodes)")
    summary = sweep(seeds, SimOptions(nodes=nodes, ticks=150), jobs=JOBS)
    assert not summary.failures, _report(summary)
