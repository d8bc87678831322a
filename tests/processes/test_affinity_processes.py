"""A real node keeps all its threads to the CPU [processes] cpu_affinity gives it."""

from __future__ import annotations

import os

import pytest

from zmqzab.config import ClusterConfig, ProcessesConfig
from zmqzab.server.affinity import cpu_for
from zmqzab.up.localcluster import LocalCluster, make_config
from zmqzab.config import load_config

pytestmark = [pytest.mark.processes,
              pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux only")]


def allowed(pid: int, tid: str) -> str:
    with open(f"/proc/{pid}/task/{tid}/status") as f:
        return next(line.split()[1] for line in f if line.startswith("Cpus_allowed_list:"))


def test_every_thread_of_a_spread_node_is_on_its_cpu_processes(tmp_path):
    """Goal: the socket loop, ZeroMQ's I/O thread, the log writer and the HTTP threads all keep
    to the node's CPU (they are started after the pin). Setup: 3 nodes, cpu_affinity "spread".
    Expected: once a leader is elected, every thread of each node allows exactly its CPU."""
    base = ClusterConfig(path=None, nodes=(), processes=ProcessesConfig(cpu_affinity="spread"))
    lc = LocalCluster(make_config(tmp_path, 3, base), tmp_path)
    cpus = sorted(os.sched_getaffinity(0))
    try:
        for i in lc.ids:
            lc.start(i)
        assert lc.wait(lc.leader, 60) is not None, lc.no_leader_reason()
        config = load_config(lc.config_path)
        for i in lc.ids:
            pid = lc.procs[i].pid
            want = str(cpu_for(config, i, cpus))
            threads = os.listdir(f"/proc/{pid}/task")
            assert len(threads) >= 3
            assert {allowed(pid, t) for t in threads} == {want}, f"node {i}"
            log = (config.storage.log_dir / f"node-{i}.log").read_text()
            assert f"kept to CPU {want}" in log
    finally:
        lc.stop_all()
        lc.close()
