#!/usr/bin/env python3
"""A long history on a 3-node cluster: disk per node, memory, restart and SNAP catch-up.

Commits ``--txns`` guesses (default 1,000,000) with the pipelined bench client
(``zmqzab.up.bench.Probe.pipelined``, ``--threads`` of them, ~2000 writes in flight) from
``--clients`` client ids taking turns (each keeps its exactly-once record of 128 results in
the game, so the snapshot is as big as a real one from early on), through the leader, on a fresh
cluster on ports from the OS in a temp dir, with the timing and fsync of a config (default
config/cluster.toml) and the storage settings given here. Then:

* RSS of every node (VmRSS from /proc) at each 100k txns, and its maximum;
* disk use of every node's data dir, and its files, after the load;
* the snapshots the nodes took: size, time in Game.snapshot() and in the write (node logs);
* restart: a follower stopped (SIGTERM) and started again -> serving (FOLLOWING / BROADCAST)
  at the leader's committed zxid;
* SNAP catch-up: a follower killed, its data dir wiped, started again -> serving and caught up.

    PYTHONPATH=. python bench/snapshots_1m.py [--txns 1000000] [--clients 1000] [--json out.json]

Prints a table and one JSON object (also written to --json).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from zmqzab.up.bench import Probe
from zmqzab.config import load_config
from zmqzab.up.localcluster import LocalCluster, make_config
from zmqzab.zxid import parse_zxid
from zmqzab.storage.verify import dir_bytes


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


du_bytes = dir_bytes  # one walk for the bench, the node's /status and `zmqzab log --verify`


def files_of(path: Path) -> dict[str, int]:
    out = {}
    for sub in ("log", "snap"):
        d = path / sub
        if d.is_dir():
            for f in sorted(d.iterdir()):
                out[f"{sub}/{f.name}"] = f.stat().st_size
    return out


def wait(cond, timeout: float, what: str, interval: float = 0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(interval)  # polling a condition with a deadline
    raise RuntimeError(f"timed out after {timeout} s waiting for {what}")


class Load:
    """``threads`` Probes taking (client id, block) jobs round-robin over the client ids: every
    client writes ``block`` guesses, then every client again, and so on, so the game reaches its
    full size (every client's exactly-once record full) early and stays there; what grows after
    that is only the history. Committed txns are counted as replies arrive."""

    def __init__(self, c: LocalCluster, leader: int, txns: int, clients: int, threads: int,
                 inflight: int, batch: int, block: int) -> None:
        self.c, self.leader = c, leader
        self.threads, self.inflight, self.batch = threads, inflight, batch
        ids = [f"bench-c{k:05d}" for k in range(clients)]
        self.jobs: list[tuple[str, int]] = []
        left = txns
        while left > 0:
            for cid in ids:
                n = min(block, left)
                if n <= 0:
                    break
                self.jobs.append((cid, n))
                left -= n
        self.jobs.reverse()
        self.seq = {cid: 0 for cid in ids}
        self.done = 0
        self.lock = threading.Lock()
        self.errors: list[str] = []

    def run(self, on_progress) -> float:
        t0 = time.perf_counter()

        def worker() -> None:
            probe = Probe(self.c.config)
            try:
                while True:
                    with self.lock:
                        if not self.jobs or self.errors:
                            return
                        cid, n = self.jobs.pop()
                        first = self.seq[cid]
                        self.seq[cid] += n
                    probe.client_id, probe.seq = cid, first
                    last = 0

                    def tick(done: int) -> None:
                        nonlocal last
                        with self.lock:
                            self.done += done - last
                            total = self.done
                        last = done
                        on_progress(total)

                    probe.pipelined(self.leader, n, self.inflight, self.batch, tick)
            except Exception as exc:  # noqa: BLE001 - reported by the main thread
                self.errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                probe.close()

        workers = [threading.Thread(target=worker, daemon=True) for _ in range(self.threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        if self.errors:
            raise RuntimeError(f"load failed: {self.errors[0]}")
        return time.perf_counter() - t0


def snapshot_lines(log_path: Path) -> list[dict]:
    """The node's "snapshot at ..." lines: size, the child's run, the node's pause, the commit."""
    pat = re.compile(r"snapshot at (\S+): (\d+) bytes, written by a child process in ([\d.]+) ms \(the node "
                     r"paused ([\d.]+) ms to fork it\), committed in ([\d.]+) ms")
    out = []
    if log_path.exists():
        for line in log_path.read_text(errors="replace").splitlines():
            m = pat.search(line)
            if m:
                out.append({"zxid": m[1], "bytes": int(m[2]), "child_ms": float(m[3]), "paused_ms": float(m[4]),
                            "commit_ms": float(m[5])})
    return out


def full_game_snapshot() -> dict:
    """Game.snapshot() and Game.restore() of the biggest game the rules allow: CLIENTS_MAX clients,
    each remembering SEQ_WINDOW results (what a node pays every snapshot_every_txns, at worst)."""
    from zmqzab.game.rules import CLIENTS_MAX, SEQ_WINDOW, Game
    from zmqzab.messages import Guess, Txn

    game = Game()
    zxid = 0
    for seq in range(1, SEQ_WINDOW + 1):
        for k in range(CLIENTS_MAX):
            zxid += 1
            game.apply(Txn(zxid, Guess(f"client-{k:05d}", seq, (k + seq) % 101)))
    t0 = time.perf_counter()
    data = game.snapshot()
    taken = time.perf_counter() - t0
    t0 = time.perf_counter()
    Game.restore(data)
    restored = time.perf_counter() - t0
    return {"clients": CLIENTS_MAX, "results_each": SEQ_WINDOW, "bytes": len(data),
            "snapshot_ms": round(taken * 1000, 1), "restore_ms": round(restored * 1000, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="config/cluster.toml", help="timing, fsync and game settings")
    ap.add_argument("--txns", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=500, help="client ids (exactly-once records in the game)")
    ap.add_argument("--block", type=int, default=128, help="guesses per client in a row (128 fill its record)")
    ap.add_argument("--threads", type=int, default=16, help="client threads, each one Probe: threads x block "
                    "writes in flight")
    ap.add_argument("--inflight", type=int, default=128, help="writes outstanding per thread")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--snapshot-every", type=int, default=100_000)
    ap.add_argument("--kept", type=int, default=3)
    ap.add_argument("--window", type=int, default=50_000)
    ap.add_argument("--sample-every", type=int, default=100_000, help="RSS sample interval (txns)")
    ap.add_argument("--keep-dir", action="store_true", help="leave the temp dir (data, logs) in place")
    ap.add_argument("--full-game", action="store_true", help="also time Game.snapshot() of the biggest game")
    ap.add_argument("--json", dest="json_path", default=None)
    args = ap.parse_args()

    base = load_config(args.config)
    base = replace(base, storage=replace(base.storage, snapshot_every_txns=args.snapshot_every,
                                         snapshots_kept=args.kept, log_window_txns=args.window))
    work = Path(tempfile.mkdtemp(prefix="zmqzab-snap1m-"))
    c = LocalCluster(make_config(work, 3, base), work)
    data = {i: c.config.storage.data_dir / f"node-{i}" for i in c.ids}
    result: dict = {"txns": args.txns, "clients": args.clients, "nodes": 3, "fsync": base.storage.fsync,
                    "tick_ms": base.timing.tick_ms, "snapshot_every_txns": args.snapshot_every,
                    "snapshots_kept": args.kept, "log_window_txns": args.window, "cpus": os.cpu_count(),
                    "workdir": str(work)}
    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    try:
        for i in c.ids:
            c.start(i)
        ld = wait(c.leader, 60, "a leader")
        followers = [i for i in c.ids if i != ld]
        say(f"cluster up in {work}; leader n{ld}")

        samples: list[dict] = []
        next_sample = [args.sample_every]
        sample_lock = threading.Lock()

        def progress(done: int) -> None:
            with sample_lock:
                if done < next_sample[0]:
                    return
                next_sample[0] += args.sample_every
                samples.append({"txns": done, "rss_mb": {i: rss_mb(c.procs[i].pid) for i in c.ids},
                                "t": round(time.perf_counter() - t0, 2)})
                say(f"  {done:>9} txns  {samples[-1]['t']:>7.1f} s  RSS MB "
                    + ", ".join(f"n{i} {v:.0f}" for i, v in samples[-1]["rss_mb"].items() if v))

        load = Load(c, ld, args.txns, args.clients, args.threads, args.inflight, args.batch, args.block)
        t0 = time.perf_counter()
        secs = load.run(progress)
        result["load"] = {"committed": load.done, "seconds": round(secs, 1), "txns_per_s": round(load.done / secs)}
        wait(lambda: c.converged(), 120, "every node at the same committed zxid")
        st = {i: c.status(i, timeout=2) for i in c.ids}
        committed = st[ld]["zxid_committed"]
        samples.append({"txns": load.done, "rss_mb": {i: rss_mb(c.procs[i].pid) for i in c.ids}, "t": round(secs, 2)})
        result["rss_mb"] = samples
        result["committed"] = committed
        result["disk"] = {i: {"bytes": du_bytes(data[i]), "files": files_of(data[i]),
                              "log_start": st[i]["snapshots"]["log_start"]} for i in c.ids}
        say(f"load: {load.done} txns in {secs:.1f} s ({load.done / secs:.0f}/s); committed {committed}")

        # Restart: SIGTERM a follower, start it again -> serving at the leader's committed zxid.
        f = followers[0]
        c.procs[f].send_signal(signal.SIGTERM)
        c.procs.pop(f).wait(timeout=30)
        t_start = time.monotonic()
        c.start(f)
        answered = wait(lambda: c.status(f, timeout=0.2), 60, "the restarted node answering")
        t_answer = time.monotonic() - t_start
        target = parse_zxid(committed)

        def serving(i: int):
            s = c.status(i, timeout=0.2)
            return s if s and s["phase"] == "BROADCAST" and parse_zxid(s["zxid_committed"]) >= target else None

        s = wait(lambda: serving(f), 120, "the restarted node serving")
        result["restart"] = {"node": f, "to_status_s": round(t_answer, 3),
                             "to_serving_s": round(time.monotonic() - t_start, 3),
                             "sync": s["last_sync"], "recovered_txns_note": None}
        say(f"restart of n{f}: answers after {t_answer:.2f} s, serving after {result['restart']['to_serving_s']:.2f} s "
            f"({s['last_sync'].get('mode')})")
        _ = answered

        # SNAP catch-up: kill -9 a follower, wipe its data dir, start it -> serving and caught up.
        w = followers[1]
        c.kill(w)
        shutil.rmtree(data[w])
        t_start = time.monotonic()
        c.start(w)
        s = wait(lambda: serving(w), 300, "the wiped node serving")
        result["snap_catchup"] = {"node": w, "seconds": round(time.monotonic() - t_start, 3), "sync": s["last_sync"],
                                  "rss_mb_after": rss_mb(c.procs[w].pid)}
        say(f"wiped n{w}: serving after {result['snap_catchup']['seconds']:.2f} s ({s['last_sync'].get('mode')}, "
            f"{s['last_sync'].get('snapshot_bytes')} snapshot bytes)")
        result["snapshots_taken"] = {i: snapshot_lines(c.config.storage.log_dir / f"node-{i}.log") for i in c.ids}
    finally:
        c.close()
        if not args.keep_dir:
            shutil.rmtree(work, ignore_errors=True)
    if args.full_game:
        say("a full game's snapshot (10,000 clients x 128 results) ...")
        result["full_game_snapshot"] = full_game_snapshot()

    table(result)
    text = json.dumps(result, indent=2)
    if args.json_path:
        Path(args.json_path).write_text(text)
    print(text)
    return 0


def table(r: dict) -> None:
    say = lambda text: print(text, file=sys.stderr)  # noqa: E731
    say(f"\n{r['txns']} guesses from {r['clients']} clients on 3 nodes (fsync {'on' if r['fsync'] else 'OFF'}; "
        f"snapshot every {r['snapshot_every_txns']}, {r['snapshots_kept']} kept, window {r['log_window_txns']}; "
        f"{r['cpus']} CPUs)")
    say(f"  load: {r['load']['committed']} committed in {r['load']['seconds']} s ({r['load']['txns_per_s']}/s)")
    for i, d in r["disk"].items():
        say(f"  disk n{i}: {d['bytes'] / 1e6:.1f} MB in {len(d['files'])} files (log from {d['log_start']})")
    first = next((s for s in r["rss_mb"] if s["txns"] >= 100_000), r["rss_mb"][0])
    last = r["rss_mb"][-1]
    for i in first["rss_mb"]:
        say(f"  RSS n{i}: {first['rss_mb'][i]:.0f} MB at {first['txns']} txns, {last['rss_mb'][i]:.0f} MB at "
            f"{last['txns']} txns")
    say(f"  restart (SIGTERM, start): answers in {r['restart']['to_status_s']} s, serving in "
        f"{r['restart']['to_serving_s']} s")
    say(f"  wiped follower: serving in {r['snap_catchup']['seconds']} s by {r['snap_catchup']['sync'].get('mode')}")
    snaps = [s for lst in r["snapshots_taken"].values() for s in lst]
    if "full_game_snapshot" in r:
        g = r["full_game_snapshot"]
        say(f"  a full game ({g['clients']} clients x {g['results_each']} results): {g['bytes'] / 1e6:.1f} MB, "
            f"Game.snapshot() {g['snapshot_ms']} ms, restore {g['restore_ms']} ms")
    if snaps:
        say(f"  snapshots: {len(snaps)} taken, up to {max(s['bytes'] for s in snaps) / 1e6:.1f} MB; the node "
            f"paused up to {max(s['paused_ms'] for s in snaps):.1f} ms (fork); the child took up to "
            f"{max(s['child_ms'] for s in snaps):.0f} ms; commit up to {max(s['commit_ms'] for s in snaps):.0f} ms")


if __name__ == "__main__":
    sys.exit(main())
