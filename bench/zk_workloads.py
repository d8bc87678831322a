#!/usr/bin/env python3
"""ZooKeeper-API workloads with the kazoo client, against any ensemble that speaks ZooKeeper's
client protocol: Apache ZooKeeper or zmqzab, the same code and the same client for both.

    python bench/zk_workloads.py --system zookeeper --nodes 5 [--json out.json] [--quick]
    python bench/zk_workloads.py --system zmqzab --nodes 5 [--config config/cluster.toml]
    python bench/zk_workloads.py --hosts 127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183 \\
        --kill-cmd 'kill -9 $(cat /run/zk{index}.pid)' --restart-cmd '...'   # a running ensemble

Workloads, in this order on one fresh ensemble (after a warm-up of pipelined writes: the JVM's
JIT, caches, connections), each with its own client session:

* seq_create:   one create of a sequential znode (16 bytes) at a time, through a follower:
                p50, p99, ops/s;
* async_create: one client, 64 creates in flight (kazoo ``create_async``), through a follower:
                ops/s;
* get:          one getData at a time of a 16-byte znode, through a follower (a local read): p50;
* lock:         one kazoo ``Lock`` acquire + release at a time, uncontended, through a follower:
                p50 of the cycle (create an ephemeral sequential node, list the children,
                delete it);
* failover_follower, failover_leader: a session connected to a follower (then: to the leader)
                writes one znode in a loop; the node it is connected to is killed with kill -9;
                the figure is the time from the kill to the completion of the first write that
                was issued after the kill and succeeded, in the same session (the session id is
                checked). Every attempt waits at most 0.1 s before the next is issued; late
                completions count. The node is restarted and the ensemble re-synced between
                tries.

Who leads is asked of each node with ZooKeeper's ``srvr`` four-letter word (its ``Mode:``), so
"through a follower" means the same thing for both systems. The client reconnects on a fixed
50 ms retry in host order (kazoo's default back-off of up to 60 s would measure kazoo): the
peers' harness (../shared/peers) does the same. CPU per operation is read from /proc for the
server processes this script started. Figures are end to end, one client process, on loopback.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PEERS = Path(os.environ.get("PEERS_DIR", ROOT.parent / "shared" / "peers"))

from kazoo.client import KazooClient  # noqa: E402
from kazoo.exceptions import NodeExistsError  # noqa: E402
from kazoo.recipe.lock import Lock  # noqa: E402

logging.basicConfig(level=logging.ERROR)  # kazoo's reconnect warnings are expected here

HOST = "127.0.0.1"
VALUE = b"0123456789abcdef"  # 16 bytes, as the peers' workloads write
CLK = os.sysconf("SC_CLK_TCK")


class Counts:
    def __init__(self, quick: bool = False) -> None:
        self.warm_n, self.warm_s = (500, 2.0) if quick else (10_000, 8.0)
        self.seq_warmup, self.seq_n = (20, 100) if quick else (300, 2000)
        self.async_warmup, self.async_n, self.inflight = (200, 1000, 64) if quick else (2000, 20_000, 64)
        self.get_warmup, self.get_n = (20, 200) if quick else (300, 2000)
        self.lock_warmup, self.lock_n = (5, 30) if quick else (50, 500)
        self.tries = 1 if quick else 3
        self.tmax = 20.0 if quick else 120.0  # every loop is bounded in time as well as in count


# ------------------------------------------------------------------ ensembles


def four_letter(host: str, port: int, word: str, timeout: float = 1.0) -> str:
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(word.encode())
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def srvr(hostport: str) -> dict[str, str]:
    host, port = hostport.rsplit(":", 1)
    out = {}
    for line in four_letter(host, int(port), "srvr").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


class Ensemble:
    """An ensemble on loopback: its client hosts, and how to kill -9 and restart node i."""

    name = "?"
    hosts: list[str]

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def kill(self, i: int) -> None: raise NotImplementedError  # kill -9, by PID
    def restart(self, i: int) -> None: raise NotImplementedError  # on its own data
    def pids(self) -> dict[int, int]: return {}  # node index -> pid, of the live nodes started here
    def describe(self) -> dict[str, Any]: return {}

    @property
    def n(self) -> int:
        return len(self.hosts)

    def status(self, i: int) -> tuple[str | None, int | None]:
        """(Mode, Zxid) as node i itself reports them; (None, None) if it does not answer."""
        try:
            st = srvr(self.hosts[i])
        except OSError:
            return None, None
        zxid = st.get("Zxid")
        return st.get("Mode"), int(zxid, 16) if zxid else None

    def leader(self) -> int | None:
        modes = [self.status(i)[0] for i in range(self.n)]
        leaders = [i for i, m in enumerate(modes) if m == "leader"]
        return leaders[0] if len(leaders) == 1 else None

    def wait_synced(self, timeout: float = 90.0) -> int:
        """Every node serving (one leader, the rest followers) at one zxid: the leader. A leader of
        a new epoch reports the epoch's zxid, its followers the last txn they saw, until a write:
        so one write goes through the leader once the modes are right."""
        deadline = time.monotonic() + timeout
        last, nudged = None, False
        while time.monotonic() < deadline:
            last = [self.status(i) for i in range(self.n)]
            modes = [m for m, _ in last]
            if modes.count("leader") == 1 and modes.count("follower") == self.n - 1:
                ld = modes.index("leader")
                if len({z for _, z in last}) == 1:
                    return ld
                if not nudged:
                    zk = connect([self.hosts[ld]])
                    zk.ensure_path("/bench")
                    zk.set("/bench", b"")
                    zk.stop()
                    zk.close()
                    nudged = True
                    continue
            time.sleep(0.1)
        raise RuntimeError(f"{self.name}: not every node serving at one zxid within {timeout:.0f} s: {last}")


class ZooKeeperEnsemble(Ensemble):
    """Apache ZooKeeper from Debian's jars, through the peers' adapter (one JVM per node, its
    default config: tickTime 2000, forceSync yes), on ports from the OS."""

    def __init__(self, n: int, work: Path) -> None:
        os.environ["PEERS_DATA"] = str(work)  # the adapter's data root: ours, not the peers'
        sys.path.insert(0, str(PEERS))
        from adapters.zookeeper import ZKCluster  # noqa: PLC0415 (needs PEERS_DATA set first)

        from zmqzab.up.localcluster import free_ports

        self.zk = ZKCluster(n)
        ports = free_ports(3 * n)
        self.zk.client_ports, self.zk.quorum_ports, self.zk.elect_ports = ports[:n], ports[n:2 * n], ports[2 * n:]
        self.zk.root = str(work / f"zk{n}")
        self.name = f"zookeeper{n}"
        self.hosts = [f"{HOST}:{p}" for p in self.zk.client_ports]

    def start(self) -> None:
        self.zk.start()

    def stop(self) -> None:
        self.zk.stop()

    def kill(self, i: int) -> None:
        self.zk.stop_node(i, signal.SIGKILL)

    def restart(self, i: int) -> None:
        self.zk.restart_node(i)

    def pids(self) -> dict[int, int]:
        return {i: p.pid for i, p in enumerate(self.zk.procs) if p is not None}

    def describe(self) -> dict[str, Any]:
        return self.zk.describe()


class ZmqzabEnsemble(Ensemble):
    """zmqzab nodes (``zmqzab.up.localcluster.LocalCluster``) on ports from the OS, with the
    timing, fsync and [zookeeper] settings of ``config``."""

    def __init__(self, n: int, work: Path, config: Path) -> None:
        from zmqzab.config import load_config
        from zmqzab.up.localcluster import LocalCluster, make_config

        self.base = load_config(config)
        self.lc = LocalCluster(make_config(work, n, self.base), work)
        self.name = f"zmqzab{n}"
        self.hosts = [f"{HOST}:{node.zk_port}" for node in self.lc.config.nodes]
        self.work = work

    def start(self) -> None:
        for i in self.lc.ids:
            self.lc.start(i)
        if self.lc.wait(self.lc.leader, 60) is None:
            raise RuntimeError(f"zmqzab: no leader within 60 s of starting: {self.lc.no_leader_reason()}")
        if all(self.status(i) == (None, None) for i in range(self.n)) and \
                self.lc.wait(lambda: any(self.status(i)[0] for i in range(self.n)) or None, 10) is None:
            raise RuntimeError("zmqzab has a leader but no node answers srvr on its zk_port: this checkout "
                               "does not serve ZooKeeper clients (it needs zmqzab/host/zk.py, 'zk: serve')")

    def stop(self) -> None:
        self.lc.stop_all()
        self.lc.close()

    def kill(self, i: int) -> None:
        self.lc.kill(self.lc.ids[i])

    def restart(self, i: int) -> None:
        self.lc.start(self.lc.ids[i])

    def pids(self) -> dict[int, int]:
        return {self.lc.ids.index(i): p.pid for i, p in self.lc.procs.items()}

    def describe(self) -> dict[str, Any]:
        from dataclasses import asdict
        from importlib.metadata import version

        return {"system": f"zmqzab {version('zmqzab')}, {self.n} nodes", "timing": asdict(self.base.timing),
                "fsync": self.base.storage.fsync,
                "session_timeout_ms": [self.base.zookeeper.min_session_timeout_ms,
                                       self.base.zookeeper.max_session_timeout_ms]}


class ExternalEnsemble(Ensemble):
    """An ensemble someone else runs: kill and restart are shell commands with {index} (0-based),
    {host} and {port} filled in (str.format: a literal brace is written twice, ${{PID}})."""

    def __init__(self, hosts: list[str], kill_cmd: str | None, restart_cmd: str | None) -> None:
        self.hosts, self.kill_cmd, self.restart_cmd, self.name = hosts, kill_cmd, restart_cmd, "external"

    def _run(self, template: str | None, i: int) -> None:
        if template is None:
            raise RuntimeError("the failover workloads need --kill-cmd and --restart-cmd")
        host, port = self.hosts[i].rsplit(":", 1)
        subprocess.run(template.format(index=i, host=host, port=port), shell=True, check=True)

    def kill(self, i: int) -> None:
        self._run(self.kill_cmd, i)

    def restart(self, i: int) -> None:
        self._run(self.restart_cmd, i)

    def describe(self) -> dict[str, Any]:
        return {"hosts": self.hosts, "kill_cmd": self.kill_cmd, "restart_cmd": self.restart_cmd}


# ------------------------------------------------------------------ measuring


def pct(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of a sorted list."""
    if not sorted_values:
        return float("nan")
    return sorted_values[max(0, min(len(sorted_values) - 1, math.ceil(p / 100 * len(sorted_values)) - 1))]


def proc_cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / CLK
    except (OSError, IndexError):
        return 0.0


class CpuMeter:
    """CPU time over a stretch: each node process this script started, and this client."""

    def __init__(self, ens: Ensemble) -> None:
        self.pids = ens.pids()
        self.nodes0 = {i: proc_cpu_s(pid) for i, pid in self.pids.items()}
        self.client0 = sum(os.times()[:2])

    def per_op_us(self, ops: int) -> dict[str, Any]:
        if not ops:
            return {}
        nodes = {i: round((proc_cpu_s(pid) - self.nodes0[i]) / ops * 1e6, 1) for i, pid in self.pids.items()}
        client = sum(os.times()[:2]) - self.client0
        return {"server_cpu_us_per_op": round(sum(nodes.values()), 1) if nodes else None,
                "node_cpu_us_per_op": nodes, "client_cpu_us_per_op": round(client / ops * 1e6, 1)}


def connect(hosts: list[str]) -> KazooClient:
    """A kazoo session on hosts[0] (falling back to the rest in order), fixed 50 ms retry."""
    retry = dict(max_tries=-1, delay=0.05, backoff=1, max_jitter=0.0, max_delay=0.05)
    zk = KazooClient(hosts=",".join(hosts), timeout=10.0, randomize_hosts=False, connection_retry=retry)
    zk.start(timeout=30)
    return zk


def connected_to(zk: KazooClient) -> str | None:
    """host:port of the server the session's socket is connected to (kazoo keeps it private)."""
    try:
        host, port = zk._connection._socket.getpeername()[:2]
    except (AttributeError, OSError):
        return None
    return f"{host}:{port}"


def on_node(ens: Ensemble, i: int) -> KazooClient:
    zk = connect([ens.hosts[i]])
    if connected_to(zk) not in (ens.hosts[i], None):
        raise RuntimeError(f"asked for {ens.hosts[i]}, connected to {connected_to(zk)}")
    return zk


def pipelined(zk: KazooClient, issue: Callable[[], Any], n: int, inflight: int, tmax: float) -> dict[str, Any]:
    """Keep ``inflight`` async requests outstanding until ``n`` were issued (or ``tmax``)."""
    sem = threading.Semaphore(inflight)
    lock = threading.Lock()
    state = {"issued": 0, "done": 0, "errors": 0, "first_error": None, "closed": False}
    all_done = threading.Event()

    def done(result) -> None:
        exc = result.exception
        with lock:
            state["done"] += 1
            if exc is not None:
                state["errors"] += 1
                state["first_error"] = state["first_error"] or repr(exc)[:200]
            if state["closed"] and state["done"] == state["issued"]:
                all_done.set()
        sem.release()

    start = time.perf_counter()
    for _ in range(n):
        if not sem.acquire(timeout=30) or time.perf_counter() - start > tmax:
            break
        with lock:
            state["issued"] += 1
        issue().rawlink(done)
    with lock:
        state["closed"] = True
        if state["done"] == state["issued"]:
            all_done.set()
    all_done.wait(max(10.0, tmax))
    wall = time.perf_counter() - start
    ok = state["done"] - state["errors"]
    return {"issued": state["issued"], "ok": ok, "errors": state["errors"], "first_error": state["first_error"],
            "elapsed_s": round(wall, 3), "ops_s": round(ok / wall, 1), "inflight": inflight}


# ------------------------------------------------------------------ workloads


def follower_of(ens: Ensemble) -> tuple[int, int]:
    ld = ens.wait_synced()
    return next(i for i in range(ens.n) if i != ld), ld


def w_warmup(ens: Ensemble, c: Counts) -> dict[str, Any]:
    ld = ens.wait_synced()
    zk = on_node(ens, ld)
    zk.ensure_path("/bench")
    try:
        zk.create("/bench/data", VALUE)
    except NodeExistsError:
        pass
    r = pipelined(zk, lambda: zk.set_async("/bench/data", VALUE), c.warm_n, c.inflight, c.warm_s)
    zk.stop()
    zk.close()
    return r


@contextmanager
def follower_session(ens: Ensemble) -> Iterator[tuple[KazooClient, dict[str, int]]]:
    """A kazoo session on a follower (srvr's Mode), and {"node": it, "leader": the leader}."""
    fol, ld = follower_of(ens)
    zk = on_node(ens, fol)
    try:
        yield zk, {"node": fol, "leader": ld}
    finally:
        zk.stop()
        zk.close()


def one_at_a_time(ens: Ensemble, c: Counts, prepare: Callable[[KazooClient], Callable[[], object]],
                  warmup: int, n: int, check: Callable[[KazooClient, int], dict] | None = None) -> dict[str, Any]:
    """``n`` requests one at a time through a follower (after ``warmup``): latency figures.
    ``prepare`` makes the request's function from the session (and any znode it needs);
    ``check`` looks at the result afterwards, given how many requests were made."""
    with follower_session(ens) as (zk, where):
        op = prepare(zk)
        for _ in range(warmup):
            op()
        cpu = CpuMeter(ens)
        lat = []
        start = time.perf_counter()
        for _ in range(n):
            t = time.perf_counter()
            op()
            lat.append(time.perf_counter() - t)
            if t - start > c.tmax:
                break
        wall = time.perf_counter() - start
        used = cpu.per_op_us(len(lat))  # before the session closes (a closeSession is a txn)
        if check is not None:
            where = where | check(zk, warmup + len(lat))
    lat.sort()
    return {"n": len(lat), "p50_ms": round(pct(lat, 50) * 1e3, 3), "p99_ms": round(pct(lat, 99) * 1e3, 3),
            "mean_ms": round(sum(lat) / len(lat) * 1e3, 3), "max_ms": round(lat[-1] * 1e3, 3),
            "ops_s": round(len(lat) / wall, 1)} | used | where


def sequential_names(zk: KazooClient, parent: str, made: int) -> dict[str, Any]:
    """Did every create make its own znode? (sequential names never repeat under a parent)"""
    names = zk.get_children(parent)
    return {"children": len(names), "children_expected": made, "children_ok": len(set(names)) == made}


def w_seq_create(ens: Ensemble, c: Counts) -> dict[str, Any]:
    def prepare(zk: KazooClient) -> Callable[[], object]:
        zk.ensure_path("/bench/seq")
        return lambda: zk.create("/bench/seq/n-", VALUE, sequence=True)

    return one_at_a_time(ens, c, prepare, c.seq_warmup, c.seq_n,
                         lambda zk, made: sequential_names(zk, "/bench/seq", made))


def w_get(ens: Ensemble, c: Counts) -> dict[str, Any]:
    return one_at_a_time(ens, c, lambda zk: lambda: zk.get("/bench/data"), c.get_warmup, c.get_n)


def w_lock(ens: Ensemble, c: Counts) -> dict[str, Any]:
    def prepare(zk: KazooClient) -> Callable[[], object]:
        lock = Lock(zk, "/bench/lock", "bench")

        def cycle() -> None:
            if not lock.acquire(timeout=10):
                raise RuntimeError("an uncontended lock was not acquired within 10 s")
            lock.release()
        return cycle

    return one_at_a_time(ens, c, prepare, c.lock_warmup, c.lock_n)


def w_async_create(ens: Ensemble, c: Counts) -> dict[str, Any]:
    with follower_session(ens) as (zk, where):
        zk.ensure_path("/bench/async")
        create = lambda: zk.create_async("/bench/async/n-", VALUE, sequence=True)  # noqa: E731
        warm = pipelined(zk, create, c.async_warmup, c.inflight, c.tmax)
        cpu = CpuMeter(ens)
        r = pipelined(zk, create, c.async_n, c.inflight, c.tmax)
        used = cpu.per_op_us(r["ok"])
        made = sequential_names(zk, "/bench/async", warm["ok"] + r["ok"])
    return r | used | made | where


def failover_try(ens: Ensemble, target: str) -> dict[str, Any]:
    """One kill -9 of the node the session is connected to (a follower or the leader); the time
    until that session's first write issued after the kill succeeds."""
    ld = ens.wait_synced()
    victim = ld if target == "leader" else next(i for i in range(ens.n) if i != ld)
    zk = connect([ens.hosts[victim]] + [h for i, h in enumerate(ens.hosts) if i != victim])
    killed = False
    try:
        if connected_to(zk) not in (ens.hosts[victim], None):
            raise RuntimeError(f"the session is on {connected_to(zk)}, not on {ens.hosts[victim]}")
        zk.ensure_path("/bench/fo")
        session = zk.client_id
        attempts: list[list] = []  # [issued, completed, error]
        lock = threading.Lock()
        stop = threading.Event()

        def writer() -> None:
            while not stop.is_set():
                rec = [time.monotonic(), None, None]
                ev = threading.Event()

                def cb(result, rec=rec, ev=ev) -> None:
                    rec[1] = time.monotonic()
                    rec[2] = None if result.exception is None else repr(result.exception)[:120]
                    ev.set()

                with lock:
                    attempts.append(rec)
                zk.set_async("/bench/fo", VALUE).rawlink(cb)
                if not ev.wait(0.1):
                    with lock:
                        outstanding = sum(1 for a in attempts if a[1] is None)
                    if outstanding > 20:
                        time.sleep(0.05)
                elif rec[2] is not None:
                    time.sleep(0.01)  # failed at once (connection loss): do not spin

        th = threading.Thread(target=writer, daemon=True)
        th.start()
        time.sleep(1.5)  # steady state: writes flowing, no election in progress
        t_kill = time.monotonic()
        ens.kill(victim)
        killed = True
        deadline = t_kill + 60
        first_ok = None
        while first_ok is None and time.monotonic() < deadline:
            with lock:
                oks = [a[1] for a in attempts if a[0] >= t_kill and a[1] is not None and a[2] is None]
            first_ok = min(oks) - t_kill if oks else None
            time.sleep(0.02)
        stop.set()
        th.join(10)
        with lock:
            after = [a for a in attempts if a[0] >= t_kill]
            errors = sorted({a[2] for a in after if a[2]})[:5]
        same_session = zk.client_id is not None and zk.client_id[0] == session[0]
        return {"target": target, "killed": victim, "first_ok_after_kill_ms":
                None if first_ok is None else round(first_ok * 1e3, 1),
                "same_session": same_session, "reconnected_to": connected_to(zk),
                "attempts_after_kill": len(after), "failed_after_kill": sum(1 for a in after if a[2]),
                "error_kinds": errors}
    finally:
        zk.stop()
        zk.close()
        if killed:
            ens.restart(victim)


def w_failover(target: str) -> Callable[[Ensemble, Counts], dict[str, Any]]:
    def run(ens: Ensemble, c: Counts) -> dict[str, Any]:
        tries = []
        for k in range(c.tries):
            tries.append(failover_try(ens, target))
            print(f"    {target} try {k}: {tries[-1]}", file=sys.stderr, flush=True)
        ens.wait_synced()
        ms = [t["first_ok_after_kill_ms"] for t in tries if t["first_ok_after_kill_ms"] is not None]
        return {"median_ms": statistics.median(ms) if ms else None, "no_write_within_60_s": c.tries - len(ms),
                "sessions_kept": sum(t["same_session"] for t in tries), "tries": tries}
    return run


WORKLOADS: dict[str, Callable[[Ensemble, Counts], dict[str, Any]]] = {
    "seq_create": w_seq_create,
    "async_create": w_async_create,
    "get": w_get,
    "lock": w_lock,
    "failover_follower": w_failover("follower"),
    "failover_leader": w_failover("leader"),
}


def run(ens: Ensemble, chosen: list[str], c: Counts) -> dict[str, Any]:
    out: dict[str, Any] = {"system": ens.name, "nodes": ens.n,
                           "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                           "loadavg_at_start": os.getloadavg()}
    t0 = time.monotonic()
    try:
        ens.start()  # inside: nodes started before a failure are stopped too
        ld = ens.wait_synced()
        out["start_s"] = round(time.monotonic() - t0, 2)
        print(f"[{ens.name}] serving after {out['start_s']} s, leader node {ld}", file=sys.stderr, flush=True)
        out["warmup"] = w_warmup(ens, c)
        for name in chosen:
            try:
                out[name] = WORKLOADS[name](ens, c)
            except Exception as exc:  # noqa: BLE001 (a workload that fails is a figure: say which and why)
                out[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            brief = {k: v for k, v in out[name].items() if k != "tries"}
            print(f"  {name}: {brief}", file=sys.stderr, flush=True)
        out["describe"] = ens.describe()
    finally:
        ens.stop()
    out["wall_s"] = round(time.monotonic() - t0, 1)
    return out


def versions() -> dict[str, str]:
    import kazoo.version

    commit = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip()
    return {"kazoo": kazoo.version.__version__, "zmqzab_commit": commit, "python": platform.python_version(),
            "platform": platform.platform(), "cpus": str(os.cpu_count())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--system", choices=("zookeeper", "zmqzab"), help="start a fresh ensemble of this system")
    ap.add_argument("--nodes", type=int, default=5)
    ap.add_argument("--config", type=Path, default=ROOT / "config" / "cluster.toml",
                    help="zmqzab: timing, fsync and [zookeeper] settings (its ports are not used)")
    ap.add_argument("--hosts", help="a running ensemble instead: host:port,... (node 0, 1, ...)")
    ap.add_argument("--kill-cmd", help="with --hosts: shell command that kill -9s node {index} ({host}, {port})")
    ap.add_argument("--restart-cmd", help="with --hosts: shell command that starts node {index} again")
    ap.add_argument("--workload", "-w", default="all", help=f"comma-separated, of: {', '.join(WORKLOADS)}; or all")
    ap.add_argument("--quick", action="store_true", help="tiny counts: checks that it runs, measures nothing")
    ap.add_argument("--json", type=Path, help="write every figure here")
    args = ap.parse_args()
    # SIGTERM (a timeout, a Ctrl-C'd parent) unwinds like an error: every node started is stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    chosen = list(WORKLOADS) if args.workload == "all" else [w.strip() for w in args.workload.split(",")]
    if unknown := [w for w in chosen if w not in WORKLOADS]:
        raise SystemExit(f"unknown workload {', '.join(unknown)}: choose from {', '.join(WORKLOADS)} or all")
    if (args.system is None) == (args.hosts is None):
        raise SystemExit("give either --system (a fresh ensemble) or --hosts (a running one)")
    with tempfile.TemporaryDirectory(prefix="zk-workloads-") as tmp:
        if args.system == "zookeeper":
            ens: Ensemble = ZooKeeperEnsemble(args.nodes, Path(tmp))
        elif args.system == "zmqzab":
            ens = ZmqzabEnsemble(args.nodes, Path(tmp), args.config)
        else:
            ens = ExternalEnsemble(args.hosts.split(","), args.kill_cmd, args.restart_cmd)
        out = run(ens, chosen, Counts(args.quick)) | {"versions": versions(), "argv": [shlex.quote(a) for a in sys.argv]}
    if args.json:
        args.json.write_text(json.dumps(out, indent=2, default=str))
    else:
        print(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
