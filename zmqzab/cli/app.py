"""The ``zmqzab`` command line: the typer app built from one module per command group.

Every command reads the cluster config (``--config``; default ``config/cluster.toml`` of the
current directory, else the built-in five-node cluster). Errors are one line on stderr that
names the cause and the next step, never a traceback, and the exit code says what kind of
failure it was (cli/common.py ``EXIT_CODES``). The commands live in their own modules and never
import this one: run (node, up), game (guess, new-game, state), cluster (status), control
(crash, restart, pause, resume, partition, heal, election, watch), sim, replay, chaos, bench,
keygen, log (log, snapshot), init.
"""

from __future__ import annotations

import sys

import typer

from zmqzab.cli import bench, chaos, cluster, control, game, init, keygen, lesson, log, replay, run, sim, zk
from zmqzab.cli.common import EXIT_BAD_INPUT, EXIT_CODES, EXIT_FAILED, EXIT_OK
from zmqzab.security.keys import KeyFileError

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

# The order of --help's list.
for _group in (run, game, cluster, control, chaos, bench, keygen, sim, replay, lesson, log, init, zk):
    _group.register(app)


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
