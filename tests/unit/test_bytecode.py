"""zmqzab/up/bytecode.py: the bytecode written before nodes start (issue 14, start-up time).

Goal: the .pyc files are written even where PYTHONDONTWRITEBYTECODE is set (this environment sets
it, and then every node start compiled zmqzab's sources), and an edited source gets new bytecode,
never a stale one. Setup: a two-module package in a temp dir, compiled with the interpreter's
"do not write bytecode" switch on. Faults: a source edited after its first compile. Expected: a
.pyc per module that CPython accepts for the source as it is now.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from zmqzab.up.bytecode import compile_tree


def current_pyc(source: Path) -> bool:
    """True if the .pyc next to ``source`` is the one CPython would use for it as it is now."""
    pyc = Path(importlib.util.cache_from_source(str(source)))
    if not pyc.exists():
        return False
    header = pyc.read_bytes()[:16]
    st = source.stat()
    return (header[:4] == importlib.util.MAGIC_NUMBER and int.from_bytes(header[8:12], "little") == int(st.st_mtime)
            and int.from_bytes(header[12:16], "little") == st.st_size & 0xFFFFFFFF)


def test_bytecode_is_written_under_dont_write_bytecode_and_renewed_after_an_edit(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    module = pkg / "mod.py"
    module.write_text("VALUE = 1\n")
    compile_tree(pkg)
    assert current_pyc(pkg / "__init__.py") and current_pyc(module)

    module.write_text("VALUE = 22\n")  # another size, and (below) another mtime
    os.utime(module, (module.stat().st_atime, module.stat().st_mtime + 5))
    assert not current_pyc(module)  # CPython would recompile it: the old .pyc is never used
    compile_tree(pkg)
    assert current_pyc(module)


def test_a_tree_that_cannot_be_compiled_is_no_error(tmp_path):
    missing = tmp_path / "not-there"
    compile_tree(missing)  # no exception: the nodes then compile in memory, as before
    assert not missing.exists()
