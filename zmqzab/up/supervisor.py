"""``zmqzab up``: run every node of a config as a child process in one terminal.

Theory of operation
-------------------
Each node is ``python -m zmqzab node --id N --config PATH`` in its own session (process group),
so a Ctrl+C in the terminal reaches only the supervisor, which then stops the nodes in an
orderly way: SIGTERM to every child, up to ``STOP_TIMEOUT_S`` for them to exit, then SIGKILL.
A child's stdout and stderr are merged into one pipe; one reader thread per child prints its
lines prefixed with ``n<id> | `` (coloured on a terminal). A child that exits on its own is
reported with its exit code and the others keep running.

The ``Supervisor`` class is also the handle for crash / restart controls: ``stop_node(i, sig)``,
``start_node(i)``, ``restart_node(i)``, ``pids``, ``alive(i)``; all are safe to call from any
thread.

Controls (the page's buttons and ``zmqzab crash/restart/pause/resume/partition/heal``): ``run``
serves them on 127.0.0.1 (up/control.py, port ``control_port``, 0 = any free one) and
writes where, with this run's secret, in ``<data_dir>/up-<first peer_port>.json`` (mode 0600:
the owner's only) for the CLI; it prints the page's address with the secret (in its fragment,
``#secret=``), the one way a browser gets the controls. The supervisor owns the
processes, so crash (SIGKILL), restart, pause (SIGSTOP) and resume (SIGCONT) act on pids here.
Partitions and forced elections are the nodes' business: they are relayed to each node's
``POST /control/...`` with a token only the supervisor and its children know
(``ZMQZAB_CONTROL_TOKEN``); a node started with a partition in force gets it in
``ZMQZAB_BLOCKED`` before it sends anything. The node knows the control URL
(``ZMQZAB_CONTROL_URL``) to let the controls' page read its status and events.

If the supervisor itself is killed with SIGKILL the nodes keep running (they are in their own
sessions); stop them with ``kill <pid>`` (the pids are printed at start).
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from zmqzab.config import ClusterConfig, ConfigError
from zmqzab.security.runsecret import new_secret, write_private
from zmqzab.server.web import TOKEN_HEADER
from zmqzab.up.bytecode import compile_package
from zmqzab.up.control import ControlError, control_file, page_address, partition_blocked, start_control_http
from zmqzab.up.stopped import wait_stopped

#: How long ``stop_node`` waits after SIGTERM before it sends SIGKILL.
STOP_TIMEOUT_S = 5.0

#: How often ``run`` looks at the stop flag a signal handler sets.
WAKE_S = 0.2

#: ANSI colours for the ``n<id> | `` prefixes, cycled by position in the config.
COLOURS = ("36", "33", "35", "32", "34", "91", "96", "93", "95")

#: How long a relayed control (partition, election) waits for one node's answer.
RELAY_TIMEOUT_S = 2.5
#: How long a guess / new game from the controls may take, retries included.
WRITE_TIMEOUT_S = 8.0
CONTROL_ACTIONS = ("crash", "restart", "pause", "resume", "partition", "isolate", "heal", "election",
                   "guess", "new-game")


def use_colour(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class _Child:
    process: subprocess.Popen
    reader: threading.Thread | None = None
    stopping: bool = False  # we asked it to stop: its exit is not news
    note: str = ""  # how it was stopped, when a control did it
    exited: threading.Event = field(default_factory=threading.Event)


class Supervisor:
    """Starts, watches and stops the node processes of one cluster config."""

    def __init__(self, config: ClusterConfig, config_path: Path, *, out: TextIO | None = None,
                 colour: bool | None = None, python: str = sys.executable,
                 stop_timeout: float = STOP_TIMEOUT_S, control_port: int | None = 0,
                 record: Path | None = None, record_cap: int | None = None, command: str = "zmqzab up") -> None:
        compile_package()  # every node start then skips compiling zmqzab (up/bytecode.py)
        self.config = config
        #: ``--record FILE``: the nodes' streams and this supervisor's actions (record/live.py).
        self.record, self.record_cap, self.command_line = record, record_cap, command
        self.recorder = None
        self.config_path = Path(config_path)
        #: The client session of the page's guesses and new games (see _write).
        self._write_session = None
        self._write_lock = threading.Lock()
        self.out = out if out is not None else sys.stdout
        self.colour = use_colour(self.out) if colour is None else colour
        self.python = python
        self.stop_timeout = stop_timeout
        self._children: dict[int, _Child] = {}
        self._lock = threading.RLock()  # guards _children
        self._print_lock = threading.Lock()
        #: Set whenever a child exits (on its own or not); ``run`` wakes up on it.
        self.changed = threading.Event()
        self._stop_requested = False
        #: None: no controls (the page is read-only); 0: any free port.
        self.control_port = control_port
        self.control_url: str | None = None
        self.token = secrets.token_hex(16)
        #: What every control request must carry (security/runsecret.py); new each run.
        self.secret = new_secret()
        self.partition: list[list[int]] | None = None
        self.blocked: dict[int, set[int]] = {}
        self.paused: set[int] = set()
        self._control_lock = threading.Lock()  # one control action at a time

    # ------------------------------------------------------------------ output

    def prefix(self, node_id: int) -> str:
        text = f"n{node_id} | "
        if not self.colour:
            return text
        colour = COLOURS[self.config.ids.index(node_id) % len(COLOURS)]
        return f"\x1b[{colour}m{text}\x1b[0m"

    def say(self, line: str, node_id: int | None = None) -> None:
        text = line if node_id is None else self.prefix(node_id) + line
        with self._print_lock:
            try:
                self.out.write(text + "\n")
                self.out.flush()
            except (OSError, ValueError):
                pass  # our own stdout is gone (closed pipe): keep supervising

    # ------------------------------------------------------------------ children

    def command(self, node_id: int) -> list[str]:
        return [self.python, "-m", "zmqzab", "node", "--id", str(node_id),
                "--config", str(self.config_path)]

    def start_node(self, node_id: int) -> int:
        """Start node ``node_id`` (if not running); returns its pid."""
        self.config.node(node_id)  # ConfigError for an unknown id
        with self._lock:
            child = self._children.get(node_id)
            if child is not None and child.process.poll() is None:
                return child.process.pid
            env = dict(os.environ, PYTHONUNBUFFERED="1", ZMQZAB_SUPERVISED="1")
            for key in ("ZMQZAB_CONTROL_URL", "ZMQZAB_CONTROL_TOKEN", "ZMQZAB_BLOCKED"):
                env.pop(key, None)  # never inherited from an outer supervisor
            if self.control_url:
                env["ZMQZAB_CONTROL_URL"] = self.control_url
                env["ZMQZAB_CONTROL_TOKEN"] = self.token
            if self.blocked.get(node_id):
                env["ZMQZAB_BLOCKED"] = ",".join(str(i) for i in sorted(self.blocked[node_id]))
            process = subprocess.Popen(
                self.command(node_id),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl+C goes to the supervisor only
            )
            child = _Child(process)
            self.paused.discard(node_id)
            child.reader = threading.Thread(target=self._pump, args=(node_id, child),
                                            name=f"node-{node_id}-output", daemon=True)
            self._children[node_id] = child
            child.reader.start()
            return process.pid

    def _pump(self, node_id: int, child: _Child) -> None:
        """Print one child's output line by line; report its exit when the pipe closes."""
        stream = child.process.stdout
        assert stream is not None  # stdout=PIPE above
        for raw in iter(stream.readline, b""):
            self.say(raw.decode("utf-8", errors="replace").rstrip("\r\n"), node_id)
        stream.close()
        code = child.process.wait()
        if child.stopping:
            self.say(f"{child.note or 'stopped'} ({describe_exit(code)})", node_id)
        else:
            others = "the other nodes keep running; " if self.pids else ""
            self.say(f"exited on its own ({describe_exit(code)}); {others}restart it with: "
                     f"zmqzab node --id {node_id} --config {self.config_path}", node_id)
        child.exited.set()
        self.changed.set()

    def stop_node(self, node_id: int, sig: int = signal.SIGTERM,
                  timeout: float | None = None) -> int | None:
        """Send ``sig`` to a node; after SIGTERM/SIGINT wait up to ``timeout``, then SIGKILL.

        Returns the exit code (negative: killed by that signal), or None if it was not running.
        """
        with self._lock:
            child = self._children.get(node_id)
        if child is None or child.process.poll() is not None:
            return None if child is None else child.process.returncode
        child.stopping = True
        self._signal(child, sig)
        wait_s = self.stop_timeout if timeout is None else timeout
        try:
            code = child.process.wait(wait_s)
        except subprocess.TimeoutExpired:
            self.say(f"did not stop within {wait_s:.0f} s: sending SIGKILL", node_id)
            self._signal(child, signal.SIGKILL)
            code = child.process.wait()
        if child.reader is not None:
            child.reader.join(timeout=wait_s)
        return code

    @staticmethod
    def _signal(child: _Child, sig: int) -> None:
        try:
            child.process.send_signal(sig)
        except ProcessLookupError:
            pass  # it exited between poll() and the signal

    def restart_node(self, node_id: int) -> int:
        """Stop a node (if running) and start it again; returns the new pid."""
        self.stop_node(node_id)
        return self.start_node(node_id)

    @property
    def pids(self) -> dict[int, int]:
        """Pid of every node process that is running now, by node id."""
        with self._lock:
            return {i: c.process.pid for i, c in sorted(self._children.items())
                    if c.process.poll() is None}

    def alive(self, node_id: int) -> bool:
        with self._lock:
            child = self._children.get(node_id)
        return child is not None and child.process.poll() is None

    def start_all(self) -> None:
        for node_id in self.config.ids:
            self.start_node(node_id)

    def stop_all(self, timeout: float | None = None) -> None:
        """SIGTERM to every node at once, wait up to ``timeout`` for all, then SIGKILL the rest."""
        wait_s = self.stop_timeout if timeout is None else timeout
        with self._lock:
            children = sorted(self._children.items())
        running = [(i, c) for i, c in children if c.process.poll() is None]
        for _, child in running:
            child.stopping = True
            self._signal(child, signal.SIGTERM)
        for node_id, child in running:
            # Every child had the same wait_s from the same moment; later ones need less.
            try:
                child.process.wait(wait_s)
            except subprocess.TimeoutExpired:
                self.say(f"did not stop within {wait_s:.0f} s: sending SIGKILL", node_id)
                self._signal(child, signal.SIGKILL)
                child.process.wait()
                wait_s = 0.0
        for _, child in children:
            if child.reader is not None:
                child.reader.join(timeout=1.0)

    # ------------------------------------------------------------------ up

    def request_stop(self) -> None:
        """Ask ``run`` to stop every node and return (from any thread)."""
        self._stop_requested = True
        self.changed.set()

    def _on_signal(self, _signum: int, _frame: object) -> None:
        # Only a flag: an Event.set() here could deadlock on the lock the interrupted main
        # thread may hold inside Event.wait(); run() looks at the flag at least every WAKE_S.
        self._stop_requested = True

    def run(self) -> int:
        """Start every node, print the page address, block until Ctrl+C / SIGTERM; exit code.

        0 after Ctrl+C / SIGTERM; 1 if every node exited on its own (nothing left to run).
        """
        handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in handled}
        server = None
        try:
            first = self.config.nodes[0]
            if self.control_port is not None:
                server = self._start_controls()
            self.say(f"starting {len(self.config.nodes)} nodes from {self.config_path} "
                     f"(quorum {self.config.quorum})")
            self.start_all()
            if self.record is not None:
                self._start_recording()
            pids = ", ".join(f"n{i} pid {p}" for i, p in self.pids.items())
            self.say(f"started: {pids}")
            read_only = " (read-only)" if self.control_url else ""
            self.say(f"cluster view{read_only}: {self.config.http_url(first)}/")
            if self.control_url:
                self.say(f"cluster view with controls (keep this address to yourself: it holds this "
                         f"run's secret): {page_address(self.control_url, self.config, self.secret)}")
                self.say("controls from the terminal: zmqzab crash N, restart N, pause N, resume N, "
                         "partition 0,1 2,3,4, heal, election")
            self.say("Ctrl+C stops all nodes")
            while not self._stop_requested:
                if not self.changed.wait(WAKE_S):
                    continue
                self.changed.clear()
                if not self._stop_requested and not self.pids:
                    with self._lock:
                        children = list(self._children.values())
                    # Nodes crashed from the controls are the demo, not a reason to stop.
                    if all(c.exited.is_set() and not c.note for c in children):
                        self.say("every node has exited: stopping (see the lines above for why)")
                        return 1
            self.say("stopping all nodes (SIGTERM; SIGKILL after "
                     f"{self.stop_timeout:.0f} s)")
            return 0
        finally:
            self.stop_all()
            if self.recorder is not None:
                end = self.recorder.close()
                self.say(f"recording: {self.record}, {end['frames']} frames; replay it with: "
                         f"zmqzab replay {self.record}")
            if server is not None:
                server.shutdown()
                server.server_close()
                try:
                    control_file(self.config).unlink()
                except OSError:
                    pass
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _start_recording(self) -> None:
        from zmqzab.record.format import DEFAULT_CAP_BYTES
        from zmqzab.record.live import LiveRecorder

        self.recorder = LiveRecorder(self.config, self.record, self.command_line,
                                     cap_bytes=self.record_cap or DEFAULT_CAP_BYTES).begin()
        self.say(f"recording every node's events to {self.record}")

    def _record_control(self, action: str, body: dict[str, Any], result: dict[str, Any]) -> None:
        """A control action that changed the cluster, as a fault mark of the recording."""
        node = body.get("node") if type(body.get("node")) is int else None
        if action in ("partition", "isolate"):
            groups = self.partition or []
            text = "partition " + " | ".join("{" + ",".join(f"n{i}" for i in g) + "}" for g in groups)
            self.recorder.fault("partition", text, groups[0] if groups else [], groups=groups)
        elif action == "heal":
            self.recorder.fault("heal", "heal: every link works again", [])
        elif action == "election":
            self.recorder.fault("election", f"force an election on {f'n{node}' if node else 'every node'}",
                                [node] if node else list(self.config.ids))
        elif node is not None:
            how = {"crash": "crash n{} (kill -9)", "restart": "restart n{}", "pause": "pause n{} (SIGSTOP)",
                   "resume": "resume n{} (SIGCONT)"}[action]
            self.recorder.fault(action, how.format(node) + " from the controls", [node])

    # ------------------------------------------------------------------ controls

    def _start_controls(self):
        host = "127.0.0.1"
        server = start_control_http(self, host, self.control_port or 0)
        port = server.server_address[1]
        self.control_url = f"http://{host}:{port}"
        path = control_file(self.config)
        try:
            write_private(path, json.dumps({"pid": os.getpid(), "control": self.control_url,
                                            "secret": self.secret, "config": str(self.config_path),
                                            "page": page_address(self.control_url, self.config, self.secret)}))
        except OSError as exc:
            self.say(f"could not write {path} ({exc.strerror}): zmqzab crash/restart/... cannot "
                     "find the controls (the page's still work)")
        return server

    def control_state(self) -> dict[str, Any]:
        with self._lock:
            children = dict(self._children)
        nodes = []
        for n in self.config.nodes:
            child = children.get(n.id)
            alive = child is not None and child.process.poll() is None
            nodes.append({"id": n.id, "http": self.config.http_url(n), "alive": alive,
                          "pid": child.process.pid if alive else None,
                          "paused": n.id in self.paused and alive})
        return {"config": str(self.config_path), "nodes": nodes, "partition": self.partition,
                "actions": list(CONTROL_ACTIONS)}

    def _node_id(self, body: dict[str, Any], required: bool = True) -> int | None:
        value = body.get("node")
        if value is None and not required:
            return None
        if type(value) is not int:
            raise ControlError(f'this action needs "node": a node id ({", ".join(map(str, self.config.ids))})')
        try:
            self.config.node(value)
        except ConfigError:
            raise ControlError(f"no node with id {value} (valid ids: {', '.join(map(str, self.config.ids))})") from None
        return value

    def control(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """Carry out one control action (from the control HTTP server); ControlError if bad."""
        if action not in CONTROL_ACTIONS:
            raise ControlError(f"unknown action {action!r} (one of: {', '.join(CONTROL_ACTIONS)})", 404)
        if action in ("guess", "new-game"):
            return self._write(action, body)  # may take seconds: not under the lock
        with self._control_lock:
            result = self._act(action, body)
            if self.recorder is not None:
                self._record_control(action, body, result)
            return result

    def _act(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """One control action (under the control lock)."""
        if action == "crash":
            return self.crash(self._node_id(body))
        if action == "restart":
            return self.restart(self._node_id(body))
        if action == "pause":
            return self.pause(self._node_id(body))
        if action == "resume":
            return self.resume(self._node_id(body))
        if action == "partition":
            return self.set_partition(body.get("groups"))
        if action == "isolate":
            return self.set_partition([[self._node_id(body)]])
        if action == "heal":
            return self.set_partition(None)
        return self.force_election(self._node_id(body, required=False))

    def crash(self, node_id: int) -> dict[str, Any]:
        child = self._running(node_id, " (restart it first)")
        child.note = "crashed from the controls (kill -9)"
        code = self.stop_node(node_id, signal.SIGKILL)
        self.paused.discard(node_id)
        return {"node": node_id, "action": "crash", "exit": describe_exit(code) if code is not None else None}

    def restart(self, node_id: int) -> dict[str, Any]:
        if self.alive(node_id):
            with self._lock:
                child = self._children[node_id]
            child.note = "stopped for a restart from the controls"
            if node_id in self.paused:
                self._signal(child, signal.SIGCONT)
            self.stop_node(node_id)
        pid = self.start_node(node_id)
        self.say(f"started from the controls (pid {pid})", node_id)
        return {"node": node_id, "action": "restart", "pid": pid}

    def _running(self, node_id: int, hint: str = "") -> _Child:
        """The child of a running node; ControlError (409) if it does not run."""
        if not self.alive(node_id):
            raise ControlError(f"node {node_id} is not running{hint}", 409)
        with self._lock:
            return self._children[node_id]

    def pause(self, node_id: int) -> dict[str, Any]:
        child = self._running(node_id)
        self._signal(child, signal.SIGSTOP)
        wait_stopped(child.process.pid)  # kill() returns before the stop: see stopped.py
        self.paused.add(node_id)
        self.say("paused from the controls (SIGSTOP): it hears and says nothing until resumed", node_id)
        return {"node": node_id, "action": "pause"}

    def resume(self, node_id: int) -> dict[str, Any]:
        child = self._running(node_id)
        self._signal(child, signal.SIGCONT)
        was_paused = node_id in self.paused
        self.paused.discard(node_id)
        self.say("resumed from the controls (SIGCONT)", node_id)
        # A partition changed while it was stopped reaches it now.
        relayed = self._relay({node_id: {"blocked": sorted(self.blocked.get(node_id, set()))}}, "faults")
        return {"node": node_id, "action": "resume", "was_paused": was_paused, "nodes": relayed}

    def set_partition(self, groups: list[list[int]] | None) -> dict[str, Any]:
        if groups is None:
            self.partition, self.blocked = None, {}
            self.say("heal: every node accepts traffic from every node again")
        else:
            self.partition, self.blocked = partition_blocked(groups, self.config.ids)
            self.say("partition: " + " | ".join("{" + ", ".join(map(str, g)) + "}" for g in self.partition))
        bodies = {i: {"blocked": sorted(self.blocked.get(i, set()))} for i in self.config.ids}
        return {"action": "heal" if groups is None else "partition", "groups": self.partition,
                "nodes": self._relay(bodies, "faults")}

    def force_election(self, node_id: int | None) -> dict[str, Any]:
        targets = [node_id] if node_id is not None else list(self.config.ids)
        who = f"node {node_id}" if node_id is not None else "every node"
        bodies = {i: {"reason": f"forced election ({who}) from the controls"} for i in targets}
        return {"action": "election", "nodes": self._relay(bodies, "election")}

    def _relay(self, bodies: dict[int, dict[str, Any]], what: str) -> dict[str, Any]:
        """POST /control/<what> to each node (running, not paused) in parallel; per-node results."""
        results: dict[str, Any] = {}
        live = {i: b for i, b in bodies.items() if self.alive(i) and i not in self.paused}
        for i in bodies:
            if i not in live:
                results[str(i)] = {"ok": False, "error": "paused: gets it when resumed" if i in self.paused
                                   else "down: gets it when started"}
        if live:
            with ThreadPoolExecutor(max_workers=len(live)) as pool:
                futures = {i: pool.submit(self._post_node, i, f"/control/{what}", b) for i, b in live.items()}
                for i, fut in sorted(futures.items()):
                    results[str(i)] = fut.result()
        return dict(sorted(results.items(), key=lambda kv: int(kv[0])))

    def _post_node(self, node_id: int, path: str, body: dict[str, Any]) -> dict[str, Any]:
        n = self.config.node(node_id)
        conn = http.client.HTTPConnection(self.config.http_host(n), n.http_port, timeout=RELAY_TIMEOUT_S)
        try:
            conn.request("POST", path, body=json.dumps(body),
                         headers={"Content-Type": "application/json", TOKEN_HEADER: self.token})
            resp = conn.getresponse()
            data = json.loads(resp.read() or b"{}")
            if resp.status != 200:
                return {"ok": False, "error": data.get("error", f"HTTP {resp.status}")}
            return data
        except (OSError, ValueError, http.client.HTTPException) as exc:
            return {"ok": False, "error": f"node {node_id} did not answer ({exc})"}
        finally:
            conn.close()

    def _write(self, action: str, body: dict[str, Any]) -> dict[str, Any]:
        from zmqzab.client import BadRequestError, Client, ClientError

        node_id = self._node_id(body, required=False)
        value = None
        if action == "guess":
            value = body.get("value")
            if type(value) is not int or not 0 <= value <= 100:
                raise ControlError(f'guess needs "value": a whole number from 0 to 100, got {value!r}')
        # One client session for the page's writes, one write at a time (its seqs go in
        # order): a new client id per write would fill the game's table of client records.
        with self._write_lock:
            with Client(self.config, node=node_id, timeout=WRITE_TIMEOUT_S,
                        session=self._write_session, name="page") as client:
                try:
                    done = client.guess(value) if action == "guess" else client.new_game()  # type: ignore[arg-type]
                except BadRequestError as exc:
                    raise ControlError(str(exc)) from None
                except ClientError as exc:
                    raise ControlError(str(exc), 503) from None
                finally:
                    self._write_session = client.session
        return {"action": action, **done.to_json()}
