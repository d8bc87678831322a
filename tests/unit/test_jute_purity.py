"""zmqzab/zk/ is pure like the core and the game (issue 13's foundations): only itself, msgspec
and the stdlib without clocks, I/O, threads or the global random; nothing of zmqzab above it."""

from __future__ import annotations

import sys

import pytest

from tests.unit.test_imports import IMPURE, import_graph

pytestmark = pytest.mark.zk


def test_the_zk_codec_is_pure():
    wrong = []
    for module, imports in import_graph().items():
        if not module.startswith("zmqzab.zk"):
            continue
        for imp in imports:
            top = imp.target.partition(".")[0]
            if imp.target.startswith("zmqzab"):
                # KeeperException.Code has one home, the tree's errors (pure as well).
                ok = (imp.target == "zmqzab.zk" or imp.target.startswith("zmqzab.zk.")
                      or imp.target == "zmqzab.tree.errors")
            else:
                ok = top == "msgspec" or (top in sys.stdlib_module_names and top not in IMPURE
                                          and top != "random")
            if not ok:
                wrong.append(imp.where())
    assert not wrong, "zmqzab/zk must stay pure (bytes in, records out): " + "; ".join(wrong)
