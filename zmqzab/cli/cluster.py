"""`zmqzab status`: one table for the whole cluster."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from zmqzab.cli.common import EXIT_CODES, EXIT_NO_QUORUM, load, print_json, text
from zmqzab.cli.options import ConfigOption, JsonOption

ROLE_COLOURS = {"LEADING": "green", "FOLLOWING": "cyan", "LOOKING": "yellow", "DOWN": "red"}


def _tty() -> bool:
    from zmqzab.up.supervisor import use_colour

    return use_colour(sys.stdout)


STATUS_COLUMNS = (
    ("node", "id"),
    ("role", "role"),
    ("phase", "phase"),
    ("epoch", "epoch"),
    ("last zxid", "zxid_last"),
    ("committed zxid", "zxid_committed"),
    ("leader", "leader"),
)


def format_status(nodes: list[dict], quorum: int, colour: bool = False) -> list[str]:
    """The cluster table and the one-line summary under it."""
    from zmqzab.client import leader_of

    rows = [[text(n.get(key)) for _, key in STATUS_COLUMNS] for n in nodes]
    headers = [title for title, _ in STATUS_COLUMNS]
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    for n, row in zip(nodes, rows):
        cells = [cell.ljust(w) for cell, w in zip(row, widths)]
        if colour and n.get("role") in ROLE_COLOURS:
            cells[1] = typer.style(cells[1], fg=ROLE_COLOURS[n["role"]])
        lines.append("  ".join(cells).rstrip())
    up_count = sum(1 for n in nodes if n.get("reachable"))
    total = len(nodes)
    leading = leader_of(nodes)
    if leading is not None:
        head = f"leader: node {leading['id']}, epoch {text(leading.get('epoch'))}"
        if leading.get("phase") not in (None, "BROADCAST"):
            head += f" (still in {leading['phase']}, not yet taking writes)"
    else:
        head = "leader: none (election in progress)" if up_count else "leader: none"
    summary = f"{head}; {up_count} of {total} nodes up; quorum {quorum}"
    if up_count < quorum:
        missing = quorum - up_count
        summary += f" (writes wait until {missing} more node{'s' if missing > 1 else ''} " \
                   f"{'are' if missing > 1 else 'is'} up)"
    lines.append(summary)
    return lines


def status(
    config: ConfigOption = None,
    as_json: JsonOption = False,
    timeout: Annotated[float, typer.Option("--timeout", "-t", min=0.05, help="Seconds to wait "
                       "for the nodes to answer.")] = 0.5,
) -> None:
    """One table for the whole cluster: role, phase, epoch and zxids of every node."""
    from zmqzab.client import Client

    cfg = load(config)
    with Client(cfg) as client:
        nodes = client.status_all(timeout)
    if as_json:
        print_json({"nodes": nodes})
    else:
        for line in format_status(nodes, cfg.quorum, colour=_tty()):
            typer.echo(line)
    if not any(n["reachable"] for n in nodes):
        typer.echo(f"error: no node of {cfg.path} answers: start the cluster with "
                   f"zmqzab up --config {cfg.path}", err=True)
        raise typer.Exit(EXIT_NO_QUORUM)


def register(app: typer.Typer) -> None:
    app.command(epilog=EXIT_CODES)(status)
