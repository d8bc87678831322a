"""loguru's library directories (server/loguru_startup.py lazy_lib_dirs) wait for an exception.

Goal: a node no longer lists the library directories at each ``logger.add`` (~3 ms each), and an
exception is still formatted with loguru's own list. Setup: this process's loguru, set up as a
node sets it up. Faults: none. Expected: no list made by the set-up; one, loguru's own, made by
the first exception and shared by every sink. (The asyncio stand-in needs a fresh interpreter:
tests/processes/test_startup_imports_processes.py.)
"""

from __future__ import annotations

import loguru
import pytest
from loguru import _better_exceptions, logger

from zmqzab.server.logs import setup_logging
from zmqzab.server.loguru_startup import LibDirs, lazy_lib_dirs

pytestmark = pytest.mark.skipif(not loguru.__version__.startswith("0.7."),
                                reason="the stand-ins are for loguru 0.7.x only; others keep loguru's own code")


def test_the_library_directories_wait_for_the_first_exception_and_are_loguru_s_own(tmp_path, capsys,
                                                                                     monkeypatch):
    # loguru as it was before any set-up in this process (an earlier test's may be in place).
    formatter = _better_exceptions.ExceptionFormatter
    current = formatter.__dict__["_get_lib_dirs"].__func__
    own = current()._make if getattr(current, "zmqzab_lazy", False) else current
    monkeypatch.setattr(formatter, "_get_lib_dirs", staticmethod(own))
    setup_logging(0, tmp_path)
    try:
        made = formatter._get_lib_dirs()
        assert isinstance(made, LibDirs) and made._dirs is None, "listed at logger.add already"
        assert lazy_lib_dirs()  # a second set-up keeps the one list
        assert formatter._get_lib_dirs() is made
        try:
            raise ValueError("formatted with the library directories")
        except ValueError:
            logger.bind(node=0).exception("an exception")
        assert made._dirs is not None and sorted(made) == sorted(own())  # loguru's own list
        err = capsys.readouterr().err
        assert "ValueError: formatted with the library directories" in err
    finally:
        logger.remove()
