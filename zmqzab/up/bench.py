"""`zmqzab bench`: the workloads of the peers' harness (../shared/peers/bench.py) on zmqzab.

Each run starts its own cluster on ports from the OS in a temp dir, with the timing and fsync of a
config (default config/cluster.toml), so it never meets a running cluster. Figures are end to
end, from one client process, as a person running `zmqzab guess` would see them:

* seq:      one write at a time through a follower (and through the leader): p50, p99, ops/s;
* pipe:     one client process, ``inflight`` writes outstanding, sent in batches: ops/s;
* failover: kill -9 of the leader -> the first write issued after it commits (median of tries);
* hung:     SIGSTOP of the leader (its connections stay open) -> the same;
* catchup:  a follower stopped while 50,000 writes commit, then restarted -> it reports the
            leader's committed zxid itself;
* cold:     5 processes started -> the first committed write (and the CPU they used until then).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import msgspec
import zmq

from zmqzab.config import ClusterConfig, load_config
from zmqzab.game.limits import VALUE_MAX
from zmqzab.up.localcluster import LocalCluster, make_config
from zmqzab.messages import ClientBatch, ClientRequest, Guess, ReadRequest, decode_reply, encode
from zmqzab.security.curve import ClientKeys, client_keys, client_socket
from zmqzab.security.zap import bound_client_id
from zmqzab.server.clients import FRAMES_PER_MESSAGE_MAX
from zmqzab.server.transport import drain, send_frames
from zmqzab.zxid import parse_zxid

WORKLOADS = ("seq", "pipe", "failover", "hung", "catchup")


@dataclass
class Counts:
    seq_writes: int = 2000
    seq_warmup: int = 300
    pipe_writes: int = 50_000
    catchup_writes: int = 50_000
    tries: int = 3

    @classmethod
    def quick(cls) -> "Counts":
        return cls(seq_writes=50, seq_warmup=10, pipe_writes=500, catchup_writes=500, tries=1)


#: Requests in one BATCH frame at most: the node closes a connection that sends a frame above
#: 64 KiB (transport.CLIENT_MAX_MESSAGE_BYTES); a bench request is 40-60 bytes.
BATCH_FRAME_REQUESTS = 512


@dataclass
class Probe:
    """One client process's sockets: raw DEALERs, our own timeouts and batching."""

    config: ClusterConfig
    ctx: zmq.Context = field(default_factory=zmq.Context)
    socks: dict[int, zmq.Socket] = field(default_factory=dict)
    req: int = 0
    client_id: str = field(default_factory=lambda: f"bench-{os.getpid()}-{os.urandom(3).hex()}")
    seq: int = 0
    keys: ClientKeys | None = None

    def __post_init__(self) -> None:
        self.keys = client_keys(self.config)
        if self.keys is not None:  # with CURVE a client id belongs to a key (security/zap.py)
            self.client_id = bound_client_id(self.keys.user_id, self.client_id)

    def sock(self, i: int) -> zmq.Socket:
        if i not in self.socks:
            self.socks[i] = client_socket(self.ctx, self.config, i, self.keys)
        return self.socks[i]

    def drop(self, i: int) -> None:
        s = self.socks.pop(i, None)
        if s is not None:
            s.close(0)

    def write(self, node: int, timeout: float, seq: int | None = None):
        """One guess (a new seq unless given); the reply, or None if none came in time."""
        if seq is None:
            self.seq += 1
            seq = self.seq
        self.req += 1
        rid = self.req
        s = self.sock(node)
        s.send(encode(ClientRequest(rid, Guess(self.client_id, seq, seq % (VALUE_MAX + 1)))))
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0 and s.poll(int(left * 1000) + 1):
            for frame in s.recv_multipart():
                r = decode_reply(frame)
                if r.req_id == rid:
                    return r
        self.drop(node)  # a late reply must not be read as another request's
        return None

    def pipelined(self, node: int, n: int, inflight: int, batch: int, tick: Callable[[int], None]) -> float:
        """``n`` writes with ``inflight`` outstanding; returns seconds. A message goes once
        ``batch`` are free (or fewer remain) and carries all that are free: the requests of one
        refill sent as several messages reach the node in several loop passes, and each pass
        forwards its own batch to the leader (a PROPOSAL, its ACKs and COMMIT each), which
        costs more CPU per write than the whole refill as one (issue 14)."""
        s = self.sock(node)
        cid, first = self.client_id, self.seq + 1
        sent = done = 0
        start = time.perf_counter()
        while done < n:
            room = min(inflight - (sent - done), n - sent)
            if room > 0 and (room >= batch or sent - done < batch):
                requests = []
                for _ in range(room):
                    seq = first + sent
                    sent += 1
                    self.req += 1
                    requests.append(ClientRequest(self.req, Guess(cid, seq, seq % (VALUE_MAX + 1))))
                # BATCH frames, answered in REPLIES frames; a message holds at most the requests
                # a node takes from one (FRAMES_PER_MESSAGE_MAX: it drops a message of more).
                for m in range(0, room, FRAMES_PER_MESSAGE_MAX):
                    part = requests[m:m + FRAMES_PER_MESSAGE_MAX]
                    send_frames(s, [encode(ClientBatch(part[f:f + BATCH_FRAME_REQUESTS]))
                                    for f in range(0, len(part), BATCH_FRAME_REQUESTS)])
            if not s.poll(30_000):
                raise RuntimeError(f"no reply for 30 s with {sent - done} writes outstanding")
            for frame in (frame for message in drain(s, 1) for frame in message):
                for r in decode_reply(frame).replies:
                    if not r.ok:
                        raise RuntimeError(f"write refused during the pipelined run: {r.error}")
                    done += 1
            tick(done)
        self.seq = first + n - 1
        return time.perf_counter() - start

    def close(self) -> None:
        for s in self.socks.values():
            s.close(0)
        self.ctx.term()


class Bench:
    def __init__(self, base: ClusterConfig, nodes: int, counts: Counts, inflight: int, say) -> None:
        self.base, self.n, self.counts, self.inflight, self.say = base, nodes, counts, inflight, say
        self.work = Path(tempfile.mkdtemp(prefix="zmqzab-bench-"))
        self.cluster: LocalCluster | None = None
        self.probe: Probe | None = None
        #: The nodes' CPU, all together, from spawn to the first committed write (Linux; last fresh()).
        self.cold_cpu_s: float | None = None

    # ------------------------------------------------------------------ cluster lifecycle

    def fresh(self) -> tuple[LocalCluster, Probe, float]:
        """A new cluster; returns it, a probe, and seconds from spawn to the first committed write."""
        self.close_cluster()
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        c = LocalCluster(make_config(self.work, self.n, self.base), self.work)
        p = Probe(c.config)
        t0 = time.monotonic()
        for i in c.ids:
            c.start(i)
        deadline = t0 + 60
        while time.monotonic() < deadline:
            ld = c.leader()
            if ld is not None:
                r = p.write(ld, 0.5)
                if r is not None and r.ok:
                    elapsed = time.monotonic() - t0
                    self.cluster, self.probe = c, p
                    cpu = [process_cpu_s(proc.pid) for proc in c.procs.values()]
                    self.cold_cpu_s = round(sum(cpu), 3) if None not in cpu else None
                    return c, p, elapsed
            time.sleep(0.005)
        raise RuntimeError(f"no committed write within 60 s of starting; node logs: {self.work}")

    def close_cluster(self) -> None:
        if self.probe is not None:
            self.probe.close()
            self.probe = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None

    def wait_leader(self, c: LocalCluster, timeout: float = 30) -> int:
        ld = c.wait(c.leader, timeout)
        if ld is None:
            raise RuntimeError(f"the cluster did not settle on a leader within {timeout:g} s: {c.no_leader_reason()}")
        return ld

    def regime(self, c: LocalCluster) -> tuple[int, int] | None:
        """(leader, its epoch) now: unchanged across a workload means no election happened in it
        (the goal: no false elections on a loaded healthy cluster)."""
        ld = c.leader()
        st = c.status(ld) if ld is not None else None
        return (ld, st["current_epoch"]) if st is not None else None

    # ------------------------------------------------------------------ workloads

    def seq(self) -> dict[str, Any]:
        c, p, cold = self.fresh()
        ld = self.wait_leader(c)
        follower = next(i for i in c.ids if i != ld) if self.n > 1 else ld
        out: dict[str, Any] = {"cold_start_s": round(cold, 3), "cold_cpu_s": self.cold_cpu_s}
        before = self.regime(c)
        for label, node in (("follower", follower), ("leader", ld)):
            for _ in range(self.counts.seq_warmup):
                p.write(node, 2.0)
            lat = []
            for k in range(self.counts.seq_writes):
                t = time.perf_counter()
                r = p.write(node, 5.0)
                lat.append(time.perf_counter() - t)
                if r is None or not r.ok:
                    raise RuntimeError(f"sequential write failed: {r}")
                self.progress("seq " + label, k + 1, self.counts.seq_writes)
            lat.sort()
            out[label] = {
                "p50_ms": round(lat[len(lat) // 2] * 1000, 3),
                "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000, 3),
                "ops_s": round(len(lat) / sum(lat), 1),
            }
        out.update(out["follower"])  # the headline figures: through a follower, as in the peers' table
        out["leader_changes"] = int(self.regime(c) != before)
        return out

    def pipe(self) -> dict[str, Any]:
        c, p, _ = self.fresh()
        ld = self.wait_leader(c)
        # Through a follower, as the peers' harness does (most clients of an ensemble are).
        node = next(i for i in c.ids if i != ld) if self.n > 1 else ld
        n = self.counts.pipe_writes
        batch = max(1, min(256, self.inflight // 4))
        p.pipelined(node, min(n // 10, 5000), self.inflight, batch, lambda d: None)  # warm-up
        before = self.regime(c)
        secs = p.pipelined(node, n, self.inflight, batch, lambda d: self.progress("pipe", d, n))
        return {"ops_s": round(n / secs, 1), "writes": n, "inflight": self.inflight, "batch": batch,
                "leader_changes": int(self.regime(c) != before),
                "through": "follower" if node != ld else "leader"}

    def _outage(self, stop_leader: Callable[[LocalCluster, int], None], recover: Callable[[LocalCluster, int], None],
                name: str) -> dict[str, Any]:
        c, p, _ = self.fresh()
        times = []
        for k in range(self.counts.tries):
            ld = self.wait_leader(c)
            entry = next(i for i in c.ids if i != ld)
            for _ in range(20):
                p.write(entry, 2.0)
            time.sleep(0.2)  # steady state: heartbeats flowing, no election in progress
            stop_leader(c, ld)
            stopped = time.monotonic()
            p.seq += 1
            seq, others, j = p.seq, [i for i in c.ids if i != ld], 0
            while True:  # the first write issued after the fault that commits
                r = p.write(others[j % len(others)], 0.1, seq=seq)
                j += 1
                if r is not None and r.ok:
                    break
                if time.monotonic() - stopped > 60:
                    raise RuntimeError(f"{name}: no write committed within 60 s")
            times.append(time.monotonic() - stopped)
            recover(c, ld)
            c.wait(c.converged, 30)
            self.progress(name, k + 1, self.counts.tries)
        return {"median_ms": round(statistics.median(times) * 1000, 1), "tries_ms": [round(t * 1000, 1) for t in times]}

    def failover(self) -> dict[str, Any]:
        return self._outage(lambda c, ld: c.kill(ld), lambda c, ld: c.start(ld), "failover")

    def hung(self) -> dict[str, Any]:
        return self._outage(lambda c, ld: c.pause(ld), lambda c, ld: c.resume(ld), "hung")

    def catchup(self) -> dict[str, Any]:
        c, p, _ = self.fresh()
        times, splits, cpu, txns = [], [], [], self.counts.catchup_writes
        for k in range(self.counts.tries):
            ld = self.wait_leader(c)
            victim = next(i for i in c.ids if i != ld)
            c.procs[victim].send_signal(signal.SIGTERM)
            c.procs.pop(victim).wait(timeout=15)
            self.wait_leader(c)
            p.pipelined(ld, txns, 1024, 256, lambda d: self.progress(f"catchup load {k + 1}", d, txns))
            target = parse_zxid(c.status(ld)["zxid_committed"])
            spawned = time.time()  # wall clock: the node's log lines carry it
            c.start(victim)
            started = time.monotonic()
            while True:
                st = c.status(victim, timeout=0.2)
                if st and st["phase"] == "BROADCAST" and parse_zxid(st["zxid_committed"]) >= target:
                    break
                if not c.alive(victim):  # e.g. a port of its taken by another process meanwhile
                    raise RuntimeError(f"catchup: the restarted follower (node {victim}) exited with code "
                                       f"{c.procs[victim].returncode}; {last_line(c.workdir / f'node-{victim}.console')}")
                if time.monotonic() - started > 60:
                    raise RuntimeError("catchup: the restarted follower did not catch up within 60 s")
                time.sleep(0.005)
            times.append(time.monotonic() - started)
            cpu.append(process_cpu_s(c.procs[victim].pid))
            splits.append(catchup_split(c.config.storage.log_dir / f"node-{victim}.log", spawned,
                                        spawned + times[-1]))
        return {"median_s": round(statistics.median(times), 3), "tries_s": [round(t, 3) for t in times],
                "txns_behind": txns, "split_s": median_split(splits),
                # Each try's own split: a try whose node restarts with many txns of its own after
                # its last snapshot reads and applies them again, and is much slower than the rest.
                "split_tries_s": splits,
                # The restarted node's own CPU until it caught up: steadier than the wall clock
                # on a busy machine (Linux: /proc; absent elsewhere).
                **({"node_cpu_s": round(statistics.median(cpu), 3)} if None not in cpu else {})}

    # ------------------------------------------------------------------ output

    def progress(self, what: str, done: int, total: int) -> None:
        if not sys.stderr.isatty():
            return
        width = 30
        filled = int(width * done / max(total, 1))
        sys.stderr.write(f"\r  {what:<18} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}   ")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    def close(self) -> None:
        self.close_cluster()
        shutil.rmtree(self.work, ignore_errors=True)


#: The restarted follower's log lines that end each part of its catch-up (the first after the spawn).
SPLIT_MARKS = (
    ("start_s", ("election round",)),  # spawn -> its first election message: interpreter, imports, recovery
    ("election_s", ("DIFF from node ", "TRUNC from node ", "SNAP from node ")),  # -> the sync begins
    ("sync_s", ("UPTODATE from",)),    # -> UPTODATE: the stream received, logged, fsynced; commits applied
)


def catchup_split(log: Path, spawned: float, caught_up: float) -> dict[str, float]:
    """Where a catch-up's seconds went, from the restarted node's log (times to the millisecond);
    ``rest_s``: UPTODATE -> its status reports the leader's committed zxid. Parts not found: absent."""
    day = time.localtime(spawned)
    midnight = time.mktime((day.tm_year, day.tm_mon, day.tm_mday, 0, 0, 0, 0, 0, -1))
    split: dict[str, float] = {}
    marks, last = list(SPLIT_MARKS), spawned
    for line in log.read_text(errors="replace").splitlines() if log.exists() else ():
        if not marks:
            break
        try:
            h, m, sec = line.split(" ", 1)[0].split(":")
            at = midnight + int(h) * 3600 + int(m) * 60 + float(sec)
        except ValueError:
            continue
        if at < spawned - 43_200:
            at += 86_400  # past midnight
        if at < spawned - 0.001:
            continue  # the node's life before this restart
        name, texts = marks[0]
        message = line.split(" | ", 1)[-1]
        if any(text in message for text in texts):
            split[name] = round(max(at - last, 0.0), 3)
            last = at
            marks.pop(0)
    if not marks:
        split["rest_s"] = round(max(caught_up - last, 0.0), 3)
    return split


def last_line(path: Path) -> str:
    """The last line a process wrote to ``path``, to quote in an error."""
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        lines = []
    return f"its last words ({path}): {lines[-1]}" if lines else f"it wrote nothing to {path}"


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a live process so far (Linux /proc), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def median_split(splits: list[dict[str, float]]) -> dict[str, float]:
    names = [n for n, _ in SPLIT_MARKS] + ["rest_s"]
    return {n: round(statistics.median(s[n] for s in splits), 3) for n in names if all(n in s for s in splits)}


def environment(config: ClusterConfig, nodes: int) -> dict[str, Any]:
    import zmqzab

    return {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "versions": {"zmqzab": getattr(zmqzab, "__version__", "0.1.0"), "pyzmq": zmq.__version__,
                     "libzmq": zmq.zmq_version(), "msgspec": msgspec.__version__},
        "config": {"nodes": nodes, "tick_ms": config.timing.tick_ms, "sync_limit_ticks": config.timing.sync_limit_ticks,
                   "heartbeat_ticks": config.timing.heartbeat_ticks, "fsync": config.storage.fsync,
                   "source": str(config.path)},
    }


def run(config_path: Path, nodes: int, workloads: list[str], inflight: int, counts: Counts,
        json_path: Path | None, say=print) -> dict[str, Any]:
    base = load_config(config_path)
    result: dict[str, Any] = environment(base, nodes)
    bench = Bench(base, nodes, counts, inflight, say)
    try:
        for name in workloads:
            say(f"{name} ...")
            result[name] = getattr(bench, name)()
            if name == "seq":
                result["cold"] = {"start_to_first_write_s": result["seq"].pop("cold_start_s"),
                                  "nodes_cpu_s": result["seq"].pop("cold_cpu_s")}
    finally:
        bench.close()
    table(result, say)
    if json_path is not None:
        json_path.write_text(json.dumps(result, indent=2))
        say(f"raw figures: {json_path}")
    return result


def table(r: dict[str, Any], say) -> None:
    c = r["config"]
    say(f"\nzmqzab, {c['nodes']} nodes, fsync {'on' if c['fsync'] else 'OFF (unsafe)'}, tick {c['tick_ms']} ms, "
        f"{r['machine']['cpus']} CPUs")
    rows = []
    if "seq" in r:
        s = r["seq"]
        rows.append(("sequential, through a follower", f"p50 {s['follower']['p50_ms']} ms, p99 {s['follower']['p99_ms']} ms, "
                     f"{s['follower']['ops_s']:.0f} ops/s"))
        rows.append(("sequential, through the leader", f"p50 {s['leader']['p50_ms']} ms, p99 {s['leader']['p99_ms']} ms, "
                     f"{s['leader']['ops_s']:.0f} ops/s"))
        rows.append(("  elections during it", _elections(s)))
        cpu = r["cold"].get("nodes_cpu_s")
        rows.append(("cold start -> first committed write", f"{r['cold']['start_to_first_write_s']} s"
                     + (f" ({cpu} s of CPU, all nodes)" if cpu is not None else "")))
    if "pipe" in r:
        rows.append((f"pipelined, 1 client, {r['pipe']['inflight']} in flight", f"{r['pipe']['ops_s']:.0f} ops/s"))
        rows.append(("  elections during it", _elections(r["pipe"])))
    if "failover" in r:
        rows.append(("kill -9 leader -> next write", f"{r['failover']['median_ms']} ms median"))
    if "hung" in r:
        rows.append(("SIGSTOP leader -> next write", f"{r['hung']['median_ms']} ms median"))
    if "catchup" in r:
        rows.append((f"restart {r['catchup']['txns_behind']} behind -> caught up", f"{r['catchup']['median_s']} s median"))
        split = r["catchup"].get("split_s") or {}
        if len(split) == len(SPLIT_MARKS) + 1:
            rows.append(("  start / election / sync / rest", " + ".join(f"{v:.3f}" for v in split.values()) + " s"))
        if "node_cpu_s" in r["catchup"]:
            rows.append(("  the restarted node's CPU until then", f"{r['catchup']['node_cpu_s']} s median"))
    width = max(len(a) for a, _ in rows) if rows else 0
    for a, b in rows:
        say(f"  {a:<{width}}  {b}")


def _elections(figures: dict[str, Any]) -> str:
    return "none (same leader, same epoch)" if not figures["leader_changes"] else "YES: the leader changed"
