"""`zmqzab node` and `zmqzab up`: run one node in the foreground, or every node of a config."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zmqzab.cli.common import EXIT_CODES, config_path, fail, load
from zmqzab.cli.node import run_node_command
from zmqzab.cli.options import ConfigOption


def node(
    node_id: Annotated[int, typer.Option("--id", "-i", help="Id of this node (from the "
                                                           "config).", show_default=False)],
    config: ConfigOption = None,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Where this node keeps "
                        "its log and epochs (default: <storage.data_dir>/node-<id>).",
                        file_okay=False)] = None,
    log_dir: Annotated[Path | None, typer.Option("--log-dir", help="Where node-<id>.log is "
                       "written (default: storage.log_dir).", file_okay=False)] = None,
    resync: Annotated[bool, typer.Option("--resync", help="Set this node's data dir aside "
                      "(renamed, not deleted) and start empty but for the epoch it promised "
                      "(acceptedEpoch), so the leader rebuilds it. Only "
                      "with a quorum of other healthy nodes: their logs must hold every "
                      "committed txn.")] = False,
) -> None:
    """Run one node in the foreground until Ctrl+C."""
    # One implementation: zmqzab/entry.py also runs the plain forms of this command without typer.
    run_node_command(node_id, config, data_dir, log_dir, resync)


def up(
    config: ConfigOption = None,
    control_port: Annotated[int, typer.Option("--control-port", min=0, max=65535, help="Port of "
                            "the controls (crash, restart, partition... from the page and the "
                            "CLI) on 127.0.0.1; 0 picks a free one.")] = 0,
    no_controls: Annotated[bool, typer.Option("--no-controls", help="Serve no controls: the "
                           "page is read-only.")] = False,
    record: Annotated[Path | None, typer.Option(
        "--record", help="Record every node's events and status, and the controls' faults, into "
        "FILE (.zrec: gzip JSON Lines) until Ctrl+C; replay it with zmqzab replay FILE.",
        show_default=False, metavar="FILE")] = None,
    record_max_mb: Annotated[float, typer.Option(
        "--record-max-mb", min=0.001, max=100_000, help="The recording's size bound (MiB of "
        "uncompressed frames): past 80% only key frames, at the bound nothing more.")] = 50,
) -> None:
    """Run every node of the config in this terminal (Ctrl+C stops them all)."""
    path, builtin = config_path(config)
    cfg = load(path)
    if builtin:
        typer.echo(f"no config/cluster.toml here: running the built-in {len(cfg.nodes)}-node cluster "
                   f"({path}); data in {cfg.storage.data_dir.resolve()}, logs in "
                   f"{cfg.storage.log_dir.resolve()} (to edit the config: zmqzab init, then "
                   "zmqzab up again)")
    from zmqzab.server.transport import PortInUseError
    from zmqzab.up.supervisor import Supervisor

    if record is not None:
        try:
            record.open("wb").close()
        except OSError as exc:
            fail(f"cannot write the recording {record}: {exc.strerror or exc}; choose another path")
    command = "zmqzab up" + (f" --config {config}" if config else "") + (f" --record {record}" if record else "")
    sup = Supervisor(cfg, path, control_port=None if no_controls else control_port, record=record,
                     record_cap=int(record_max_mb * 1024 * 1024), command=command)
    try:
        raise typer.Exit(sup.run())
    except PortInUseError as exc:  # the control port is taken
        fail(f"{exc} (pick another with --control-port)")


def register(app: typer.Typer) -> None:
    app.command(epilog=EXIT_CODES)(node)
    app.command(epilog=EXIT_CODES)(up)
