"""A liveness finding of session 8's seed sweep (`zmqzab sim --seeds 1000 --seed 140000`), fixed
in session 9 (it failed on b9fbff3 too).

Seed 140249: after healing, a would-be leader (n4) that never established epoch 24 left two
nodes (n1, n4) with acceptedEpoch 24. Quorums without them established 22 (n3) and then 23
(n5), each stepping down as soon as a node that accepted 24 joined it ("node 1 accepted epoch
24, above ours (23)"), while its followers sat in BROADCAST until syncLimit of silence. The
cluster churned past the simulator's liveness bound (65 ticks after healing).

The fixes (zmqzab/core/leader.py on_follower_info, zmqzab/core/peer.py _on_notification; unit
tests in tests/core/test_epoch_promise.py): a leader that steps down for a higher acceptedEpoch
takes it as its own first, so every quorum it is part of decides an epoch above it; and a
follower whose leader looks in a later round looks at once.
"""

import pytest

from zmqzab.sim.simulation import run_seed

pytestmark = [pytest.mark.election]


def test_seed_140249_converges_within_the_liveness_bound():
    """Goal: after all faults heal, one leader is established within the liveness bound.
    Setup: the simulator's random profile of seed 140249 (5 nodes, 300 ticks). Expected: no
    violation."""
    print("seed 140249")
    result = run_seed(140249)
    assert result.violation is None, "\n".join(result.trace_tail[-5:])
