"""The typer options several commands share (their help text is written once, here)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Cluster config file (TOML). Default: config/cluster.toml "
                 "of the current directory if there is one, else the built-in five-node cluster on "
                 "127.0.0.1 (zmqzab init writes it out to edit).", show_default=False, dir_okay=False),
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
