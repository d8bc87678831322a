"""Proof that the disk model and the checkers catch the storage defects of issue 11 (2 and 3):
each storage fault switch (zmqzab/storage/faults.py) puts one back, and the seed sweep catches
it within a bounded number of seeds, through the real run (random crashes, power losses, bit
rot, snapshots and purge as each seed's profile draws them; no forced decision).

Beside tests/sim/test_fault_switches.py (the core's switches), in a file of its own.
"""

from __future__ import annotations

import pytest

from zmqzab.sim import SimOptions, sweep
from zmqzab.storage.faults import STORAGE_TEST_FAULTS

pytestmark = [pytest.mark.storage]

#: The sweep must catch each switch within this many seeds (as for the core's switches).
SEEDS_MAX = 100

#: What each bug breaks, as the checkers name it.
EXPECTED = {
    # A restart after kill -9 reports an unsynced tail durable: the power-loss model sees that
    # a power loss at that moment would take it.
    "trust_recovered_tail": {"what a node reports durable survives a power loss"},
    # A node starts over a hole: its vote claims history it lacks, or its game and log disagree
    # with the committed history.
    "recover_over_hole": {"durable history holds every txn committed before currentEpoch",
                          "committed prefixes agree", "equal game state at equal applied zxid",
                          "exactly-once per (client, seq)",
                          "committed txns are in every later leader's history"},
}


def test_every_storage_switch_has_an_expectation():
    assert set(EXPECTED) == set(STORAGE_TEST_FAULTS)


@pytest.mark.parametrize("fault", STORAGE_TEST_FAULTS)
def test_the_sweep_catches_each_storage_bug(fault):
    """Goal: the disk model is not vacuous. Setup: production storage with one defect put back,
    seeds 1 on, 5 nodes with random faults (each seed's disk profile). Expected: a seed within
    the first 100 violates the property the bug breaks, with a reproduce line naming it."""
    found = sweep(range(1, SEEDS_MAX + 1), SimOptions(nodes=5, test_faults=frozenset({fault})),
                  stop_on_failure=True)
    assert found.failures, f"{fault}: no violation in {SEEDS_MAX} seeds"
    result = found.failures[0]
    print(f"{fault}: caught by seed {result.options.seed} after {found.seeds} seeds: {result.violation}")
    assert result.violation.prop in EXPECTED[fault], result.violation
    assert f"--inject-bug {fault}" in result.options.reproduce()
    assert result.trace_tail


def test_a_real_power_loss_catches_the_unsynced_tail_too(monkeypatch):
    """Goal: defect 3 is caught by what a power loss really does, not only by the check at
    recovery that a power loss would take nothing. Setup: trust_recovered_tail on, that check
    switched off, seeds 1 on. Expected: a seed within the bound loses, in an actual power loss,
    a txn that its node had reported durable after recovering it from the page cache."""
    from zmqzab.sim.disk import PageCache

    monkeypatch.setattr(PageCache, "undurable", lambda self: [])
    found = sweep(range(1, SEEDS_MAX + 1),
                  SimOptions(nodes=5, test_faults=frozenset({"trust_recovered_tail"})),
                  stop_on_failure=True)
    assert found.failures, f"no violation in {SEEDS_MAX} seeds"
    result = found.failures[0]
    print(f"caught by seed {result.options.seed} after {found.seeds} seeds: {result.violation}")
    assert result.violation.prop == "what a node reports durable survives a power loss"
    assert "lost in a power loss" in result.violation.detail
