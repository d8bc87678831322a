"""One chaos run: cluster up, clients and nemesis for ``duration`` seconds, heal, converge,
check, report. The exit code is 0 only when every check holds."""

from __future__ import annotations

import json
import random
import re
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from zmqzab.chaos.checker import NodeRecord, Verdict, check
from zmqzab.config import load_config
from zmqzab.core.roles import SyncMode
from zmqzab.up.localcluster import LocalCluster, derive_config, make_config
from zmqzab.server.node import INJECT_BUGS_ENV
from zmqzab.chaos.history import OK, Request
from zmqzab.chaos.liveness import LIVENESS_S, check_liveness
from zmqzab.chaos.nemesis import KINDS, MOVES, LeaderWatch, Nemesis
from zmqzab.chaos.netns import Netns, NetnsCluster, NetnsError
from zmqzab.chaos.report import write_html
from zmqzab.chaos.workload import ChaosClient
from zmqzab.storage.errors import StorageError
from zmqzab.storage.store import open_storage
from zmqzab.zxid import fmt_zxid

CONVERGE_S = 60.0
#: After a fault ends, how long its effects (a re-election, a sync) still count as its own.
RECOVERY_WINDOW_S = 2.0


@dataclass
class Options:
    nodes: int = 5
    duration: float = 60.0
    clients: int = 4
    seed: int | None = None
    report: Path | None = None
    keep: bool = False
    #: Run the nodes (ids, ports, timing, game, security) of this config; storage stays in the
    #: run's temp dir. Checked by the CLI: valid, ports free, ``nodes`` equal to its count.
    config: Path | None = None
    #: Each node in its own network namespace, partitions by routes (chaos/netns.py).
    netns: bool = False
    #: TEST ONLY: deliberate core bugs (core/settings.py TEST_FAULTS) the nodes run with, to
    #: prove the checker catches them (a mutation run); passed to the nodes in the environment.
    inject_bugs: tuple[str, ...] = ()
    #: A fixed fault sequence (nemesis.SCENARIOS) instead of the random composed nemesis.
    scenario: str | None = None
    #: Nodes record their fsyncs so the nemesis can cut power (chaos/powerloss.py).
    power_loss: bool = True
    #: After healing, every node in BROADCAST and a fresh write applied everywhere within this.
    liveness_s: float = LIVENESS_S
    #: The nemesis moves dealt (nemesis.MOVES by default).
    moves: tuple[str, ...] = MOVES
    #: The report dir's recording.zrec (zmqzab/record/chaos.py): its size bound in bytes, or
    #: None for no recording.
    record_cap: int | None = 50 * 1024 * 1024


def _cluster(opts: Options, work: Path) -> tuple[LocalCluster, Netns | None]:
    # Ports from the OS without a config (in namespaces of their own any would do).
    base = load_config(opts.config if opts.config is not None else make_config(work, opts.nodes))
    # The snapshot at exit ON (the nemesis's clean_restart restarts a node from it), whatever
    # the config says; the final stop (collect) is a kill -9 once every log is written, so that
    # the log the checker judges is not purged behind a last snapshot no restart starts from.
    base = replace(base, storage=replace(base.storage, snapshot_on_exit=True))
    if not opts.netns:
        return LocalCluster(derive_config(work, base), work), None
    net = Netns(list(base.ids))
    # http_public: the node's HTTP binds its namespace address, reachable over the bridge
    # (on 127.0.0.1 it would be reachable from inside its own namespace only).
    return NetnsCluster(derive_config(work, base, net.addrs, http_public=True), work, net), net


def _exit_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)  # runs the finally below: nodes stopped, namespaces removed


def run(opts: Options, say=print) -> int:
    seed = opts.seed if opts.seed is not None else random.SystemRandom().randrange(2**31)
    work = Path(tempfile.mkdtemp(prefix="zmqzab-chaos-"))
    report_dir = opts.report or work / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    cluster, net = _cluster(opts, work)
    opts = replace(opts, nodes=len(cluster.ids))
    # Always set, also to nothing: a variable left in the caller's shell must not turn a bug on.
    cluster.env_extra[INJECT_BUGS_ENV] = ",".join(sorted(opts.inject_bugs))
    if opts.inject_bugs:
        say(f"chaos: TEST ONLY: the nodes run with deliberate bugs: {', '.join(sorted(opts.inject_bugs))} "
            f"(the checker should report a violation)")
    cfg = cluster.config
    where = (f"network namespaces {net.ns(cluster.ids[0])}.. on {net.subnet}.0/24" if net is not None
             else "loopback, transport fault rules")
    say(f"chaos: seed {seed}, {opts.nodes} nodes ({where}), {opts.clients} clients, "
        f"{opts.duration:.0f}s; work dir {work}")
    pause_s = cfg.timing.sync_limit_ticks * cfg.timing.tick_ms / 1000.0 * 2
    stop_clients, stop_nemesis, stop_watch = threading.Event(), threading.Event(), threading.Event()
    sigterm = signal.signal(signal.SIGTERM, _exit_on_sigterm) \
        if threading.current_thread() is threading.main_thread() else None
    nemesis: Nemesis | None = None
    recording = None
    try:
        if net is not None:
            try:
                net.up()
            except NetnsError as exc:
                say(f"chaos: {exc}")
                return 2
        cluster.witness = opts.power_loss
        for i in cluster.ids:
            cluster.start(i)
        if opts.record_cap is not None:
            from zmqzab.record.chaos import ChaosRecording

            recording = ChaosRecording(cfg, work, reproduce(seed, opts), opts.record_cap)
        if cluster.wait(cluster.leader, 30) is None:
            say(f"chaos: the cluster never elected a leader: {cluster.no_leader_reason()}")
            for i, lines in node_errors(cfg, cluster.ids).items():
                say(f"  node {i} stopped: {lines[0]}")
            return 1
        t0 = time.monotonic()
        if recording is not None:
            recording.start_clock()
        clients = [ChaosClient(k, cfg, seed * 1000 + k, t0, stop_clients) for k in range(opts.clients)]
        nemesis = Nemesis(cluster, seed, t0, opts.duration - 2.0, pause_s, stop_nemesis, moves=opts.moves,
                          scenario=opts.scenario)
        watch = LeaderWatch(cluster, t0, stop_watch)
        for th in (*clients, nemesis, watch):
            th.start()
        while nemesis.is_alive():
            nemesis.join(timeout=1.0)
            say(f"\r  t={time.monotonic() - t0:5.1f}s  faults {len(nemesis.faults):3d}  requests "
                f"{sum(len(c.history) for c in clients):6d}", end="")
        say("")
        stop_nemesis.set()
        if nemesis.error is not None:
            raise nemesis.error
        # Undo everything (resume first: a paused node cannot take its fault rules), then let
        # the clients see the healed cluster for the rest of the run.
        nemesis.heal_all()
        for i in list(cluster.paused):
            cluster.resume(i)
        cluster.heal()
        for i in cluster.ids:
            cluster.set_links(i, {})
            if not cluster.alive(i):
                cluster.start(i)
        healed_at = time.monotonic()
        extra: list[Request] = []
        liveness = check_liveness(cluster, healed_at, opts.liveness_s, opts.clients, seed * 1000 + opts.clients,
                                  t0, extra)
        _say_liveness(say, liveness)
        end = t0 + opts.duration
        while time.monotonic() < end:
            time.sleep(0.1)
        stop_clients.set()
        for c in clients:
            c.join(timeout=30)
        statuses = cluster.wait(cluster.converged, CONVERGE_S) if liveness.ok else None
        stop_watch.set()
        watch.join(timeout=5)
        converged = statuses is not None
        if not converged:
            if liveness.ok:
                say(f"chaos: FAIL: the cluster did not converge within {CONVERGE_S:.0f}s after healing")
            _write_failed(report_dir, seed, opts, nemesis, liveness)
            say("chaos: checking what each node had committed anyway; faults and liveness: "
                f"{report_dir}/liveness.json")
        nodes = collect(cluster, cfg)
        # ``extra``: the liveness check's fresh write, a request like any other for the checker.
        history: list[Request] = sorted([*(r for c in clients for r in c.history), *extra],
                                        key=lambda r: r.invoked)
        verdict = check(history, nodes, converged, node_errors(cfg, cluster.ids, cluster.workdir),
                        cfg.game.round_size)
        stats = summarize(history, nemesis, watch, work, cluster.ids, opts.duration)
        stats["partitions_by"] = "netns routes" if net is not None else "transport fault rules"
        stats["converged"] = converged
        stats["liveness"] = liveness.to_json()
        _write(report_dir, seed, opts, history, nemesis, watch, verdict, stats)
        if recording is not None:
            _write_recording(say, recording, report_dir, nemesis, verdict, converged, liveness.ok)
        _print(say, seed, opts, verdict, stats, report_dir)
        return 0 if verdict.ok and converged and liveness.ok else 1
    finally:
        stop_clients.set()
        stop_nemesis.set()
        stop_watch.set()
        if recording is not None:
            recording.abandon()
        if nemesis is not None and nemesis.ident is not None:  # it may be starting a node: before close
            nemesis.join(timeout=10)
        try:
            cluster.close()
        finally:
            if net is not None:
                _remove(net, say)
            if sigterm is not None:
                signal.signal(signal.SIGTERM, sigterm)
        if not opts.keep:
            shutil.rmtree(work / "data", ignore_errors=True)


def collect(cluster: LocalCluster, cfg) -> dict[int, NodeRecord]:
    """What the checker needs from every node: its full-state digest at its applied zxid, read
    live from the converged cluster, then (after the final stop, ``stop_keeping_logs``) its
    oldest kept snapshot, the durable log after it and its newer snapshots, read from disk with
    the production storage code."""
    live = {i: cluster.status(i, timeout=5.0, what="digest") for i in cluster.ids}
    stop_keeping_logs(cluster)
    nodes = {}
    for i in cluster.ids:
        storage, rec = open_storage(cfg.storage.data_dir / f"node-{i}", readonly=True)
        try:
            base, data, txns, later = _from_oldest_snapshot(storage, rec)
        finally:
            storage.close()
        d = live[i] or {}
        nodes[i] = NodeRecord(txns=txns, snapshot_zxid=base, snapshot=data, later_snapshots=later,
                              live_zxid=d.get("zxid_applied"), live_digest=d.get("digest"), view=d.get("game"))
    return nodes


#: How long the final stop waits for every node's writer to have written its whole log.
WRITTEN_S = 10.0


def stop_keeping_logs(cluster: LocalCluster) -> None:
    """The final stop: kill -9 once each node reports its whole log written (zxid_durable at
    zxid_last), not SIGTERM. A clean stop saves a snapshot at exit (on during a run) and purges
    the log behind the oldest snapshot kept, so the checker would judge a node that never
    snapshotted before only by that last snapshot, not by its log. No power is cut: what the
    writer wrote stays in the page cache, so the files read are what a clean stop without the
    snapshot would leave (the same log ops, written in order). The clean stop itself is judged
    where it matters, mid-run (the nemesis's clean_restart: the node restarts from it). A node
    that does not answer within ``WRITTEN_S`` is killed all the same (its log is read as it is:
    the checker cuts each log at the zxid its node applied when the run did not converge)."""
    for i in list(cluster.paused):
        cluster.resume(i)
    deadline = time.monotonic() + WRITTEN_S
    pending = [i for i in cluster.ids if cluster.alive(i)]
    while pending and time.monotonic() < deadline:
        still = []
        for i in pending:
            s = cluster.status(i, timeout=1.0)
            if s is None or s["zxid_durable"] != s["zxid_last"]:
                still.append(i)
        pending = still
        if pending:
            time.sleep(0.05)
    for i in list(cluster.ids):
        cluster.kill(i)


def _from_oldest_snapshot(storage, rec):
    """(base zxid, its snapshot, the log after it, the newer kept snapshots): from the OLDEST
    snapshot this generation keeps, so that the log between it and the latest one (still on
    disk) is replayed and each newer snapshot compared with that replay. Without older ones, or
    if reading them fails: the latest snapshot and the log after it, as a restart would."""
    latest = (rec.snapshot_zxid, rec.snapshot, list(rec.txns), [])
    older = [s for s in storage.snapshots.list() if s.gen == storage.gen and s.zxid < rec.snapshot_zxid]
    if not older:
        return latest
    try:
        oldest = min(older, key=lambda s: s.zxid)
        data = storage.snapshots.read(oldest)
        txns = storage.log.read_all(after=oldest.zxid)
        later = [(s.zxid, storage.snapshots.read(s)) for s in sorted(older, key=lambda s: s.zxid) if s is not oldest]
    except (StorageError, OSError):
        return latest
    if [t for t in txns if t.zxid > rec.snapshot_zxid] != latest[2]:
        return latest  # not the same log (should not happen): judge what a restart would read
    return oldest.zxid, data, txns, later + [(rec.snapshot_zxid, rec.snapshot)]


def node_errors(cfg, ids, consoles: Path | None = None) -> dict[int, list[str]]:
    """Each node's CRITICAL log lines: the errors it stopped on (a broken local invariant, a
    disk write refused as a bug); and, from its console (``consoles``/node-N.console), every
    exception that escaped it: a process that died of one logs nothing (found when a node died
    of a NameError mid-run and the verdict still said OK). A correct node under chaos has
    neither (kill -9 writes nothing)."""
    found = {}
    for i in ids:
        path = cfg.storage.log_dir / f"node-{i}.log"
        lines = []
        if path.exists():
            lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if " CRITICAL " in ln]
        console = consoles / f"node-{i}.console" if consoles is not None else None
        if console is not None and console.exists():
            lines += [f"uncaught exception: {exc}" for exc in _escaped(console.read_text(errors="replace"))]
        if lines:
            found[i] = lines
    return found


def _escaped(text: str) -> list[str]:
    """The exception line ending each Python traceback in ``text``."""
    out = []
    lines = text.splitlines()
    for k, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last):"):
            tail = next((ln for ln in lines[k + 1:] if ln and not ln[0].isspace()), "(cut short)")
            out.append(tail.strip())
    return out


def _remove(net: Netns, say) -> None:
    left: str | None = net.cleanup_command()  # what to say if even the removal is interrupted
    try:
        left = net.down()
    finally:
        if left is not None:
            say(f"chaos: network namespaces of this run are left; remove them with: {left}")


def summarize(history, nemesis, watch, work: Path, ids, duration) -> dict:
    oks = sorted(r.completed for r in history if r.outcome == OK)
    edges = list(zip([0.0] + oks, oks + [duration]))  # stretches without a committed write
    gaps = [b - a for a, b in edges]
    by_kind: dict[str, float] = {}
    for f in nemesis.faults:
        # The longest stretch without a commit that overlaps the fault or the recovery after it.
        end = (f.end if f.end is not None else duration) + RECOVERY_WINDOW_S
        overlapping = [b - a for a, b in edges if a < end and b > f.start]
        by_kind[f.kind] = max([by_kind.get(f.kind, 0.0), *overlapping])
    consoles = "\n".join((work / f"node-{i}.console").read_text(errors="replace")
                         for i in ids if (work / f"node-{i}.console").exists())
    return {
        "requests": len(history),
        "ok": sum(r.outcome == OK for r in history),
        "failed": sum(r.outcome == "failed" for r in history),
        "unknown": sum(r.outcome == "unknown" for r in history),
        "faults": len(nemesis.faults),
        "faults_by_kind": {k: sum(f.kind == k for f in nemesis.faults) for k in KINDS},
        # Faults aimed at the leader when none was seen: recorded as what happened instead.
        "faults_relabelled": _relabelled(nemesis.faults),
        "moves": dict(sorted(nemesis.moves_done.items())),
        "overlapping_faults": _overlaps(nemesis.faults, duration),
        "elections": len(set(re.findall(r"epoch (\d+) established", consoles))),
        "leader_changes": sum(1 for c in watch.changes if c.leader is not None),
        "syncs_by_mode": {m.value: len(re.findall(rf"\b{m} to node", consoles)) for m in SyncMode},
        "longest_unavailable_s": round(max(gaps) if gaps else duration, 3),
        "longest_unavailable_after_fault_s": {k: round(v, 3) for k, v in sorted(by_kind.items())},
    }


def _relabelled(faults) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in faults:
        if f.intended is not None:
            key = f"{f.intended} done as {f.kind}"
            out[key] = out.get(key, 0) + 1
    return out


def _overlaps(faults, duration) -> int:
    """How many faults began while another was still in force."""
    return sum(1 for k, f in enumerate(faults)
               if any(g.start <= f.start < (g.end if g.end is not None else duration) for g in faults[:k]))


def _say_liveness(say, lv) -> None:
    if lv.ok:
        say(f"liveness: OK: every node in BROADCAST {lv.broadcast_after_s:.1f}s after healing, a fresh "
            f"write ({lv.write_zxid}) applied everywhere after {lv.committed_everywhere_after_s:.1f}s "
            f"(bound {lv.bound_s:.0f}s)")
    else:
        say(f"chaos: FAIL liveness: {lv.detail}")


def _write_failed(report_dir: Path, seed, opts, nemesis, liveness) -> None:
    """What is known when the cluster never healed: the faults and the liveness failure."""
    doc = {"seed": seed, "reproduce": reproduce(seed, opts), "liveness": liveness.to_json(),
           "faults": [f.to_json() for f in nemesis.faults]}
    (report_dir / "liveness.json").write_text(json.dumps(doc, indent=2))


def _write(report_dir: Path, seed, opts, history, nemesis, watch, verdict: Verdict, stats) -> None:
    doc = {
        "seed": seed, "nodes": opts.nodes, "clients": opts.clients, "duration_s": opts.duration,
        "reproduce": reproduce(seed, opts),
        "verdict": ("violations" if not verdict.ok else "ok" if stats["converged"] and stats["liveness"]["ok"]
                    else "not converged"),
        "violations": [v.__dict__ for v in verdict.violations],
        "checked": verdict.checked, "stats": stats,
        "faults": [f.to_json() for f in nemesis.faults],
        "leader_changes": [c.__dict__ for c in watch.changes],
    }
    (report_dir / "report.json").write_text(json.dumps(doc, indent=2))
    (report_dir / "history.json").write_text(json.dumps([r.to_json() for r in history]))
    write_html(report_dir / "timeline.html", doc, history)


def _write_recording(say, recording, report_dir: Path, nemesis, verdict: Verdict, converged: bool,
                     live: bool) -> None:
    """The report's recording.zrec: the nodes' streams, the nemesis's faults, the verdict."""
    from zmqzab.record.chaos import FILE_NAME
    from zmqzab.record.reader import RecordingError

    if verdict.violations:
        first = verdict.violations[0]
        more = f" (and {len(verdict.violations) - 1} more)" if len(verdict.violations) > 1 else ""
        mark = {"ok": False, "text": first.detail + more, "prop": first.prop}
    elif not live or not converged:
        mark = {"ok": False, "text": "every safety check holds on what was committed, but the cluster "
                f"{'failed the liveness check' if not live else 'did not converge'} after healing"}
    else:
        mark = {"ok": True, "text": "every check holds"}
    try:
        end = recording.finish(report_dir / FILE_NAME, nemesis.faults, mark)
    except (OSError, RecordingError) as exc:
        say(f"chaos: no recording: {exc}")
        return
    say(f"recording: {report_dir / FILE_NAME} ({end['frames']} frames); replay it with: "
        f"zmqzab replay {report_dir / FILE_NAME}")


def _print(say, seed, opts, verdict: Verdict, stats, report_dir: Path) -> None:
    s = stats
    say(f"requests {s['requests']}: ok {s['ok']}, failed {s['failed']}, unknown {s['unknown']}")
    say("faults " + str(s["faults"]) + ": " + ", ".join(f"{k} {v}" for k, v in s["faults_by_kind"].items() if v)
        + f"; partitions by {s['partitions_by']}")
    say(f"elections {s['elections']}, leader changes seen {s['leader_changes']}, syncs "
        + ", ".join(f"{k} {v}" for k, v in s["syncs_by_mode"].items()))
    say(f"longest stretch without a committed write: {s['longest_unavailable_s']:.2f}s; after each kind of fault: "
        + ", ".join(f"{k} {v:.2f}s" for k, v in s["longest_unavailable_after_fault_s"].items()))
    say(f"faults begun while another held: {s['overlapping_faults']}; moves: "
        + ", ".join(f"{k} {v}" for k, v in s["moves"].items())
        + ("; aimed at a leader none was seen for: " + ", ".join(f"{k} {v}" for k, v in s["faults_relabelled"].items())
           if s["faults_relabelled"] else ""))
    c = verdict.checked
    say(f"checked: {c.get('logs_compared', 0)} logs, {c.get('states_replayed', 0)} live states against a replay "
        f"of their disk, {c.get('snapshots_compared', 0)} snapshots (and {c.get('later_snapshots_compared', 0)} "
        f"newer ones against their node's older snapshot and log); history from "
        f"{fmt_zxid(c.get('history_start', 0))}, {c.get('log_txns', 0)} txns")
    if c.get("before_history") or c.get("beyond_committed"):
        # Say what could not be judged: a purge deletes the log before the oldest snapshot, and
        # a run that did not converge leaves writes no node is known to have committed.
        say(f"  not judged: {c.get('before_history', 0)} ok requests before the oldest snapshot that its "
            f"exactly-once records no longer hold, {c.get('beyond_committed', 0)} beyond every node's commit")
    if verdict.ok and s["converged"] and s["liveness"]["ok"]:
        say(f"verdict: OK (every check holds); report: {report_dir}/timeline.html")
    elif verdict.ok:
        what = "NOT CONVERGED" if s["liveness"]["ok"] else "LIVENESS FAILED"
        say(f"verdict: {what} (every safety check holds on what was committed); "
            f"reproduce: {reproduce(seed, opts)}; report: {report_dir}/timeline.html")
    else:
        say("verdict: VIOLATIONS")
        for v in verdict.violations:
            say(f"  {v.prop}: {v.detail}")
        say(f"reproduce: {reproduce(seed, opts)}; report: {report_dir}/timeline.html")


def reproduce(seed: int, opts: Options) -> str:
    where = f"--config {opts.config}" if opts.config is not None else f"--nodes {opts.nodes}"
    return (f"zmqzab chaos --seed {seed} {where} --clients {opts.clients} --duration {opts.duration:g}"
            + (" --netns" if opts.netns else "") + (f" --scenario {opts.scenario}" if opts.scenario else "")
            + ("" if opts.power_loss else " --no-power-loss")
            + ("" if set(opts.moves) == set(MOVES) else f" --faults {','.join(opts.moves)}")
            + "".join(f" --inject-bug {b}" for b in sorted(opts.inject_bugs)))
