"""The config a command uses when none is named, `zmqzab init`, and the page's source.

Goal: a new user with no checkout gets a working cluster and a config to edit. Setup: an empty
working directory (no config/cluster.toml), the supervisor replaced so nothing starts. Expected:
`zmqzab up` says it runs the built-in five-node cluster and where data and logs go; every command
then reads that same built-in config; `zmqzab init` writes the presets, refuses to overwrite them
without --force and says what it wrote; a named --config that is missing is still an error.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from zmqzab import resources
from zmqzab.cli.app import app
from zmqzab.cli.common import load
from zmqzab.config import DEFAULT_CONFIG_PATH, load_config

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def empty_cwd(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_up_without_a_config_here_runs_the_builtin_five_nodes_and_says_where_files_go(empty_cwd, monkeypatch):
    from zmqzab.up import supervisor

    ran = []
    monkeypatch.setattr(supervisor.Supervisor, "run", lambda self: ran.append(self) or 0)
    result = runner.invoke(app, ["up"])
    assert result.exit_code == 0, result.output
    assert "running the built-in 5-node cluster" in result.output
    assert f"data in {empty_cwd / 'data'}, logs in {empty_cwd / 'logs'}" in result.output
    assert "zmqzab init" in result.output
    (sup,) = ran
    assert sup.config_path == resources.builtin_config()
    assert sup.config == load_config(REPO / "config" / "cluster.toml")  # the shipped preset


def test_a_config_here_wins_over_the_builtin_one_and_up_says_nothing_about_it(empty_cwd, monkeypatch):
    from zmqzab.up import supervisor

    runner.invoke(app, ["init"])
    (empty_cwd / DEFAULT_CONFIG_PATH).write_text(
        (empty_cwd / DEFAULT_CONFIG_PATH).read_text().replace("round_size = 3", "round_size = 5"))
    assert load(None).game.round_size == 5
    monkeypatch.setattr(supervisor.Supervisor, "run", lambda self: 0)
    result = runner.invoke(app, ["up"])
    assert result.exit_code == 0 and "built-in" not in result.output, result.output


def test_every_command_reads_the_builtin_config_when_none_is_here(empty_cwd):
    assert load(None) == load_config(resources.builtin_config())
    assert load(None).path == resources.builtin_config()


def test_a_named_config_that_is_missing_is_still_an_error(empty_cwd):
    result = runner.invoke(app, ["status", "--config", "nope.toml"])
    assert result.exit_code == 2
    assert "nope.toml: config file not found" in result.output and "zmqzab init" in result.output


def test_init_writes_the_presets_refuses_to_overwrite_and_says_what_it_wrote(empty_cwd):
    result = runner.invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    for name in resources.PRESETS:
        assert (empty_cwd / "config" / name).read_bytes() == (REPO / "config" / name).read_bytes()
        assert f"config/{name}" in result.output
    (empty_cwd / "config" / "cluster.toml").write_text("# mine\n")
    again = runner.invoke(app, ["init"])
    assert again.exit_code == 2
    assert "already there" in again.output and "--force" in again.output
    assert (empty_cwd / "config" / "cluster.toml").read_text() == "# mine\n"
    forced = runner.invoke(app, ["init", "--force"])
    assert forced.exit_code == 0 and "overwritten" in forced.output
    assert (empty_cwd / "config" / "cluster.toml").read_bytes() == (REPO / "config" / "cluster.toml").read_bytes()


def test_init_into_another_directory(empty_cwd):
    result = runner.invoke(app, ["init", "demo"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (empty_cwd / "demo" / "config").iterdir()) == sorted(resources.PRESETS)
    assert "cd demo && zmqzab up" in result.output


def test_run_from_a_checkout_the_checkouts_own_files_are_used():
    """Editing index.html or config/ in a checkout shows without a rebuild."""
    assert resources.index_html() == REPO / "index.html"
    assert resources.presets_dir() == REPO / "config"
    assert sorted(p.name for p in (REPO / "config").glob("*.toml")) == sorted(resources.PRESETS)
