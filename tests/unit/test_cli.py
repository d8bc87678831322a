"""The command line: exit codes, one-line errors, and the output formats (no real cluster)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import zmqzab.client
from zmqzab.cli.app import app, main
from zmqzab.cli.cluster import format_status
from zmqzab.cli.game import format_state
from zmqzab.messages import ReadReply

from tests.unit.test_client import FakeNode, answering, free_port, make_config, ok_reply

pytestmark = [pytest.mark.cli]

runner = CliRunner()

COMMANDS = ["node", "up", "guess", "new-game", "state", "status"]


@pytest.fixture
def fakes():
    started: list[FakeNode] = []

    def start(node_id, script) -> FakeNode:
        fake = FakeNode(node_id, script)
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.close()


@pytest.fixture
def down_config(tmp_path) -> Path:
    """Five nodes, none running."""
    make_config(tmp_path, {i: free_port() for i in range(5)})
    return tmp_path / "cluster.toml"


@pytest.fixture
def no_client(monkeypatch):
    """Fail the test if a command creates a Client (i.e. would send anything)."""

    def refuse(*args, **kwargs):
        raise AssertionError("a Client was created: something would have been sent")

    monkeypatch.setattr(zmqzab.client.Client, "__init__", refuse)


def stderr_of(result) -> str:
    return result.stderr if result.stderr_bytes is not None else result.output


@pytest.mark.parametrize("value", ["101", "abc", "-5", "4.5", ""])
def test_bad_guess_exits_2_and_sends_nothing(value, tmp_path, no_client, fakes):
    fake = fakes(0, answering())
    make_config(tmp_path, {0: fake.port})
    result = runner.invoke(app, ["guess", value, "--config", str(tmp_path / "cluster.toml")])
    assert result.exit_code == 2, result.output
    err = stderr_of(result)
    assert f"guess must be an integer from 0 to 100, got {value!r}" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert fake.received == []


def test_missing_config_exits_2_naming_the_path(tmp_path):
    missing = tmp_path / "nope.toml"
    for args in (["guess", "50"], ["status"], ["state"], ["new-game"], ["node", "--id", "0"],
                 ["up"]):
        result = runner.invoke(app, [*args, "--config", str(missing)])
        assert result.exit_code == 2, (args, result.output)
        err = stderr_of(result)
        assert f"{missing}: config file not found" in err
        assert err.count("\n") == 1


def test_malformed_config_exits_2(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[[nodes]]\nid = 0\nprot = 7100\n")
    result = runner.invoke(app, ["status", "--config", str(path)])
    assert result.exit_code == 2
    assert "unknown key 'prot'" in stderr_of(result)


def test_unknown_node_id_exits_2_naming_the_valid_ids(down_config):
    result = runner.invoke(app, ["node", "--id", "9", "--config", str(down_config)])
    assert result.exit_code == 2
    assert "no node with id 9 (valid ids: 0, 1, 2, 3, 4)" in stderr_of(result)
    result = runner.invoke(app, ["guess", "5", "--node", "9", "--config", str(down_config)])
    assert result.exit_code == 2
    assert "valid ids: 0, 1, 2, 3, 4" in stderr_of(result)


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_help_works_for_every_command(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    assert "Exit codes:" in result.output


def test_status_json_with_every_node_down_exits_3(down_config):
    result = runner.invoke(app, ["status", "--json", "--config", str(down_config)])
    assert result.exit_code == 3
    nodes = json.loads(result.stdout)["nodes"]
    assert [n["id"] for n in nodes] == [0, 1, 2, 3, 4]
    assert all(n["role"] == "DOWN" and n["reachable"] is False for n in nodes)
    for n in nodes:
        assert {"phase", "epoch", "zxid_last", "zxid_committed", "leader"} <= set(n)
    assert "start the cluster" in stderr_of(result)


def test_status_table_and_summary(tmp_path, fakes):
    leader = fakes(3, answering(role="LEADING", leader=3))
    follower = fakes(0, answering(role="FOLLOWING", leader=3))
    config = tmp_path / "cluster.toml"
    make_config(tmp_path, {0: follower.port, 1: free_port(), 3: leader.port})
    result = runner.invoke(app, ["status", "--config", str(config)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["node", "role", "phase", "epoch", "last", "zxid", "committed",
                                "zxid", "leader"]
    assert lines[1].split() == ["0", "FOLLOWING", "BROADCAST", "1", "1:7", "1:7", "3"]
    assert lines[2].split() == ["1", "DOWN", "-", "-", "-", "-", "-"]
    assert lines[3].split() == ["3", "LEADING", "BROADCAST", "1", "1:7", "1:7", "3"]
    assert lines[4] == "leader: node 3, epoch 1; 2 of 3 nodes up; quorum 2"


def test_guess_prints_the_commit(tmp_path, fakes):
    fake = fakes(2, answering(write=lambda n, m: ok_reply(m, n.id)))
    config = tmp_path / "cluster.toml"
    make_config(tmp_path, {2: fake.port})
    result = runner.invoke(app, ["guess", "40", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert result.stdout == "committed 1:7 on node 2: guess 2 of 3 recorded\n"
    result = runner.invoke(app, ["guess", "41", "--json", "--config", str(config)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["zxid"] == "1:7" and data["node"] == 2
    assert data["result"]["kind"] == "guess_recorded"
    assert [m.op.value for m in fake.writes] == [40, 41]


def test_guess_without_quorum_exits_3(down_config):
    result = runner.invoke(app, ["guess", "40", "--timeout", "0.5", "--config", str(down_config)])
    assert result.exit_code == 3
    err = stderr_of(result)
    assert err.startswith("error: no leader: 0 of 5 nodes reachable (no node answers); "
                          "a write needs 3")
    assert err.count("\n") == 1


def test_state_prints_the_game(tmp_path, fakes):
    def script(node, msg):
        return ReadReply(msg.req_id, node.id, {
            "node": node.id, "role": "LEADING", "zxid_applied": "1:9", "target": 40, "game": 1,
            "round": 2, "round_size": 3,
            "guesses": [{"client": "c1", "value": 38, "zxid": "1:9"}],
            "history": [{"game": 1, "round": 1, "winner": "c2", "winning_value": 40,
                         "old_target": 42, "new_target": 40, "zxid": "1:8"}],
        })

    fake = fakes(0, script)
    config = tmp_path / "cluster.toml"
    make_config(tmp_path, {0: fake.port})
    result = runner.invoke(app, ["state", "--node", "0", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "node 0 (LEADING), applied up to 1:9",
        "game 1, round 2 (3 guesses per round)",
        "target: 40",
        "open guesses (1 of 3):",
        "       1:9   38  c1",
        "recent rounds (oldest first):",
        "       1:8  game 1 round 1: c2 wins with 40 (target 42 -> 40)",
    ]


def test_format_state_before_the_first_guess():
    lines = format_state({"node": 1, "role": "FOLLOWING", "zxid_applied": "0:0", "game": 1,
                          "round": 1, "round_size": None, "target": None, "guesses": [],
                          "history": []})
    assert lines == ["node 1 (FOLLOWING), applied up to 0:0", "game 1, round 1",
                     "target: none yet (the next guess sets it)", "open guesses: none",
                     "recent rounds: none"]


def test_format_status_without_a_leader():
    nodes = [{"id": 0, "reachable": True, "role": "LOOKING", "phase": "ELECTION", "epoch": 1,
              "zxid_last": "1:3", "zxid_committed": "1:3", "leader": None},
             {"id": 1, "reachable": False, "role": "DOWN"},
             {"id": 2, "reachable": False, "role": "DOWN"}]
    assert format_status(nodes, quorum=2)[-1] == (
        "leader: none (election in progress); 1 of 3 nodes up; quorum 2 "
        "(writes wait until 1 more node is up)")


@pytest.mark.parametrize("argv, message", [
    (["guess", "--bogus", "4"], "error: no such option: --bogus (see: zmqzab guess --help)"),
    (["status", "--bogus"], "error: No such option: --bogus (see: zmqzab status --help)"),
    (["guess", "4", "5"], "error: guess takes one value, got extra argument(s): 5"),
    (["node"], "error: Missing option '--id'"),
])
def test_main_prints_parse_errors_as_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert err.count("\n") == 1
