"""A lone node's start-up, A/B: spawn -> its first election message, and spawn -> its /status answers.

Why: the "start" part of a restarted follower's catch-up (issue 14; `zmqzab bench -w catchup`
splits it) is this figure, and it is small (~0.15-0.3 s) and noisy on a shared machine, so one
side alone says little. This script starts ``python -m zmqzab node --id 0`` of a 3-node config
(ports from the OS, fresh data and log directories each time, the peers never started, so the
node stays LOOKING) from two source trees in turn, alternating, and for each start reads:

* ``election_s``: spawn -> the node's log line "election round 1 started" (its time, to the ms);
* ``election_cpu_s``: the node's CPU (user + system, every thread, ns from /proc schedstat) when
  this script saw that line (polled every 0.5 ms: a little of what follows may be in it);
* ``status_s``, ``status_cpu_s``: spawn -> the first answer of its HTTP view's /status (how every
  harness learns that a node is up), and its CPU then, from /proc/PID/stat: in 10 ms ticks, but
  with the threads that have exited (schedstat lists live threads only), so compare its means.

Each tree's bytecode is written first (as `zmqzab up` and the bench do). Linux only (/proc).

    python bench/node_start.py --a /work/main --b . --rounds 12
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

MARK = "election round 1 started"


def free_ports(n: int) -> list[int]:
    import socket

    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def write_config(root: Path) -> tuple[Path, int]:
    ports = free_ports(12)
    nodes = []
    for i in range(3):
        p = ports[4 * i:4 * i + 4]
        nodes.append(f'[[nodes]]\nid = {i}\nhost = "127.0.0.1"\npeer_port = {p[0]}\npub_port = {p[1]}\n'
                     f'client_port = {p[2]}\nhttp_port = {p[3]}\n')
    storage = f'[storage]\ndata_dir = "{root / "data"}"\nlog_dir = "{root / "logs"}"\n'
    path = root / "cluster.toml"
    path.write_text("\n".join(nodes) + "\n" + storage)
    return path, ports[3]


def cpu_s(pid: int) -> float | None:
    """CPU seconds of every thread of ``pid`` so far (schedstat: ns, not 10 ms ticks)."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
    except (OSError, ValueError):
        return None
    return total / 1e9


def cpu_ticks_s(pid: int) -> float:
    """User + system CPU seconds of ``pid``, exited threads included (10 ms ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def log_time(line: str, spawned: float) -> float:
    day = time.localtime(spawned)
    midnight = time.mktime((day.tm_year, day.tm_mon, day.tm_mday, 0, 0, 0, 0, 0, -1))
    h, m, sec = line.split(" ", 1)[0].split(":")
    return midnight + int(h) * 3600 + int(m) * 60 + float(sec)


def one_start(tree: Path, timeout: float = 30.0) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="node-start-"))
    try:
        config, http_port = write_config(root)
        log = root / "logs" / "node-0.log"
        env = dict(os.environ, PYTHONPATH=str(tree))
        spawned = time.time()
        proc = subprocess.Popen([sys.executable, "-m", "zmqzab", "node", "--id", "0", "--config", str(config)],
                                env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started = time.monotonic()
        out: dict[str, float] = {}
        try:
            while "election_s" not in out:
                if time.monotonic() - started > timeout or proc.poll() is not None:
                    raise RuntimeError(f"{tree}: no election message (exit code {proc.poll()})")
                text = log.read_text(errors="replace") if log.exists() else ""
                line = next((ln for ln in text.splitlines() if MARK in ln), None)
                if line is not None:
                    out["election_cpu_s"] = cpu_s(proc.pid) or float("nan")
                    out["election_s"] = log_time(line, spawned) - spawned
                else:
                    time.sleep(0.0005)
            url = f"http://127.0.0.1:{http_port}/status"
            while "status_s" not in out:
                if time.monotonic() - started > timeout or proc.poll() is not None:
                    raise RuntimeError(f"{tree}: /status never answered (exit code {proc.poll()})")
                try:
                    with urllib.request.urlopen(url, timeout=1.0) as answer:
                        answer.read()
                    out["status_s"] = time.time() - spawned
                    out["status_cpu_s"] = cpu_ticks_s(proc.pid)
                except OSError:
                    time.sleep(0.001)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        return out
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--a", type=Path, required=True, help="source tree A (its zmqzab/ package)")
    ap.add_argument("--b", type=Path, required=True, help="source tree B")
    ap.add_argument("--rounds", type=int, default=10, help="starts of each side, alternating")
    ap.add_argument("--json", action="store_true", help="print every start too")
    args = ap.parse_args()
    trees = {"A": args.a.resolve(), "B": args.b.resolve()}
    for tree in trees.values():
        subprocess.run([sys.executable, "-c", "from zmqzab.up.bytecode import compile_package; compile_package()"],
                       env=dict(os.environ, PYTHONPATH=str(tree)), cwd=tree, check=True)  # cwd: not this one's
    runs: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
    for r in range(args.rounds):
        for side in ("AB" if r % 2 == 0 else "BA"):
            runs[side].append(one_start(trees[side]))
    print(f"load average {os.getloadavg()[0]:.2f}; {args.rounds} starts each, alternating")
    print(f"{'figure':<16} {'A median':>9} {'B median':>9} {'B/A':>5} {'A mean':>8} {'B mean':>8} {'B/A':>5}")
    for key in ("election_s", "election_cpu_s", "status_s", "status_cpu_s"):
        a, b = [x[key] for x in runs["A"]], [x[key] for x in runs["B"]]
        ma, mb = statistics.median(a), statistics.median(b)
        ea, eb = statistics.fmean(a), statistics.fmean(b)
        print(f"{key:<16} {ma:9.3f} {mb:9.3f} {mb / ma:5.2f} {ea:8.3f} {eb:8.3f} {eb / ea:5.2f}")
    print(f"A = {trees['A']}\nB = {trees['B']}")
    if args.json:
        print(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
