"""A liveness finding of session 8's seed sweep (`zmqzab sim --seeds 1000 --seed 140000`), kept
as a strict xfail until it is fixed: it fails on b9fbff3 too (not new).

Seed 140249: after healing, a would-be leader (n4) that never established epoch 24 leaves two
nodes (n1, n4) with acceptedEpoch 24. Quorums without them establish 22 (n3) and then 23 (n5),
each of which steps down as soon as n1 (accepted 24) joins it ("node 1 accepted epoch 24, above
ours (23): a new election picks one every node can accept"), while its followers n2 and n3
still sit in BROADCAST for a while. The cluster churns past the simulator's liveness bound (65
ticks after healing). Proposed direction: a leader whose epoch is decided below an acceptedEpoch
it later sees should make the next election's epoch exceed it at once (ZooKeeper computes the
epoch from the quorum's FOLLOWERINFOs: a leader elected with the higher-accepted nodes in its
quorum would pick 25), e.g. its followers learn the higher acceptedEpoch when it steps down, or
the vote carries acceptedEpoch so the next election favours a quorum that includes it.
"""

import pytest

from zmqzab.sim.simulation import run_seed

pytestmark = [pytest.mark.election]


@pytest.mark.xfail(strict=True, reason="epoch churn after a step-down for a higher acceptedEpoch "
                   "outlasts the liveness bound (seed 140249, also on b9fbff3); see the docstring")
def test_seed_140249_converges_within_the_liveness_bound():
    """Goal: after all faults heal, one leader is established within the liveness bound.
    Setup: the simulator's random profile of seed 140249 (5 nodes, 300 ticks). Expected: no
    violation."""
    print("seed 140249")
    result = run_seed(140249)
    assert result.violation is None, "\n".join(result.trace_tail[-5:])
