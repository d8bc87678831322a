"""What ``zmqzab node`` does, without typer: load the config, run one node, exit with its code.

Both ways in call it: the typer command (cli/run.py) and the fast path for the plain forms
(zmqzab/entry.py), which must not import the command-line library (start-up time).
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import NoReturn

from zmqzab.cli.common import check_node, fail, load


def run_node_command(node_id: int, config: Path | None, data_dir: Path | None, log_dir: Path | None,
                     resync: bool) -> NoReturn:
    """Run node ``node_id`` of ``config`` (None: the default config) until it stops."""
    cfg = load(config)
    check_node(cfg, node_id)
    from zmqzab.security.plaintext import plaintext_refusal

    refusal = plaintext_refusal(cfg, node_id)
    if refusal is not None:
        fail(refusal)
    from zmqzab.chaos.powerloss import install_from_env

    install_from_env()  # test only: the chaos nemesis' power-loss witness, if it asked for one
    from zmqzab.security.keys import KeyFileError

    # loguru's default stderr handler is replaced at once (server/logs.py): not making it saves
    # ~6 ms of every start (docs/benchmarks.md, "Start-up and catch-up").
    os.environ.setdefault("LOGURU_AUTOINIT", "false")
    from zmqzab.server.loguru_startup import before_import

    before_import()  # nothing has imported loguru yet: its asyncio import waits until needed (~20 ms)
    from zmqzab.server.node import run_node

    # Off while the node's modules were imported (zmqzab/entry.py). What they made lives as long
    # as the process: frozen first (as run_node freezes what start-up makes), no collection walks
    # it again. Enabled with ~25,000 young objects, the collector spent ~5 ms of the start on one
    # pass over them at the next allocation, and more as they aged (issue 14).
    gc.freeze()
    gc.enable()
    try:
        code = run_node(cfg, node_id, data_dir, log_dir, resync=resync)
    except KeyFileError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(code)
