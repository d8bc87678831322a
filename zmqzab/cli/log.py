"""`zmqzab log` and `zmqzab snapshot`: read a node's durable log and snapshots, like ZooKeeper's
txn log toolkit (LogFormatter, TxnLogToolkit) and SnapshotFormatter.

Both read the files only: no lock is taken and nothing is repaired, so they can look at the
data dir of a running node (a segment purged meanwhile just ends the listing). ``--node N``
finds the dir from the config (``<storage.data_dir>/node-N``); ``--data-dir D`` names it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from zmqzab.cli.common import EXIT_CODES, EXIT_FAILED, check_node, config_path, fail, load
from zmqzab.cli.options import ConfigOption

NodeOpt = Annotated[int | None, typer.Option("--node", "-n", help="Read this node's data dir "
                                             "(<storage.data_dir>/node-N of the config).")]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", "-d", help="Read this data dir.",
                                                 file_okay=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON for scripts (log: one object per line).")]


def _data_dir(config: Path | None, node_id: int | None, data_dir: Path | None) -> Path:

    if (node_id is None) == (data_dir is None):
        fail("give one of --node N (with --config) or --data-dir DIR")
    if data_dir is None:
        cfg = load(config)
        check_node(cfg, node_id)
        data_dir = cfg.storage.data_dir / f"node-{node_id}"
    if not data_dir.is_dir():
        fail(f"no data dir at {data_dir}" + (f" (node {node_id} of {config_path(config)[0]} never ran here?)"
                                             if node_id is not None else ""))
    return data_dir


def _when(ts_ms: int) -> str:
    if not ts_ms:
        return "-"  # forwarded by a follower: the leader did not stamp it
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts_ms / 1000)) + f".{ts_ms % 1000:03d}"


def _command(op: Any) -> tuple[str, dict[str, Any]]:
    """(text, JSON fields) of one op; and ``client``: the game's client id, or for a ZooKeeper
    txn its session where the txn names one (a tree txn's author is not in the log)."""
    from zmqzab.messages import Guess, describe_op
    from zmqzab.state import is_game_op
    from zmqzab.tree.sessions import CloseSessionTxn, CreateSessionTxn, fmt_session_id
    from zmqzab.zk.opcodes import OpCode
    from zmqzab.zkapi.ops import ZkTxn

    if isinstance(op, ZkTxn):
        # A ZooKeeper client's txn: its TxnHeader (session, cxid), then the txn itself.
        text, fields = _command(op.txn)
        session = fmt_session_id(op.session_id)
        if op.opcode == OpCode.sync:
            text, fields = "sync", {**fields, "command": "sync"}
        return (f"{text} [{session}#{op.cxid}]",
                {**fields, "client": session, "session": session, "cxid": op.cxid})
    if isinstance(op, (CreateSessionTxn, CloseSessionTxn)):
        command = "createSession" if isinstance(op, CreateSessionTxn) else "closeSession"
        fields: dict[str, Any] = {"command": command, "session": fmt_session_id(op.session_id)}
        if isinstance(op, CreateSessionTxn):
            fields["timeout_ms"] = op.timeout_ms
        elif op.paths is not None:
            fields["paths"] = list(op.paths)
        return describe_op(op), {"client": fields["session"], **fields}
    if not is_game_op(op):
        # The data tree's txns (zmqzab/tree/txns.py), in ZooKeeper's words (describe_txn).
        return describe_op(op), {"client": "-", "command": _tree_command(op),
                                 "path": getattr(op, "path", None)}
    if isinstance(op, Guess):
        return (f"guess {op.value} (seq {op.seq}, round size {op.round_size})",
                {"client": op.client_id, "command": "guess", "value": op.value, "seq": op.seq,
                 "round_size": op.round_size})
    return (f"new-game (seq {op.seq}, round size {op.round_size})",
            {"client": op.client_id, "command": "new-game", "seq": op.seq, "round_size": op.round_size})


def _tree_command(op: Any) -> str:
    """ZooKeeper's name of a tree txn's op (OpCode names, as its LogFormatter prints them)."""
    from zmqzab.tree.txns import (CheckVersionTxn, CreateTxn, DeleteTxn, ErrorTxn, MultiTxn,
                                  SetACLTxn, SetDataTxn)

    names = {CreateTxn: "create", DeleteTxn: "delete", SetDataTxn: "setData", SetACLTxn: "setACL",
             CheckVersionTxn: "check", ErrorTxn: "error", MultiTxn: "multi"}
    return names.get(type(op), type(op).__name__)


def log(
    node_id: NodeOpt = None,
    data_dir: DataDirOpt = None,
    config: ConfigOption = None,
    start: Annotated[str | None, typer.Option("--from", help="Start at this zxid (epoch:counter), "
                                             "inclusive.", metavar="ZXID")] = None,
    as_json: JsonOpt = False,
    check: Annotated[bool, typer.Option("--verify", help="Check checksums and continuity of the log "
                                        "and snapshots instead of printing the txns; exit 1 if damaged.")] = False,
) -> None:
    """Print a node's durable txn log, one line per txn: zxid, time, client, command.

    The txns of the log generation in use, oldest first (older ones were purged after
    snapshots; see 'zmqzab snapshot'). With --verify: check it the way recovery would.
    """
    from zmqzab.storage.errors import StorageError
    from zmqzab.storage.verify import open_dir, txns_of, verify
    from zmqzab.zxid import fmt_zxid, parse_zxid

    directory = _data_dir(config, node_id, data_dir)
    first = 0
    if start is not None:
        try:
            first = parse_zxid(start)
        except ValueError as exc:
            fail(f"--from: {exc} (write a zxid as epoch:counter, e.g. 3:17)")
    if check:
        try:
            result = verify(directory)
        except StorageError as exc:
            fail(str(exc))
        summary = {"data_dir": str(directory), "ok": result.ok, "generation": result.view.gen,
                   "segments": len(result.view.segments), "txns": result.txns,
                   "first": fmt_zxid(result.first), "last": fmt_zxid(result.last),
                   "snapshots": [fmt_zxid(s.zxid) for s in result.view.snapshots],
                   "log_start": fmt_zxid(result.view.log_start),
                   "problems": result.problems, "notes": result.notes}
        if as_json:
            typer.echo(json.dumps(summary, indent=2))
        else:
            for note in result.notes:
                typer.echo(f"note: {note}")
            for problem in result.problems:
                typer.echo(f"PROBLEM: {problem}")
            verdict = "OK" if result.ok else f"DAMAGED ({len(result.problems)} problem(s))"
            typer.echo(f"{verdict}: {directory}: generation {result.view.gen}, {len(result.view.segments)} "
                       f"segment(s), {result.txns} txns ({summary['first']}..{summary['last']}), "
                       f"{len(result.view.snapshots)} snapshot(s) {', '.join(summary['snapshots']) or ''}".rstrip()
                       + f"; checksums and continuity {'verified' if result.ok else 'checked'}")
        if not result.ok:
            raise typer.Exit(EXIT_FAILED)
        return
    try:
        view = open_dir(directory)
    except StorageError as exc:
        fail(str(exc))
    out = sys.stdout
    count = 0
    try:
        for seg, txn in txns_of(view, first):
            op = txn.op
            text, fields = _command(op)
            if as_json:
                out.write(json.dumps({"zxid": fmt_zxid(txn.zxid), "zxid_int": txn.zxid, "ts_ms": txn.ts_ms,
                                      "time": _when(txn.ts_ms), **fields,
                                      "segment": seg.path.name}) + "\n")
            else:
                out.write(f"{fmt_zxid(txn.zxid):>12}  {_when(txn.ts_ms):<23}  {fields['client']:<20}  {text}\n")
            count += 1
        out.flush()
    except BrokenPipeError:  # `| head`: the reader has seen enough
        sys.stderr.close()
        raise typer.Exit(0) from None
    except StorageError as exc:
        out.flush()
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    if not as_json:
        after = fmt_zxid(view.log_start)
        typer.echo(f"# {count} txn(s) from {directory} (generation {view.gen}, {len(view.segments)} segment(s); "
                   f"the log holds every txn after {after})", err=True)


def snapshot(
    node_id: NodeOpt = None,
    data_dir: DataDirOpt = None,
    config: ConfigOption = None,
    show: Annotated[bool, typer.Option("--show", help="Print the snapshot's zxid and game state (the "
                                       "default).")] = True,
    list_all: Annotated[bool, typer.Option("--list", help="List every snapshot file instead.")] = False,
    zxid: Annotated[str | None, typer.Option("--zxid", help="Show the snapshot at this zxid (default: the "
                                             "newest that verifies).", metavar="ZXID")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a node's snapshot: zxid, generation, size, checksum, and the game it holds."""
    from zmqzab.state import ReplicatedState
    from zmqzab.storage.errors import StorageError
    from zmqzab.storage.snapshot import SnapshotStore
    from zmqzab.storage.store import SNAP_DIR
    from zmqzab.zxid import fmt_zxid, parse_zxid

    del show  # showing is what this command does; --show is accepted, as ZooKeeper's tools name it
    directory = _data_dir(config, node_id, data_dir)
    store = SnapshotStore(directory / SNAP_DIR, readonly=True)
    infos = store.list()
    damaged = store.damaged()
    if list_all:
        rows = [{"file": i.path.name, "zxid": fmt_zxid(i.zxid), "generation": i.gen, "bytes": i.length}
                for i in infos]
        rows += [{"file": p.name, "damaged": why} for p, why in damaged]
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
        elif not rows:
            typer.echo(f"no snapshots in {directory / SNAP_DIR}")
        else:
            for r in rows:
                typer.echo(f"{r['file']}  " + (f"DAMAGED: {r['damaged']}" if "damaged" in r else
                                               f"zxid {r['zxid']}  generation {r['generation']}  {r['bytes']} bytes"))
        return
    if zxid is not None:
        try:
            wanted = parse_zxid(zxid)
        except ValueError as exc:
            fail(f"--zxid: {exc} (write a zxid as epoch:counter, e.g. 3:17)")
        infos = [i for i in infos if i.zxid == wanted]
        if not infos:
            fail(f"no snapshot at {fmt_zxid(wanted)} in {directory / SNAP_DIR} (see: zmqzab snapshot --list)")
    problems: list[str] = [f"{p.name} is damaged ({why})" for p, why in damaged]
    for info in infos:
        try:
            data = store.read(info)
            game = ReplicatedState.restore(data)
        except (StorageError, ValueError) as exc:
            problems.append(str(exc))
            if zxid is not None:
                break
            continue
        view = game.view(recent=5)
        shown = {"file": str(info.path), "zxid": fmt_zxid(info.zxid), "generation": info.gen,
                 "bytes": info.length, "checksum": "ok", "game": view,
                 "skipped": problems}
        if as_json:
            typer.echo(json.dumps(shown, indent=2))
            return
        for p in problems:
            typer.echo(f"note: skipped {p}")
        typer.echo(f"snapshot {info.path.name}: zxid {fmt_zxid(info.zxid)}, generation {info.gen}, "
                   f"{info.length} bytes, checksum ok")
        target = "none (the next guess sets it)" if view["target"] is None else view["target"]
        typer.echo(f"game {view['game']}, round {view['round']} (round size {view['round_size'] or '-'}), "
                   f"target {target}; {view['clients']} client record(s); applied up to {view['zxid_applied']}")
        guesses = ", ".join(f"{g['client']} {g['value']} ({g['zxid']})" for g in view["guesses"]) or "none"
        typer.echo(f"open round: {guesses}")
        if "znodes" in view:  # ZooKeeper txns were applied: the tree and the sessions too
            typer.echo(f"tree: {view['znodes']} znode(s), {view['ephemerals']} ephemeral(s); "
                       f"{len(view['sessions'])} open session(s)")
        for r in view["history"]:
            typer.echo(f"  game {r['game']} round {r['round']} closed at {r['zxid']}: {r['winner']} won with "
                       f"{r['winning_value']} (target {r['old_target']} -> {r['new_target']})")
        return
    if problems:
        for p in problems:
            typer.echo(f"error: {p}", err=True)
        raise typer.Exit(EXIT_FAILED)
    fail(f"no snapshots in {directory / SNAP_DIR} (a node writes its first after snapshot_every_txns txns)",
         EXIT_FAILED)


def register(app: typer.Typer) -> None:
    app.command(epilog=EXIT_CODES)(log)
    app.command(epilog=EXIT_CODES)(snapshot)
