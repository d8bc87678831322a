"""Tests by level, features by marker.

Levels are directories, and each gives its tests the marker of its name:

* ``unit``: one module or mechanism in this process (files, sockets and threads are fine);
* ``core``: real ``Peer``s driven by ticks through tests/core/harness.py;
* ``sim``: the deterministic simulator (zmqzab/sim);
* ``processes``: starts other processes (zmqzab nodes, ``zmqzab up``/``chaos``/``bench``, a
  fresh Python); also marked ``processes``: ``browser`` (the page in headless Chromium over
  real nodes).

So ``python -m pytest -m "not processes"`` runs everything that stays in this process, and
``-m sim`` one level. Features (``snapshots``, ``security``, ``chaos``, ``web``, ``storage``,
...; pyproject.toml lists them) are module markers (``pytestmark``) in each file: ``-m snapshots``
picks one across levels.

Outside ``processes`` and ``browser`` a test that starts a process fails at once (the guard
below), and tests/unit/test_levels.py checks the same of every file's text.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
LEVELS = ("unit", "core", "sim", "processes", "browser")
#: Levels whose tests may start processes (and are marked ``processes``).
PROCESS_LEVELS = ("processes", "browser")


def level_of(path: Path) -> str | None:
    """The level of a test file: the directory under tests/ it lives in (None outside them)."""
    parts = path.resolve().relative_to(TESTS).parts
    return parts[0] if len(parts) > 1 and parts[0] in LEVELS else None


@pytest.hookimpl(tryfirst=True)  # before -m selects by marker
def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        level = level_of(Path(str(item.fspath)))
        if level is None:
            continue
        item.add_marker(getattr(pytest.mark, level))
        if level in PROCESS_LEVELS and level != "processes":
            item.add_marker(pytest.mark.processes)


@pytest.fixture(autouse=True)
def _no_process_outside_processes(request, monkeypatch):
    """A test of the in-process levels that starts a process fails, naming where it belongs."""
    if request.node.get_closest_marker("processes") is not None:
        return

    def refuse(*args, **kwargs):
        raise AssertionError(f"{request.node.nodeid} starts a process ({args[1] if len(args) > 1 else ''!r}): "
                             "tests that start processes live in tests/processes/ (see tests/conftest.py)")

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse)


@pytest.fixture(autouse=True)
def _client_sessions_in_tmp(tmp_path_factory, monkeypatch) -> None:
    """`zmqzab guess` keeps the terminal's client session in the user's state dir
    (cli/sessionfile.py): tests, and the processes they start, keep theirs in a temporary one."""
    monkeypatch.setenv("ZMQZAB_STATE_DIR", str(tmp_path_factory.getbasetemp() / "client-state"))
