"""Config loading: the shipped files, one clear ConfigError per mistake, render round trip."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqzab.config import (
    ClusterConfig,
    ConfigError,
    GameConfig,
    NodeAddress,
    StorageConfig,
    Timing,
    load_config,
    parse_config,
    render_config,
)
from zmqzab.up.localcluster import free_ports

pytestmark = [pytest.mark.config]

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


def to_toml(raw: dict) -> str:
    """A tiny TOML writer for the shapes a config has, so tests can break any key."""

    def value(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    lines = [f"{k} = {value(v)}" for k, v in raw.items()
             if not isinstance(v, dict) and not (isinstance(v, list) and v
                                                 and all(isinstance(x, dict) for x in v))]
    for k, v in raw.items():
        if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for table in v:
                lines.append(f"\n[[{k}]]")
                lines += [f"{kk} = {value(vv)}" for kk, vv in table.items()]
    for k, v in raw.items():
        if isinstance(v, dict):
            lines.append(f"\n[{k}]")
            lines += [f"{kk} = {value(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


def base_raw(n: int = 3) -> dict:
    return {
        "nodes": [
            {"id": i, "host": "127.0.0.1", "peer_port": 9100 + i, "pub_port": 9200 + i,
             "client_port": 9300 + i, "http_port": 9400 + i}
            for i in range(n)
        ],
        "timing": {"tick_ms": 50, "heartbeat_ticks": 1, "init_limit_ticks": 20,
                   "sync_limit_ticks": 10, "election_wait_ticks": 2},
        "storage": {"data_dir": "data", "log_dir": "logs", "fsync": True},
        "game": {"round_size": 3},
    }


def load_raw(tmp_path: Path, raw: dict) -> ClusterConfig:
    path = tmp_path / "cluster.toml"
    path.write_text(to_toml(raw))
    return load_config(path)


def error_for(tmp_path: Path, raw: dict | None = None, text: str | None = None) -> str:
    path = tmp_path / "cluster.toml"
    path.write_text(text if text is not None else to_toml(raw))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message, message
    return message


# --------------------------------------------------------------------------------------------
# The shipped configs


def test_shipped_cluster_config_loads():
    config = load_config(CONFIG_DIR / "cluster.toml")
    assert config.ids == (0, 1, 2, 3, 4)
    assert config.quorum == 3
    for node in config.nodes:
        assert node.host == "127.0.0.1"
        assert (node.peer_port, node.pub_port, node.client_port, node.http_port) == (
            7100 + node.id, 7200 + node.id, 7300 + node.id, 7400 + node.id)
    assert config.timing == Timing()
    assert config.storage == StorageConfig()
    assert config.game == GameConfig()
    two = config.node(2)
    assert two.peer_endpoint == "tcp://127.0.0.1:7102"
    assert two.pub_endpoint == "tcp://127.0.0.1:7202"
    assert two.client_endpoint == "tcp://127.0.0.1:7302"
    assert two.http_url == "http://127.0.0.1:7402"


def test_shipped_three_node_config_loads_and_does_not_collide():
    three = load_config(CONFIG_DIR / "three.toml")
    five = load_config(CONFIG_DIR / "cluster.toml")
    assert three.ids == (0, 1, 2) and three.quorum == 2

    def ports(c):
        return {p for n in c.nodes for p in (n.peer_port, n.pub_port, n.client_port, n.http_port)}

    assert not ports(three) & ports(five)


def test_defaults_documented_values():
    t = Timing()
    assert (t.tick_ms, t.heartbeat_ticks, t.init_limit_ticks, t.sync_limit_ticks,
            t.election_wait_ticks) == (50, 1, 20, 10, 2)
    assert StorageConfig() == StorageConfig(Path("data"), Path("logs"), True)
    assert GameConfig().round_size == 3


def test_optional_tables_take_defaults(tmp_path):
    raw = base_raw()
    del raw["timing"], raw["storage"], raw["game"]
    config = load_raw(tmp_path, raw)
    assert (config.timing, config.storage, config.game) == (Timing(), StorageConfig(), GameConfig())
    raw = base_raw()
    raw["timing"] = {"tick_ms": 20}
    assert load_raw(tmp_path, raw).timing == Timing(tick_ms=20)


def test_relative_paths_stay_relative_to_the_working_directory(tmp_path):
    raw = base_raw()
    raw["storage"]["data_dir"] = "var/zab"
    config = load_raw(tmp_path, raw)
    assert config.storage.data_dir == Path("var/zab")  # not tmp_path / "var/zab"


def test_nodes_are_sorted_by_id_and_unknown_id_lists_valid_ones(tmp_path):
    raw = base_raw()
    raw["nodes"].reverse()
    config = load_raw(tmp_path, raw)
    assert config.ids == (0, 1, 2)
    with pytest.raises(ConfigError) as info:
        config.node(7)
    assert str(info.value) == f"{tmp_path / 'cluster.toml'}: no node with id 7 (valid ids: 0, 1, 2)"


def test_ipv6_host_is_bracketed():
    node = NodeAddress(id=0, host="::1", peer_port=1, pub_port=2, client_port=3, http_port=4)
    assert node.peer_endpoint == "tcp://[::1]:1"
    assert node.http_url == "http://[::1]:4"


# --------------------------------------------------------------------------------------------
# One ConfigError per mistake


def test_missing_file_names_the_path_and_the_option(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "not found" in str(info.value) and "--config" in str(info.value)


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path)


def test_bad_toml_names_the_line(tmp_path):
    text = to_toml(base_raw()) + "\n[game\nround_size = 3\n"
    message = error_for(tmp_path, text=text)
    assert "not valid TOML" in message and "line" in message


def nodes_key(i: int, key: str, value):
    def mutate(raw):
        raw["nodes"][i][key] = value
    return mutate


def table_key(table: str, key: str, value):
    def mutate(raw):
        raw[table][key] = value
    return mutate


def delete_node_key(i: int, key: str):
    def mutate(raw):
        del raw["nodes"][i][key]
    return mutate


def set_top(key: str, value):
    def mutate(raw):
        raw[key] = value
    return mutate


CASES = {
    # unknown keys / tables
    "unknown top-level key": (set_top("bogus", 1), ["'bogus'", "allowed"]),
    "unknown top-level table": (set_top("extras", {"x": 1}), ["'extras'", "[timing]"]),
    "unknown node key": (nodes_key(2, "prot", 7100), [
        "[[nodes]] #3: unknown key 'prot' "
        "(allowed: id, host, peer_port, pub_port, client_port, http_port, zk_port)"]),
    "unknown timing key": (table_key("timing", "tick", 5), ["[timing]", "'tick'"]),
    "unknown storage key": (table_key("storage", "dir", "x"), ["[storage]", "'dir'"]),
    "unknown game key": (table_key("game", "rounds", 3), ["[game]", "'rounds'"]),
    "unknown processes key": (set_top("processes", {"pin": True}), ["[processes]", "'pin'"]),
    "bad cpu_affinity": (set_top("processes", {"cpu_affinity": "always"}),
                         ["[processes]", "cpu_affinity = 'always'", "'auto', 'spread', 'off'"]),
    "cpu_affinity not a string": (set_top("processes", {"cpu_affinity": True}),
                                  ["[processes]", "cpu_affinity must be a string"]),
    # missing keys
    "missing node key": (delete_node_key(1, "http_port"),
                         ["[[nodes]] #2: missing key 'http_port'"]),
    "missing id": (delete_node_key(0, "id"), ["[[nodes]] #1: missing key 'id'"]),
    "no nodes": (lambda raw: raw.pop("nodes"), ["[[nodes]]"]),
    # wrong types
    "bool port": (nodes_key(0, "peer_port", True), ["peer_port", "integer", "boolean"]),
    "bool id": (nodes_key(0, "id", False), ["id must be an integer", "boolean"]),
    "string port": (nodes_key(0, "pub_port", "7200"), ["pub_port", "integer", "string"]),
    "float tick": (table_key("timing", "tick_ms", 50.0), ["[timing]", "tick_ms", "float"]),
    "bool tick": (table_key("timing", "tick_ms", True), ["[timing]", "tick_ms", "boolean"]),
    "int fsync": (table_key("storage", "fsync", 1), ["[storage]", "fsync", "true or false"]),
    "int data_dir": (table_key("storage", "data_dir", 5), ["[storage]", "data_dir", "string"]),
    "float round_size": (table_key("game", "round_size", 3.0), ["[game]", "round_size"]),
    "host not a string": (nodes_key(1, "host", 127), ["[[nodes]] #2", "host must be a string"]),
    "empty host": (nodes_key(1, "host", ""), ["[[nodes]] #2", "host must not be empty"]),
    "timing not a table": (set_top("timing", 5), ["'timing'", "[timing]"]),
    "nodes not tables": (set_top("nodes", [1, 2]), ["[[nodes]]"]),
    # out of range
    "port 0": (nodes_key(0, "peer_port", 0), ["peer_port = 0", "1..65535"]),
    "port too big": (nodes_key(0, "http_port", 65536), ["http_port = 65536", "1..65535"]),
    "id too big": (nodes_key(0, "id", 256), ["id = 256", "0..255"]),
    "negative id": (nodes_key(0, "id", -1), ["id = -1", "0..255"]),
    "tick 0": (table_key("timing", "tick_ms", 0), ["[timing]", "tick_ms = 0"]),
    "heartbeat 0": (table_key("timing", "heartbeat_ticks", 0), ["heartbeat_ticks = 0"]),
    "init limit 0": (table_key("timing", "init_limit_ticks", 0), ["init_limit_ticks = 0"]),
    "sync limit 0": (table_key("timing", "sync_limit_ticks", 0), ["sync_limit_ticks = 0"]),
    "election wait 0": (table_key("timing", "election_wait_ticks", 0),
                        ["election_wait_ticks = 0"]),
    "sync limit not above heartbeat": (table_key("timing", "heartbeat_ticks", 10),
                                       ["sync_limit_ticks = 10", "heartbeat_ticks = 10"]),
    "round size 0": (table_key("game", "round_size", 0), ["[game]", "round_size = 0", "1..100"]),
    "round size 101": (table_key("game", "round_size", 101), ["round_size = 101"]),
    # clashes
    "duplicate id": (nodes_key(2, "id", 0), ["[[nodes]] #3", "id 0", "[[nodes]] #1"]),
    "port reused across nodes": (nodes_key(1, "pub_port", 9100),
                                 ["[[nodes]] #2", "pub_port = 9100", "peer_port of [[nodes]] #1"]),
    "port reused in one node": (nodes_key(0, "http_port", 9300),
                                ["[[nodes]] #1", "http_port = 9300", "client_port"]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_mistake_gives_one_line_naming_file_and_key(tmp_path, name):
    mutate, expected = CASES[name]
    raw = copy.deepcopy(base_raw())
    mutate(raw)
    message = error_for(tmp_path, raw)
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_same_port_on_another_host_is_fine(tmp_path):
    raw = base_raw()
    raw["nodes"][1].update(host="10.0.0.2", peer_port=9100)
    assert load_raw(tmp_path, raw).node(1).peer_port == 9100


@pytest.mark.parametrize("count", [0, 10])
def test_node_count_out_of_range(tmp_path, count):
    raw = base_raw(max(count, 1))
    if count == 0:
        raw["nodes"] = []
    else:
        raw["nodes"] = [
            {"id": i, "host": "127.0.0.1", "peer_port": 9100 + i, "pub_port": 9200 + i,
             "client_port": 9300 + i, "http_port": 9400 + i}
            for i in range(count)
        ]
    message = error_for(tmp_path, raw)
    assert "1 to 9 nodes" in message


def test_one_and_nine_nodes_are_fine(tmp_path):
    for count in (1, 9):
        raw = base_raw(count)
        assert len(load_raw(tmp_path, raw).nodes) == count


# --------------------------------------------------------------------------------------------
# render_config round trip


def test_render_round_trip_with_os_chosen_ports(tmp_path):
    ports = free_ports(12)
    nodes = tuple(
        NodeAddress(id=i, host="127.0.0.1", peer_port=ports[4 * i], pub_port=ports[4 * i + 1],
                    client_port=ports[4 * i + 2], http_port=ports[4 * i + 3])
        for i in range(3)
    )
    timing = Timing(tick_ms=10, heartbeat_ticks=2, init_limit_ticks=30, sync_limit_ticks=5,
                    election_wait_ticks=1)
    storage = StorageConfig(data_dir=tmp_path / "data dir", log_dir=Path("lo\"gs"), fsync=False)
    game = GameConfig(round_size=5)
    path = tmp_path / "rendered.toml"
    path.write_text(render_config(nodes, timing, storage, game))
    loaded = load_config(path)
    expected = ClusterConfig(path=None, nodes=nodes, timing=timing, storage=storage, game=game)
    assert loaded == expected
    assert loaded.path == path
    assert loaded.nodes == nodes


def test_render_round_trip_of_the_shipped_config():
    config = load_config(CONFIG_DIR / "cluster.toml")
    text = render_config(config.nodes, config.timing, config.storage, config.game)
    assert parse_config(text) == config


@settings(max_examples=100, deadline=None)
@given(
    ids=st.lists(st.integers(0, 255), min_size=1, max_size=9, unique=True),
    host=st.text(min_size=1, max_size=20).filter(lambda h: h.strip()),
    base_port=st.integers(1, 65535 - 40),
    tick_ms=st.integers(1, 10_000),
    heartbeat=st.integers(1, 5),
    round_size=st.integers(1, 100),
    fsync=st.booleans(),
    data_dir=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1,
                     max_size=30).filter(lambda d: d.strip()),
)
def test_render_round_trip_random(ids, host, base_port, tick_ms, heartbeat, round_size, fsync,
                                  data_dir):
    nodes = [
        NodeAddress(id=node_id, host=host, peer_port=base_port + 4 * k,
                    pub_port=base_port + 4 * k + 1, client_port=base_port + 4 * k + 2,
                    http_port=base_port + 4 * k + 3)
        for k, node_id in enumerate(ids)
    ]
    timing = Timing(tick_ms=tick_ms, heartbeat_ticks=heartbeat,
                    init_limit_ticks=heartbeat + 3, sync_limit_ticks=heartbeat + 1)
    storage = StorageConfig(data_dir=Path(data_dir), fsync=fsync)
    game = GameConfig(round_size=round_size)
    text = render_config(nodes, timing, storage, game)
    loaded = parse_config(text)
    assert loaded == ClusterConfig(None, tuple(nodes), timing, storage, game)
    assert loaded.quorum == len(ids) // 2 + 1
