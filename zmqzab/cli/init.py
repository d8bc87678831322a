"""`zmqzab init`: write the config presets out, to edit them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from zmqzab.cli.common import EXIT_CODES, EXIT_FAILED, fail
from zmqzab.config import DEFAULT_CONFIG_PATH
from zmqzab.resources import PRESETS, presets_dir


def init(
    directory: Annotated[Path, typer.Argument(help="Directory to set up; the presets go in its "
                         "config/ (made if missing).", file_okay=False)] = Path("."),
    force: Annotated[bool, typer.Option("--force", help="Overwrite presets already there.")] = False,
) -> None:
    """Write the config presets (cluster.toml, classroom.toml, three.toml) to DIR/config/.

    Then `zmqzab up` in DIR runs config/cluster.toml: change its ports, timing or data_dir there.
    """
    source = presets_dir()
    target = directory / DEFAULT_CONFIG_PATH.parent
    missing = [name for name in PRESETS if not (source / name).is_file()]
    if missing:
        fail(f"this zmqzab install has no presets ({', '.join(missing)} missing in {source}): "
             "reinstall it (pip install zmqzab)", EXIT_FAILED)
    there = [target / name for name in PRESETS if (target / name).exists()]
    if there and not force:
        fail(f"{', '.join(map(str, there))} already there: edit them, or pass --force to overwrite "
             "them with the presets")
    try:
        target.mkdir(parents=True, exist_ok=True)
        for name in PRESETS:
            shutil.copyfile(source / name, target / name)
    except OSError as exc:
        fail(f"{target}: cannot write the presets: {exc.strerror or exc}")
    typer.echo(f"wrote {', '.join(str(target / name) for name in PRESETS)}"
               f"{' (overwritten)' if there else ''}")
    where = "" if directory == Path(".") else f"cd {directory} && "
    typer.echo(f"next: edit {target / 'cluster.toml'}, then {where}zmqzab up "
               "(or zmqzab up --config config/classroom.toml for a slow classroom demo)")


def register(app: typer.Typer) -> None:
    app.command(epilog=EXIT_CODES)(init)
