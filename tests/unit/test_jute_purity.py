"""zmqzab/zk/ (the wire codec) and zmqzab/zkapi/ (requests on their way to the leader, its
prepare, the answers) are pure like the core and the game: only the zmqzab layers named here,
msgspec and the stdlib without clocks, I/O, threads or the global random. The leader's core
calls zkapi's prepare, so it must stay deterministic."""

from __future__ import annotations

import sys

import pytest

from tests.unit.test_imports import IMPURE, import_graph

pytestmark = pytest.mark.zk

#: Layer -> the zmqzab packages it may import. The codec: only itself, and KeeperException.Code's
#: one home (the tree's errors, pure as well). zkapi: the codec, the tree, zxid and itself.
ALLOWED = {
    "zmqzab.zk": ("zmqzab.zk", "zmqzab.tree.errors"),
    "zmqzab.zkapi": ("zmqzab.zkapi", "zmqzab.zk", "zmqzab.tree", "zmqzab.zxid"),
}


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_the_zookeeper_layers_are_pure(layer):
    allowed = ALLOWED[layer]
    wrong = []
    for module, imports in import_graph().items():
        if module != layer and not module.startswith(layer + "."):
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
    assert not wrong, f"{layer} must stay pure (bytes in, records out): " + "; ".join(wrong)
