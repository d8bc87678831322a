"""[processes] cpu_affinity: which CPU a node keeps to (zmqzab/server/affinity.py)."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from zmqzab.config import ClusterConfig, NodeAddress, ProcessesConfig
from zmqzab.server.affinity import cpu_for, neighbours, pin


def cluster(hosts: list[str], mode: str = "auto") -> ClusterConfig:
    nodes = tuple(NodeAddress(i, h, 7100 + i, 7200 + i, 7300 + i, 7400 + i) for i, h in enumerate(hosts))
    return ClusterConfig(None, nodes, processes=ProcessesConfig(cpu_affinity=mode))


def test_auto_spreads_a_crowded_machine_in_turn():
    """Five loopback nodes on two CPUs: 0 1 0 1 0, whatever the CPUs' numbers."""
    c = cluster(["127.0.0.1"] * 5)
    assert [cpu_for(c, i, [0, 1]) for i in c.ids] == [0, 1, 0, 1, 0]
    assert [cpu_for(c, i, [7, 3]) for i in c.ids] == [3, 7, 3, 7, 3]


def test_auto_leaves_a_machine_with_enough_cpus_to_the_os():
    c = cluster(["127.0.0.1"] * 3)
    assert [cpu_for(c, i, [0, 1, 2]) for i in c.ids] == [None, None, None]
    assert [cpu_for(c, i, [0, 1]) for i in c.ids] == [0, 1, 0]


def test_spread_pins_even_when_they_fit_and_off_never_pins():
    c = cluster(["127.0.0.1"] * 3, "spread")
    assert [cpu_for(c, i, [0, 1, 2, 3]) for i in c.ids] == [0, 1, 2]
    off = replace(c, processes=ProcessesConfig(cpu_affinity="off"))
    assert [cpu_for(off, i, [0]) for i in off.ids] == [None, None, None]


def test_only_the_nodes_of_one_machine_count():
    """Loopback addresses are one machine; other hosts are theirs. Node 3 is alone on its host,
    so it has the CPUs to itself; the three loopback nodes crowd two CPUs."""
    c = cluster(["127.0.0.1", "localhost", "127.0.0.2", "10.0.0.9", "10.0.0.8"])
    assert neighbours(c, 1) == [0, 1, 2]
    assert neighbours(c, 3) == [3]
    assert [cpu_for(c, i, [0, 1]) for i in c.ids] == [0, 1, 0, None, None]


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux only")
def test_pin_keeps_this_process_to_the_cpu_and_says_so():
    """In a child process (the test runner's own CPUs stay as they are)."""
    cpus = sorted(os.sched_getaffinity(0))
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            c = cluster(["127.0.0.1"] * (len(cpus) + 1))
            note = pin(c, len(cpus))  # the last node: round to the first CPU again
            os.write(w, f"{sorted(os.sched_getaffinity(0))}|{note}".encode())
        finally:
            os._exit(0)
    os.close(w)
    got = os.read(r, 4096).decode()
    os.waitpid(child, 0)
    allowed, note = got.split("|", 1)
    assert allowed == str([cpus[0]])
    assert f"kept to CPU {cpus[0]}" in note and f"{len(cpus) + 1} nodes share" in note
