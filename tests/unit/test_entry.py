"""The entry point's fast path for ``zmqzab node`` (zmqzab/entry.py): the plain forms skip typer,
everything else gets typer's own errors and exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from zmqzab.entry import main, parse_node_args

from tests.unit.test_client import free_port, make_config

pytestmark = [pytest.mark.cli]


@pytest.fixture
def config(tmp_path) -> Path:
    make_config(tmp_path, {i: free_port() for i in range(3)})
    return tmp_path / "cluster.toml"


def run_main(argv: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return info.value.code, capsys.readouterr().err


@pytest.mark.parametrize("args, expected", [
    (["--id", "2"], dict(node_id=2)),
    (["-i", "2", "-c", "x.toml"], dict(node_id=2, config=Path("x.toml"))),
    (["--config=x.toml", "--id=07"], dict(node_id=7, config=Path("x.toml"))),
    (["--id", "1", "--data-dir", "d", "--log-dir", "l", "--resync"],
     dict(node_id=1, data_dir=Path("d"), log_dir=Path("l"), resync=True)),
])
def test_plain_node_arguments_are_parsed_as_typer_would(args, expected):
    parsed = parse_node_args(args)
    assert parsed == {"config": None, "data_dir": None, "log_dir": None, "resync": False,
                      **expected}


@pytest.mark.parametrize("args", [
    [], ["--help"], ["-h"], ["--id"], ["--id", "x"], ["--id", "-1"], ["--id", "+1"], ["--id", " 1"],
    ["--id", "1", "--id", "2"], ["--id", "1", "--bogus"], ["--id", "1", "extra"], ["--id=", "1"],
    ["--id", "1", "--config", "--resync"], ["--id", "1", "--resync=yes"], ["-i1"], ["--", "--id", "1"],
])
def test_anything_unusual_is_left_to_typer(args):
    assert parse_node_args(args) is None


def test_a_directory_as_config_is_left_to_typer(tmp_path):
    assert parse_node_args(["--id", "0", "--config", str(tmp_path)]) is None
    assert parse_node_args(["--id", "0", "--data-dir", str(tmp_path / "f")]) is not None
    (tmp_path / "f").write_text("")
    assert parse_node_args(["--id", "0", "--data-dir", str(tmp_path / "f")]) is None


def test_bad_flag_exits_2_with_typers_one_line_message(config, capsys):
    code, err = run_main(["node", "--id", "0", "--bogus", "--config", str(config)], capsys)
    assert code == 2
    assert err.startswith("error: No such option: --bogus (see: zmqzab node --help)")
    assert err.count("\n") == 1
    code, err = run_main(["node", "--id", "zero", "--config", str(config)], capsys)
    assert code == 2
    assert err.startswith("error: Invalid value for '--id'") and err.count("\n") == 1


def test_fast_path_unknown_node_id_exits_2_naming_the_valid_ids(config, capsys):
    code, err = run_main(["node", "--id", "9", "--config", str(config)], capsys)
    assert code == 2
    assert err == f"error: {config}: no node with id 9 (valid ids: 0, 1, 2)\n"


def test_fast_path_missing_config_exits_2_naming_the_path(tmp_path, capsys):
    missing = tmp_path / "nope.toml"
    code, err = run_main(["node", "--id", "0", "--config", str(missing)], capsys)
    assert code == 2
    assert f"{missing}: config file not found" in err and err.count("\n") == 1


def test_fast_path_that_stops_early_leaves_the_garbage_collector_on(config, capsys):
    """The fast path turns the collector off while the node's modules are imported (start-up
    time): a start that ends before the node runs (here an unknown id) must turn it back on."""
    import gc

    assert gc.isenabled()
    code, _ = run_main(["node", "--id", "9", "--config", str(config)], capsys)
    assert code == 2 and gc.isenabled()
