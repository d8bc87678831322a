"""The ``zmqzab`` command line: run nodes, play the game, look at the cluster.

Every command reads the cluster config (``--config``, default ``config/cluster.toml``). Errors
are one line on stderr that names the cause and the next step, never a traceback, and the exit
code says what kind of failure it was (see ``EXIT_CODES``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from zmqzab.config import DEFAULT_CONFIG_PATH, ClusterConfig, ConfigError, load_config
from zmqzab.entry import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_NO_QUORUM, EXIT_OK  # noqa: F401 - re-exported
from zmqzab.security.keys import KeyFileError

# "\b" keeps click from re-wrapping the block.
EXIT_CODES = """\b
Exit codes:
  0  success
  1  a node (node, up) stopped because of an error; see its log
  2  bad input: a bad flag or value, a missing or malformed config, an unknown node id
  3  no quorum or timeout: no leader, too few nodes up, or no node answered
"""

app = typer.Typer(
    name="zmqzab",
    help="zmqzab: a ZooKeeper-like cluster (ZAB over ZeroMQ) that replicates a guessing game.\n\n"
         "Start the cluster with 'zmqzab up', then play with 'zmqzab guess 42' and watch it with "
         "'zmqzab status' or the page 'zmqzab up' prints.",
    epilog=EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # plain help and plain one-line errors
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="Cluster config file (TOML).", show_default=True,
                 dir_okay=False),
]
NodeOption = Annotated[
    int | None,
    typer.Option("--node", "-n", help="Node to ask first (default: any; writes fail over to "
                                     "the others)."),
]
TimeoutOption = Annotated[
    float,
    typer.Option("--timeout", "-t", min=0.1, help="Seconds to wait for the commit, retries "
                                                 "included."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


# --------------------------------------------------------------------------------------------
# Helpers


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def load(config_path: Path) -> ClusterConfig:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        fail(str(exc))


def check_node(config: ClusterConfig, node_id: int | None) -> None:
    if node_id is None:
        return
    try:
        config.node(node_id)
    except ConfigError as exc:
        fail(str(exc))


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def _tty() -> bool:
    from zmqzab.up.supervisor import use_colour

    return use_colour(sys.stdout)


ROLE_COLOURS = {"LEADING": "green", "FOLLOWING": "cyan", "LOOKING": "yellow", "DOWN": "red"}


def _text(value: Any) -> str:
    return "-" if value is None or value == "" else str(value)


# --------------------------------------------------------------------------------------------
# Running nodes


@app.command(epilog=EXIT_CODES)
def node(
    node_id: Annotated[int, typer.Option("--id", "-i", help="Id of this node (from the "
                                                           "config).", show_default=False)],
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Where this node keeps "
                        "its log and epochs (default: <storage.data_dir>/node-<id>).",
                        file_okay=False)] = None,
    log_dir: Annotated[Path | None, typer.Option("--log-dir", help="Where node-<id>.log is "
                       "written (default: storage.log_dir).", file_okay=False)] = None,
    resync: Annotated[bool, typer.Option("--resync", help="Set this node's data dir aside "
                      "(renamed, not deleted) and start empty, so the leader rebuilds it. Only "
                      "with a quorum of other healthy nodes: their logs must hold every "
                      "committed txn.")] = False,
) -> None:
    """Run one node in the foreground until Ctrl+C."""
    # One implementation: zmqzab/entry.py also runs the plain forms of this command without typer.
    from zmqzab.entry import run_node_command

    run_node_command(node_id, config, data_dir, log_dir, resync)


@app.command(epilog=EXIT_CODES)
def up(
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    control_port: Annotated[int, typer.Option("--control-port", min=0, max=65535, help="Port of "
                            "the controls (crash, restart, partition... from the page and the "
                            "CLI) on 127.0.0.1; 0 picks a free one.")] = 0,
    no_controls: Annotated[bool, typer.Option("--no-controls", help="Serve no controls: the "
                           "page is read-only.")] = False,
) -> None:
    """Run every node of the config in this terminal (Ctrl+C stops them all)."""
    cfg = load(config)
    from zmqzab.up.supervisor import Supervisor
    from zmqzab.server.transport import PortInUseError

    sup = Supervisor(cfg, config, control_port=None if no_controls else control_port)
    try:
        raise typer.Exit(sup.run())
    except PortInUseError as exc:  # the control port is taken
        fail(f"{exc} (pick another with --control-port)")


# --------------------------------------------------------------------------------------------
# Writes


def _write(config: Path, node_id: int | None, timeout: float, as_json: bool,
           action: str, value: int | None = None) -> None:
    from zmqzab.client import BadRequestError, Client, ClientError, NoQuorumError

    cfg = load(config)
    check_node(cfg, node_id)
    with Client(cfg, node=node_id, timeout=timeout) as client:
        try:
            done = client.guess(value) if action == "guess" else client.new_game()  # type: ignore[arg-type]
        except BadRequestError as exc:
            fail(str(exc), EXIT_BAD_INPUT)
        except NoQuorumError as exc:
            fail(str(exc), EXIT_NO_QUORUM)
        except ClientError as exc:
            fail(str(exc), EXIT_NO_QUORUM)
    rejected = done.result.kind == "rejected"
    if as_json:
        print_json(done.to_json())
    elif rejected:
        typer.echo(f"committed {done.zxid_text} on node {done.node}, but the game refused it: "
                   f"{done.result.message}")
    else:
        typer.echo(f"committed {done.zxid_text} on node {done.node}: {done.result.message}")
    if rejected:
        raise typer.Exit(EXIT_BAD_INPUT)


# ignore_unknown_options lets "-5" reach validate_value (a clear range error) instead of
# being taken for an option; extra args are then checked by hand below.
@app.command(epilog=EXIT_CODES,
             context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
def guess(
    ctx: typer.Context,
    value: Annotated[str, typer.Argument(help="Your guess, a whole number from 0 to 100.",
                                         metavar="VALUE", show_default=False)],
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    node_id: NodeOption = None,
    timeout: TimeoutOption = 10.0,
    as_json: JsonOption = False,
) -> None:
    """Guess a number; prints the commit (zxid, node) and what it did to the game."""
    from zmqzab.game.rules import validate_value

    unknown = [a for a in [value, *ctx.args]
               if a.startswith("--") or (a.startswith("-") and not a[1:].isdigit())]
    if unknown:
        fail(f"no such option: {unknown[0]} (see: zmqzab guess --help)")
    if ctx.args:
        fail(f"guess takes one value, got extra argument(s): {' '.join(ctx.args)} "
             f"(see: zmqzab guess --help)")
    try:
        number = validate_value(value)
    except ValueError as exc:
        fail(f"{exc}; try e.g. zmqzab guess 42")
    _write(config, node_id, timeout, as_json, "guess", number)


@app.command("new-game", epilog=EXIT_CODES)
def new_game(
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    node_id: NodeOption = None,
    timeout: TimeoutOption = 10.0,
    as_json: JsonOption = False,
) -> None:
    """Start a new game: clears the target; the next guess sets it."""
    _write(config, node_id, timeout, as_json, "new_game")


# --------------------------------------------------------------------------------------------
# Reads


def format_state(data: dict) -> list[str]:
    """The game as one node sees it, for people."""
    guesses = data.get("open_guesses", data.get("guesses")) or []
    rounds = data.get("recent_rounds", data.get("history")) or []
    size = data.get("round_size")
    target = data.get("target")
    role = data.get("role")
    lines = [
        f"node {_text(data.get('node'))}{f' ({role})' if role else ''}, "
        f"applied up to {_text(data.get('zxid_applied'))}",
        f"game {_text(data.get('game'))}, round {_text(data.get('round'))}"
        + (f" ({size} guesses per round)" if size else ""),
        f"target: {target}" if target is not None else "target: none yet (the next guess sets it)",
    ]
    if guesses:
        lines.append(f"open guesses ({len(guesses)}{f' of {size}' if size else ''}):")
        for g in guesses:
            lines.append(f"  {_text(g.get('zxid')):>8}  {_text(g.get('value')):>3}  "
                         f"{_text(g.get('client'))}")
    else:
        lines.append("open guesses: none")
    if rounds:
        lines.append("recent rounds (oldest first):")
        for r in rounds:
            lines.append(
                f"  {_text(r.get('zxid')):>8}  game {_text(r.get('game'))} round "
                f"{_text(r.get('round'))}: {_text(r.get('winner'))} wins with "
                f"{_text(r.get('winning_value'))} (target {_text(r.get('old_target'))} -> "
                f"{_text(r.get('new_target'))})"
            )
    else:
        lines.append("recent rounds: none")
    return lines


@app.command(epilog=EXIT_CODES)
def state(
    config: ConfigOption = DEFAULT_CONFIG_PATH,
    node_id: Annotated[int | None, typer.Option("--node", "-n", help="Node to ask (default: "
                       "the leader, else any node that answers).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Show the game as one node has applied it: target, round, open guesses, recent rounds."""
    from zmqzab.client import Client, ClientError

    cfg = load(config)
    check_node(cfg, node_id)
    with Client(cfg) as client:
        try:
            data = client.read_state(node_id)
        except ClientError as exc:
            fail(str(exc), EXIT_NO_QUORUM)
    if as_json:
        print_json(data)
        return
    for line in format_state(data):
        typer.echo(line)


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

    rows = [[_text(n.get(key)) for _, key in STATUS_COLUMNS] for n in nodes]
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
        head = f"leader: node {leading['id']}, epoch {_text(leading.get('epoch'))}"
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


@app.command(epilog=EXIT_CODES)
def status(
    config: ConfigOption = DEFAULT_CONFIG_PATH,
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


# Controls (crash, restart, pause, resume, partition, heal, election) and watch.
from zmqzab.cli.control import register as _register_controls  # noqa: E402 - needs the names above

_register_controls(app)


# --------------------------------------------------------------------------------------------
# Entry point


def _usage_error_types() -> tuple[type[BaseException], ...]:
    """The exception types the command parser raises for bad input (Typer may vendor Click)."""
    types: list[type[BaseException]] = []
    try:
        from typer.exceptions import TyperException

        types.append(TyperException)
    except ImportError:  # pragma: no cover - older typer
        pass
    try:
        from click.exceptions import ClickException

        types.append(ClickException)
    except ImportError:  # pragma: no cover
        pass
    return tuple(types)


# Commands that live in their own modules (imported lazily inside each, so start-up stays fast).
from zmqzab.cli.bench import bench as _bench  # noqa: E402
from zmqzab.cli.chaos import chaos as _chaos  # noqa: E402

app.command("chaos", epilog=EXIT_CODES)(_chaos)
app.command("bench", epilog=EXIT_CODES)(_bench)
from zmqzab.cli.keygen import keygen as _keygen  # noqa: E402

app.command("keygen", epilog=EXIT_CODES)(_keygen)
from zmqzab.cli.sim import SIM_EXIT_CODES, sim as _sim  # noqa: E402

app.command("sim", epilog=SIM_EXIT_CODES)(_sim)
from zmqzab.cli.log import log as _log, snapshot as _snapshot  # noqa: E402

app.command("log", epilog=EXIT_CODES)(_log)
app.command("snapshot", epilog=EXIT_CODES)(_snapshot)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: runs the app, turning parse errors into one line + exit 2."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="zmqzab", standalone_mode=False)
    except _usage_error_types() as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":
            typer.echo(exc.format_message())  # type: ignore[attr-defined]
            sys.exit(EXIT_OK)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        typer.echo(f"error: {exc.format_message()}{hint}", err=True)  # type: ignore[attr-defined]
        sys.exit(getattr(exc, "exit_code", EXIT_BAD_INPUT))
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(EXIT_FAILED)
    except KeyFileError as exc:  # [security] curve = true and this process has no usable key
        typer.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else EXIT_OK)

