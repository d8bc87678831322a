"""`zmqzab chaos`: faults under load on real processes, with a history checker (zmqzab/chaos/)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def chaos(
    nodes: Annotated[int, typer.Option("--nodes", min=1, max=9, help="Nodes in the throwaway cluster.")] = 5,
    duration: Annotated[float, typer.Option("--duration", min=5.0, max=86400.0,
                                            help="Seconds of faults under load.")] = 60.0,
    clients: Annotated[int, typer.Option("--clients", min=1, max=64, help="Concurrent clients.")] = 4,
    seed: Annotated[int | None, typer.Option("--seed", min=0, help="Seed of the workload and the "
                                             "nemesis (default: random, printed).")] = None,
    report: Annotated[Path | None, typer.Option("--report", file_okay=False,
                                                help="Directory for report.json, history.json and "
                                                     "timeline.html (default: in the run's temp dir).")] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the nodes' data dirs after the run.")] = False,
) -> None:
    """Start a cluster on free ports, break it while clients write, then check the history.

    The nemesis kills (also the leader, also two nodes at once), pauses nodes longer than the
    sync limit, and partitions (isolate the leader, 2 | 3, a bridge node). At the end it heals,
    waits for one leader and equal logs, and checks: every ok write in the log once at its zxid,
    no duplicates, refused writes absent, identical logs and states, real-time order, answers
    equal to a replay. Exit 0 only when every check holds.
    """
    from zmqzab.chaos.runner import Options, run

    raise typer.Exit(run(Options(nodes=nodes, duration=duration, clients=clients, seed=seed,
                                 report=report, keep=keep)))
