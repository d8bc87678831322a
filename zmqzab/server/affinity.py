"""One CPU per node when a machine holds more nodes than CPUs ([processes] cpu_affinity).

Why: a node is three busy threads (the socket loop, ZeroMQ's I/O thread, the log writer) that
hand every message to each other, and five nodes on a two-CPU machine (the classroom cluster,
`zmqzab up`) are fifteen threads the scheduler moves about. A wake-up of a thread last run on
the other CPU is an inter-processor interrupt, on a virtual machine an exit to the hypervisor;
kept on one CPU, a node's hand-offs are local wake-ups. Measured side by side on the 2-CPU test
machine: the p50 of a sequential write 0.72-0.83x, ZooKeeper's JVMs pinned the same way 0.85x
(docs/benchmarks.md, "One CPU per node"). Linux only (``os.sched_setaffinity``); elsewhere it is
a note in the log and nothing else.

The threads a process starts after the call inherit its CPU, so ``pin`` runs first in
``run_node``, before the ZeroMQ context, the writer and the HTTP threads exist.
"""

from __future__ import annotations

import ipaddress
import os

from zmqzab.config import ClusterConfig


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def neighbours(config: ClusterConfig, node_id: int) -> list[int]:
    """The ids of the nodes on ``node_id``'s machine (itself included), in id order: the same
    host, or any loopback address when its own is one."""
    host = config.node(node_id).host
    local = _is_loopback(host)
    return [n.id for n in config.nodes if n.host == host or (local and _is_loopback(n.host))]


def cpu_for(config: ClusterConfig, node_id: int, cpus: list[int]) -> int | None:
    """The CPU ``node_id`` keeps to, of the ``cpus`` this process may use, or None (left to the
    OS). The k-th node of a machine takes the k-th CPU, round the list again past its end."""
    mode = config.processes.cpu_affinity
    if mode == "off" or not cpus:
        return None
    mine = neighbours(config, node_id)
    if mode == "auto" and len(mine) <= len(cpus):
        return None
    cpus = sorted(cpus)
    return cpus[mine.index(node_id) % len(cpus)]


def pin(config: ClusterConfig, node_id: int) -> str:
    """Keep this process on its CPU, if the config says so; what was done, for the log."""
    mode = config.processes.cpu_affinity
    if mode == "off":
        return ""
    if not hasattr(os, "sched_setaffinity"):
        return f"[processes] cpu_affinity = {mode!r}: not on this OS (it has no sched_setaffinity); left to the OS"
    cpus = sorted(os.sched_getaffinity(0))
    cpu = cpu_for(config, node_id, cpus)
    if cpu is None:
        return ""
    try:
        os.sched_setaffinity(0, {cpu})
    except OSError as exc:
        return f"[processes] cpu_affinity = {mode!r}: could not keep to CPU {cpu} ({exc.strerror}); left to the OS"
    return (f"kept to CPU {cpu} ([processes] cpu_affinity = {mode!r}: {len(neighbours(config, node_id))} "
            f"nodes share this machine's {len(cpus)} CPUs; \"off\" leaves it to the OS)")
