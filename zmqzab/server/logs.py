"""Where a node's log lines go: coloured to stderr, plain to logs/node-<id>.log (rotated)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from loguru import logger

from zmqzab.server.loguru_startup import lazy_lib_dirs


def setup_logging(node_id: int, log_dir: Path) -> None:
    logger.remove()
    lazy_lib_dirs()  # each sink below would list the library directories at once (~3 ms each)
    fmt = "<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> n{extra[node]} | {message}"
    level = os.environ.get("ZMQZAB_LOG_LEVEL", "INFO")
    # Under `zmqzab up` the supervisor prefixes every line with the node already.
    console = fmt.replace(" n{extra[node]} |", "") if os.environ.get("ZMQZAB_SUPERVISED") else fmt
    logger.add(sys.stderr, format=console, level=level, colorize=None)
    log_dir.mkdir(parents=True, exist_ok=True)
    logger.add(log_dir / f"node-{node_id}.log", format=fmt, level="DEBUG" if level == "DEBUG" else "INFO",
               colorize=False, rotation="20 MB", retention=3)
