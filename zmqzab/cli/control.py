"""Classroom controls from the terminal, and ``zmqzab watch``.

``crash``, ``restart``, ``pause``, ``resume``, ``partition``, ``heal`` and ``election`` do what the
page's buttons do: they ask the running ``zmqzab up`` of the config (it owns the node processes)
through its control server. They find it, and the run's secret every control request carries,
in the file ``zmqzab up`` writes in the data dir (``up-<port>.json``, readable by its owner
only: another user cannot use the controls). A cluster whose nodes were started one by one has
no controls: the commands say so and exit 3.

``watch`` follows every node's ``/events`` stream and prints one coloured line per event. It
never needs ``zmqzab up``.
"""

from __future__ import annotations

import http.client
import json
import queue
import sys
import threading
import time
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer

from zmqzab.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_CODES,
    EXIT_NO_QUORUM,
    check_node,
    fail,
    load,
    print_json,
)
from zmqzab.cli.options import ConfigOption
from zmqzab.config import ClusterConfig

#: How long a control request may take (a restart waits for the old process to stop).
CONTROL_TIMEOUT_S = 15.0
#: How long finding the controls may take per place asked.
FIND_TIMEOUT_S = 1.0
#: ``watch``: a stream silent this long is reconnected (nodes send a keepalive every 2 s).
WATCH_SILENCE_S = 5.0
WATCH_RETRY_S = 0.5

KIND_COLOURS = {"role": "green", "elected": "green", "election": "yellow", "epoch": "magenta",
                "discovery": "magenta", "sync": "blue", "follower": "blue", "repair": "red",
                "control": "red", "gap": "red", "summary": "white", "DOWN": "red"}

NodeArg = Annotated[int, typer.Argument(help="Node id (from the config).", show_default=False)]


# --------------------------------------------------------------------------------------------
# HTTP helpers (stdlib only: these commands start fast)


def _request(url: str, method: str = "GET", body: dict | None = None,
             timeout: float = FIND_TIMEOUT_S, secret: str | None = None) -> tuple[int, Any]:
    from zmqzab.security.runsecret import SECRET_HEADER

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        conn.request(method, parts.path or "/", body=json.dumps(body) if body is not None else None,
                     headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        try:
            return resp.status, json.loads(raw or b"{}")
        except ValueError:
            return resp.status, {"error": raw.decode(errors="replace")[:200]}
    finally:
        conn.close()


def find_control(cfg: ClusterConfig) -> tuple[str, str]:
    """(base URL, secret) of the controls of the `zmqzab up` running this config; exits 3 if none."""
    from zmqzab.security.runsecret import RunFileError
    from zmqzab.up.control import read_control_file

    try:
        found = read_control_file(cfg)
    except RunFileError as exc:
        why = str(exc)
    else:
        url, secret = found["control"], found["secret"]
        try:
            status, data = _request(url + "/control", secret=secret)
        except (OSError, http.client.HTTPException) as exc:
            status, data = 0, {"error": str(exc)}
        if status == 200 and isinstance(data, dict) and "nodes" in data:
            return url, secret
        why = f"the controls at {url} did not answer ({data.get('error') or status})"
    fail(f"no `zmqzab up` controls found for {cfg.path} ({why}): crash, restart, pause, partition "
         f"and heal act on a cluster started with: zmqzab up --config {cfg.path} (nodes started "
         "one by one are read-only)", EXIT_NO_QUORUM)


def control(config_path, action: str, body: dict, as_json: bool = False) -> dict:
    cfg = load(config_path)
    if "node" in body:
        check_node(cfg, body["node"])
    url, secret = find_control(cfg)
    try:
        status, data = _request(f"{url}/control/{action}", "POST", body, timeout=CONTROL_TIMEOUT_S,
                                secret=secret)
    except (OSError, http.client.HTTPException) as exc:
        fail(f"the controls at {url} did not answer ({exc}); is `zmqzab up` still running?",
             EXIT_NO_QUORUM)
    if status != 200:
        fail(data.get("error", f"HTTP {status}"), EXIT_BAD_INPUT if status in (400, 404, 409) else EXIT_NO_QUORUM)
    if as_json:
        print_json(data)
    return data


def _relayed(data: dict) -> str:
    """'nodes 0, 1, 2 took it; node 3: paused: gets it when resumed'."""
    nodes = data.get("nodes") or {}
    ok = [k for k, v in nodes.items() if v.get("ok")]
    bad = [f"node {k}: {v.get('error')}" for k, v in nodes.items() if not v.get("ok")]
    parts = []
    if ok:
        parts.append(f"node{'s' if len(ok) > 1 else ''} {', '.join(ok)} took it")
    parts.extend(bad)
    return "; ".join(parts)


# --------------------------------------------------------------------------------------------
# Commands


JsonOption = Annotated[bool, typer.Option("--json", help="Print the controls' JSON answer.")]


def crash(node_id: NodeArg, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Crash a node: kill -9 its process (needs the cluster run by zmqzab up)."""
    data = control(config, "crash", {"node": node_id}, as_json)
    if not as_json:
        typer.echo(f"node {node_id} crashed ({data.get('exit') or 'killed'}); bring it back with: "
                   f"zmqzab restart {node_id}")


def restart(node_id: NodeArg, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Start a node again (stopping it first if it runs); it rejoins and catches up."""
    data = control(config, "restart", {"node": node_id}, as_json)
    if not as_json:
        typer.echo(f"node {node_id} started (pid {data.get('pid')}); it rejoins through "
                   "election, discovery and sync (DIFF, TRUNC or SNAP)")


def pause(node_id: NodeArg, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Freeze a node (SIGSTOP): alive but silent, like a long GC pause."""
    control(config, "pause", {"node": node_id}, as_json)
    if not as_json:
        typer.echo(f"node {node_id} paused; continue it with: zmqzab resume {node_id}")


def resume(node_id: NodeArg, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Continue a paused node (SIGCONT)."""
    control(config, "resume", {"node": node_id}, as_json)
    if not as_json:
        typer.echo(f"node {node_id} resumed")


def parse_groups(groups: list[str]) -> list[list[int]]:
    out = []
    for g in groups:
        ids = []
        for part in g.split(","):
            part = part.strip()
            if not part.isdigit():
                fail(f"bad group {g!r}: groups are comma-separated node ids, e.g. "
                     "zmqzab partition 0,1 2,3,4")
            ids.append(int(part))
        out.append(ids)
    return out


def partition(
    groups: Annotated[list[str], typer.Argument(help="Groups of node ids, e.g. 0,1 2,3,4. Nodes "
                                                     "left out form one more group.",
                                                metavar="GROUP...", show_default=False)],
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cut the network between groups of nodes (each node drops traffic to and from the others)."""
    cfg = load(config)
    parsed = parse_groups(groups)
    for g in parsed:
        for i in g:
            check_node(cfg, i)
    from zmqzab.up.control import ControlError, partition_blocked

    try:  # the same checks `zmqzab up` makes, before looking for it: bad input is exit 2
        partition_blocked(parsed, cfg.ids)
    except ControlError as exc:
        fail(str(exc))
    data = control(config, "partition", {"groups": parsed}, as_json)
    if not as_json:
        sides = " | ".join("{" + ", ".join(map(str, g)) + "}" for g in data.get("groups") or [])
        typer.echo(f"partition {sides}: {_relayed(data)}; undo with: zmqzab heal")


def heal(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Undo a partition: every node talks to every node again."""
    data = control(config, "heal", {}, as_json)
    if not as_json:
        typer.echo(f"healed: {_relayed(data)}")


def election(
    node_id: Annotated[int | None, typer.Option("--node", "-n", help="Only this node gives up its "
                       "role (default: every node at once).")] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Force an election: nodes give up their role and vote again."""
    body = {"node": node_id} if node_id is not None else {}
    data = control(config, "election", body, as_json)
    if not as_json:
        typer.echo(f"election forced: {_relayed(data)}")


# --------------------------------------------------------------------------------------------
# watch


def _follow(node_id: int, url: str, kinds: str | None, out: queue.Queue, stop: threading.Event) -> None:
    """Read one node's event stream forever, reconnecting; puts (node, event dict) on ``out``."""
    parts = urlsplit(url)
    last_id = ""
    down_said = False
    query = "/events?backlog=0" + (f"&kinds={kinds}" if kinds else "")
    while not stop.is_set():
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=WATCH_SILENCE_S)
        try:
            conn.request("GET", query, headers={"Last-Event-ID": last_id} if last_id else {})
            resp = conn.getresponse()
            if resp.status != 200:
                raise OSError(f"HTTP {resp.status}")
            if down_said:
                out.put((node_id, {"kind": "UP", "text": "event stream connected", "t": time.time() * 1000}))
                down_said = False
            event, data = "", []
            while not stop.is_set():
                line = resp.readline()
                if not line:
                    raise OSError("stream closed")
                line = line.decode("utf-8", errors="replace").rstrip("\r\n")
                if line == "":
                    if event == "zab" and data:
                        try:
                            out.put((node_id, json.loads("\n".join(data))))
                        except ValueError:
                            pass
                    event, data = "", []
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip(" "))
                elif line.startswith("id:"):
                    last_id = line[3:].strip()
        except (OSError, http.client.HTTPException):
            if not down_said:
                out.put((node_id, {"kind": "DOWN", "text": "no connection (node down?): retrying",
                                   "t": time.time() * 1000}))
                down_said = True
        finally:
            conn.close()
        stop.wait(WATCH_RETRY_S)


def watch_line(node_id: int, ev: dict, colour: bool, node_colour: str) -> str:
    t = ev.get("t")
    stamp = datetime.fromtimestamp(t / 1000).strftime("%H:%M:%S.%f")[:-3] if t else "--:--:--.---"
    kind = str(ev.get("kind", ""))
    label = (ev.get("msg") or kind) if kind in ("send", "recv") else kind
    prefix = f"n{node_id}"
    text = ev.get("text", "")
    if colour:
        prefix = f"\x1b[{node_colour}m{prefix}\x1b[0m"
        if kind in KIND_COLOURS:
            label = typer.style(f"{label:<10}", fg=KIND_COLOURS[kind], bold=kind in ("role", "elected"))
            return f"{stamp} {prefix} {label} {text}"
    return f"{stamp} {prefix} {label:<10} {text}"


def watch(
    config: ConfigOption = None,
    nodes: Annotated[list[int] | None, typer.Option("--node", "-n", help="Only this node (repeat "
                     "for more; default: all).")] = None,
    kinds: Annotated[str | None, typer.Option("--kinds", "-k", help="Only these event kinds, "
                     "comma-separated (e.g. role,elected,sync,commit).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON event per line.")] = False,
    count: Annotated[int, typer.Option("--count", min=0, help="Stop after this many events "
                     "(0: never).")] = 0,
    duration: Annotated[float, typer.Option("--duration", min=0, help="Stop after this many "
                        "seconds (0: never).")] = 0.0,
) -> None:
    """Follow what every node does (elections, sync, proposals, commits), coloured per node."""
    from zmqzab.up.supervisor import COLOURS, use_colour

    cfg = load(config)
    for i in nodes or []:
        check_node(cfg, i)
    if kinds is not None:
        names = [k.strip() for k in kinds.split(",") if k.strip()]
        if not names or not all(k.isalpha() and len(k) <= 20 for k in names):
            fail(f"bad --kinds {kinds!r}: give event kinds, e.g. --kinds role,elected,sync")
        kinds = ",".join(names)
    chosen = [n for n in cfg.nodes if not nodes or n.id in nodes]
    colour = use_colour(sys.stdout) and not as_json
    out: queue.Queue = queue.Queue(maxsize=10_000)
    stop = threading.Event()
    for n in chosen:
        threading.Thread(target=_follow, args=(n.id, cfg.http_url(n), kinds, out, stop), daemon=True,
                         name=f"watch-{n.id}").start()
    if not as_json:
        typer.echo(f"watching {len(chosen)} node{'s' if len(chosen) != 1 else ''} of {cfg.path} "
                   "(Ctrl+C stops)", err=True)
    deadline = time.monotonic() + duration if duration else None
    seen = 0
    try:
        while count == 0 or seen < count:
            wait = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
            if deadline is not None and wait <= 0:
                break
            try:
                node_id, ev = out.get(timeout=wait)
            except queue.Empty:
                continue
            if as_json:
                typer.echo(json.dumps({"node": node_id, **ev}))
            else:
                shade = COLOURS[cfg.ids.index(node_id) % len(COLOURS)]
                typer.echo(watch_line(node_id, ev, colour, shade))
            if ev.get("kind") not in ("DOWN", "UP"):
                seen += 1
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()


def register(app: typer.Typer) -> None:
    """Add these commands to the ``zmqzab`` app (cli/app.py)."""
    for fn in (crash, restart, pause, resume, partition, heal, election):
        app.command(fn.__name__, epilog=EXIT_CODES)(fn)
    app.command("watch", epilog=EXIT_CODES)(watch)
