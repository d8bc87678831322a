"""What every command shares, without typer: exit codes, the one-line error, loading the config.

Without typer because ``zmqzab node``'s fast path (zmqzab/entry.py) uses it too and must start
without the command-line library. The typer options the commands share are in cli/options.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

from zmqzab.config import ClusterConfig, ConfigError, load_config
from zmqzab.resources import default_config

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_NO_QUORUM = 3

# "\b" keeps click from re-wrapping the block.
EXIT_CODES = """\b
Exit codes:
  0  success
  1  a node (node, up) stopped because of an error; see its log
  2  bad input: a bad flag or value, a missing or malformed config, an unknown node id
  3  no quorum or timeout: no leader, too few nodes up, or no node answered
"""


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """One line on stderr that names the cause and the way out, then exit with ``code``."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def config_path(config: Path | None) -> tuple[Path, bool]:
    """The config file a command reads, and whether it is the built-in default.

    ``--config`` when given (a missing file is an error); else ``config/cluster.toml`` of the
    current directory when it exists; else the built-in five-node cluster."""
    return (config, False) if config is not None else default_config()


def load(config: Path | None) -> ClusterConfig:
    """The cluster config (see ``config_path``); a bad one exits 2 with its one-line message."""
    try:
        return load_config(config_path(config)[0])
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
    print(json.dumps(data, indent=2, default=str), flush=True)


def text(value: Any) -> str:
    """A cell of a table or a field of a line: '-' for nothing."""
    return "-" if value is None or value == "" else str(value)
