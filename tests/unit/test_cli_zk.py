"""`zmqzab zk` against the fake ZooKeeper server of test_zk_client.py, through typer's CliRunner.

Goal: each command sends the request it names and prints what zkCli prints (ls a list, get the
data, stat zkCli's field names, watch a WatchedEvent); a refused request is one line naming
ZooKeeper's error and exit code 1; no server is one line naming the addresses and saying
"is the cluster up? zmqzab up"; the default server is a node's zk_port from --config.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.unit.test_zk_client import SESSION_ID, FakeZkServer, closed_port, event_frame
from zmqzab.cli.app import app
from zmqzab.cli.zk import format_stat
from zmqzab.config import NodeAddress, StorageConfig, render_config
from zmqzab.zk.opcodes import EventType, OpCode

pytestmark = [pytest.mark.unit, pytest.mark.cli, pytest.mark.zk]

runner = CliRunner()


@pytest.fixture
def server():
    fake = FakeZkServer()
    yield fake
    fake.close()


def zk(server: FakeZkServer | str, *args: str):
    address = server if isinstance(server, str) else server.address
    return runner.invoke(app, ["zk", *args, "--server", address])


def stderr_of(result) -> str:
    return result.stderr if result.stderr_bytes is not None else result.output


def one_line_error(result) -> str:
    err = stderr_of(result)
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err, err
    return err


def config_with_zk_ports(tmp_path: Path, zk_ports: list[int]) -> Path:
    ports = iter(range(30000, 30100))
    nodes = [NodeAddress(i, "127.0.0.1", next(ports), next(ports), next(ports), next(ports), zk)
             for i, zk in enumerate(zk_ports)]
    path = tmp_path / "cluster.toml"
    path.write_text(render_config(nodes, storage=StorageConfig(data_dir=tmp_path / "d",
                                                               log_dir=tmp_path / "l")))
    return path


def test_ls_prints_the_children_sorted_as_a_list(server):
    server.nodes["/b"] = [b"", 0, 0]
    server.nodes["/a"] = [b"", 0, 0]
    result = zk(server, "ls", "/")
    assert result.exit_code == 0, result.output
    assert result.stdout == "[a, b, zookeeper]\n"
    assert OpCode.getChildren in server.types()


def test_create_get_set_delete_round_trip(server):
    assert zk(server, "create", "/app", "hello").stdout == "Created /app\n"
    assert zk(server, "get", "/app").stdout == "hello\n"
    assert zk(server, "set", "/app", "v2", "--version", "0").exit_code == 0
    got = zk(server, "get", "/app", "-s").stdout.splitlines()
    assert got[0] == "v2" and "dataVersion = 1" in got and "dataLength = 2" in got
    assert zk(server, "delete", "/app", "-v", "1").exit_code == 0
    assert "/app" not in server.nodes
    # Every command closed its session.
    assert server.types().count(OpCode.closeSession) == 5


def test_create_ephemeral_sequential_sends_the_flags_and_prints_the_name(server):
    result = zk(server, "create", "/job-", "x", "-e", "-s")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Created /job-0000000000\n"
    (create,) = [r.body for r in server.requests if r.header.type == OpCode.create]
    assert create.flags == 3 and create.data == b"x"


def test_create_help_says_an_ephemeral_lives_as_long_as_the_command(server):
    result = runner.invoke(app, ["zk", "create", "--help"])
    assert "as long as this command's session" in " ".join(result.stdout.split())


def test_stat_prints_zkcli_field_names_in_zkcli_order(server):
    server.nodes["/e"] = [b"abc", 4, SESSION_ID]
    result = zk(server, "stat", "/e")
    assert result.exit_code == 0, result.output
    names = [line.split(" = ")[0] for line in result.stdout.splitlines()]
    assert names == ["cZxid", "ctime", "mZxid", "mtime", "pZxid", "cversion", "dataVersion",
                     "aclVersion", "ephemeralOwner", "dataLength", "numChildren"]
    assert f"ephemeralOwner = {SESSION_ID:#x}" in result.stdout
    assert "dataVersion = 4" in result.stdout and "cZxid = 0x100000004" in result.stdout


def test_format_stat_prints_dates_as_java_does():
    from tests.unit.test_zk_client import make_stat

    lines = format_stat(make_stat())
    # Java's Date.toString: "EEE MMM dd HH:mm:ss zzz yyyy"; the year is last.
    ctime = lines[1].removeprefix("ctime = ").split()
    assert len(ctime) == 6 and ctime[5] == "2023" and ctime[3].count(":") == 2


def test_get_of_null_data_prints_null(server):
    server.nodes["/n"] = [None, 0, 0]
    assert zk(server, "get", "/n").stdout == "null\n"


@pytest.mark.parametrize("args, setup, code", [
    (["get", "/missing"], None, "NONODE"),
    (["stat", "/missing"], None, "NONODE"),
    (["create", "/zookeeper"], None, "NODEEXISTS"),
    (["set", "/zookeeper", "x", "--version", "3"], None, "BADVERSION"),
    (["delete", "/p"], ["/p", "/p/c"], "NOTEMPTY"),
])
def test_a_refused_request_is_one_line_naming_the_zookeeper_error_and_exit_1(
        server, args, setup, code):
    for path in setup or ():
        server.nodes[path] = [b"", 0, 0]
    result = zk(server, *args)
    assert result.exit_code == 1, result.output
    err = one_line_error(result)
    assert code in err and args[1] in err
    assert result.stdout == ""


def test_no_server_names_each_address_and_the_way_out():
    addresses = [f"127.0.0.1:{closed_port()}", f"127.0.0.1:{closed_port()}"]
    result = zk(",".join(addresses), "ls", "/")
    assert result.exit_code == 1
    err = one_line_error(result)
    assert all(a in err for a in addresses)
    assert "is the cluster up? zmqzab up" in err and "refused" in err


def test_the_default_server_is_a_zk_port_of_the_config(server, tmp_path):
    """Node 0's zk_port is closed, node 1's is the fake: the command moves on to it."""
    port = int(server.address.rsplit(":", 1)[1])
    config = config_with_zk_ports(tmp_path, [closed_port(), port])
    result = runner.invoke(app, ["zk", "ls", "/", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert result.stdout == "[zookeeper]\n"


def test_a_config_without_zk_port_is_exit_2_saying_what_to_add(tmp_path):
    config = config_with_zk_ports(tmp_path, [0, 0])
    result = runner.invoke(app, ["zk", "ls", "/", "--config", str(config)])
    assert result.exit_code == 2
    err = one_line_error(result)
    assert "zk_port" in err and "--server" in err


def test_a_bad_server_address_is_exit_2():
    result = runner.invoke(app, ["zk", "ls", "/", "--server", "nocolon"])
    assert result.exit_code == 2
    assert "host:port" in one_line_error(result)


def test_watch_prints_one_event_as_zkcli_does(server):
    """The fake sends NodeDataChanged after the child watch is set; the command prints it and
    ends."""
    server.nodes["/w"] = [b"", 0, 0]
    server.after_hook = lambda r: ([event_frame(EventType.NodeDataChanged, "/w")]
                                   if r.header.type == OpCode.getChildren else [])
    result = zk(server, "watch", "/w")
    assert result.exit_code == 0, result.output
    assert result.stdout == "WatchedEvent state:SyncConnected type:NodeDataChanged path:/w\n"
    exists, children = [r.body for r in server.requests
                        if r.header.type in (OpCode.exists, OpCode.getChildren)]
    assert exists.watch and children.watch


def test_watch_of_a_missing_node_waits_for_its_creation(server):
    server.after_hook = lambda r: ([event_frame(EventType.NodeCreated, "/later")]
                                   if r.header.type == OpCode.exists else [])
    result = zk(server, "watch", "/later")
    assert result.exit_code == 0, result.output
    assert "type:NodeCreated path:/later" in result.stdout
    assert OpCode.getChildren not in server.types()


def test_watch_follow_uses_a_persistent_watch_and_streams(server):
    """Three events after addWatch; --timeout ends the stream (exit 3) after they print."""
    server.after_hook = lambda r: ([event_frame(EventType.NodeDataChanged, "/f"),
                                    event_frame(EventType.NodeChildrenChanged, "/f"),
                                    event_frame(EventType.NodeDeleted, "/f")]
                                   if r.header.type == OpCode.addWatch else [])
    result = zk(server, "watch", "/f", "--follow", "--recursive", "--timeout", "0.3")
    assert result.exit_code == 3, result.output
    assert [line.split("type:")[1] for line in result.stdout.splitlines()] == [
        "NodeDataChanged path:/f", "NodeChildrenChanged path:/f", "NodeDeleted path:/f"]
    (add,) = [r.body for r in server.requests if r.header.type == OpCode.addWatch]
    assert (add.path, add.mode) == ("/f", 1)


def test_watch_timeout_without_event_is_exit_3(server):
    server.nodes["/quiet"] = [b"", 0, 0]
    result = zk(server, "watch", "/quiet", "--timeout", "0.2")
    assert result.exit_code == 3
    watching, error = stderr_of(result).splitlines()
    assert watching.startswith("watching /quiet on ")
    assert error.startswith("error: no event for /quiet within 0.2 s")


def test_recursive_without_follow_is_exit_2(server):
    result = zk(server, "watch", "/x", "--recursive")
    assert result.exit_code == 2
    assert "--follow" in one_line_error(result)
    assert server.requests == []


def test_zk_is_listed_in_the_main_help():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert any(line.split()[:1] == ["zk"] for line in result.stdout.splitlines())
