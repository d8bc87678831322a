"""pytest plugin: kazoo's own test suite against a 3-node zmqzab cluster instead of ZooKeeper.

    PYTHONPATH=<repo> python -m pytest -p tests.processes.kazoo_judge.plugin --pyargs kazoo.tests

Theory of operation
-------------------
kazoo's harness (kazoo/testing/harness.py) asks ``get_global_cluster()`` for a cluster of
``ManagedZooKeeper`` servers (kazoo/testing/common.py), each started as a JVM. This plugin puts
``get_global_cluster`` back with one that returns a ``ZmqzabCluster``: the same surface
(iterable and indexable servers with ``address``, ``running``, ``run()``, ``stop()``,
``reset()``, ``destroy()``, ``get_logs()``; the cluster's ``start()``, ``stop()``,
``terminate()``, ``reset()``, ``get_logs()``) over ``zmqzab.up.localcluster.LocalCluster``:
ports from the OS (``make_config`` gives every node a free ``zk_port``), data and logs in one
temp dir, processes by PID.

The cluster is made once per session, started by the first test that needs it and stopped at
the session's end. kazoo's ``KazooTestCase.tearDownClass`` terminates the cluster after every
test class (a fresh ensemble per class); with ``--kazoo-judge-restart=session`` (the default)
that is skipped and one cluster serves the whole session, every test in its own chroot as in
kazoo; ``--kazoo-judge-restart=class`` keeps kazoo's behaviour (stop every node, wipe its data,
start again). What a test does to members itself (``cluster[0].stop()`` then ``run()``) is
mapped one to one: stop is SIGTERM and a wait, as ManagedZooKeeper.stop does; run starts the
node on its data dir. ``start()`` returns when every node is in BROADCAST under one leader and
answers ``ruok`` on its zk_port (ZooKeeper's harness sleeps 2 s instead; its health check with
retries then does the rest, here too); a cluster not ready in READY_TIMEOUT_S stops the run
(pytest.exit) with what it waited for, rather than have every test wait as long.

A node that exits without being stopped (a crash) is reported at the end of the run and makes
the run fail, whatever the tests said. On a session with failures or crashes the temp dir
(config, node logs, consoles) is kept and its path printed; ``--kazoo-judge-keep`` keeps it
always.
"""

from __future__ import annotations

import atexit
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from zmqzab.up.localcluster import LocalCluster, make_config

#: Nodes in the judge's cluster (kazoo's harness: ZOOKEEPER_CLUSTER_SIZE, default 3).
CLUSTER_SIZE = 3
#: How long ``start()`` waits for one leader and every zk_port answering.
READY_TIMEOUT_S = 90.0
#: How long a stopped node gets between SIGTERM and SIGKILL.
STOP_TIMEOUT_S = 15.0
#: One ``ruok`` probe's connect and read timeout.
PROBE_TIMEOUT_S = 1.0
#: How the end of a run names a node that died on its own (the CI subset's test looks for it).
CRASH_PREFIX = "zmqzab kazoo judge: CRASH:"
#: Where ``start()`` looks while it waits (a polling interval, not a sleep for time to pass).
POLL_S = 0.1


class NotServed(Exception):
    """A feature the judge's zmqzab cluster does not have (TLS); the test needing it is
    deselected by deselect.txt."""


class ZmqzabServer:
    """One node, with ManagedZooKeeper's surface."""

    def __init__(self, cluster: "ZmqzabCluster", node_id: int) -> None:
        self._cluster = cluster
        self.node_id = node_id
        self.server_id = node_id + 1  # ZooKeeper's myid starts at 1
        self.host = "127.0.0.1"
        self.client_port = cluster.local.config.node(node_id).zk_port

    @property
    def address(self) -> str:
        return f"{self.host}:{self.client_port}"

    @property
    def secure_address(self) -> str:
        raise NotServed("zmqzab serves no TLS client port; TLS tests are out of scope "
                        "(tests/processes/kazoo_judge/deselect.txt)")

    @property
    def secure_client_port(self) -> int:
        raise NotServed("zmqzab serves no TLS client port")

    @property
    def running(self) -> bool:
        return self._cluster.local.alive(self.node_id)

    def run(self) -> None:
        """Start the node on its data dir (ManagedZooKeeper.run: returns once started)."""
        if not self.running:
            self._cluster.note_exit(self.node_id)
            self._cluster.local.start(self.node_id)

    def stop(self) -> None:
        """SIGTERM and wait, keeping the data (ManagedZooKeeper.stop)."""
        p = self._cluster.local.procs.pop(self.node_id, None)
        if p is None:
            return
        p.terminate()
        try:
            p.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def reset(self) -> None:
        """Stop and wipe the node's data (ManagedZooKeeper.reset)."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def destroy(self) -> None:
        self.reset()

    @property
    def data_dir(self) -> Path:
        return self._cluster.local.config.storage.data_dir / f"node-{self.node_id}"

    @property
    def log_file(self) -> Path:
        return self._cluster.local.config.storage.log_dir / f"node-{self.node_id}.log"

    def get_logs(self, num_lines: int = 100) -> list[str]:
        try:
            lines = self.log_file.read_text(errors="replace").splitlines(keepends=True)
        except OSError:
            return []
        return [f"[zmqzab node {self.node_id}] {line}" for line in lines[-num_lines:]]

    def answers_ruok(self) -> bool:
        try:
            with socket.create_connection((self.host, self.client_port), timeout=PROBE_TIMEOUT_S) as s:
                s.settimeout(PROBE_TIMEOUT_S)
                s.sendall(b"ruok")
                return s.recv(16) == b"imok"
        except OSError:
            return False


#: What kazoo's own launcher (kazoo/testing/common.py) sets on its ZooKeeper servers:
#: maxClientCnxns=0 and the super digest of "super:test".
KAZOO_SETTINGS = {"max_client_cnxns": "0", "super_digest": '"super:D/InIHSb7yEEbrWz8b9l71RjZJU="'}


def _as_kazoo_configures(path: Path) -> Path:
    lines = [ln for ln in path.read_text().splitlines()
             if ln.split(" = ")[0] not in KAZOO_SETTINGS]
    at = lines.index("[zookeeper]") + 1
    lines[at:at] = [f"{k} = {v}" for k, v in KAZOO_SETTINGS.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


class ZmqzabCluster:
    """A ZookeeperCluster look-alike over LocalCluster; one per session."""

    def __init__(self, size: int = CLUSTER_SIZE) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="zmqzab-kazoo-judge-"))
        self.local = LocalCluster(_as_kazoo_configures(make_config(self.root, size)), self.root)
        self._servers = [ZmqzabServer(self, i) for i in self.local.ids]
        self.closed = False
        #: Nodes that died without being stopped (note_exit), for the end of the run.
        self.crashes: list[str] = []

    def __getitem__(self, k: int) -> ZmqzabServer:
        return self._servers[k]

    def __iter__(self):
        return iter(self._servers)

    def __len__(self) -> int:
        return len(self._servers)

    def note_exit(self, node_id: int) -> None:
        """A node that exited without being stopped died on its own: a finding of the run."""
        p = self.local.procs.get(node_id)
        if p is not None and p.poll() is not None:
            self.local.procs.pop(node_id)
            console = self.root / f"node-{node_id}.console"
            tail = console.read_text(errors="replace").splitlines()[-5:] if console.exists() else []
            self.crashes.append(f"node {node_id} exited on its own with code {p.returncode}; "
                                f"{console} ends: " + " | ".join(tail))

    def start(self) -> None:
        # As kazoo's: the last first, so that the client's first choice finds a settled node.
        for server in reversed(self._servers):
            server.run()
        self.wait_ready()

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while True:
            dead = [s.node_id for s in self if not s.running]
            if dead:
                for i in dead:
                    self.note_exit(i)
                raise RuntimeError(f"zmqzab node(s) {dead} exited while the cluster started: "
                                   + "; ".join(self.crashes[-len(dead):]))
            silent = [s.node_id for s in self if not s.answers_ruok()]
            settled = self.local.in_broadcast() is not None
            if settled and not silent:
                return
            if time.monotonic() > deadline:
                why = (f"nodes {silent} do not answer 'ruok' on their zk_port (is ZooKeeper's client "
                       "protocol served by this zmqzab? zmqzab/host/zk.py)") if silent else \
                    "no leader with every node in BROADCAST"
                # Every later test would wait as long for the same cluster: the run stops here.
                pytest.exit(f"zmqzab cluster in {self.root} not ready after {timeout:.0f} s: {why}; "
                            f"node logs in {self.local.config.storage.log_dir}", returncode=3)
            time.sleep(POLL_S)  # polling interval of a condition with a deadline

    def stop(self) -> None:
        for server in self:
            server.stop()

    def terminate(self) -> None:
        """Every node stopped and its data wiped: the next start() is a fresh ensemble."""
        for server in self:
            server.destroy()

    def reset(self) -> None:
        for server in self:
            server.reset()

    def get_logs(self) -> list[str]:
        return [line for server in self for line in server.get_logs()]

    def get_ssl_client_configuration(self) -> dict:
        raise NotServed("zmqzab serves no TLS client port; TLS tests are out of scope")

    def close(self, keep: bool) -> None:
        """Stop every node (SIGTERM, then SIGKILL), release the sockets; remove the temp dir
        unless ``keep``."""
        if self.closed:
            return
        self.closed = True
        for server in self:
            self.note_exit(server.node_id)
        self.stop()
        self.local.close()
        if not keep:
            shutil.rmtree(self.root, ignore_errors=True)


_CLUSTER: ZmqzabCluster | None = None


def get_zmqzab_cluster() -> ZmqzabCluster:
    global _CLUSTER
    if _CLUSTER is None:
        _CLUSTER = ZmqzabCluster()
        atexit.register(_CLUSTER.close, keep=True)  # a session that dies: stop the nodes by PID
    return _CLUSTER


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kazoo-judge", "kazoo's tests against zmqzab")
    group.addoption("--kazoo-judge-restart", choices=("session", "class"), default="session",
                    help="session: one cluster for the whole run (default); class: kazoo's own "
                         "tearDownClass, a fresh cluster after every test class")
    group.addoption("--kazoo-judge-keep", action="store_true",
                    help="keep the cluster's temp dir (config, node logs) after the run")


_SAVED: dict[str, object] = {}


def pytest_configure(config: pytest.Config) -> None:
    from kazoo.testing import harness

    _SAVED["get_global_cluster"] = harness.get_global_cluster
    harness.get_global_cluster = get_zmqzab_cluster
    if config.getoption("--kazoo-judge-restart") == "session":
        _SAVED["tearDownClass"] = harness.KazooTestCase.__dict__["tearDownClass"]
        harness.KazooTestCase.tearDownClass = classmethod(lambda cls: None)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _CLUSTER is None:
        return
    _CLUSTER.close(keep=True)
    crashed = _CLUSTER.crashes
    keep = bool(session.config.getoption("--kazoo-judge-keep") or session.testsfailed or crashed)
    for line in crashed:
        print(f"\n{CRASH_PREFIX} {line}")
    if crashed and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a node died: the run did not pass
    if keep:
        print(f"\nzmqzab kazoo judge: cluster files kept in {_CLUSTER.root}")
    else:
        shutil.rmtree(_CLUSTER.root, ignore_errors=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    from kazoo.testing import harness

    if "get_global_cluster" in _SAVED:
        harness.get_global_cluster = _SAVED.pop("get_global_cluster")
    if "tearDownClass" in _SAVED:
        harness.KazooTestCase.tearDownClass = _SAVED.pop("tearDownClass")
