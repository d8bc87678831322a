"""Issue 17, parts 1 and 4: who may use `zmqzab up`'s controls and read the nodes from a browser.

The control server and a node's HTTP server run in this process (the real handlers, a stand-in
supervisor and node); every request is raw HTTP, so Host, Origin and Cookie are what a browser
under attack would send: a CSRF from a sandboxed iframe (Origin null), a foreign site, a DNS
rebinding page (its own name in Host), a local process without the run's secret.
"""

from __future__ import annotations

import http.client
import json
import os
import stat

import pytest
from typer.testing import CliRunner

from tests.unit.test_control_plane import TOKEN, serve  # noqa: F401 (a fixture)
from zmqzab.cli.app import app
from zmqzab.config import NodeAddress, SecurityConfig, StorageConfig, Timing, parse_config, render_config
from zmqzab.security.origins import cluster_origins, host_allowed, host_name
from zmqzab.security.plaintext import plaintext_refusal
from zmqzab.security.runsecret import (
    SECRET_HEADER,
    RunFileError,
    new_secret,
    read_private,
    write_private,
)
from zmqzab.server.web import TOKEN_HEADER
from zmqzab.up.control import control_file, page_address, read_control_file, start_control_http
from zmqzab.up.localcluster import free_ports

pytestmark = [pytest.mark.security, pytest.mark.web]

EVIL = "https://evil.example"


class StandInSupervisor:
    """What the control server reads of a Supervisor; actions are recorded, not done."""

    def __init__(self, root) -> None:
        ports = free_ports(4)
        self.config = parse_config(render_config([NodeAddress(0, "127.0.0.1", *ports)], Timing(),
                                                 StorageConfig(data_dir=root)))
        self.secret = new_secret()
        self.control_url: str | None = None
        self.done: list[tuple[str, dict]] = []

    def control_state(self) -> dict:
        return {"nodes": [{"id": 0, "alive": True}], "partition": None, "actions": ["crash"]}

    def control(self, action: str, body: dict) -> dict:
        self.done.append((action, body))
        return {"action": action}


@pytest.fixture
def controls(tmp_path):
    sup = StandInSupervisor(tmp_path)
    server = start_control_http(sup, "127.0.0.1", 0)
    sup.control_url = f"http://127.0.0.1:{server.server_address[1]}"
    yield sup, server
    server.shutdown()
    server.server_close()


def ask(server, method: str, path: str, headers: dict | None = None, body: bytes | None = None,
        ) -> tuple[int, dict, bytes]:
    """(status, lower-case headers, body) of one raw request; Host is the caller's if given."""
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def post_crash(server, headers: dict) -> tuple[int, dict, bytes]:
    return ask(server, "POST", "/control/crash", {"Content-Type": "application/json", **headers},
               json.dumps({"node": 0}).encode())


# --------------------------------------------------------------------------------------------
# The controls


def test_controls_refuse_csrf_foreign_origins_rebinding_and_a_missing_or_wrong_secret(controls):
    sup, server = controls
    good = {SECRET_HEADER: sup.secret}
    own_port = server.server_address[1]
    refused = [
        ({}, "no secret (any local process)"),
        ({SECRET_HEADER: "x" * 43}, "a wrong secret"),
        ({SECRET_HEADER: sup.secret[:-1]}, "a truncated secret"),
        ({**good, "Origin": "null"}, "CSRF from a sandboxed iframe or a file page"),
        ({"Origin": "null"}, "CSRF, Origin null, no secret"),
        ({**good, "Origin": EVIL}, "a foreign site"),
        ({**good, "Origin": f"http://127.0.0.1:{own_port + 1}"}, "another local port (a node's page)"),
        ({**good, "Host": f"evil.example:{own_port}"}, "DNS rebinding"),
        ({**good, "Host": f"127.0.0.1.evil.example:{own_port}"}, "DNS rebinding, a lookalike"),
        ({**good, "Host": "[::1"}, "a malformed Host"),
    ]
    for headers, what in refused:
        code, hdrs, body = post_crash(server, headers)
        assert code == 403, what
        assert "access-control-allow-origin" not in hdrs, what
        assert json.loads(body)["error"], what
        code, _, _ = ask(server, "GET", "/control", headers)
        assert code == 403, what
    assert sup.done == []  # nothing was carried out
    # The CLI (no Origin) and the controls' own page, with the secret, are served.
    assert post_crash(server, good)[0] == 200
    assert post_crash(server, {**good, "Origin": sup.control_url})[0] == 200
    assert post_crash(server, {**good, "Host": f"localhost:{own_port}"})[0] == 200
    assert sup.done == [("crash", {"node": 0})] * 3
    code, _, body = ask(server, "GET", "/control", good)
    assert code == 200 and json.loads(body)["nodes"][0]["id"] == 0


def test_no_page_gets_a_cors_answer_from_the_controls(controls):
    _, server = controls
    for origin in ("null", EVIL, "http://127.0.0.1:7400"):
        code, hdrs, _ = ask(server, "OPTIONS", "/control/crash",
                            {"Origin": origin, "Access-Control-Request-Method": "POST",
                             "Access-Control-Request-Headers": SECRET_HEADER})
        assert code == 403 and "access-control-allow-origin" not in hdrs, origin


def test_the_page_gets_the_secret_only_through_the_address_zmqzab_up_printed(controls):
    """Goal: the page served by `zmqzab up` gets the secret from the printed address, nobody
    else does. The secret travels in the address' fragment (never sent to a server) and no
    cookie holds it (a browser sends a 127.0.0.1 cookie to every port of 127.0.0.1). Steps:
    /login (the older printed address) with a wrong or no secret: 403; with the secret: a
    redirect to the page with the secret in the fragment and no cookie; /control/secret is
    gone."""
    sup, server = controls
    assert ask(server, "GET", "/login?secret=nope")[0] == 403
    assert ask(server, "GET", "/login")[0] == 403
    code, hdrs, _ = ask(server, "GET", f"/login?secret={sup.secret}")
    assert code == 303 and hdrs["location"].startswith("/?node=http://127.0.0.1:")
    assert hdrs["location"].endswith(f"#secret={sup.secret}") and "set-cookie" not in hdrs
    assert page_address(sup.control_url, sup.config, sup.secret) == sup.control_url + hdrs["location"]
    for headers in ({}, {"Sec-Fetch-Site": "same-origin"}):
        code, hdrs, _ = ask(server, "GET", "/control/secret", headers)
        assert code == 404 and "access-control-allow-origin" not in hdrs, headers
    # The page itself is public (it holds no secret); / sends it to a node to read.
    code, hdrs, _ = ask(server, "GET", "/")
    assert code == 303 and "node=" in hdrs["location"]
    code, hdrs, body = ask(server, "GET", hdrs["location"])
    assert code == 200 and b"findControls" in body and sup.secret.encode() not in body
    assert hdrs["x-frame-options"] == "DENY"  # no other site frames the page (clickjacking)


def test_the_control_file_is_the_owners_only(tmp_path):
    path = tmp_path / "run" / "up-1.json"
    write_private(path, json.dumps({"control": "http://127.0.0.1:1", "secret": "s" * 43}))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    os.chmod(path, 0o644)
    with pytest.raises(RunFileError, match="readable by others"):
        read_private(path)
    # An old file with a loose mode is rewritten 0600, not kept as it was.
    write_private(path, "{}")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(RunFileError, match="No such file"):
        read_private(tmp_path / "missing.json")


def test_the_cli_refuses_a_control_file_others_can_read(controls):
    """A control file that others could have read (or written) is not trusted: exit 3 naming it."""
    sup, _ = controls
    path = control_file(sup.config)
    write_private(path, json.dumps({"control": sup.control_url, "secret": sup.secret}))
    assert read_control_file(sup.config)["secret"] == sup.secret
    config_path = path.parent / "cluster.toml"
    config_path.write_text(render_config(sup.config.nodes, storage=sup.config.storage))
    runner = CliRunner()
    r = runner.invoke(app, ["heal", "--config", str(config_path)])
    assert r.exit_code == 0, r.output
    assert sup.done == [("heal", {})]
    os.chmod(path, 0o640)
    r = runner.invoke(app, ["heal", "--config", str(config_path)])
    assert r.exit_code == 3 and "readable by others" in r.output
    assert sup.done == [("heal", {})]


# --------------------------------------------------------------------------------------------
# A node's HTTP


def test_a_nodes_read_only_routes_answer_the_file_page_and_the_clusters_pages_only(serve):
    node, server = serve(control_url="http://127.0.0.1:5999")
    own = f"http://127.0.0.1:{server.server_address[1]}"
    for origin in ("null", own, f"http://localhost:{server.server_address[1]}", "http://127.0.0.1:5999"):
        code, hdrs, body = ask(server, "GET", "/status", {"Origin": origin})
        assert code == 200 and hdrs["access-control-allow-origin"] == origin, origin
        assert "control" not in json.loads(body), origin  # pages never learn the control URL
    for origin in (EVIL, "http://127.0.0.1:6000", "file://"):
        code, hdrs, _ = ask(server, "GET", "/status", {"Origin": origin})
        assert code == 403 and "access-control-allow-origin" not in hdrs, origin
        code, hdrs, _ = ask(server, "GET", "/events?backlog=0", {"Origin": origin})
        assert code == 403 and "access-control-allow-origin" not in hdrs, origin
    code, _, body = ask(server, "GET", "/status")  # the CLI: no Origin
    assert code == 200 and json.loads(body)["control"] == "http://127.0.0.1:5999"
    code, _, _ = ask(server, "GET", "/status", {"Host": f"rebound.example:{server.server_address[1]}"})
    assert code == 403
    code, _, _ = ask(server, "GET", "/status", {"Host": f"localhost:{server.server_address[1]}"})
    assert code == 200


def test_a_nodes_controls_refuse_any_browser_even_with_the_token(serve):
    node, server = serve(token=TOKEN)
    body = json.dumps({"blocked": []}).encode()
    for extra in ({"Origin": "null"}, {"Origin": EVIL},
                  {"Origin": f"http://127.0.0.1:{server.server_address[1]}"},
                  {"Host": "rebound.example"}):
        code, _, _ = ask(server, "POST", "/control/faults",
                         {"Content-Type": "application/json", TOKEN_HEADER: TOKEN, **extra}, body)
        assert code == 403, extra
    assert node.commands == []
    code, _, _ = ask(server, "POST", "/control/faults", {"Content-Type": "application/json", TOKEN_HEADER: TOKEN}, body)
    assert code == 200 and node.commands == [("faults", {"blocked": []})]


@pytest.mark.parametrize("header, ok", [
    (None, True), ("127.0.0.1:7400", True), ("localhost:7400", True), ("LOCALHOST", True),
    ("[::1]:7400", True), ("10.1.2.3:80", True), ("node-a.lab:7400", True),
    ("evil.example:7400", False), ("127.0.0.1.nip.io:7400", False), ("", False),
    ("[::1", False), ("127.0.0.1:x", False), ("node-a.lab.evil:7400", False),
])
def test_host_header_check(header, ok):
    assert host_allowed(header, frozenset({"node-a.lab"})) is ok


def test_host_names_and_cluster_origins():
    assert host_name("[::1]:80") == "::1" and host_name("Example.COM:1") == "example.com"
    ports = free_ports(4)
    cfg = parse_config(render_config([NodeAddress(0, "127.0.0.1", *ports)]))
    origins = cluster_origins(cfg, "http://127.0.0.1:9")
    assert f"http://127.0.0.1:{ports[2]}" in origins or f"http://127.0.0.1:{ports[3]}" in origins
    assert "http://localhost:9" in origins and "http://[::1]:9" in origins
    assert "null" not in origins and EVIL not in origins


# --------------------------------------------------------------------------------------------
# Part 4: plaintext off loopback


def wide_config(tmp_path, **security) -> str:
    path = tmp_path / "wide.toml"
    path.write_text(render_config([NodeAddress(0, "10.0.0.5", 1, 2, 3, 4), NodeAddress(1, "127.0.0.1", 5, 6, 7, 8)],
                                  security=SecurityConfig(**security)))
    return str(path)


def test_a_node_without_curve_on_a_network_host_refuses_to_start_and_says_why(tmp_path):
    path = wide_config(tmp_path)
    r = CliRunner().invoke(app, ["node", "--id", "1", "--config", path])
    assert r.exit_code == 2
    for words in ("10.0.0.5", "curve = false", "insecure = true", "zmqzab keygen"):
        assert words in r.output, words
    cfg = parse_config(open(path).read())
    assert plaintext_refusal(cfg, 0) is not None


def test_insecure_true_or_curve_or_loopback_lets_it_start(tmp_path):
    insecure = parse_config(open(wide_config(tmp_path, insecure=True)).read())
    assert insecure.security.insecure and plaintext_refusal(insecure, 0) is None
    assert parse_config(render_config(insecure.nodes, security=insecure.security)) == insecure  # round trip
    curve = parse_config(open(wide_config(tmp_path, curve=True)).read())
    assert plaintext_refusal(curve, 0) is None
    ports = free_ports(4)
    loopback = parse_config(render_config([NodeAddress(0, "127.0.0.1", *ports)]))
    assert plaintext_refusal(loopback, 0) is None and not loopback.security.insecure


def test_the_nemesis_network_namespaces_are_trusted_on_purpose(tmp_path):
    """`zmqzab chaos --netns` runs plaintext nodes on a private bridge's addresses: its derived
    config says insecure = true, or every node would refuse to start."""
    from zmqzab.config import load_config
    from zmqzab.up.localcluster import derive_config

    base = parse_config(render_config([NodeAddress(0, "127.0.0.1", *free_ports(4))]))
    cfg = load_config(derive_config(tmp_path, base, {0: "10.77.0.2"}))
    assert cfg.nodes[0].host == "10.77.0.2" and cfg.security.insecure
    assert plaintext_refusal(cfg, 0) is None
    assert not load_config(derive_config(tmp_path, base)).security.insecure  # loopback: not needed
