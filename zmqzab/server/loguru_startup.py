"""Two pieces of loguru's own start-up that a node never uses, put off until something needs them.

Why: a node's start-up is on the clock of every restart, a follower's catch-up included (issue
14), and loguru spent ~10% of it on work a node does not need:

* ``loguru._asyncio_loop`` imports asyncio when loguru is imported, and asyncio pulls in ssl,
  subprocess, concurrent.futures and more (~20 ms). loguru calls its two functions only for a
  coroutine sink (``logger.add(async_function)``) and ``logger.complete()``; a node adds neither
  (server/logs.py adds stderr and a file). ``before_import`` puts a stand-in module with the
  same two functions in its place; each imports asyncio when called, so a coroutine sink still
  works.
* Every ``logger.add`` makes an exception formatter that lists the library directories at once
  (36 ``sysconfig.get_path`` calls, each re-expanding every config var: ~3 ms per sink, and the
  first loads ``_sysconfigdata``), only to tell library frames from the program's when an
  exception is formatted. ``lazy_lib_dirs`` makes that list on the first exception, once.

Both only for the loguru versions whose internals are known to be these (0.7.x); any other
keeps loguru's own behaviour. Neither changes what is logged.
"""

from __future__ import annotations

import sys
import types

_MODULE = "loguru._asyncio_loop"
#: The loguru versions these stand-ins are written for...
_VERSIONS = "0.7."
#: ...and how their ``__init__.py`` starts its ``__version__`` line (read without importing it).
_KNOWN = f'__version__ = "{_VERSIONS}'


def _get_running_loop():
    import asyncio

    return asyncio.get_running_loop()


def _get_task_loop(task):
    return task.get_loop()


def before_import() -> bool:
    """Put the ``_asyncio_loop`` stand-in in place before loguru is imported; True if it was."""
    if "loguru" in sys.modules or _MODULE in sys.modules or not _known_version():
        return False
    module = types.ModuleType(_MODULE, "loguru's _asyncio_loop, asyncio imported when called "
                                       "(zmqzab/server/loguru_startup.py)")
    module.get_running_loop = _get_running_loop  # type: ignore[attr-defined]
    module.get_task_loop = _get_task_loop  # type: ignore[attr-defined]
    sys.modules[_MODULE] = module
    return True


def _known_version() -> bool:
    """True if the loguru that ``import loguru`` would load is 0.7.x (read, not imported)."""
    from importlib.util import find_spec

    try:
        spec = find_spec("loguru")
        if spec is None or spec.origin is None:
            return False
        with open(spec.origin, encoding="utf-8") as f:
            head = f.read(4096)
    except (OSError, ValueError, ImportError):
        return False
    return any(line.startswith(_KNOWN) for line in head.splitlines())


class LibDirs:
    """loguru's list of library directories, made when first iterated (the only use loguru has
    for it: ``ExceptionFormatter._is_file_mine``), then kept: sysconfig's paths do not change."""

    def __init__(self, make) -> None:
        self._make = make
        self._dirs: list[str] | None = None

    def __iter__(self):
        if self._dirs is None:
            self._dirs = list(self._make())
        return iter(self._dirs)


def lazy_lib_dirs() -> bool:
    """Make every exception formatter of loguru share one lazily made list; True if in place."""
    import loguru
    from loguru import _better_exceptions

    formatter = getattr(_better_exceptions, "ExceptionFormatter", None)
    if formatter is None or not loguru.__version__.startswith(_VERSIONS):
        return False
    make = formatter.__dict__.get("_get_lib_dirs")
    if getattr(getattr(make, "__func__", None), "zmqzab_lazy", False):
        return True  # in place already (setup_logging runs again in tests)
    if not isinstance(make, staticmethod):
        return False
    shared = LibDirs(make.__func__)

    def lib_dirs() -> LibDirs:
        return shared

    lib_dirs.zmqzab_lazy = True  # type: ignore[attr-defined]
    formatter._get_lib_dirs = staticmethod(lib_dirs)
    return True
