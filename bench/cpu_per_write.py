#!/usr/bin/env python3
"""CPU time per committed write, per node process and per thread, for a workload of `zmqzab bench`.

    python bench/cpu_per_write.py [--nodes 5] [--workload seq|pipe] [--writes N] [--inflight 64]
                                  [--through follower|leader] [--threads]

Why: on a machine with few cores a cluster's latency and throughput are bounded by the CPU its
processes burn per write, not by the protocol's round trips alone. This reads utime + stime of
every node process (and, with --threads, of each of its threads: the socket loop, the log
writer, ZeroMQ's I/O thread) from /proc before and after the workload, and divides by the
writes; so too the context switches (each one a thread going to sleep and being woken, the
cost a hand-off between threads or processes adds). Linux only. The cluster is a fresh one on ports from the OS in a temp dir.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zmqzab.up.bench import Probe  # noqa: E402
from zmqzab.config import CPU_AFFINITY_CHOICES, ClusterConfig, ProcessesConfig, load_config  # noqa: E402
from zmqzab.up.localcluster import LocalCluster, make_config  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def switches(pid: int, tid: str) -> int:
    """Context switches of one thread so far: each is a sleep and a wake-up (or a preemption)."""
    n = 0
    with open(f"/proc/{pid}/task/{tid}/status") as f:
        for line in f:
            if "ctxt_switches:" in line:  # voluntary (slept) and nonvoluntary (preempted)
                n += int(line.split()[1])
    return n


def thread_times(pid: int) -> dict[str, tuple[float, float, int]]:
    """{"<tid> <name>": (user s, system s, context switches)} of every thread of ``pid``."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        stat = open(f"/proc/{pid}/task/{tid}/stat").read()
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        if tid == str(pid):
            name = "socket loop (main)"
        elif name.startswith("ZMQbg/IO"):
            name = "ZeroMQ I/O"
        elif name.startswith("ZMQbg"):
            name = "ZeroMQ " + name[6:]
        else:  # CPython 3.11 does not name OS threads: log writer, log reader, HTTP
            name = "other (writer/reader/http)"
        out[f"{tid} {name}"] = (int(fields[11]) / TICK, int(fields[12]) / TICK, switches(pid, tid))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--workload", choices=("seq", "pipe"), default="seq")
    ap.add_argument("--writes", type=int, default=None, help="default: 2000 (seq), 30000 (pipe)")
    ap.add_argument("--inflight", type=int, default=64)
    ap.add_argument("--through", choices=("follower", "leader"), default="follower")
    ap.add_argument("--threads", action="store_true", help="also show each thread of the leader and a follower")
    ap.add_argument("--cpu-affinity", choices=CPU_AFFINITY_CHOICES, default=ProcessesConfig().cpu_affinity,
                    help="the nodes' [processes] cpu_affinity (default: %(default)s)")
    a = ap.parse_args()
    writes = a.writes or (2000 if a.workload == "seq" else 30000)

    work = Path(tempfile.mkdtemp(prefix="zmqzab-cpu-"))
    base = ClusterConfig(path=None, nodes=(), processes=ProcessesConfig(cpu_affinity=a.cpu_affinity))
    cluster = LocalCluster(make_config(work, a.nodes, base), work)
    probe = Probe(load_config(cluster.config_path))
    try:
        for i in cluster.ids:
            cluster.start(i)
        ld = cluster.wait(cluster.leader, 30)
        if ld is None:
            print(f"no leader within 30 s: {cluster.no_leader_reason()}", file=sys.stderr)
            return 3
        node = next((i for i in cluster.ids if i != ld), ld) if a.through == "follower" else ld
        pids = {i: cluster.procs[i].pid for i in cluster.ids}
        for _ in range(300):  # warm-up: connections up, caches warm
            probe.write(node, 2.0)
        before = {i: thread_times(p) for i, p in pids.items()}
        client0, t0 = time.process_time(), time.perf_counter()
        if a.workload == "seq":
            lat = []
            for _ in range(writes):
                t = time.perf_counter()
                r = probe.write(node, 5.0)
                lat.append(time.perf_counter() - t)
                if r is None or not r.ok:
                    print(f"write failed: {r}", file=sys.stderr)
                    return 3
            lat.sort()
            figure = f"p50 {lat[len(lat) // 2] * 1000:.2f} ms, p99 {lat[int(len(lat) * 0.99)] * 1000:.2f} ms"
        else:
            batch = max(1, min(256, a.inflight // 4))
            secs = probe.pipelined(node, writes, a.inflight, batch, lambda d: None)
            figure = f"{writes / secs:,.0f} writes/s with {a.inflight} in flight"
        wall = time.perf_counter() - t0
        client = time.process_time() - client0
        after = {i: thread_times(p) for i, p in pids.items()}
    finally:
        probe.close()
        cluster.close()
        shutil.rmtree(work, ignore_errors=True)

    def us(seconds: float) -> str:
        return f"{seconds / writes * 1e6:7.1f}"

    print(f"{a.nodes} nodes, {a.workload} through the {a.through} (node {node}; leader node {ld}): {figure}")
    def per(n: int) -> str:
        return f"{n / writes:5.1f}"

    total, total_cs = 0.0, 0
    zero = (0, 0, 0)
    for i in sorted(pids):
        user = sum(after[i][k][0] - before[i].get(k, zero)[0] for k in after[i])
        system = sum(after[i][k][1] - before[i].get(k, zero)[1] for k in after[i])
        cs = sum(after[i][k][2] - before[i].get(k, zero)[2] for k in after[i])
        total += user + system
        total_cs += cs
        role = "leader" if i == ld else ("client's" if i == node else "follower")
        print(f"  node {i} {role:<9} CPU per write {us(user + system)} us (user {us(user)}, system {us(system)}), "
              f"context switches {per(cs)}")
        if a.threads and i in (ld, node):
            for k in sorted(after[i]):
                u = after[i][k][0] - before[i].get(k, zero)[0]
                s = after[i][k][1] - before[i].get(k, zero)[1]
                c = after[i][k][2] - before[i].get(k, zero)[2]
                if u + s > 0 or c >= writes // 10:
                    print(f"      thread {k:<34} {us(u + s)} us (user {us(u)}, system {us(s)}), "
                          f"context switches {per(c)}")
    print(f"  all nodes     CPU per write {us(total)} us, context switches {per(total_cs)}; the client {us(client)} us; "
          f"wall per write {us(wall)} us on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
