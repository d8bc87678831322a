"""The test-only path that turns a deliberate core bug on in real nodes (`zmqzab chaos
--inject-bug NAME`): only the node's core-config builder reads it, from the environment; unknown
names are refused; without it the node is built without switches."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from zmqzab.cli.app import app
from zmqzab.config import load_config
from zmqzab.server.node import INJECT_BUGS_ENV, core_config

pytestmark = [pytest.mark.chaos]

ROOT = Path(__file__).resolve().parents[2]


def test_the_environment_turns_switches_on_only_when_set(monkeypatch):
    config = load_config(ROOT / "config" / "cluster.toml")
    monkeypatch.delenv(INJECT_BUGS_ENV, raising=False)
    assert core_config(config).test_faults == frozenset()
    monkeypatch.setenv(INJECT_BUGS_ENV, "diff_instead_of_trunc,apply_across_gap")
    assert core_config(config).test_faults == {"diff_instead_of_trunc", "apply_across_gap"}
    monkeypatch.setenv(INJECT_BUGS_ENV, "no_such_bug")
    with pytest.raises(ValueError, match="unknown test fault"):
        core_config(config)


def test_only_the_core_config_builder_reads_the_variable():
    readers = [p.relative_to(ROOT).as_posix() for p in (ROOT / "zmqzab").rglob("*.py")
               if "ZMQZAB_TEST_ONLY_INJECT_BUGS" in p.read_text()]
    assert readers == ["zmqzab/server/node.py"]


def test_chaos_refuses_an_unknown_bug_name():
    result = CliRunner().invoke(app, ["chaos", "--inject-bug", "no_such_bug", "--duration", "5"])
    assert result.exit_code == 2
    assert "no such test fault" in result.output and "diff_instead_of_trunc" in result.output


def test_node_errors_are_the_critical_lines_of_each_node_log(tmp_path):
    """The runner's evidence for no_node_failed: CRITICAL lines only, per node; a node whose log
    has none, or that has no log, is absent."""
    from types import SimpleNamespace

    from zmqzab.chaos.runner import node_errors

    (tmp_path / "node-0.log").write_text("12:00:00.000 INFO     n0 | LEADING\n"
                                         "12:00:01.000 CRITICAL n0 | stopping: broken local invariant: x\n")
    (tmp_path / "node-1.log").write_text("12:00:00.000 WARNING  n1 | partition: dropping traffic\n")
    cfg = SimpleNamespace(storage=SimpleNamespace(log_dir=tmp_path))
    assert node_errors(cfg, [0, 1, 2]) == {0: ["12:00:01.000 CRITICAL n0 | stopping: broken local invariant: x"]}


def test_node_errors_include_an_exception_that_killed_a_node(tmp_path):
    """A node that died of an uncaught exception logs no CRITICAL line: its console has the
    traceback. A chaos run once passed with a node dead of a NameError; now it is reported."""
    from types import SimpleNamespace

    from zmqzab.chaos.runner import node_errors

    (tmp_path / "node-0.console").write_text(
        "Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\n    f()\n"
        "NameError: name 'is_game_op' is not defined\n")
    (tmp_path / "node-1.console").write_text("12:00:00.000 INFO     n1 | node 1 stopped\n")
    cfg = SimpleNamespace(storage=SimpleNamespace(log_dir=tmp_path))
    assert node_errors(cfg, [0, 1], tmp_path) == {
        0: ["uncaught exception: NameError: name 'is_game_op' is not defined"]}
    assert node_errors(cfg, [0, 1]) == {}  # without the consoles: the hole it closes
