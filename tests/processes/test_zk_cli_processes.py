"""`zmqzab zk` against a real 3-node zmqzab cluster (processes on loopback, ports from the OS).

Goal: the command works end to end on zmqzab's own zk_port: writes go through ZAB and are seen
from another node, refusals carry ZooKeeper's error names and exit 1, an ephemeral node lives
only as long as the command's session, and a watch set on one node fires for a change made
through another.
Setup: ProcCluster of 3 nodes (make_config gives each a zk_port), one leader; every command is
a fresh `python -m zmqzab zk ...` process with --server on one node's zk_port.
Faults: none (the Java clients' reconnect check kills a node: bench/java_clients/run.sh).
Expected: as each assertion says; reads on another node are polled (a new session on another
node may not have applied the write yet: ZooKeeper promises no more).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.polling import wait_for
from tests.processes.procs import ProcCluster
from zmqzab.zk_client import ZkClient

pytestmark = [pytest.mark.processes, pytest.mark.zk, pytest.mark.cli]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cluster(tmp_path):
    c = ProcCluster(tmp_path, n=3)
    try:
        c.start_all()
        c.wait_leader(timeout=60)
        yield c
    finally:
        c.close()


def server(cluster: ProcCluster, i: int) -> str:
    node = cluster.config.node(i)
    return f"{node.host}:{node.zk_port}"


def zk(cluster: ProcCluster, i: int, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "zmqzab", "zk", *args, "--server", server(cluster, i)],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=cluster.root)


def ok(result: subprocess.CompletedProcess) -> str:
    """The command's stdout; it must have succeeded (else its stderr is the failure)."""
    assert result.returncode == 0, f"{result.args[3:]}: exit {result.returncode}: {result.stderr}"
    return result.stdout


def refused(result: subprocess.CompletedProcess, code: str, path: str) -> None:
    """One line naming ZooKeeper's error for the path, nothing on stdout, exit 1."""
    what = f"{result.args[3:]}: exit {result.returncode}, stdout {result.stdout!r}, " \
           f"stderr {result.stderr!r}"
    assert result.returncode == 1 and result.stdout == "", what
    assert result.stderr.count("\n") == 1, what
    assert result.stderr.startswith(f"error: {code} for {path}"), what


def test_zk_command_writes_reads_and_refusals_processes(cluster):
    for i in cluster.ids:  # the zk port of every node answers (a session, a read)
        wait_for(lambda: zk(cluster, i, "ls", "/").returncode == 0, 60, f"node {i}'s zk_port")

    assert ok(zk(cluster, 0, "create", "/app", "hello")) == "Created /app\n"
    wait_for(lambda: zk(cluster, 2, "get", "/app").stdout == "hello\n", 30, "/app on node 2")

    ok(zk(cluster, 1, "set", "/app", "v2", "--version", "0"))
    refused(zk(cluster, 1, "set", "/app", "v3", "--version", "0"), "BADVERSION", "/app")
    wait_for(lambda: "dataVersion = 1\n" in zk(cluster, 2, "stat", "/app").stdout, 30,
             "dataVersion 1 on node 2")
    refused(zk(cluster, 0, "create", "/app"), "NODEEXISTS", "/app")

    # An ephemeral node lives as long as the command's session: the command's closeSession
    # deletes it (well before the session would expire).
    assert ok(zk(cluster, 0, "create", "/app/job-", "x", "-e", "-s")) == \
        "Created /app/job-0000000000\n"
    wait_for(lambda: zk(cluster, 1, "ls", "/app").stdout == "[]\n", 30, "the ephemeral gone")
    stat = ok(zk(cluster, 1, "stat", "/app"))
    assert "numChildren = 0\n" in stat and "ephemeralOwner = 0x0\n" in stat, stat

    refused(zk(cluster, 2, "delete", "/app/none"), "NONODE", "/app/none")
    ok(zk(cluster, 2, "create", "/app/c"))
    refused(zk(cluster, 0, "delete", "/app"), "NOTEMPTY", "/app")
    ok(zk(cluster, 0, "delete", "/app/c"))
    ok(zk(cluster, 0, "delete", "/app", "-v", "1"))
    wait_for(lambda: zk(cluster, 2, "ls", "/").stdout == "[zookeeper]\n", 30, "/app gone")


def test_zk_watch_fires_for_a_change_made_on_another_node_processes(cluster):
    wait_for(lambda: zk(cluster, 0, "create", "/w", "0").returncode == 0, 60, "/w created")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    watcher = subprocess.Popen(
        [sys.executable, "-m", "zmqzab", "zk", "watch", "/w", "--timeout", "60", "--server",
         server(cluster, 1)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        # The command says "watching" once its watches are set.
        assert watcher.stderr.readline().startswith("watching /w on ")
        wait_for(lambda: zk(cluster, 2, "set", "/w", "1").returncode == 0, 30, "/w set on node 2")
        out, err = watcher.communicate(timeout=60)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait()
    assert watcher.returncode == 0, err
    assert out == "WatchedEvent state:SyncConnected type:NodeDataChanged path:/w\n"


def znode_paths(status: dict | None) -> list[str]:
    """The znodes a node's /status shows (its ZooKeeper part), [] when it does not answer."""
    if not status or "zk" not in status:
        return []
    return [n["path"] for n in status["zk"]["tree"]["nodes"]]


def test_a_znode_with_null_data_keeps_every_node_up_processes(cluster):
    """Goal: zkCli's `create /x` (no data) sends null data; ZooKeeper keeps it null, serves it
    and stays up.
    Setup: the 3-node cluster; one session creates /nul with null data and reads it back.
    Faults: none.
    Expected: the read gives null; every node's status (which lists the tree) shows /nul and
    every node process is still alive. Found by bench/java_clients/run.sh against zmqzab after
    the merge that kept null data null: all three nodes exited with a TypeError."""
    with ZkClient(server(cluster, 0)) as client:
        assert client.create("/nul", None) == "/nul"
        data, stat = client.get_data("/nul")
    assert data is None and stat.data_length == 0
    for i in cluster.ids:
        wait_for(lambda: "/nul" in znode_paths(cluster.status(i)), 30, f"node {i}'s status with /nul")
    assert all(cluster.alive(i) for i in cluster.ids)
