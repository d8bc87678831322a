"""Key files, the [security] table, drop warnings, and the start-up line about authentication."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import zmq
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqzab.cli.app import main
from zmqzab.config import ConfigError, NodeAddress, SecurityConfig, load_config, parse_config, render_config
from zmqzab.server.node import security_summary
from zmqzab.security.curve import client_keys, node_keys
from zmqzab.security.drops import DropWarnings
from zmqzab.security.keys import KeyFileError, keygen, load_keyring, read_pair
from zmqzab.security.authenticator import NodeAuthenticator

pytestmark = [pytest.mark.security, pytest.mark.config]

CONFIG = Path(__file__).resolve().parents[2] / "config" / "cluster.toml"
NODES = [NodeAddress(i, "127.0.0.1", 9100 + i, 9200 + i, 9300 + i, 9400 + i) for i in range(3)]


def test_keygen_writes_pairs_with_owner_only_secrets(tmp_path):
    keys = tmp_path / "keys"
    written = keygen(keys, [0, 1, 2], clients=2)
    assert sorted(p.name for p in written) == sorted(
        [f"{n}.key" for n in ("node-0", "node-1", "node-2", "client-0", "client-1")]
        + [f"{n}.key_secret" for n in ("node-0", "node-1", "node-2", "client-0", "client-1")])
    for p in written:
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode == (0o600 if p.suffix == ".key_secret" else 0o644), (p, oct(mode))
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    ring = load_keyring(keys, (0, 1, 2))
    assert len(set(ring.node_public.values())) == 3 and set(ring.client_public) == {"client-0", "client-1"}
    pub, sec = read_pair(keys / "node-1.key_secret")
    assert ring.node_of(pub) == 1 and len(sec) == 40


def test_keygen_refuses_to_overwrite_and_leaves_nothing_half_written(tmp_path):
    keygen(tmp_path, [0], clients=0)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(KeyFileError, match="--force"):
        keygen(tmp_path, [1, 0], clients=1)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    keygen(tmp_path, [0], clients=0, force=True)
    assert (tmp_path / "node-0.key").read_bytes() != before["node-0.key"]


def test_a_secret_readable_by_others_or_missing_is_refused_with_the_fix(tmp_path):
    keygen(tmp_path, [0], clients=1)
    secret = tmp_path / "node-0.key_secret"
    os.chmod(secret, 0o640)
    with pytest.raises(KeyFileError, match="chmod 600"):
        read_pair(secret)
    with pytest.raises(KeyFileError, match="zmqzab keygen"):
        read_pair(tmp_path / "node-9.key_secret")
    with pytest.raises(KeyFileError, match="no secret key"):
        os.chmod(tmp_path / "node-0.key", 0o600)
        read_pair(tmp_path / "node-0.key")


def test_node_and_client_keys_follow_the_config(tmp_path, monkeypatch):
    keygen(tmp_path / "k", [0, 1, 2], clients=1)
    on = parse_config(render_config(NODES, security=SecurityConfig(curve=True, keys_dir=tmp_path / "k")))
    off = parse_config(render_config(NODES))
    assert node_keys(off, 0) is None and client_keys(off) is None
    assert node_keys(on, 2).public == load_keyring(tmp_path / "k", (0, 1, 2)).node_public[2]
    assert client_keys(on) is not None
    monkeypatch.setenv("ZMQZAB_CLIENT_KEY", str(tmp_path / "k" / "missing.key_secret"))
    with pytest.raises(KeyFileError, match="missing.key_secret"):
        client_keys(on)
    (tmp_path / "k" / "node-1.key").unlink()
    with pytest.raises(KeyFileError, match="node-1.key"):
        node_keys(on, 0)


def test_zap_user_ids_name_the_node_of_each_key(tmp_path):
    from zmqzab.security.zap import client_id_owner_problem, client_user_id

    keygen(tmp_path, [0, 1], clients=1)
    ring = load_keyring(tmp_path, (0, 1))
    ctx = zmq.Context()
    try:
        auth = NodeAuthenticator(ctx, ring)
        from zmq.utils import z85

        assert auth.curve_user_id(z85.decode(ring.node_public[1])) == "node-1"
        # A client key's user id is derived from the key (its client ids start with it).
        user = auth.curve_user_id(z85.decode(ring.client_public["client-0"]))
        assert user == client_user_id(ring.client_public["client-0"]) and len(user) == 17
        assert client_id_owner_problem(user, f"{user}:abc") == ""
        assert "does not belong" in client_id_owner_problem(user, "node-1:abc")
        assert "does not belong" in client_id_owner_problem(user, f"{user}abc")
        assert auth.peers.callback("peers", ring.node_public[0])
        assert not auth.peers.callback("peers", ring.client_public["client-0"])  # clients: not a peer
        assert auth.clients.callback("clients", ring.client_public["client-0"])
        assert auth.denied == 1
    finally:
        ctx.term()


def test_security_table_defaults_round_trip_and_errors(tmp_path):
    shipped = load_config(CONFIG)
    assert shipped.security == SecurityConfig()  # the demo stays keyless, HTTP on loopback
    assert not shipped.security.curve and not shipped.security.http_public
    c = parse_config(render_config(NODES, security=SecurityConfig(curve=True, keys_dir=Path("a b/keys"),
                                                                  http_public=True)))
    assert c.security == SecurityConfig(True, Path("a b/keys"), True)
    assert c.http_host(c.node(0)) == "127.0.0.1" and c.http_url(c.node(1)) == "http://127.0.0.1:9401"
    base = render_config(NODES).split("[security]")[0]
    for text, words in [(base + "[security]\ncurve = 1\n", ["[security]", "curve must be true or false"]),
                        (base + "[security]\nkeys = 'x'\n", ["unknown key 'keys'"]),
                        (base + "[security]\nkeys_dir = ''\n", ["keys_dir must not be empty"]),
                        ("security = 3\n" + base, ["'security' must be a table"])]:
        with pytest.raises(ConfigError) as err:
            parse_config(text, "c.toml")
        assert all(w in str(err.value) for w in words), str(err.value)


@settings(max_examples=60, deadline=None)
@given(st.booleans(), st.text(min_size=1, max_size=30).filter(lambda s: s.strip()), st.booleans())
def test_security_table_render_round_trip(curve, keys_dir, public):
    sec = SecurityConfig(curve=curve, keys_dir=Path(keys_dir), http_public=public)
    c = parse_config(render_config(NODES, security=sec))
    assert c.security.curve == curve and c.security.http_public == public
    assert c.security.keys_dir == Path(keys_dir)


def test_start_up_line_says_whether_anyone_can_join():
    keyless = parse_config(render_config(NODES))
    assert "no authentication: loopback demo config" in security_summary(keyless)
    wide = parse_config(render_config([NodeAddress(0, "10.0.0.5", 1, 2, 3, 4)]))
    assert "ANY process that reaches 10.0.0.5" in security_summary(wide)
    keyed = parse_config(render_config(NODES, security=SecurityConfig(curve=True, keys_dir=Path("k"))))
    assert security_summary(keyed).startswith("CURVE on")


def test_drop_warnings_are_rate_limited_per_kind():
    now = [0.0]
    lines: list[str] = []
    w = DropWarnings(lines.append, interval_s=10.0, clock=lambda: now[0])
    for _ in range(1000):
        w.dropped("bad_frame", "x")
    w.dropped("impostor", "y")
    assert len(lines) == 2 and "bad frame" in lines[0] and "impostor" in lines[1]
    now[0] = 10.5
    w.dropped("bad_frame", "z")
    assert len(lines) == 3 and "999 more" in lines[2]


@pytest.mark.parametrize("argv, words", [
    (["keygen", "--nodes", "0"], "--nodes"),
    (["keygen", "--nodes", "ten"], "--nodes"),
    (["keygen", "--clients", "-1"], "--clients"),
    (["node", "--id", "99", "--config", str(CONFIG)], "no node with id 99"),
    (["node", "--id", "x"], "--id"),
    (["guess", "101", "--config", str(CONFIG)], "100"),
    (["guess", "4", "--timeout", "0"], "--timeout"),
    (["guess", "4", "--timeout", "soon"], "--timeout"),
    (["status", "--config", "/nonexistent/c.toml"], "config file not found"),
    (["state", "--node", "42", "--config", str(CONFIG)], "no node with id 42"),
    (["bench", "--nodes", "10"], "--nodes"),
    (["bench", "--workload", "nap"], "unknown workload nap"),
    (["up", "--control-port", "70000"], "--control-port"),
    (["crash", "77", "--config", str(CONFIG)], "77"),
    (["partition", "0,x", "--config", str(CONFIG)], "partition"),
    (["partition", "0,1", "1,2", "--config", str(CONFIG)], "node 1 is in two groups"),
    (["partition", "0,1,2,3,4", "--config", str(CONFIG)], "at least two groups"),
])
def test_bad_cli_input_is_one_line_and_exit_2(argv, words, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: ") and words in err, err


def test_malformed_config_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(render_config(NODES) + "\n[security]\ncurve = 'yes'\n")
    for argv in (["status", "--config", str(bad)], ["node", "--id", "0", "--config", str(bad)]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        err = capsys.readouterr().err
        assert info.value.code == 2 and err.count("\n") == 1 and str(bad) in err, err
