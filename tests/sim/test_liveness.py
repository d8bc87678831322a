"""The liveness phase's bound and its fresh write (issue 16, item 4): both can fail."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.sim.helpers import calm, wait_serving
from zmqzab.core.settings import CoreConfig
from zmqzab.sim.checkers import Violation
from zmqzab.sim.liveness import liveness_bound
from zmqzab.sim.options import CLIENT_TIMEOUT_TICKS


def test_the_bound_follows_the_protocol_timers():
    """Two initLimits, two election rounds, a client timeout and the fresh write's few ticks."""
    base = CoreConfig()
    assert liveness_bound(base) == 65
    longer = replace(base, init_limit_ticks=base.init_limit_ticks + 10)
    assert liveness_bound(longer) == liveness_bound(base) + 20
    assert liveness_bound(base) > 2 * base.init_limit_ticks + CLIENT_TIMEOUT_TICKS


def test_a_cluster_that_can_no_longer_commit_fails_the_liveness_phase():
    """Goal: convergence alone is not liveness. Setup: 5 nodes, calm network, a leader
    followed by everyone. Faults: every node's fsync hangs from then on, so nothing new can be
    ACKed, while the cluster looks converged (one leader, equal commits, no request pending).
    Expected: the liveness phase fails on the fresh write, at the bound."""
    with calm(seed=41) as sim:
        wait_serving(sim)
        assert sim.converged() is None
        for i in sim.ids:
            sim.stall_disk(i, 10_000)
        with pytest.raises(Violation, match="fresh write") as failed:
            sim.check_liveness()
        assert failed.value.prop == "liveness"
        assert f"{liveness_bound(sim.core)} ticks after healing" in failed.value.detail


def test_a_healthy_cluster_commits_the_fresh_write_everywhere():
    """Goal: the fresh write is really carried out. Setup: 5 nodes, calm. Expected: the
    liveness phase passes, and the committed history ends with the fresh client's write,
    applied on every node."""
    with calm(seed=42) as sim:
        wait_serving(sim)
        took = sim.check_liveness()
        assert took <= liveness_bound(sim.core)
        last = sim.checkers.gz[-1]
        assert sim.checkers.gtxn[last].op.client_id == "fresh"
        assert all(node.peer.zxid_applied == last for node in sim.nodes.values())
