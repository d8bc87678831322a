"""`zmqzab up`'s controls: the HTTP server the page's buttons and the CLI's control commands use.

``zmqzab up`` (the supervisor) serves, on 127.0.0.1:

| route                 | what                                                   | needs          |
|-----------------------|--------------------------------------------------------|----------------|
| GET /, /index.html    | the page, with its controls (``?node=`` a node to read) | nothing        |
| GET /login?secret=S   | redirects to the page with the secret in the fragment  | the secret     |
| GET /control          | what it runs                                           | secret header  |
| POST /control/<action>| crash, restart, pause, resume, partition, heal, ...    | secret header  |

Who may (issue 17): every route refuses a Host that is not an IP literal or localhost (DNS
rebinding) and any Origin but the controls' own (no CORS at all: Origin "null", i.e. a file page
or a sandboxed iframe, and the nodes' pages are refused too). Every control request carries the
run's secret (security/runsecret.py) in ``X-Zmqzab-Secret``: the CLI reads it from
``control_file`` (mode 0600, the owner's only), the page from the fragment of the address
`zmqzab up` printed (``/?node=...#secret=S``, ``page_address``): a fragment is never sent to
any server, and the page keeps it in ``sessionStorage``, which is per origin, port included.
No cookie: a browser sends a 127.0.0.1 cookie to EVERY port of 127.0.0.1, so any other local
server the owner's browser visits would get it (found by the outside attack). Every input is
checked; a bad one gets 400 (or the status of its ``ControlError``).
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit

from zmqzab.config import ClusterConfig
from zmqzab.security.origins import cluster_origins, url_origins
from zmqzab.security.runsecret import SECRET_HEADER, RunFileError, read_private, secret_matches
from zmqzab.server.httpserver import LimitedHTTPServer
from zmqzab.server.web import INDEX_HTML, HttpError, JsonHandler, serve_http

if TYPE_CHECKING:
    from zmqzab.up.supervisor import Supervisor


class ControlError(Exception):
    """A control request that cannot be done; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def control_file(config: ClusterConfig) -> Path:
    """Where a running `zmqzab up` says where its controls are and their secret (mode 0600)."""
    return config.storage.data_dir / f"up-{config.nodes[0].peer_port}.json"


def read_control_file(config: ClusterConfig) -> dict[str, Any]:
    """The running `zmqzab up`'s control file ({"control": url, "secret": ...}); RunFileError."""
    path = control_file(config)
    try:
        data = json.loads(read_private(path))
    except ValueError:
        raise RunFileError(f"{path} is not JSON: restart zmqzab up") from None
    if not isinstance(data, dict) or not isinstance(data.get("control"), str) \
            or not isinstance(data.get("secret"), str):
        raise RunFileError(f"{path} names no controls and secret: restart zmqzab up")
    return data


def page_path(config: ClusterConfig) -> str:
    """The controls' page, reading the first node (the page reads the nodes themselves)."""
    return "/?node=" + quote(config.http_url(config.nodes[0]), safe=":/")


def page_address(control_url: str, config: ClusterConfig, secret: str) -> str:
    """The address `zmqzab up` prints: the page, with the run's secret in the fragment."""
    return f"{control_url}{page_path(config)}#secret={secret}"


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


def make_control_handler(sup: "Supervisor") -> type[BaseHTTPRequestHandler]:
    no_names: frozenset[str] = frozenset()  # served on 127.0.0.1: IP literals and localhost only
    #: The seeds the page may read (``?node=``): the cluster's own nodes. The page renders what
    #: its nodes say and runs on the controls' origin: a stream of another site's choosing
    #: would run that site's script here (found by the outside attack).
    node_origins = cluster_origins(sup.config)

    class ControlHandler(JsonHandler):
        def end_headers(self) -> None:
            # No other site may frame the page with the controls (clickjacking).
            self.send_header("X-Frame-Options", "DENY")
            self.send_header("Content-Security-Policy", "frame-ancestors 'none'")
            super().end_headers()

        def _refused(self) -> bool:
            """403 for a foreign Host, or an Origin other than the controls' own page."""
            if self._host_refused(no_names):
                return True
            origin = self.headers.get("Origin")
            if origin is not None and origin not in url_origins(sup.control_url or ""):
                self._error(403, f"a page from {origin[:100]} may not use the controls: only the "
                                 "page zmqzab up serves (the address it printed) and the CLI")
                return True
            return False

        def _secret_refused(self) -> bool:
            if secret_matches(self.headers.get(SECRET_HEADER), sup.secret):
                return False
            self._error(403, f"the controls need this run's secret in {SECRET_HEADER}: the CLI reads "
                             f"it from {control_file(sup.config)} (the owner's only); the page gets "
                             "it when opened from the address zmqzab up printed")
            return True

        def _redirect(self, location: str) -> None:
            self.send_response(303)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Referrer-Policy", "no-referrer")
            self.end_headers()

        def _page_url(self) -> str:
            return page_path(sup.config)

        def do_OPTIONS(self) -> None:
            # The page is same-origin with the controls: it never needs a preflight.
            self._preflight(403, {})

        def do_GET(self) -> None:
            if self._refused():
                return
            url = urlsplit(self.path)
            path = url.path
            try:
                if path in ("/", "/index.html"):
                    seeds = parse_qs(url.query, keep_blank_values=True).get("node") or []
                    if not seeds or any(s.rstrip("/") not in node_origins for s in seeds):
                        # The page reads the nodes themselves: this cluster's, never another.
                        self._redirect(self._page_url())
                        return
                    self._send(200, INDEX_HTML.read_bytes(), "text/html; charset=utf-8")
                elif path == "/login":
                    # The older printed address: on to the page, the secret in the fragment.
                    given = (parse_qs(url.query).get("secret") or [""])[-1]
                    if not secret_matches(given, sup.secret):
                        raise HttpError(403, "wrong or missing secret: open the address zmqzab up "
                                             "printed")
                    self._redirect(f"{self._page_url()}#secret={quote(sup.secret, safe='')}")
                elif path in ("/control", "/control/"):
                    if not self._secret_refused():
                        self._send_json(200, sup.control_state())
                else:
                    self._error(404, f"not found: {path}; try GET /control or POST /control/<action>")
            except HttpError as exc:
                self._error(exc.status, str(exc))
            except OSError:
                pass

        def do_POST(self) -> None:
            if self._refused() or self._secret_refused():
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
            except OSError:
                pass

    return ControlHandler


def start_control_http(sup: "Supervisor", host: str, port: int) -> LimitedHTTPServer:
    return serve_http(host, port, make_control_handler(sup), "zmqzab up controls", "control-http")
