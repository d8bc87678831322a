"""The ``zmqzab`` entry point: ``zmqzab node ...`` goes straight to the node, all else to typer.

Why: a restarted node's catch-up clock starts with the interpreter. The full command line (typer,
its click, and the modules of every other command, imported and inspected to build the app)
costs about 0.1 s before the node's own code runs, and `zmqzab up`, the bench and the tests
start every node this way. So the plain forms of ``node`` (``--id N``, ``--config P``,
``--data-dir P``, ``--log-dir P``, ``--resync``; short forms and ``--opt=value`` too) are
recognised here. Anything this parser is not sure about (``--help``, an unknown, repeated or
valueless flag, a value typer would reject or that looks like a flag) goes to the full typer app
(zmqzab/cli/app.py), so help, error messages and exit codes stay typer's own. Both run the
node with zmqzab/cli/node.py.
"""

from __future__ import annotations

import gc
import os
import stat
import sys
from pathlib import Path

#: The ``node`` options that take a value, by every spelling typer accepts for them.
_VALUED = {"--id": "node_id", "-i": "node_id", "--config": "config", "-c": "config",
           "--data-dir": "data_dir", "--log-dir": "log_dir"}
_FLAGS = {"--resync": "resync"}


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (also ``python -m zmqzab``)."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "node":
        options = parse_node_args(args[1:])
        if options is not None:
            # The node's imports make objects that live as long as the process and free nothing:
            # the collector's passes over them cost ~10% of the imports' CPU (docs/benchmarks.md,
            # "Start-up and catch-up"). run_node_command turns it back on once they are in.
            gc.disable()
            try:
                from zmqzab.cli.node import run_node_command

                run_node_command(**options)
            finally:
                gc.enable()  # an early exit (a bad config, a test calling main) must not leave it off
    from zmqzab.cli.app import main as full_main

    full_main(argv)


def parse_node_args(args: list[str]) -> dict | None:
    """The ``node`` command's options if ``args`` are plainly valid; None: let typer decide."""
    found: dict[str, str | bool] = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in _FLAGS:
            name, value = _FLAGS[arg], True
            i += 1
        elif arg in _VALUED and i + 1 < len(args):
            name, value = _VALUED[arg], args[i + 1]
            i += 2
        elif arg.startswith("--") and arg.partition("=")[0] in _VALUED:
            name, value = _VALUED[arg.partition("=")[0]], arg.partition("=")[2]
            i += 1
        else:
            return None
        if name in found or (value is not True and (not value or value.startswith("-"))):
            return None
        found[name] = value
    node_id = found.get("node_id")
    # click reads an int with int(): " 1", "+1" and "1_0" would pass too; only plain digits here.
    if not isinstance(node_id, str) or not (node_id.isascii() and node_id.isdigit()):
        return None
    # The Path checks typer makes (dir_okay=False / file_okay=False): it words the error.
    if _is(found.get("config"), stat.S_ISDIR) or any(_is(found.get(k), stat.S_ISREG)
                                                     for k in ("data_dir", "log_dir")):
        return None
    return {
        "node_id": int(node_id),
        "config": Path(found["config"]) if "config" in found else None,  # None: the default config
        "data_dir": Path(found["data_dir"]) if "data_dir" in found else None,
        "log_dir": Path(found["log_dir"]) if "log_dir" in found else None,
        "resync": bool(found.get("resync", False)),
    }


def _is(path, kind) -> bool:
    if not isinstance(path, str):
        return False
    try:
        return kind(os.stat(path).st_mode)
    except OSError:
        return False
