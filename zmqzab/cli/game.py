"""`zmqzab guess`, `zmqzab new-game` and `zmqzab state`: play, and read the game one node applied."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer

from zmqzab.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_CODES,
    EXIT_NO_QUORUM,
    check_node,
    config_path,
    fail,
    load,
    print_json,
    text,
)
from zmqzab.cli.options import ConfigOption, JsonOption, NodeOption, TimeoutOption
from zmqzab.cli.sessionfile import SessionFile, held_session, state_dir
from zmqzab.game.limits import NAME_MAX_CHARS


NameOption = Annotated[str, typer.Option(
    "--name", help=f"Your display name in the game's view and results (at most "
                   f"{NAME_MAX_CHARS} characters; default: none, the client id is shown).",
    show_default=False)]


def _write(config: Path | None, node_id: int | None, timeout: float, as_json: bool,
           action: str, value: int | None = None, name: str = "") -> None:
    from zmqzab.game.limits import name_problem

    if name and (problem := name_problem(name)):
        fail(f"--name: {problem}")
    cfg = load(config)
    check_node(cfg, node_id)
    with ExitStack() as stack:
        try:
            stored: SessionFile | None = stack.enter_context(held_session(config_path(config)[0]))
        except OSError as exc:
            # No state dir (read-only home, ...): a session of this run only, and why.
            typer.echo(f"note: cannot keep the client session in {state_dir()} ({exc.strerror}); "
                       f"this write uses a new client id", err=True)
            stored = None
        done = _write_in(cfg, node_id, timeout, action, value, name, stored)
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


def _write_in(cfg, node_id: int | None, timeout: float, action: str, value: int | None,
              name: str, stored: SessionFile | None):
    """One write in the terminal's session (``stored``; None: a new one), saved after it."""
    from zmqzab.client import BadRequestError, Client, ClientError, NoQuorumError

    session = stored.session if stored is not None else None
    with Client(cfg, node=node_id, timeout=timeout, session=session, name=name,
                before_send=stored.save if stored is not None else None) as client:
        try:
            return client.guess(value) if action == "guess" else client.new_game()  # type: ignore[arg-type]
        except BadRequestError as exc:
            fail(str(exc), EXIT_BAD_INPUT)
        except NoQuorumError as exc:
            fail(str(exc), EXIT_NO_QUORUM)
        except ClientError as exc:
            fail(str(exc), EXIT_NO_QUORUM)
        finally:
            if stored is not None:
                stored.save(client.session)  # seqs used stay used, even when the write failed


def guess(
    ctx: typer.Context,
    value: Annotated[str, typer.Argument(help="Your guess, a whole number from 0 to 100.",
                                         metavar="VALUE", show_default=False)],
    config: ConfigOption = None,
    node_id: NodeOption = None,
    timeout: TimeoutOption = 10.0,
    as_json: JsonOption = False,
    name: NameOption = "",
) -> None:
    """Guess a number; prints the commit (zxid, node) and what it did to the game.

    Writes from one terminal share one client id (kept in the user's state directory), so the
    game remembers one record per player, not one per command."""
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
    _write(config, node_id, timeout, as_json, "guess", number, name)


def new_game(
    config: ConfigOption = None,
    node_id: NodeOption = None,
    timeout: TimeoutOption = 10.0,
    as_json: JsonOption = False,
    name: NameOption = "",
) -> None:
    """Start a new game: clears the target; the next guess sets it."""
    _write(config, node_id, timeout, as_json, "new_game", name=name)


def format_state(data: dict) -> list[str]:
    """The game as one node sees it, for people."""
    guesses = data.get("open_guesses", data.get("guesses")) or []
    rounds = data.get("recent_rounds", data.get("history")) or []
    size = data.get("round_size")
    target = data.get("target")
    role = data.get("role")
    lines = [
        f"node {text(data.get('node'))}{f' ({role})' if role else ''}, "
        f"applied up to {text(data.get('zxid_applied'))}",
        f"game {text(data.get('game'))}, round {text(data.get('round'))}"
        + (f" ({size} guesses per round)" if size else ""),
        f"target: {target}" if target is not None else "target: none yet (the next guess sets it)",
    ]
    if guesses:
        lines.append(f"open guesses ({len(guesses)}{f' of {size}' if size else ''}):")
        for g in guesses:
            lines.append(f"  {text(g.get('zxid')):>8}  {text(g.get('value')):>3}  "
                         f"{text(g.get('name') or g.get('client'))}")
    else:
        lines.append("open guesses: none")
    if rounds:
        lines.append("recent rounds (oldest first):")
        for r in rounds:
            lines.append(
                f"  {text(r.get('zxid')):>8}  game {text(r.get('game'))} round "
                f"{text(r.get('round'))}: {text(r.get('winner_name') or r.get('winner'))} wins with "
                f"{text(r.get('winning_value'))} (target {text(r.get('old_target'))} -> "
                f"{text(r.get('new_target'))})"
            )
    else:
        lines.append("recent rounds: none")
    return lines


def state(
    config: ConfigOption = None,
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




def register(app: typer.Typer) -> None:
    # ignore_unknown_options lets "-5" reach validate_value (a clear range error) instead of
    # being taken for an option; extra args are then checked by hand in guess.
    app.command(epilog=EXIT_CODES,
                context_settings={"ignore_unknown_options": True, "allow_extra_args": True})(guess)
    app.command("new-game", epilog=EXIT_CODES)(new_game)
    app.command(epilog=EXIT_CODES)(state)
