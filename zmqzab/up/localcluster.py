"""A throwaway local cluster for `zmqzab chaos` and `zmqzab bench`: ports from the OS (or a
given config's), data in a temp dir, processes by PID.

Faults: kill -9, SIGSTOP / SIGCONT, restart, partitions, link faults (one-way cuts, loss,
duplication, delay: the transport's fault rules, set over the node's HTTP control route) and
power loss (kill -9, then the files lose what was never fsynced: zmqzab/chaos/powerloss.py).
Two ways to start nodes and cut them off, behind three methods (``node_command``, ``node_env``,
``block``): here, on loopback, through the nodes' transport fault rules (every node is told
which peers to drop, both ways); ``zmqzab.chaos.netns.NetnsCluster``, with each node in its own
network namespace and routes that cut real TCP connections (link faults stay the transport's).
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import zmq

from zmqzab.config import (
    ALL_PORT_KEYS,
    ClusterConfig,
    GameConfig,
    NodeAddress,
    SecurityConfig,
    StorageConfig,
    Timing,
    load_config,
    render_config,
)
from zmqzab.chaos.powerloss import ENV as POWERLOSS_ENV
from zmqzab.chaos.powerloss import power_loss
from zmqzab.messages import ReadRequest, decode_reply, encode
from zmqzab.security.curve import client_keys, client_socket
from zmqzab.server.web import TOKEN_HEADER
from zmqzab.up.bytecode import compile_package
from zmqzab.up.stopped import wait_stopped


def free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def make_config(root: Path, n: int, base: ClusterConfig | None = None) -> Path:
    """A config for ``n`` nodes on 127.0.0.1 and ports from the OS, data under ``root``; timing,
    fsync and game settings from ``base`` (defaults without one)."""
    ports = free_ports(5 * n)
    nodes = [NodeAddress(i, "127.0.0.1", *ports[5 * i: 5 * i + 5]) for i in range(n)]
    if base is None:
        path = root / "cluster.toml"
        storage = StorageConfig(data_dir=root / "data", log_dir=root / "logs", fsync=True)
        path.write_text(render_config(nodes, Timing(), storage, GameConfig(), SecurityConfig()))
        return path
    return derive_config(root, replace(base, nodes=tuple(nodes)))


def derive_config(root: Path, base: ClusterConfig, hosts: dict[int, str] | None = None,
                  http_public: bool | None = None) -> Path:
    """``base`` rewritten for a throwaway run in ``root``: its nodes (ids and ports; a host from
    ``hosts`` where given), timing, game and security, but storage under ``root``, so that a run
    on a real cluster's config never writes into that cluster's data_dir or log_dir."""
    nodes = [replace(n, host=hosts[n.id]) if hosts and n.id in hosts else n for n in base.nodes]
    storage = replace(base.storage, data_dir=root / "data", log_dir=root / "logs")
    # The nodes run in ``root``: a relative keys dir is resolved here, where it was meant.
    security = replace(base.security, keys_dir=base.security.keys_dir.resolve())
    if http_public is not None:
        security = replace(security, http_public=http_public)
    if hosts and not security.curve:
        # The chaos nemesis' network namespaces: a private bridge on this machine, trusted on
        # purpose (a node refuses plaintext off loopback otherwise: security/plaintext.py).
        security = replace(security, insecure=True)
    path = root / "cluster.toml"
    path.write_text(render_config(nodes, base.timing, storage, base.game, security,
                                  base.zookeeper, base.processes))
    return path


def unbindable_ports(config: ClusterConfig) -> list[tuple[str, OSError]]:
    """Every port of ``config`` this machine cannot bind now, as ("peer_port 7150 of node 0 on
    127.0.0.1", the error): EADDRINUSE when something listens there (a running cluster), else
    e.g. EADDRNOTAVAIL for a host that is not this machine's."""
    failed = []
    for n in config.nodes:
        for key in ALL_PORT_KEYS:
            port = getattr(n, key)
            if not port:
                continue  # zk_port 0: not served
            host = config.http_host(n) if key == "http_port" else n.host
            s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
            # SO_REUSEADDR: a connection in TIME_WAIT is no cluster; only a listener refuses.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host.strip("[]"), port))
            except OSError as exc:
                failed.append((f"{key} {port} of node {n.id} on {host}", exc))
            finally:
                s.close()
    return failed


def _with_package_root(pythonpath: str) -> str:
    """``pythonpath`` with the directory this zmqzab was imported from in front: the nodes run
    the same code as the harness that starts them (a checkout run with ``sys.path`` set, as
    bench/*.py do, or an editable install that points elsewhere), not whatever ``python -m
    zmqzab`` would find from the node's working directory."""
    root = str(Path(__file__).resolve().parent.parent.parent)
    return os.pathsep.join([root, *(p for p in pythonpath.split(os.pathsep) if p and p != root)])


#: A status poll's connect retry while the node is not listening yet (its bench polls every 5 ms).
STATUS_RECONNECT_MS = 5
#: How long a node's fault rules are retried while it is alive but not listening yet (start-up).
RULES_RETRY_S = 10.0


class LocalCluster:
    def __init__(self, config_path: Path, workdir: Path) -> None:
        compile_package()  # every node start then skips compiling zmqzab (up/bytecode.py)
        self.config_path = config_path
        self.config: ClusterConfig = load_config(config_path)
        self.workdir = workdir
        self.ids = list(self.config.ids)
        self.procs: dict[int, subprocess.Popen] = {}
        self.paused: set[int] = set()
        self.blocked: dict[int, set[int]] = {}
        #: Link faults per node beyond ``blocked`` (transport.FaultRules keys), kept for restarts.
        self.links: dict[int, dict] = {}
        #: Nodes record their fsyncs for the power-loss fault (set before the nodes start).
        self.witness = False
        #: Paused nodes whose rules changed while they slept (sent when they are resumed).
        self._stale: dict[int, bool] = {}
        self.token = secrets.token_hex(16)
        self.ctx = zmq.Context()
        self._req = 0
        self.keys = client_keys(self.config)
        #: Extra environment for every node process (chaos --inject-bug sets its test-only switch).
        self.env_extra: dict[str, str] = {}

    # ------------------------------------------------------------------ processes

    def node_command(self, i: int) -> list[str]:
        return [sys.executable, "-m", "zmqzab", "node", "--id", str(i), "--config", str(self.config_path)]

    def node_env(self, i: int) -> dict[str, str]:
        # The node's fault rules are set over its HTTP control route, which wants this token;
        # a node restarted while a partition is in force starts partitioned.
        env = dict(os.environ, **self.env_extra, ZMQZAB_CONTROL_TOKEN=self.token,
                   ZMQZAB_BLOCKED=",".join(map(str, sorted(self.blocked.get(i, ())))),
                   PYTHONPATH=_with_package_root(os.environ.get("PYTHONPATH", "")))
        if self.links.get(i):
            env["ZMQZAB_FAULT_RULES"] = json.dumps(self.links[i])
        if self.witness:
            env[POWERLOSS_ENV] = str(self.witness_file(i))
        return env

    def witness_file(self, i: int) -> Path:
        return self.workdir / f"node-{i}.durable"

    def start(self, i: int, *extra: str, preexec_fn=None) -> None:
        """Start node i; ``extra`` arguments for `zmqzab node` (e.g. --resync), ``preexec_fn``
        run in the child before it starts (the tests' resource limits)."""
        out = open(self.workdir / f"node-{i}.console", "ab")
        self.procs[i] = subprocess.Popen([*self.node_command(i), *extra], stdout=out, stderr=subprocess.STDOUT,
                                         cwd=self.workdir, env=self.node_env(i), preexec_fn=preexec_fn)
        out.close()

    def alive(self, i: int) -> bool:
        p = self.procs.get(i)
        return p is not None and p.poll() is None

    def kill(self, i: int) -> None:
        p = self.procs.pop(i, None)
        if p is not None:
            p.kill()
            p.wait(timeout=10)
        self.paused.discard(i)

    def stop(self, i: int, timeout: float = 10.0) -> int | None:
        """A clean stop (SIGTERM), as `zmqzab up` makes one: its exit code, or None if it did
        not exit within ``timeout`` (then it is killed)."""
        p = self.procs.pop(i, None)
        self.paused.discard(i)
        if p is None:
            return None
        if p.poll() is None:
            p.terminate()
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            return None

    def pause(self, i: int) -> None:
        if self.alive(i):
            os.kill(self.procs[i].pid, signal.SIGSTOP)
            wait_stopped(self.procs[i].pid)  # kill() returns before the stop: see stopped.py
            self.paused.add(i)

    def resume(self, i: int) -> None:
        was_paused = i in self.paused and self.alive(i)
        if was_paused:
            os.kill(self.procs[i].pid, signal.SIGCONT)
        self.paused.discard(i)
        if was_paused and self._stale.pop(i, False):
            self._post_rules(i)  # its rules changed while it slept

    def power_loss(self, i: int) -> list[str]:
        """kill -9, then cut its files to what its fsyncs made durable (needs ``witness``)."""
        if not self.witness:
            raise RuntimeError("power loss needs the nodes started with cluster.witness = True")
        self.kill(i)
        return power_loss(self.witness_file(i), self.config.storage.data_dir / f"node-{i}")

    def stop_all(self) -> None:
        for i in list(self.paused):
            self.resume(i)
        for p in self.procs.values():
            p.terminate()
        for i, p in list(self.procs.items()):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs.clear()

    def close(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
        self.procs.clear()
        self.ctx.term()

    # ------------------------------------------------------------------ reads

    def status(self, i: int, timeout: float = 0.3, what: str = "status") -> dict | None:
        if not self.alive(i) or i in self.paused:
            return None
        self._req += 1
        # A node still starting refuses the connect; ZeroMQ's default retry (100 ms) would make
        # every poll of a starting node that late, a catch-up's figure with it.
        s = client_socket(self.ctx, self.config, i, self.keys, reconnect_ms=STATUS_RECONNECT_MS)
        try:
            s.send(encode(ReadRequest(self._req, what)))
            if s.poll(int(timeout * 1000)):
                return decode_reply(s.recv()).data
            return None
        finally:
            s.close(0)

    def leader(self) -> int | None:
        """The leader every live node follows, in BROADCAST, or None."""
        st = {i: self.status(i) for i in self.ids}
        live = {i: s for i, s in st.items() if s is not None}
        lead = [i for i, s in live.items() if s["role"] == "LEADING" and s["phase"] == "BROADCAST"]
        if len(lead) == 1 and all(s["phase"] == "BROADCAST" and s["leader"] == lead[0] for s in live.values()):
            return lead[0]
        return None

    def in_broadcast(self) -> dict[int, dict] | None:
        """Every node answering, one LEADING, every node in BROADCAST under it: their statuses."""
        st = {i: self.status(i) for i in self.ids}
        if any(s is None for s in st.values()):
            return None
        lead = [i for i, s in st.items() if s["role"] == "LEADING"]
        if len(lead) != 1 or any(s["phase"] != "BROADCAST" or s["leader"] != lead[0] for s in st.values()):
            return None
        return st

    def converged(self) -> dict[int, dict] | None:
        """All nodes up, one leader, the same committed and applied zxid: their statuses, or None."""
        if any(not self.alive(i) for i in self.ids) or self.paused:
            return None
        st = self.in_broadcast()
        if st is None:
            return None
        zs = {(s["zxid_committed"], s["zxid_applied"], s["zxid_last"]) for s in st.values()}
        if len(zs) != 1 or len({z for z in next(iter(zs))}) != 1:
            return None
        return st

    def no_leader_reason(self) -> str:
        """Why no leader is seen, for the message of a harness that gave up waiting: the nodes
        that exited, each with its exit code and the last line of its console (a node that
        cannot even import zmqzab logs nothing else), or that all are running."""
        gone = []
        for i in self.ids:
            p = self.procs.get(i)
            code = p.poll() if p is not None else None
            if p is None or code is None:
                continue
            console = self.workdir / f"node-{i}.console"
            lines = console.read_text(errors="replace").strip().splitlines() if console.exists() else []
            gone.append(f"node {i} exited with code {code}" + (f": {lines[-1].strip()}" if lines else ""))
        if gone:
            return "; ".join(gone) + f" (its whole output: node-N.console in {self.workdir})"
        return (f"all {len(self.ids)} nodes are running but none leads a quorum in BROADCAST; "
                f"their logs: {self.config.storage.log_dir}")

    def wait(self, cond, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            v = cond()
            if v is not None:  # not `if v`: node 0 is a leader too
                return v
            time.sleep(0.05)
        return None

    # ------------------------------------------------------------------ partitions

    def partition(self, groups: list[set[int]]) -> None:
        """Each node drops traffic to and from every node outside its groups."""
        for i in self.ids:
            reachable = set().union(*(g for g in groups if i in g)) if any(i in g for g in groups) else set(self.ids)
            self.set_blocked(i, set(self.ids) - reachable - {i})

    def heal(self) -> None:
        for i in self.ids:
            self.set_blocked(i, set())

    def set_blocked(self, i: int, peers: set[int]) -> None:
        """Cut node i off from ``peers`` (both ways); remembered for when it restarts."""
        self.blocked[i] = set(peers)
        self.block(i, self.blocked[i])

    def set_links(self, i: int, rules: dict) -> None:
        """Node i's link faults (blocked_out, blocked_in, loss, duplicate, delay_ms; {} heals);
        remembered for when it restarts or resumes."""
        self.links[i] = {k: v for k, v in rules.items() if v}
        self._post_rules(i)

    def _post_rules(self, i: int) -> None:
        # Under NetnsCluster partitions are routes (its own ``block``), link faults the transport's.
        by_transport = type(self).block is LocalCluster.block
        LocalCluster.block(self, i, self.blocked.get(i, set()) if by_transport else set())

    def block(self, i: int, peers: set[int]) -> None:
        """Tell node i which peers its transport drops (and its other link faults)."""
        if not self.alive(i) or i in self.paused:
            # It gets the rules at its next start, or when it is resumed.
            self._stale[i] = i in self.paused
            return
        n = self.config.node(i)
        body = {"blocked": sorted(peers), **self.links.get(i, {})}
        # A node started a moment ago took the rules of its start (ZMQZAB_BLOCKED) and may not
        # listen yet: retried while it lives, else a heal sent now would be lost and it would
        # stay cut off for good (a restart then a heal in one nemesis step: a node LOOKING to
        # the end of the run, hearing too few nodes to join their leader).
        deadline = time.monotonic() + RULES_RETRY_S
        while True:
            conn = http.client.HTTPConnection(self.config.http_host(n), n.http_port, timeout=2.0)
            try:
                conn.request("POST", "/control/faults", body=json.dumps(body),
                             headers={"Content-Type": "application/json", TOKEN_HEADER: self.token})
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"node {i} refused its fault rules: HTTP {resp.status}")
                return
            except (OSError, http.client.HTTPException):
                if not self.alive(i) or i in self.paused or time.monotonic() >= deadline:
                    return  # it died meanwhile; it gets the set when it restarts
            finally:
                conn.close()
            time.sleep(0.05)
