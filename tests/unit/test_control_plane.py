"""The HTTP control plane: loopback unless made public; controls only with `zmqzab up`'s token."""

from __future__ import annotations

import http.client
import json

import pytest
from loguru import logger

from zmqzab.config import NodeAddress, SecurityConfig, Timing, parse_config, render_config
from zmqzab.server.events import EventLog
from zmqzab.server.metrics import NodeMetrics
from zmqzab.server.node import Command
from zmqzab.server.web import TOKEN_HEADER, start_http

from zmqzab.up.localcluster import free_ports

pytestmark = [pytest.mark.security, pytest.mark.web]

TOKEN = "a" * 32


class StandIn:
    """What start_http reads of a Node; commands are answered at once."""

    def __init__(self, host: str, public: bool, token: str | None) -> None:
        ports = free_ports(4)
        self.config = parse_config(render_config([NodeAddress(0, host, *ports)], Timing(),
                                                 security=SecurityConfig(http_public=public)))
        self.id = 0
        self.addr = self.config.node(0)
        self.events = EventLog(0, size=100)
        self.metrics = NodeMetrics()
        self.running = True
        self.control_token = token
        self.status_snapshot = {"id": 0, "role": "LEADING", "heartbeat_ms": 50}
        self.log = logger.bind(node=0)
        self.commands: list[tuple[str, dict]] = []

    def command(self, name, args):
        self.commands.append((name, args))
        cmd = Command(name, args)
        cmd.result = {"blocked": sorted(args.get("blocked", []))}
        return cmd


@pytest.fixture
def serve():
    servers = []

    def start(host="127.0.0.1", public=False, token=None, node=None, control_url=None):
        """A node's HTTP server over ``node`` (default: a StandIn); ``control_url``: as under
        `zmqzab up` (the node knows its controls' URL and its status names it)."""
        node = node or StandIn(host, public, token)
        if control_url is not None:
            node.control_url = control_url
            node.status_snapshot = {**node.status_snapshot, "control": control_url}
        server = start_http(node)
        servers.append((node, server))
        return node, server

    yield start
    for node, server in servers:
        node.running = False
        server.shutdown()
        server.server_close()


def post(server, path: str, body: dict, token: str | None) -> tuple[int, dict]:
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=5)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers[TOKEN_HEADER] = token
    try:
        conn.request("POST", path, body=json.dumps(body), headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_http_binds_loopback_unless_the_config_makes_it_public(serve):
    _, server = serve(host="127.0.0.2")
    assert server.server_address[0] == "127.0.0.1"
    _, server = serve(host="127.0.0.2", public=True)
    assert server.server_address[0] == "127.0.0.2"


def test_controls_need_the_token_and_validate_every_input(serve):
    node, server = serve(token=TOKEN)
    assert post(server, "/control/faults", {"blocked": [0]}, None)[0] == 403
    assert post(server, "/control/faults", {"blocked": [0]}, "b" * 32)[0] == 403
    for body in ({"blocked": "0"}, {"blocked": [True]}, {"blocked": [9]}, {}):
        status, answer = post(server, "/control/faults", body, TOKEN)
        assert status == 400 and answer["error"], body
    assert post(server, "/control/election", {"reason": "x" * 300}, TOKEN)[0] == 400
    assert post(server, "/control/crash", {}, TOKEN)[0] == 404
    status, answer = post(server, "/control/faults", {"blocked": []}, TOKEN)
    assert status == 200 and answer["ok"] and node.commands == [("faults", {"blocked": []})]


def test_a_node_without_a_token_or_with_a_short_one_serves_no_controls(serve):
    node, server = serve(token=None)
    status, answer = post(server, "/control/faults", {"blocked": []}, "")
    assert status == 403 and "zmqzab up" in answer["error"]
    node, server = serve(token="short")
    assert node.control_token is None
    assert post(server, "/control/faults", {"blocked": []}, "short")[0] == 403
    assert node.commands == []


def test_public_http_still_requires_the_token(serve):
    node, server = serve(host="127.0.0.2", public=True, token=TOKEN)
    assert post(server, "/control/faults", {"blocked": []}, None)[0] == 403
    assert post(server, "/control/faults", {"blocked": []}, TOKEN)[0] == 200
