"""`zmqzab sim`: the deterministic simulator (zmqzab/sim/) from the command line.

One seed prints a summary (``--trace``: every event as it happens); ``--seeds N`` sweeps N seeds
with a progress bar and adds up what happened. A violated property prints its name, the tail of
the trace and the command line that reproduces it.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from zmqzab.cli.common import fail

SIM_EXIT_CODES = """\b
Exit codes:
  0  every checked property held, for every seed
  1  a property was violated (the seed, the trace tail and a reproduce line are printed)
  2  bad input: a bad flag or value
"""

#: Trace lines shown with a violation.
TAIL_LINES = 40


def sim(
    seed: Annotated[int, typer.Option("--seed", "-s", min=0, help="The seed: the same seed gives "
                                      "the same run, byte for byte. With --seeds, the first one.")] = 1,
    seeds: Annotated[int | None, typer.Option("--seeds", min=1, max=10_000_000, help="Sweep this "
                                              "many seeds (from --seed on) and print a summary.",
                                              show_default=False)] = None,
    nodes: Annotated[int, typer.Option("--nodes", "-n", min=1, max=9, help="Nodes in the "
                                       "simulated cluster.")] = 5,
    ticks: Annotated[int, typer.Option("--ticks", "-t", min=1, max=1_000_000, help="Ticks of faults "
                                       "before the liveness phase (heal everything, then every "
                                       "request must be answered).")] = 300,
    trace: Annotated[bool, typer.Option("--trace", help="Print every event of the run "
                                        "(one seed only).")] = False,
    calm: Annotated[bool, typer.Option("--calm", help="No faults: a healthy cluster, to read "
                                       "what normal operation looks like.")] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, max=64, help="Processes for a "
                                      "sweep.")] = 1,
    inject_bug: Annotated[list[str] | None, typer.Option(
        "--inject-bug", help="Run the core with a deliberate bug to watch the checkers catch it "
        "(repeatable). One of: ack_before_fsync, commit_without_quorum, skip_accepted_epoch, "
        "diff_instead_of_trunc, apply_across_gap, ackepoch_counts_twice; storage bugs: recover_over_hole, "
        "trust_recovered_tail; host bugs (caught with --report-schedules): durable_report_replayed, "
        "durable_report_ignores_cut.", show_default=False, metavar="NAME")] = None,
    report_schedules: Annotated[bool, typer.Option(
        "--report-schedules", help="Hand each node's durable reports to its host as the real "
        "node's loop takes them: late, coalesced, and again at other wake-ups (default: each at "
        "its fsync's completion, once).")] = False,
    snapshot_every: Annotated[int | None, typer.Option(
        "--snapshot-every", min=0, max=1_000_000, help="Each node takes a snapshot every N applied "
        "txns, then purges its log (0: never). Default: drawn from the seed (8, 20, 50 or never) "
        "with faults, never with --calm.", show_default=False)] = None,
    snapshots_kept: Annotated[int | None, typer.Option(
        "--snapshots-kept", min=1, max=100, help="Snapshots a purge keeps. Default: drawn from "
        "the seed (1..3) with faults, 2 with --calm.", show_default=False)] = None,
    zk_clients: Annotated[int, typer.Option(
        "--zk-clients", min=0, max=50, help="Simulated ZooKeeper clients on the nodes' client "
        "ports (sessions, ephemerals, watches; checked against the committed history). 0: none, "
        "the run is what it was without them.")] = 0,
    record: Annotated[Path | None, typer.Option(
        "--record", help="Write the run as a recording (.zrec, gzip JSON Lines; .jsonl plain) for "
        "zmqzab replay: what each node would have streamed to the page, faults, leader changes and "
        "the verdict, in virtual time (one seed only).", show_default=False, metavar="FILE")] = None,
    record_max_mb: Annotated[float, typer.Option(
        "--record-max-mb", min=0.001, max=100_000, help="The recording's size bound (MiB of "
        "uncompressed frames): past 80% only key frames, at the bound nothing more.")] = 50,
    view: Annotated[bool, typer.Option(
        "--view", help="Record the run and serve it to the page (zmqzab replay), paused at t=0: "
        "step through the seed in the browser (one seed only).")] = False,
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="With --view: the port "
                                      "to serve on (0: any free port).")] = 0,
) -> None:
    """Run the real protocol code against a simulated network, disk and clock.

    Every node is a production Peer, every Output goes through production execute(), every
    restart through production recovery; the network drops, duplicates, reorders, delays and
    partitions, disks lose and tear unsynced writes, nodes crash (also between a persist and a
    send of the sync phase), all decided by the seed. After every step the checkers test: one
    established leader per epoch, committed prefixes agree, committed txns survive into every
    later leader, epochs never go back, equal game state at equal zxid, exactly-once answers,
    refusals at once as apply would refuse, no ACK before an fsync that covers what it vouches for;
    then, after healing, that the cluster converges and answers every request.
    """
    from zmqzab.core.settings import TEST_FAULTS
    from zmqzab.sim.options import SimOptions
    from zmqzab.host.durable import HOST_TEST_FAULTS
    from zmqzab.storage.faults import STORAGE_TEST_FAULTS

    bugs = frozenset(inject_bug or ())
    known = TEST_FAULTS + STORAGE_TEST_FAULTS + HOST_TEST_FAULTS
    unknown = sorted(bugs - set(known))
    if unknown:
        fail(f"unknown --inject-bug {', '.join(unknown)}; choose from: {', '.join(known)}")
    if (record is not None or view) and seeds is not None:
        fail("--record and --view take one run; use them with --seed alone (a sweep's failing "
             "seed: re-run it with --seed N --record FILE)")
    if trace and seeds is not None:
        fail("--trace prints one run; use it with --seed alone (re-run a failing seed of a "
              "sweep with --seed N --trace)")
    base = SimOptions(seed=seed, nodes=nodes, ticks=ticks, faults=not calm, test_faults=bugs,
                      snapshot_every_txns=snapshot_every, snapshots_kept=snapshots_kept,
                      zk_clients=zk_clients, report_schedules=report_schedules)
    if seeds is None:
        cap = int(record_max_mb * 1024 * 1024)
        if view:
            raise typer.Exit(_view(base, record, cap, port))
        raise typer.Exit(_one(base, trace, record, cap))
    raise typer.Exit(_sweep(base, seeds, jobs))


def _reproduce(options) -> str:
    line = options.reproduce()
    return line + (" --calm" if not options.faults else "")


def _faults_line(faults) -> str:
    if not faults:
        return "none"
    return ", ".join(f"{kind} {faults[kind]}" for kind in sorted(faults))


def _print_violation(result) -> None:
    v = result.violation
    typer.echo(f"VIOLATION of '{v.prop}' (seed {result.options.seed}):")
    typer.echo(f"  {v.detail}")
    if result.trace_tail:
        typer.echo(f"last {min(TAIL_LINES, len(result.trace_tail))} trace lines:")
        for line in result.trace_tail[-TAIL_LINES:]:
            typer.echo(f"  {line}")
    typer.echo(f"reproduce: {_reproduce(result.options)} --trace")


def _record_command(base, record: Path | None, view: bool = False) -> str:
    line = _reproduce(base)
    return line + (f" --record {record}" if record is not None else "") + (" --view" if view else "")


def _one(base, trace: bool, record: Path | None = None, cap: int = 0) -> int:
    from dataclasses import replace

    from zmqzab.sim.simulation import Simulation

    recorder = None
    if record is not None:
        from zmqzab.record.sim import SimRecorder

        try:
            record.open("wb").close()
        except OSError as exc:
            fail(f"cannot write the recording {record}: {exc.strerror or exc}; choose another path")
        recorder = SimRecorder(record, _record_command(base, record), cap_bytes=cap)
    options = replace(base, trace_keep=None if trace else 400, echo=typer.echo if trace else None,
                      recorder=recorder)
    with Simulation(options) as simulation:
        result = simulation.run()
        zk = simulation.zk.summary() if simulation.zk is not None else None
        if recorder is not None:
            _finish_recording(recorder, result, record)
    typer.echo(f"seed {base.seed}: {base.nodes} nodes, {result.ticks} ticks, {result.steps} steps, "
               f"{result.messages} messages, {result.commits} txns committed, "
               f"{result.answered}/{result.requests} requests answered")
    typer.echo(f"profile: {result.profile}")
    typer.echo(f"faults injected: {_faults_line(result.faults)}")
    if zk is not None:
        typer.echo(f"ZooKeeper clients: {zk}")
    if result.violation is not None:
        _print_violation(result)
        return 1
    typer.echo(f"ok: every property held; after healing, converged in {result.liveness_ticks} ticks")
    return 0


def _finish_recording(recorder, result, record) -> None:
    end = recorder.finish_run(result)
    dropped = sum(end["dropped"].values())
    # On stderr: --trace's stdout stays the trace alone.
    typer.echo(f"recording: {record}, {end['frames']} frames"
               + (f", {dropped} dropped by the size bound" if dropped else "")
               + f"; replay it with: zmqzab replay {record}", err=True)


def _view(base, record: Path | None, cap: int, port: int) -> int:
    """Run the seed into a recording (``record``, else in memory) and serve it, paused at t=0."""
    import io
    from dataclasses import replace

    from zmqzab.cli.replay import serve_until_interrupted
    from zmqzab.record.sim import SimRecorder
    from zmqzab.sim.simulation import Simulation

    buffer = io.BytesIO()
    recorder = SimRecorder(buffer, _record_command(base, record, view=True), cap_bytes=cap,
                           start_paused=True, title=f"seed {base.seed}", compress=False)
    with Simulation(replace(base, recorder=recorder)) as simulation:
        result = simulation.run()
        end = recorder.finish_run(result)
    body = buffer.getvalue()
    if record is not None:
        import gzip

        data = body if record.suffix == ".jsonl" else gzip.compress(body, mtime=0)
        try:
            record.write_bytes(data)
        except OSError as exc:
            fail(f"cannot write the recording {record}: {exc.strerror or exc}; choose another path")
    verdict = end["verdict"] or {}
    typer.echo(f"seed {base.seed}: {result.ticks} ticks, {end['frames']} frames recorded; "
               + ("every property held" if verdict.get("ok") else
                  f"VIOLATION of '{verdict.get('prop')}' at t={end['t'] / 1000:.2f} s: {verdict.get('text')}"))
    serve_until_interrupted(body, "127.0.0.1", port, f"seed {base.seed} (paused at t=0)")
    return 0


def _sweep(base, count: int, jobs: int) -> int:
    from zmqzab.sim.sweep import sweep
    from zmqzab.core.settings import CoreConfig
    from zmqzab.sim.liveness import liveness_bound

    seeds = range(base.seed, base.seed + count)
    started = time.monotonic()  # for the seeds-per-minute figure only, never inside a run
    with typer.progressbar(length=count, label=f"{count} seeds x {base.nodes} nodes",
                           file=sys.stderr, show_pos=True) as bar:
        def advance(result) -> None:
            bar.update(1)

        summary = sweep(seeds, base, jobs=jobs, on_result=advance)
    elapsed = time.monotonic() - started
    failures = summary.failures
    typer.echo(f"seeds: {summary.seeds} ({seeds.start}..{seeds.stop - 1}), {base.nodes} nodes, "
               f"{base.ticks} ticks of faults each"
               + (f", injected bugs: {', '.join(sorted(base.test_faults))}" if base.test_faults else ""))
    typer.echo(f"simulated: {summary.ticks} ticks, {summary.steps} steps, {summary.messages} "
               f"messages, {summary.commits} txns committed, {summary.answered}/{summary.requests} "
               f"requests answered")
    typer.echo(f"faults injected: {_faults_line(summary.faults)}")
    if summary.seeds > len(failures):
        typer.echo(f"liveness: the slowest passing seed converged {summary.liveness_max} ticks after "
                   f"healing (bound {base.liveness_ticks or liveness_bound(CoreConfig())})")
    typer.echo(f"time: {elapsed:.1f} s, {summary.seeds / max(elapsed, 1e-9) * 60:.0f} seeds/min "
               f"({jobs} process{'es' if jobs > 1 else ''})")
    if not failures:
        typer.echo(f"violations: none")
        return 0
    typer.echo(f"violations: {len(failures)}")
    for result in failures:
        typer.echo(f"  seed {result.options.seed}: {result.violation.prop}: {result.violation.detail}")
    typer.echo("first failure:")
    _print_violation(failures[0])
    return 1


def register(app: typer.Typer) -> None:
    app.command(epilog=SIM_EXIT_CODES)(sim)
