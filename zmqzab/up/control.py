"""`zmqzab up`'s controls: the HTTP server the page's buttons and the CLI's control commands use.

``zmqzab up`` (the supervisor) serves, on 127.0.0.1: GET /control (what it runs) and POST
/control/<action> (crash, restart, pause, resume, partition, heal, election, guess, new-game).
It answers only requests with no Origin (the CLI), a file:// page (Origin "null") or a page from
a loopback or cluster host, so a web site open in the same browser cannot crash the demo. Every
input is checked; a bad one gets 400 (or the status of its ``ControlError``) and a message. The
supervisor writes where the server is to ``control_file``, where the CLI (cli/control.py) looks.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from zmqzab.config import ClusterConfig
from zmqzab.server.web import HttpError, JsonHandler, serve_http

if TYPE_CHECKING:
    from zmqzab.up.supervisor import Supervisor

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


class ControlError(Exception):
    """A control request that cannot be done; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def control_file(config: ClusterConfig) -> Path:
    """Where a running `zmqzab up` says where its controls are (read by the CLI)."""
    return config.storage.data_dir / f"up-{config.nodes[0].peer_port}.json"


def partition_blocked(groups: list[list[int]], ids: tuple[int, ...]) -> tuple[list[list[int]], dict[int, set[int]]]:
    """Groups (validated; unlisted nodes form one more group) and each node's blocked peers."""
    if not isinstance(groups, list) or not groups:
        raise ControlError('partition needs "groups": a list of lists of node ids, e.g. [[0, 1], [2, 3, 4]]')
    seen: set[int] = set()
    clean: list[list[int]] = []
    for g in groups:
        if not isinstance(g, list) or not all(type(i) is int for i in g):
            raise ControlError(f"each group must be a list of node ids, got {g!r}")
        for i in g:
            if i not in ids:
                raise ControlError(f"no node with id {i} (valid ids: {', '.join(map(str, ids))})")
            if i in seen:
                raise ControlError(f"node {i} is in two groups: a node can be in one side only")
            seen.add(i)
        if g:
            clean.append(sorted(g))
    rest = [i for i in ids if i not in seen]
    if rest:
        clean.append(rest)
    if len(clean) < 2:
        raise ControlError("a partition needs at least two groups (to undo one, use heal)")
    clean.sort(key=lambda g: g[0])
    blocked = {i: {j for j in ids if j not in g} for g in clean for i in g}
    return clean, blocked


def origin_allowed(origin: str | None, hosts: set[str]) -> bool:
    """No Origin (a CLI), a file:// page ("null"), or a page from a loopback / cluster host."""
    if origin is None or origin == "null":
        return True
    try:
        parts = urlsplit(origin)
        host = parts.hostname
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or host is None:
        return False
    return host in LOOPBACK_HOSTS or host in hosts


def make_control_handler(sup: "Supervisor") -> type[BaseHTTPRequestHandler]:
    hosts = {n.host.strip("[]") for n in sup.config.nodes}

    class ControlHandler(JsonHandler):
        def _check_origin(self) -> bool:
            origin = self.headers.get("Origin")
            if not origin_allowed(origin, hosts):
                self.cors = "null"
                self._error(403, f"origin {origin} may not use the controls (only the page from the "
                                 "cluster's nodes, or opened as a file)")
                return False
            self.cors = origin or "*"
            return True

        def do_OPTIONS(self) -> None:
            origin = self.headers.get("Origin")
            if not origin_allowed(origin, hosts):
                self._preflight(403, {})
                return
            self._preflight(204, {"Access-Control-Allow-Origin": origin or "*", "Vary": "Origin",
                                  "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                                  "Access-Control-Allow-Headers": "Content-Type",
                                  "Access-Control-Max-Age": "600"})

        def do_GET(self) -> None:
            if not self._check_origin():
                return
            path = urlsplit(self.path).path
            if path in ("/control", "/control/"):
                self._send_json(200, sup.control_state())
            else:
                self._error(404, f"not found: {path}; try GET /control or POST /control/<action>")

        def do_POST(self) -> None:
            if not self._check_origin():
                return
            path = urlsplit(self.path).path
            try:
                if not path.startswith("/control/"):
                    raise HttpError(404, f"not found: {path}; POST /control/<action>")
                body = self._body()
                result = sup.control(path.removeprefix("/control/"), body)
                self._send_json(200, {"ok": True, **result})
            except HttpError as exc:
                self._error(exc.status, str(exc))
            except ControlError as exc:
                self._error(exc.status, str(exc))
            except (BrokenPipeError, ConnectionResetError):
                pass

    return ControlHandler


def start_control_http(sup: "Supervisor", host: str, port: int) -> ThreadingHTTPServer:
    return serve_http(host, port, make_control_handler(sup), "zmqzab up controls", "control-http")
