"""`zmqzab keygen`: CURVE key pairs for the nodes and clients of a cluster (security/keys.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from zmqzab.cli.common import EXIT_CODES, fail
from zmqzab.config import NODES_MAX


def keygen(
    directory: Annotated[Path, typer.Option("--dir", "-d", file_okay=False, help="Where to write "
                         "the key files ([security] keys_dir of the config).")] = Path("config/keys"),
    nodes: Annotated[int, typer.Option("--nodes", min=1, max=NODES_MAX, help="Node key pairs: "
                     "node-0 .. node-<N-1> (the node ids of the config).")] = 5,
    clients: Annotated[int, typer.Option("--clients", min=0, max=100, help="Client key pairs: "
                       "client-0 .. (the CLI, bench, chaos and `zmqzab up` use client-0).")] = 1,
    force: Annotated[bool, typer.Option("--force", help="Replace existing keys (every node and "
                     "client must then get the new public keys).")] = False,
) -> None:
    """Write one CURVE key pair per node and per client; secret files are readable by you only.

    Then set `curve = true` in the config's [security] table (README, Security).
    """
    from zmqzab.security.keys import KeyFileError, keygen as write_keys

    try:
        written = write_keys(directory, list(range(nodes)), clients, force=force)
    except KeyFileError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{directory}: cannot write keys: {exc.strerror}")
    secrets = sum(1 for p in written if p.suffix == ".key_secret")
    typer.echo(f"wrote {secrets} key pairs in {directory} ({nodes} nodes, {clients} clients): "
               f"*.key public, *.key_secret mode 0600")
    typer.echo(f"next: set [security] curve = true and keys_dir = \"{directory}\" in the config; each node "
               f"needs every *.key and its own node-<id>.key_secret")


def register(app: typer.Typer) -> None:
    app.command(epilog=EXIT_CODES)(keygen)
