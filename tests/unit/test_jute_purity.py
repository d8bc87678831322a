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
        if module != "zmqzab.zk" and not module.startswith("zmqzab.zk."):
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


def test_the_zookeeper_api_layer_is_pure():
    """zmqzab/zkapi/ (requests on their way to the leader, its prepare, the answers) sits above
    the codec and the tree and is pure like them: the leader's core calls its prepare."""
    allowed = ("zmqzab.zkapi", "zmqzab.zk", "zmqzab.tree", "zmqzab.zxid")
    wrong = []
    for module, imports in import_graph().items():
        if module != "zmqzab.zkapi" and not module.startswith("zmqzab.zkapi."):
            continue
        for imp in imports:
            top = imp.target.partition(".")[0]
            if imp.target.startswith("zmqzab"):
                ok = any(imp.target == a or imp.target.startswith(a + ".") for a in allowed)
            else:
                ok = top == "msgspec" or (top in sys.stdlib_module_names and top not in IMPURE
                                          and top != "random")
            if not ok:
                wrong.append(imp.where())
    assert not wrong, "zmqzab/zkapi must stay pure: " + "; ".join(wrong)
