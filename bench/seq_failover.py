#!/usr/bin/env python3
"""Sequential guesses per second, and kill -9 of the leader -> next committed guess.

Runs a fresh cluster with a config's nodes and timing (default: config/cluster.toml) on ports
from the OS, in a temporary directory, so it never meets a running cluster or the checkout.

    python bench/seq_failover.py [--config config/cluster.toml] [--writes 1000] [--tries 3]

Prints one JSON object. Figures are whole-cluster, end to end, measured from one client process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import zmq

from zmqzab.config import NodeAddress, load_config, render_config
from zmqzab.messages import ClientRequest, Guess, ReadRequest, encode, reply_decoder


class Probe:
    """Raw DEALERs to every node's client port: one request at a time, our own timeouts."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.ctx = zmq.Context()
        self.socks: dict[int, zmq.Socket] = {}
        self.req = 0

    def sock(self, i):
        if i not in self.socks:
            s = self.ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(self.cfg.node(i).client_endpoint)
            self.socks[i] = s
        return self.socks[i]

    def ask(self, i, msg, timeout):
        s = self.sock(i)
        s.send(encode(msg))
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0 and s.poll(int(left * 1000) + 1):
            r = reply_decoder.decode(s.recv())
            if r.req_id == msg.req_id:
                return r
        self.socks.pop(i).close(0)  # drop late replies with the socket
        return None

    def status(self, i):
        self.req += 1
        r = self.ask(i, ReadRequest(self.req, "status"), 0.3)
        return r.data if r else None

    def guess(self, i, client, seq, value, timeout):
        self.req += 1
        return self.ask(i, ClientRequest(self.req, Guess(client, seq, value)), timeout)

    def leader(self, ids):
        st = {i: self.status(i) for i in ids}
        lead = [i for i, s in st.items() if s and s["role"] == "LEADING" and s["phase"] == "BROADCAST"]
        if len(lead) == 1 and all(s and s["phase"] == "BROADCAST" for s in st.values()):
            return lead[0]
        return None


def wait(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v is not None:
            return v
        time.sleep(0.01)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="config/cluster.toml")
    ap.add_argument("--writes", type=int, default=1000)
    ap.add_argument("--tries", type=int, default=3)
    args = ap.parse_args()
    config_src = Path(args.config).resolve()
    work = Path(tempfile.mkdtemp(prefix="zmqzab-bench-"))
    # The config's timing and storage settings, on ports from the OS (never a running cluster's).
    base = load_config(config_src)
    socks = [socket.socket() for _ in range(4 * len(base.nodes))]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    nodes = [NodeAddress(n.id, "127.0.0.1", *ports[4 * k: 4 * k + 4]) for k, n in enumerate(base.nodes)]
    storage = replace(base.storage, data_dir=work / "data", log_dir=work / "logs")
    (work / "cluster.toml").write_text(render_config(nodes, base.timing, storage, base.game))
    cfg = load_config(work / "cluster.toml")
    procs: dict[int, subprocess.Popen] = {}

    def start(i):
        procs[i] = subprocess.Popen([sys.executable, "-m", "zmqzab", "node", "--id", str(i), "--config",
                                     str(work / "cluster.toml")], cwd=work,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    probe = Probe(cfg)
    try:
        t0 = time.monotonic()
        for i in cfg.ids:
            start(i)
        ld = wait(lambda: probe.leader(cfg.ids), 30, "a leader")
        first = wait(lambda: (r := probe.guess(ld, "warm", 1, 50, 1.0)) and r.ok and time.monotonic() or None,
                     30, "the first committed write")
        cold_start_s = first - t0
        follower = next(i for i in cfg.ids if i != ld)
        lat = []
        for seq in range(1, args.writes + 1):
            s = time.perf_counter()
            r = probe.guess(follower, "seq", seq, seq % 101, 2.0)
            lat.append(time.perf_counter() - s)
            assert r is not None and r.ok, r
        total = sum(lat)
        failovers = []
        seq = 0
        for _ in range(args.tries):
            ld = wait(lambda: probe.leader(cfg.ids), 30, "a leader")
            entry = next(i for i in cfg.ids if i != ld)
            for _ in range(20):  # a little traffic first
                seq += 1
                assert probe.guess(entry, "fo", seq, 1, 2.0).ok
            procs.pop(ld).send_signal(signal.SIGKILL)
            killed = time.monotonic()
            seq += 1
            others = [i for i in cfg.ids if i != ld]
            k = 0
            while True:  # the first write issued after the kill that commits
                r = probe.guess(others[k % len(others)], "fo", seq, 2, 0.1)
                k += 1
                if r is not None and r.ok:
                    break
            failovers.append(time.monotonic() - killed)
            start(ld)
            wait(lambda: probe.leader(cfg.ids), 30, "the cluster to heal")
        print(json.dumps({
            "config": str(config_src),
            "seq_writes": args.writes,
            "seq_ops_s": round(args.writes / total, 1),
            "seq_p50_ms": round(statistics.median(lat) * 1000, 3),
            "seq_p99_ms": round(sorted(lat)[int(0.99 * len(lat)) - 1] * 1000, 3),
            "failover_s": [round(x, 3) for x in failovers],
            "failover_median_s": round(statistics.median(failovers), 3),
            "cold_start_to_first_write_s": round(cold_start_s, 3),
        }, indent=2))
    finally:
        for p in procs.values():
            p.kill()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
