"""`zmqzab zk`: ls, get, set, create, delete, stat and watch over ZooKeeper's client protocol,
for people without a Java or kazoo shell at hand (zmqzab/zk_client.py; any ZooKeeper server
answers it too).

Each command opens its own session on the first server that accepts it (``--server``, else
the ``zk_port`` of each node of the config in id order), does its one thing, prints it the way
zkCli.sh prints it (``ls`` a list, ``get`` the data, ``stat`` zkCli's field names), and closes
the session. A refused request is one line naming ZooKeeper's error (NONODE, NODEEXISTS,
BADVERSION, NOTEMPTY, ...) and exit code 1.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from zmqzab.cli.common import EXIT_FAILED, EXIT_NO_QUORUM, fail, load
from zmqzab.cli.options import ConfigOption

ZK_EXIT_CODES = """\b
Exit codes:
  0  success
  1  the server refused the request (NONODE, NODEEXISTS, BADVERSION, NOTEMPTY, ...) or no
     server answered
  2  bad input: a bad flag or value, a missing or malformed config
  3  watch --timeout ran out before an event
"""

zk_app = typer.Typer(
    name="zk",
    help="ZooKeeper's data tree through its client protocol: ls, get, set, create, delete, stat, "
         "watch (like zkCli.sh). Each command is one short session on the node's zk_port.",
    epilog=ZK_EXIT_CODES,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

ServerOption = Annotated[
    str | None,
    typer.Option("--server", help="host:port of a ZooKeeper server, or several separated by "
                 "commas (the first that accepts is used). Default: the zk_port of each node of "
                 "--config, in id order.", show_default=False),
]
PathArg = Annotated[str, typer.Argument(help="The znode's path, e.g. /app/config.",
                                        show_default=False)]
VersionOption = Annotated[
    int, typer.Option("--version", "-v", help="Only if the node's version is this one "
                      "(BADVERSION otherwise); -1: any version.")]
StatFlag = Annotated[bool, typer.Option("--stat", "-s", help="Also print the node's Stat.")]


def servers(server: str | None, config: Path | None) -> list[str]:
    """The addresses to try, in order: ``--server``, else every node's zk_port."""
    if server:
        return [s.strip() for s in server.split(",") if s.strip()]
    cfg = load(config)
    found = [f"{n.host}:{n.zk_port}" for n in cfg.nodes if n.zk_port]
    if not found:
        fail(f"no node of {cfg.path or 'the config'} has a zk_port: add zk_port = 2181 to a "
             "[[nodes]] table (and restart it), or pass --server host:port")
    return found


def _session(server: str | None, config: Path | None):
    """A connected client on the first server that accepts (exits 1 naming each that did not)."""
    from zmqzab.zk_client import ZkClient, ZkConnectionError, ZkError, parse_server

    addresses = servers(server, config)
    failures = []
    for address in addresses:
        try:
            parse_server(address)
        except ValueError as exc:
            fail(str(exc))
        try:
            return ZkClient(address).connect()
        except ZkConnectionError as exc:
            failures.append(exc.args[0].split(": ", 1)[-1])
        except ZkError as exc:
            failures.append(f"{address}: {exc}")
    fail(f"CONNECTIONLOSS: {'; '.join(failures)}; is the cluster up? zmqzab up", EXIT_FAILED)


def _run(server: str | None, config: Path | None, action) -> None:
    """``action(client)`` in one session; a refused request is one line and exit 1."""
    from zmqzab.zk_client import ZkConnectionError, ZkError

    client = _session(server, config)
    try:
        action(client)
    except ZkConnectionError as exc:
        fail(f"{exc}; is the cluster up? zmqzab up", EXIT_FAILED)
    except ZkError as exc:
        fail(str(exc), EXIT_FAILED)
    finally:
        client.close()


def java_date(ms: int) -> str:
    """A time in ms as Java's Date.toString prints it (zkCli's ctime and mtime)."""
    return time.strftime("%a %b %d %H:%M:%S %Z %Y", time.localtime(ms / 1000))


def format_stat(stat) -> list[str]:
    """A Stat as zkCli's StatPrinter prints it: its names, hex zxids, Java dates."""
    return [
        f"cZxid = {stat.czxid:#x}",
        f"ctime = {java_date(stat.ctime)}",
        f"mZxid = {stat.mzxid:#x}",
        f"mtime = {java_date(stat.mtime)}",
        f"pZxid = {stat.pzxid:#x}",
        f"cversion = {stat.cversion}",
        f"dataVersion = {stat.version}",
        f"aclVersion = {stat.aversion}",
        f"ephemeralOwner = {stat.ephemeral_owner:#x}",
        f"dataLength = {stat.data_length}",
        f"numChildren = {stat.num_children}",
    ]


def format_event(event) -> str:
    """A watch event as zkCli prints it (WatchedEvent.toString)."""
    from zmqzab.zk.opcodes import EventType, KeeperState

    def name(enum, value: int) -> str:
        try:
            return "None" if enum is EventType and value == -1 else enum(value).name
        except ValueError:
            return str(value)

    return (f"WatchedEvent state:{name(KeeperState, event.state)} "
            f"type:{name(EventType, event.type)} path:{event.path}")


def _echo_lines(lines: list[str]) -> None:
    for line in lines:
        typer.echo(line)


def _data_text(data: bytes | None) -> str:
    return "null" if data is None else data.decode("utf-8", "replace")


@zk_app.command("ls")
def ls(path: PathArg, server: ServerOption = None, config: ConfigOption = None) -> None:
    """List the node's children, sorted: [a, b]."""
    _run(server, config, lambda c: typer.echo(f"[{', '.join(sorted(c.get_children(path)))}]"))


@zk_app.command("get")
def get(path: PathArg, with_stat: StatFlag = False, server: ServerOption = None,
        config: ConfigOption = None) -> None:
    """Print the node's data (as UTF-8; null when it has none)."""
    def action(c) -> None:
        data, stat = c.get_data(path)
        typer.echo(_data_text(data))
        if with_stat:
            _echo_lines(format_stat(stat))
    _run(server, config, action)


@zk_app.command("set")
def set_(path: PathArg,
         data: Annotated[str, typer.Argument(help="The new data (UTF-8).", show_default=False)],
         version: VersionOption = -1, with_stat: StatFlag = False,
         server: ServerOption = None, config: ConfigOption = None) -> None:
    """Replace the node's data (its dataVersion goes up by one)."""
    def action(c) -> None:
        stat = c.set_data(path, data.encode("utf-8"), version)
        if with_stat:
            _echo_lines(format_stat(stat))
    _run(server, config, action)


@zk_app.command("create")
def create(path: PathArg,
           data: Annotated[str, typer.Argument(help="The node's data (UTF-8).")] = "",
           ephemeral: Annotated[bool, typer.Option("--ephemeral", "-e", help="Ephemeral: the "
                                "node lives as long as this command's session, so it is deleted "
                                "as soon as the command ends (it shows the mechanism; a program "
                                "that needs one keeps its own session).")] = False,
           sequential: Annotated[bool, typer.Option("--sequential", "-s", help="Sequential: the "
                                 "server appends the parent's counter, e.g. /q/job-0000000003."
                                 )] = False,
           server: ServerOption = None, config: ConfigOption = None) -> None:
    """Create a node (its parent must exist); prints 'Created PATH' with the name it got."""
    _run(server, config, lambda c: typer.echo(
        f"Created {c.create(path, data.encode('utf-8'), ephemeral, sequential)}"))


@zk_app.command("delete")
def delete(path: PathArg, version: VersionOption = -1, server: ServerOption = None,
           config: ConfigOption = None) -> None:
    """Delete a node that has no children."""
    _run(server, config, lambda c: c.delete(path, version))


@zk_app.command("stat")
def stat(path: PathArg, server: ServerOption = None, config: ConfigOption = None) -> None:
    """Print the node's Stat with zkCli's names (cZxid, ctime, mZxid, ...)."""
    def action(c) -> None:
        from zmqzab.tree.errors import Code
        from zmqzab.zk_client import ZkError

        found = c.exists(path)
        if found is None:
            raise ZkError(Code.NONODE, path)
        _echo_lines(format_stat(found))
    _run(server, config, action)


@zk_app.command("watch")
def watch(path: PathArg,
          follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing events "
                            "(a persistent watch, addWatch) until Ctrl-C, instead of one.")] = False,
          recursive: Annotated[bool, typer.Option("--recursive", "-r", help="With --follow: "
                               "the whole subtree too (addWatch PERSISTENT_RECURSIVE).")] = False,
          timeout: Annotated[float | None, typer.Option("--timeout", "-t", min=0.1, help="Give up "
                             "after this many seconds without an event (exit 3).",
                             show_default=False)] = None,
          server: ServerOption = None, config: ConfigOption = None) -> None:
    """Wait for the next change of the node (created, deleted, data, children) and print it
    as zkCli prints a WatchedEvent; --follow streams them."""
    if recursive and not follow:
        fail("--recursive goes with --follow (a one-shot watch sees the node and its children)")

    def action(c) -> None:
        if follow:
            c.add_watch(path, recursive)
        elif c.exists(path, watch=True) is not None:
            # A one-shot child watch too, so that a new or deleted child is an event as well.
            c.get_children(path, watch=True)
        print(f"watching {path} on {c.server} ({'Ctrl-C to stop' if follow else 'one event'})",
              file=sys.stderr, flush=True)
        while True:
            event = c.wait_event(timeout)
            if event is None:
                fail(f"no event for {path} within {timeout:g} s", EXIT_NO_QUORUM)
            typer.echo(format_event(event))
            sys.stdout.flush()
            if not follow:
                return
    _run(server, config, action)


def register(app: typer.Typer) -> None:
    app.add_typer(zk_app, name="zk")
