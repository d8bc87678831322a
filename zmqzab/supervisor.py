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

If the supervisor itself is killed with SIGKILL the nodes keep running (they are in their own
sessions); stop them with ``kill <pid>`` (the pids are printed at start).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from zmqzab.config import ClusterConfig

#: How long ``stop_node`` waits after SIGTERM before it sends SIGKILL.
STOP_TIMEOUT_S = 5.0

#: How often ``run`` looks at the stop flag a signal handler sets.
WAKE_S = 0.2

#: ANSI colours for the ``n<id> | `` prefixes, cycled by position in the config.
COLOURS = ("36", "33", "35", "32", "34", "91", "96", "93", "95")


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
    exited: threading.Event = field(default_factory=threading.Event)


class Supervisor:
    """Starts, watches and stops the node processes of one cluster config."""

    def __init__(self, config: ClusterConfig, config_path: Path, *, out: TextIO | None = None,
                 colour: bool | None = None, python: str = sys.executable,
                 stop_timeout: float = STOP_TIMEOUT_S) -> None:
        self.config = config
        self.config_path = Path(config_path)
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
            process = subprocess.Popen(
                self.command(node_id),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl+C goes to the supervisor only
            )
            child = _Child(process)
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
            self.say(f"stopped ({describe_exit(code)})", node_id)
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
        try:
            first = self.config.nodes[0]
            self.say(f"starting {len(self.config.nodes)} nodes from {self.config_path} "
                     f"(quorum {self.config.quorum})")
            self.start_all()
            pids = ", ".join(f"n{i} pid {p}" for i, p in self.pids.items())
            self.say(f"started: {pids}")
            self.say(f"cluster view: {first.http_url}/")
            self.say("Ctrl+C stops all nodes")
            while not self._stop_requested:
                if not self.changed.wait(WAKE_S):
                    continue
                self.changed.clear()
                if not self._stop_requested and not self.pids:
                    with self._lock:
                        children = list(self._children.values())
                    if all(c.exited.is_set() for c in children):
                        self.say("every node has exited: stopping (see the lines above for why)")
                        return 1
            self.say("stopping all nodes (SIGTERM; SIGKILL after "
                     f"{self.stop_timeout:.0f} s)")
            return 0
        finally:
            self.stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
