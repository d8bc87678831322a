"""`zmqzab sim` on the command line: output, exit codes, the reproduce line."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from zmqzab.cli.app import app

pytestmark = [pytest.mark.cli]

runner = CliRunner()


def stderr_of(result) -> str:
    return result.stderr if result.stderr_bytes is not None else result.output


def test_one_seed_prints_a_summary_and_exits_0():
    result = runner.invoke(app, ["sim", "--seed", "3", "--ticks", "100"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("seed 3: 5 nodes, ")
    assert "faults injected: " in result.stdout
    assert "ok: every property held" in result.stdout


def test_trace_lines_are_readable():
    result = runner.invoke(app, ["sim", "--seed", "4", "--ticks", "60", "--nodes", "3", "--trace"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any(re.fullmatch(r"t=\d+ n\d->n\d ACK \d+:\d+", line) for line in lines)
    assert any(re.match(r"t=\d+ n\d  role: LEADING / BROADCAST", line) for line in lines)


def test_sweep_prints_a_summary():
    result = runner.invoke(app, ["sim", "--seeds", "6", "--seed", "10", "--ticks", "80"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "seeds: 6 (10..15), 5 nodes" in out
    assert "faults injected: " in out
    assert "violations: none" in out


def test_a_violation_exits_1_with_the_property_the_tail_and_a_reproduce_line():
    result = runner.invoke(app, ["sim", "--seed", "1", "--inject-bug", "apply_across_gap"])
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert "VIOLATION of 'committed prefixes agree' (seed 1)" in out
    assert "last 40 trace lines:" in out
    assert "reproduce: zmqzab sim --seed 1 --nodes 5 --ticks 300 --inject-bug apply_across_gap --trace" in out


def test_a_failing_sweep_lists_the_seeds_and_exits_1():
    result = runner.invoke(app, ["sim", "--seeds", "3", "--inject-bug", "ack_before_fsync"])
    assert result.exit_code == 1, result.output
    assert "violations: 3" in result.stdout
    assert "seed 1: ACK only after fsync" in result.stdout
    assert "reproduce: zmqzab sim --seed 1 " in result.stdout


def test_bad_input_exits_2():
    result = runner.invoke(app, ["sim", "--inject-bug", "nonsense"])
    assert result.exit_code == 2
    assert "unknown --inject-bug nonsense" in stderr_of(result)
    result = runner.invoke(app, ["sim", "--seeds", "3", "--trace"])
    assert result.exit_code == 2
    result = runner.invoke(app, ["sim", "--nodes", "10"])
    assert result.exit_code == 2


def test_help_names_the_exit_codes():
    result = runner.invoke(app, ["sim", "--help"])
    assert result.exit_code == 0
    assert "Exit codes:" in result.output and "--seeds" in result.output


def test_snapshot_flags_and_storage_bugs_reach_the_run_and_the_reproduce_line():
    """`--snapshot-every` / `--snapshots-kept` turn periodic snapshots and purge on (or off) and
    are repeated in the reproduce line; a storage bug name is accepted by `--inject-bug`."""
    result = runner.invoke(app, ["sim", "--seed", "2", "--ticks", "80", "--snapshot-every", "5",
                                 "--snapshots-kept", "1", "--trace"])
    assert result.exit_code == 0, result.output
    assert "snapshot every 5 txns, 1 kept" in result.stdout
    assert re.search(r"snapshot at \d+:\d+ saved", result.stdout)
    result = runner.invoke(app, ["sim", "--seed", "5", "--snapshot-every", "20", "--snapshots-kept", "2",
                                 "--inject-bug", "trust_recovered_tail"])
    assert result.exit_code == 1, result.output
    assert "VIOLATION of 'what a node reports durable survives a power loss' (seed 5)" in result.stdout
    assert ("reproduce: zmqzab sim --seed 5 --nodes 5 --ticks 300 --snapshot-every 20 --snapshots-kept 2 "
            "--inject-bug trust_recovered_tail --trace") in result.stdout


def test_help_names_every_fault_switch():
    """`--inject-bug`'s help lists every switch the core has (ackepoch_counts_twice was missing)."""
    from zmqzab.core.settings import TEST_FAULTS

    result = runner.invoke(app, ["sim", "--help"], env={"COLUMNS": "200"})
    text = " ".join(result.output.split())
    missing = [name for name in TEST_FAULTS if name not in text]
    assert not missing, missing
