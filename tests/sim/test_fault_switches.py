"""Proof that the checkers can fail: each deliberate core bug (CoreConfig.test_faults) is
caught by the seed sweep within a bounded number of seeds, by the property it breaks.

The switches are off by default and no config file can turn them on.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from zmqzab.config import ConfigError, load_config
from zmqzab.core.settings import TEST_FAULTS, CoreConfig
from zmqzab.sim import SimOptions, sweep

#: The sweep must catch each switch within this many seeds.
SEEDS_MAX = 100

#: What each bug breaks, as the checkers name it.
EXPECTED = {
    "ack_before_fsync": {"ACK only after fsync (execute's check)"},
    "commit_without_quorum": {"committed txns are in every later leader's history",
                              "durable history holds every txn committed before currentEpoch",
                              "committed prefixes agree"},
    "skip_accepted_epoch": {"epochs are on disk before they are used"},
    "diff_instead_of_trunc": {"committed prefixes agree"},
    "apply_across_gap": {"committed prefixes agree"},
    # Issue 11 defect 1: a follower's second promise of one epoch counted by another leader.
    "ackepoch_counts_twice": {"an epoch's promises go to one leader", "one established leader per epoch",
                              "committed prefixes agree"},
}


def test_every_switch_has_an_expectation():
    assert set(EXPECTED) == set(TEST_FAULTS)


@pytest.mark.parametrize("fault", TEST_FAULTS)
def test_the_sweep_catches_each_injected_bug(fault):
    """Goal: the checkers are not vacuous. Setup: the core with one deliberate bug, seeds 1 on,
    5 nodes with faults. Expected: a seed within the first 100 violates the property the bug
    breaks; the failure names the seed and a reproduce line that turns the bug on again."""
    found = sweep(range(1, SEEDS_MAX + 1), SimOptions(nodes=5, test_faults=frozenset({fault})),
                  stop_on_failure=True)
    assert found.failures, f"{fault}: no violation in {SEEDS_MAX} seeds"
    result = found.failures[0]
    print(f"{fault}: caught by seed {result.options.seed}: {result.violation}")
    assert result.violation.prop in EXPECTED[fault], result.violation
    assert f"--inject-bug {fault}" in result.options.reproduce()
    assert result.trace_tail


def test_switches_are_off_by_default_and_validated():
    assert CoreConfig().test_faults == frozenset()
    with pytest.raises(ValueError, match="unknown test fault"):
        CoreConfig(test_faults=frozenset({"no_such_bug"}))


@pytest.mark.parametrize("where", ["top level", "[core]", "[timing]"])
def test_no_config_file_can_turn_a_switch_on(tmp_path, where):
    text = (Path(__file__).resolve().parents[2] / "config" / "cluster.toml").read_text()
    line = 'test_faults = ["commit_without_quorum"]\n'
    if where == "top level":
        text = line + text  # before the first table, so it is a top-level key
    elif where in text:
        text = text.replace(f"{where}\n", f"{where}\n{line}", 1)
    else:
        text += f"\n{where}\n{line}"
    path = tmp_path / "cluster.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="test_faults|core"):
        load_config(path)


def test_the_node_builds_its_core_config_without_switches():
    from zmqzab.server.node import core_config

    config = load_config(Path(__file__).resolve().parents[2] / "config" / "cluster.toml")
    assert core_config(config).test_faults == frozenset()
