"""HTTP: every node's view (status, events, metrics, index.html).

Theory of operation
-------------------
A node serves, on its http_port (bound to 127.0.0.1 unless ``[security] http_public = true``,
then to the node's host):

| route              | what                                                               |
|--------------------|--------------------------------------------------------------------|
| GET /status        | the last status dict the node's loop published (JSON)              |
| GET /events        | Server-Sent Events: what happens (events.py), optionally status    |
| GET /metrics       | Prometheus text (metrics.py)                                       |
| GET /, /index.html | the live cluster view                                              |
| POST /control/...  | faults and forced elections, only from `zmqzab up` (token header) |

The HTTP threads never touch the Peer: they read what the loop publishes (a status dict swapped
whole, the event ring, plain counters) and hand control commands to the loop through
``Node.command`` (a queue and the loop's wake pipe).

``/events`` query: ``status=1`` adds a ``status`` event whenever the node publishes a new one
(each tick), so one stream is both the timeline and the liveness signal of the page;
``backlog=N`` (0..2000, default 50) replays the last N events first; ``since=SEQ`` (or the
``Last-Event-ID`` header EventSource sends on reconnect, or ``last_id=``, both "boot-seq")
resumes after SEQ if the node has not restarted since; ``kinds=role,elected`` keeps only those kinds. The stream flushes
every heartbeat interval (50..100 ms) and sends at most ``MAX_EVENTS_PER_S`` events a second
(bursts up to ``BURST_EVENTS``): busy traffic is merged into ranges, the rest counted in one
summary event per flush (events.bounded); key events (role, election, sync...) always go.
At most ``MAX_STREAMS`` streams per node; one more ends the oldest stream that nobody reads
(streamslots.py: a write blocked, or only keepalives for ``STREAM_EVICT_AGE_S``), else gets 503:
readers that never read cannot hold every slot. A reader whose write blocks ``SOCKET_TIMEOUT_S``
(it fell behind: its buffers are full) is dropped.

Limits (httpserver.py): one thread reads every request head with a deadline and a size limit, a
fixed pool answers; every socket has a timeout. Browsers (security/origins.py): a Host that is
not an IP literal, localhost or a config host is refused (DNS rebinding); a request with an
Origin is answered only from the cluster's own pages and from index.html opened as a file
(Origin null), and never sees the ``control`` URL of the status.

`zmqzab up` serves its own controls (zmqzab/up/control.py, built on ``JsonHandler`` and
``serve_http`` here); a node's own POST /control/... (faults, election) answers only that
supervisor, which relays them with the token it handed the node (and never from a browser: a
POST with an Origin is refused).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import msgspec

from zmqzab.resources import index_html
from zmqzab.security.origins import cluster_origins, host_allowed, host_names, is_loopback
from zmqzab.server import metrics as metrics_text
from zmqzab.server.events import RING_SIZE, bounded
from zmqzab.server.httpbind import bind_http, bind_node_http, view_url
from zmqzab.server.httpserver import SOCKET_TIMEOUT_S, WORKERS, LimitedHTTPServer, setup_connection
from zmqzab.server.streamslots import Stream, StreamSlots
from zmqzab.server.transport import check_rules

if TYPE_CHECKING:
    from zmqzab.server.node import Node

#: The page every node serves (the checkout's, or the copy shipped in the package).
INDEX_HTML = index_html()

#: Event streams served at once by one node.
MAX_STREAMS = 32
#: A stream nobody reads, this old, may be ended to make room for a new one (streamslots.py).
STREAM_EVICT_AGE_S = 5.0
#: Events a stream sends per second at most, sustained (merged and summarised beyond) ...
MAX_EVENTS_PER_S = 200
#: ... and in one burst (an election is a few dozen events within a tick).
BURST_EVENTS = 200
#: Events replayed to a new stream unless ?backlog= says otherwise.
BACKLOG_DEFAULT = 50
#: A stream with nothing to say sends a comment this often (finds closed connections).
KEEPALIVE_S = 2.0
#: Largest control request body.
BODY_MAX_BYTES = 4096
TOKEN_HEADER = "X-Zmqzab-Token"
#: `zmqzab up` hands out 32 hex characters; anything much shorter is guessable.
TOKEN_MIN_CHARS = 16

_json = msgspec.json.Encoder()


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def flush_interval_s(heartbeat_ms: int) -> float:
    """How often an event stream flushes: the heartbeat, within 50..100 ms (the page's lag)."""
    return min(max(heartbeat_ms, 50), 100) / 1000.0


def _int_param(query: dict[str, list[str]], name: str, default: int, low: int, high: int) -> int:
    values = query.get(name)
    if not values:
        return default
    text = values[-1].strip()
    if not text.lstrip("-").isdigit():
        raise HttpError(400, f"{name} must be an integer from {low} to {high}, got {text!r}")
    value = int(text)
    if not low <= value <= high:
        raise HttpError(400, f"{name} = {value} is out of range ({low}..{high})")
    return value


class JsonHandler(BaseHTTPRequestHandler):
    """What both HTTP servers (the node's view, `zmqzab up`'s controls) answer with: JSON, CORS."""

    server_version = "zmqzab"
    #: CORS origin answered on this response (set per request); None: no CORS header.
    cors: str | None = None
    timeout = SOCKET_TIMEOUT_S

    def setup(self) -> None:
        if not setup_connection(self):  # a plain socket: a server that is not LimitedHTTPServer
            super().setup()

    def log_message(self, fmt: str, *args) -> None:  # keep the console for protocol events
        pass

    def _host_refused(self, names: frozenset[str]) -> bool:
        """403 for a Host that is not ours (DNS rebinding: a site's name resolved to us)."""
        host = self.headers.get("Host")
        if host_allowed(host, names):
            return False
        self._error(403, f"Host {host[:100]!r} is not a name of this cluster (a DNS rebinding "
                         "page?): use the address zmqzab printed, an IP address or localhost")
        return True

    def _head(self, code: int, ctype: str, length: int | None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        if length is not None:
            self.send_header("Content-Length", str(length))
        if self.cors:
            self.send_header("Access-Control-Allow-Origin", self.cors)
        self.send_header("Vary", "Origin")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()

    def _preflight(self, code: int, headers: dict[str, str]) -> None:
        """Answer a CORS preflight (OPTIONS): ``code`` and ``headers``, no body."""
        self.send_response(code)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self._head(code, ctype, len(body))
        self.wfile.write(body)

    def _index(self) -> None:
        """The page (the nodes' and the replay server's)."""
        try:
            body = INDEX_HTML.read_bytes()
        except OSError:
            self._error(404, f"index.html not found at {INDEX_HTML}: this zmqzab install is incomplete "
                             "(reinstall it)")
            return
        self._send(200, body, "text/html; charset=utf-8")

    def _send_json(self, code: int, data: Any) -> None:
        self._send(code, _json.encode(data), "application/json")

    def _error(self, code: int, message: str) -> None:
        self._send_json(code, {"error": message})

    def _body(self) -> dict[str, Any]:
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise HttpError(415, "send a JSON object with Content-Type: application/json")
        length_text = self.headers.get("Content-Length", "0").strip()
        if not length_text.isdigit():
            raise HttpError(400, "bad Content-Length")
        length = int(length_text)
        if length > BODY_MAX_BYTES:
            raise HttpError(413, f"request body over {BODY_MAX_BYTES} bytes")
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw or b"{}")
        except (ValueError, UnicodeDecodeError) as exc:
            raise HttpError(400, f"body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise HttpError(400, "body must be a JSON object, e.g. {\"node\": 2}")
        return body


# --------------------------------------------------------------------------------------------
# A node's server


def _without_control(status: dict[str, Any]) -> dict[str, Any]:
    """The status as browsers see it: without the URL of `zmqzab up`'s controls."""
    return {k: v for k, v in status.items() if k != "control"} if "control" in status else status


def make_handler(node: "Node") -> type[BaseHTTPRequestHandler]:
    streams = StreamSlots(MAX_STREAMS, STREAM_EVICT_AGE_S)
    origins = cluster_origins(node.config, getattr(node, "control_url", None))
    names = host_names(node.config)

    class Handler(JsonHandler):
        #: The request came from a browser page (it carries an Origin).
        from_page = False

        def _refused(self, read_only: bool) -> bool:
            """403 for a foreign Host or Origin; sets the CORS answer of an allowed page."""
            if self._host_refused(names):
                return True
            origin = self.headers.get("Origin")
            self.from_page = origin is not None
            if origin is None:
                return False
            same = origin == f"http://{self.headers.get('Host', '')}"
            if read_only and (origin == "null" or origin in origins or same):
                self.cors = origin
                return False
            self._error(403, f"a page from {origin[:100]} may not use node {node.id}: only the "
                             "cluster's own pages and index.html opened as a file read it, and "
                             "no page controls it")
            return True

        def do_OPTIONS(self) -> None:
            if self._refused(read_only=True):
                return
            allow = {"Access-Control-Allow-Origin": self.cors} if self.cors else {}
            self._preflight(204, {**allow, "Vary": "Origin", "Access-Control-Allow-Methods": "GET, OPTIONS",
                                  "Access-Control-Allow-Headers": "Content-Type, Last-Event-ID"})

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            path = url.path
            try:
                if self._refused(read_only=True):
                    return
                query = parse_qs(url.query, keep_blank_values=True)
                if path == "/status":
                    status = node.status_snapshot
                    self._send_json(200, _without_control(status) if self.from_page else status)
                elif path == "/events":
                    self._events(query)
                elif path == "/metrics":
                    self._metrics()
                elif path in ("/", "/index.html"):
                    self._index()
                elif path == "/favicon.ico":
                    self._send(204, b"", "image/x-icon")
                else:
                    self._error(404, f"not found: {path}; try /, /status, /events or /metrics")
            except HttpError as exc:
                self._error(exc.status, str(exc))
            except OSError:  # the reader went away, or fell behind SOCKET_TIMEOUT_S
                pass

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            try:
                if self._refused(read_only=False):
                    return
                if not path.startswith("/control/"):
                    raise HttpError(404, f"not found: {path}")
                if node.control_token is None:
                    raise HttpError(403, "this node was not started by `zmqzab up`: its view is "
                                         "read-only (start the cluster with zmqzab up for controls)")
                given = self.headers.get(TOKEN_HEADER) or ""
                import hmac  # here: only `zmqzab up` sends controls (with hashlib, ~2 ms of a view start)

                if not hmac.compare_digest(given.encode(), node.control_token.encode()):
                    raise HttpError(403, "controls go through `zmqzab up` (its page or zmqzab "
                                         "crash/partition/...), not to a node directly")
                body = self._body()
                name, args = self._control_args(path.removeprefix("/control/"), body)
                cmd = node.command(name, args)
                if cmd.error:
                    raise HttpError(503 if "within" in cmd.error or "stopping" in cmd.error else 400,
                                    cmd.error)
                self._send_json(200, {"ok": True, "node": node.id, **(cmd.result or {})})
            except HttpError as exc:
                self._error(exc.status, str(exc))
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _control_args(self, action: str, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
            if action == "faults":
                blocked = body.get("blocked")
                if not isinstance(blocked, list) or not all(type(i) is int for i in blocked):
                    raise HttpError(400, "faults needs {\"blocked\": [node ids]}")
                try:  # the chaos nemesis also sets one-way cuts, loss, duplication and delay
                    rules = check_rules(body, node.config.ids)
                except ValueError as exc:
                    raise HttpError(400, str(exc)) from None
                return "faults", rules
            if action == "election":
                reason = body.get("reason", "forced from the controls")
                if not isinstance(reason, str) or len(reason) > 200:
                    raise HttpError(400, "reason must be a string of at most 200 characters")
                return "election", {"reason": reason}
            raise HttpError(404, f"unknown control {action!r} (faults, election)")

        def _metrics(self) -> None:
            status = node.status_snapshot
            counters = status.get("counters") or {}
            text = metrics_text.render(node.id, status, node.metrics, counters)
            self._send(200, text.encode(), "text/plain; version=0.0.4; charset=utf-8")

        def _events(self, query: dict[str, list[str]]) -> None:
            backlog = _int_param(query, "backlog", BACKLOG_DEFAULT, 0, RING_SIZE)
            with_status = _int_param(query, "status", 0, 0, 1) == 1
            since = _int_param(query, "since", -1, -1, 2**62) if "since" in query else -1
            kinds = None
            if query.get("kinds"):
                kinds = {k.strip() for k in query["kinds"][-1].split(",") if k.strip()}
                if not kinds or any(len(k) > 20 or not k.isalpha() for k in kinds):
                    raise HttpError(400, "kinds must be a comma-separated list of event kinds, "
                                         "e.g. kinds=role,elected,sync")
            log = node.events
            # EventSource sends Last-Event-ID on its own reconnects; a page that reconnects by
            # hand passes the same "boot-seq" as ?last_id=.
            last_id = (query.get("last_id") or [""])[-1] or self.headers.get("Last-Event-ID") or ""
            if since < 0 and "-" in last_id:
                boot, _, seq_text = last_id.partition("-")
                if boot == log.boot and seq_text.isdigit():
                    since = int(seq_text)
            slot = streams.take(self.connection)
            if slot is None:
                raise HttpError(503, f"too many event streams on node {node.id} (max {MAX_STREAMS}, "
                                     "all of them read): retry")
            try:
                self._stream(log, backlog, since, with_status, kinds, slot)
            finally:
                streams.give_back(slot)

        def _stream(self, log, backlog: int, since: int, with_status: bool, kinds: set[str] | None,
                    slot: Stream) -> None:
            status = node.status_snapshot
            heartbeat_ms = int(status.get("heartbeat_ms") or node.config.timing.heartbeat_ms)
            flush_s = flush_interval_s(heartbeat_ms)
            # A token bucket: bursts of BURST_EVENTS (the backlog once), MAX_EVENTS_PER_S after.
            budget = float(max(BURST_EVENTS, backlog))
            refilled = time.monotonic()
            # Where to start is fixed before the answer begins: nothing recorded after the
            # request arrived can fall between the backlog and the live events.
            if 0 <= since <= log.seq:
                last = since
            else:
                old = log.backlog(backlog)
                last = (old[0][0] - 1) if old else log.seq
            self._head(200, "text/event-stream; charset=utf-8", None)
            hello = {"node": node.id, "boot": log.boot, "seq": log.seq, "heartbeat_ms": heartbeat_ms,
                     "flush_ms": round(flush_s * 1000), "down_after_ms": max(2 * heartbeat_ms, 250),
                     "max_events_per_s": MAX_EVENTS_PER_S}
            self.wfile.write(b"retry: 1000\n\nevent: hello\ndata: " + _json.encode(hello) + b"\n\n")
            sent_status = None
            last_write = time.monotonic()
            max_seq = last
            while node.running and not slot.ended.is_set():
                items, lost = log.since(last)
                chunks: list[bytes] = []
                now = time.monotonic()
                if budget < BURST_EVENTS:
                    budget = min(BURST_EVENTS, budget + MAX_EVENTS_PER_S * (now - refilled))
                refilled = now
                if items:
                    last = items[-1][0]
                    if kinds is not None:
                        items = [it for it in items if _kind_of(it) in kinds]
                    events = bounded(items, node.id, max(10, int(budget)))
                    budget = max(0.0, budget - len(events))
                    if lost:
                        events.insert(0, {"seq": events[0]["seq"] if events else last, "t": time.time() * 1000,
                                          "node": node.id, "kind": "gap",
                                          "text": f"{lost} events not sent (this reader fell behind)"})
                    for ev in events:
                        max_seq = max(max_seq, ev["seq"])
                        chunks.append(b"id: %s-%d\nevent: zab\ndata: %s\n\n"
                                      % (log.boot.encode(), max_seq, _json.encode(ev)))
                if with_status:
                    status = node.status_snapshot
                    if status is not sent_status:
                        sent_status = status
                        shown = _without_control(status) if self.from_page else status
                        chunks.append(b"event: status\ndata: " + _json.encode(shown) + b"\n\n")
                now = time.monotonic()
                content = bool(chunks)
                if not chunks and now - last_write >= KEEPALIVE_S:
                    chunks.append(b": keepalive\n\n")
                if chunks:
                    slot.writing(content)
                    self.wfile.write(b"".join(chunks))
                    slot.written()
                    last_write = now
                slot.ended.wait(flush_s)

    Handler.streams = streams  # type: ignore[attr-defined]
    return Handler


def _kind_of(item: tuple) -> str:
    kind = item[2]
    return item[3].event if kind == "trace" else kind


def serve_http(host: str, port: int, handler: type[BaseHTTPRequestHandler], what: str,
               name: str, workers: int = WORKERS) -> LimitedHTTPServer:
    return serve_on(bind_http(host, port, what), handler, name, workers)


def serve_on(listener, handler: type[BaseHTTPRequestHandler], name: str, workers: int) -> LimitedHTTPServer:
    """Serve HTTP on a bound, listening socket (httpbind.py) from a thread named ``name``."""
    server = LimitedHTTPServer(listener.getsockname(), handler, workers, listener)
    threading.Thread(target=server.serve_forever, name=name, daemon=True).start()
    return server


def http_host(node: "Node") -> str:
    """Where a node's HTTP binds: loopback unless the config makes it public."""
    return node.config.http_host(node.addr)


def start_http(node: "Node", listener=None) -> LimitedHTTPServer:
    """Serve the node's view; ``listener``: its http_port bound already (httpbind.py: run_node
    binds it before the node's first election message and serves it after), else bound here."""
    addr = node.addr
    host = http_host(node)
    token = node.control_token
    # The controls (partition, forced election) are served only with a token `zmqzab up` hands
    # its children; off loopback a short one is refused rather than trusted.
    if token is not None and len(token) < TOKEN_MIN_CHARS:
        node.log.warning(f"control token shorter than {TOKEN_MIN_CHARS} characters: controls off "
                         f"(the view stays read-only)")
        node.control_token = None
    elif token is not None and not is_loopback(host):
        node.log.warning(f"controls served on {host}:{addr.http_port} (not loopback): they need the "
                         f"{TOKEN_HEADER} header")
    if listener is None:
        listener = bind_node_http(node)
    # Every stream slot has its thread; WORKERS more answer everything else.
    server = serve_on(listener, make_handler(node), "http", WORKERS + MAX_STREAMS)
    server.url = view_url(host, addr.http_port)  # type: ignore[attr-defined]
    return server
