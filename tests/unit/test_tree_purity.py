"""zmqzab/tree/ is pure like the core and the game (README, design in brief): every replica
applies the same txns to the same tree, and the simulator replays it from a seed, so no module
there may read a clock, do I/O, start threads or use the global random. Read from the imports
(tests/unit/test_imports.py's graph), as test_core_and_game_are_pure does for those layers."""

from __future__ import annotations

import sys

import pytest

from tests.unit.test_imports import IMPURE, import_graph

pytestmark = [pytest.mark.zk]

LAYER = "zmqzab.tree"


def test_the_tree_is_pure():
    allowed_zmqzab = {LAYER, "zmqzab.messages", "zmqzab.zxid", "zmqzab.zk.opcodes"}  # ZooDefs.OpCode: pure, the wire's
    wrong = []
    seen = 0
    for module, imports in import_graph().items():
        if module != LAYER and not module.startswith(LAYER + "."):
            continue
        seen += 1
        for imp in imports:
            top = imp.target.partition(".")[0]
            if imp.target.startswith("zmqzab"):
                ok = any(imp.target == a or imp.target.startswith(a + ".") for a in allowed_zmqzab)
            elif top == "random":
                ok = imp.names == ("Random",)
            else:
                ok = top == "msgspec" or (top in sys.stdlib_module_names and top not in IMPURE)
            if not ok:
                wrong.append(imp.where() + (f" ({', '.join(imp.names)})" if imp.names else ""))
    assert seen >= 8, f"only {seen} modules found under {LAYER}"
    assert not wrong, f"{LAYER} must stay pure (no I/O, clock, threads or global random): " + "; ".join(wrong)
