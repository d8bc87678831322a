"""Files zmqzab ships besides its code: the live view (index.html) and the config presets.

The sources people edit are the checkout's top-level ``index.html`` and ``config/*.toml``; there
is no second copy in git. Building the package (setup.py's build step) copies them into
``zmqzab/assets/``, so a wheel installed anywhere carries them. Run from a checkout (editable
install, or PYTHONPATH), the checkout's own files are used, so an edit shows without a rebuild.
"""

from __future__ import annotations

from pathlib import Path

from zmqzab.config import DEFAULT_CONFIG_PATH

#: The checkout's root when this package is run from one: it holds pyproject.toml.
_CHECKOUT = Path(__file__).resolve().parents[1]
#: Where the build step puts the shipped copies inside the installed package.
ASSETS_DIR = Path(__file__).resolve().parent / "assets"

#: The presets ``zmqzab init`` writes out (file names in config/).
PRESETS = ("cluster.toml", "classroom.toml", "three.toml")


def _in_checkout() -> bool:
    return (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "index.html").is_file()


def index_html() -> Path:
    """The live view's page (it may be missing only in a broken install: callers say so)."""
    return _CHECKOUT / "index.html" if _in_checkout() else ASSETS_DIR / "index.html"


def presets_dir() -> Path:
    """The directory holding the config presets (``PRESETS``)."""
    return _CHECKOUT / "config" if _in_checkout() else ASSETS_DIR / "config"


def builtin_config() -> Path:
    """The built-in five-node cluster on 127.0.0.1: the shipped ``cluster.toml`` preset."""
    return presets_dir() / "cluster.toml"


def default_config() -> tuple[Path, bool]:
    """The config to use when none is named, and whether it is the built-in one.

    ``config/cluster.toml`` of the current directory when it exists (a checkout, or a directory
    set up by ``zmqzab init``), else the built-in five-node cluster."""
    if DEFAULT_CONFIG_PATH.exists():
        return DEFAULT_CONFIG_PATH, False
    return builtin_config(), True
