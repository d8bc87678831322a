"""Bytecode for zmqzab's own modules, written before a command starts node processes.

Why: a node's start-up is on the clock of every restart (a follower's catch-up, failover of a
restarted node, cold start). Compiling the package's sources took ~0.09 s of each start
(docs/benchmarks.md, "Start-up and catch-up") wherever no ``__pycache__`` was kept: an
editable install (``pip install -e .``, the tests' set-up) run with ``PYTHONDONTWRITEBYTECODE``
set, as in this project's environment. ``pip install .`` compiles at install already; this
covers the rest, once per process that starts nodes (``zmqzab up``, ``zmqzab bench``,
``zmqzab chaos``, the tests' clusters).

Safe to repeat and never stale: CPython checks a ``.pyc`` against its source's mtime and size at
every import and recompiles a changed file, and compileall skips the files whose ``.pyc`` is
current (a stat and a header read each). A package directory we may not write (a system install)
is left as it is: the nodes then compile in memory, as before.
"""

from __future__ import annotations

from pathlib import Path

_done = False


def compile_package() -> None:
    """Write the missing or out-of-date ``.pyc`` files of the zmqzab package (once per process)."""
    global _done
    if not _done:
        _done = True
        compile_tree(Path(__file__).resolve().parent.parent)


def compile_tree(root: Path) -> None:
    """``.pyc`` files for the sources under ``root`` whose bytecode is missing or out of date."""
    import compileall

    try:
        # quiet=2: a file we cannot write is no error here (the node compiles it in memory).
        compileall.compile_dir(root, quiet=2)
    except OSError:
        pass
