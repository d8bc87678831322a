"""pytest plugin: the judge's selection of kazoo's tests, the same against zmqzab and ZooKeeper.

Loaded with ``-p tests.processes.kazoo_judge.selection`` (the repository root on PYTHONPATH).
It deselects every test that deselect.txt (beside this file) names, unless its category is
given with ``--kazoo-judge-include CATEGORY``. A test's id here is its path from kazoo's parent
directory (``kazoo/tests/test_client.py::TestReconfig::test_add_remove``) whatever pytest's
rootdir is, so the list reads the same for every run.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

import pytest

DESELECT_FILE = Path(__file__).resolve().parent / "deselect.txt"


@dataclass(frozen=True)
class Deselected:
    pattern: str
    category: str
    reason: str


class DeselectListError(Exception):
    """deselect.txt has a line the judge cannot use; ``str()`` names the line and the fix."""


def load_deselect(path: Path = DESELECT_FILE) -> list[Deselected]:
    """Every ``pattern  # category: reason`` line; a pattern without a reason is refused."""
    entries = []
    for n, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pattern, sep, comment = line.partition("#")
        category, colon, reason = comment.partition(":")
        if not sep or not colon or not reason.strip() or " " in category.strip():
            raise DeselectListError(f"{path}:{n}: {raw!r} has no reason: write "
                                    "'<pattern>  # <category>: <why a user would accept leaving it out>'")
        entries.append(Deselected(pattern.strip(), category.strip(), reason.strip()))
    return entries


def kazoo_test_id(item: pytest.Item) -> str:
    """``kazoo/tests/<file>::<class>::<test>``: the nodeid as seen from kazoo's parent dir."""
    path = Path(str(item.path))
    parts = path.parts
    if "kazoo" in parts:
        i = len(parts) - 1 - parts[::-1].index("kazoo")
        rel = "/".join(parts[i:])
    else:
        rel = path.name
    _, _, rest = item.nodeid.partition("::")
    return f"{rel}::{rest}" if rest else rel


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--kazoo-judge-include", action="append", default=[], metavar="CATEGORY",
                     help="run the tests of this deselect.txt category anyway (e.g. read-only)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    include = set(config.getoption("--kazoo-judge-include"))
    entries = [e for e in load_deselect() if e.category not in include]
    keep, drop = [], []
    for item in items:
        tid = kazoo_test_id(item)
        (drop if any(fnmatch.fnmatchcase(tid, e.pattern) for e in entries) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
