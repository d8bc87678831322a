"""`zmqzab bench`: the peers' workloads on a throwaway zmqzab cluster (zmqzab/up/bench.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zmqzab.cli.common import EXIT_CODES, EXIT_NO_QUORUM, config_path, fail, load


def bench(
    workload: Annotated[str, typer.Option("--workload", "-w", help="seq, pipe, failover, hung, catchup, "
                                          "or all (comma-separated lists work too).")] = "all",
    nodes: Annotated[int, typer.Option("--nodes", min=1, max=9, help="Nodes in the throwaway cluster.")] = 5,
    inflight: Annotated[int, typer.Option("--inflight", min=1, max=100_000,
                                          help="Writes outstanding in the pipelined workload.")] = 64,
    config: Annotated[Path | None, typer.Option("--config", "-c", dir_okay=False, help="Timing, fsync and game "
                                                "settings to use (its ports are not: the bench takes free ones). "
                                                "Default: as every command's --config.", show_default=False)] = None,
    json_file: Annotated[Path | None, typer.Option("--json", dir_okay=False,
                                                   help="Write every raw figure, the machine, versions "
                                                        "and config here.")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="Tiny counts: checks that it runs, measures "
                                        "nothing worth quoting.")] = False,
) -> None:
    """Measure a fresh cluster: latency, throughput, failover, hung leader, catch-up.

    Each workload starts its own cluster on ports from the OS in a temp dir, so a running
    cluster is never touched. Figures are whole-process, end to end, from one client process.
    """
    from zmqzab.up.bench import WORKLOADS, Counts, run

    chosen = list(WORKLOADS) if workload == "all" else [w.strip() for w in workload.split(",")]
    unknown = [w for w in chosen if w not in WORKLOADS]
    if unknown:
        fail(f"unknown workload {', '.join(unknown)}: choose from {', '.join(WORKLOADS)} or all")
    path = config_path(config)[0]
    load(path)  # a bad config is exit 2 with its one-line message
    try:
        run(path, nodes, chosen, inflight, Counts.quick() if quick else Counts(), json_file, say=typer.echo)
    except RuntimeError as exc:
        fail(str(exc), EXIT_NO_QUORUM)


def register(app: typer.Typer) -> None:
    app.command(epilog=EXIT_CODES)(bench)
