"""`zmqzab bench`: the peers' workloads on a throwaway zmqzab cluster (zmqzab/bench.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zmqzab.config import DEFAULT_CONFIG_PATH


def bench(
    workload: Annotated[str, typer.Option("--workload", "-w", help="seq, pipe, failover, hung, catchup, "
                                          "or all (comma-separated lists work too).")] = "all",
    nodes: Annotated[int, typer.Option("--nodes", min=1, max=9, help="Nodes in the throwaway cluster.")] = 5,
    inflight: Annotated[int, typer.Option("--inflight", min=1, max=100_000,
                                          help="Writes outstanding in the pipelined workload.")] = 64,
    config: Annotated[Path, typer.Option("--config", "-c", dir_okay=False, help="Timing, fsync and game "
                                         "settings to use (its ports are not: the bench takes free ones).")] = DEFAULT_CONFIG_PATH,
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
    from zmqzab.bench import WORKLOADS, Counts, run
    from zmqzab.cli.app import fail, load

    chosen = list(WORKLOADS) if workload == "all" else [w.strip() for w in workload.split(",")]
    unknown = [w for w in chosen if w not in WORKLOADS]
    if unknown:
        fail(f"unknown workload {', '.join(unknown)}: choose from {', '.join(WORKLOADS)} or all")
    load(config)  # a bad config is exit 2 with its one-line message
    try:
        run(config, nodes, chosen, inflight, Counts.quick() if quick else Counts(), json_file, say=typer.echo)
    except RuntimeError as exc:
        fail(str(exc), code=3)
