"""One rate-limited warning per kind of dropped input.

Hostile or broken input is dropped and counted (STYLE: a malformed peer message is a remote
error). A flood of it must not flood the log too: each kind warns at most once per
``interval_s``, and the warning says how many more were dropped since the last one. The counts
themselves are in ``/status`` counters and ``/metrics``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

WARN_INTERVAL_S = 10.0


class DropWarnings:
    def __init__(self, warn: Callable[[str], None] | None, interval_s: float = WARN_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._warn = warn
        self._interval = interval_s
        self._clock = clock
        self._last: dict[str, float] = {}
        self._quiet: dict[str, int] = {}  # dropped since the last warning of that kind

    def dropped(self, kind: str, detail: str | Callable[[], str]) -> None:
        """``detail`` may be a function: then it costs nothing unless a warning is written (a
        flood of large garbage must not cost a repr each)."""
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self._interval:
            self._quiet[kind] = self._quiet.get(kind, 0) + 1
            return
        self._last[kind] = now
        more = self._quiet.pop(kind, 0)
        if self._warn is not None:
            also = f" (and {more} more since the last warning)" if more else ""
            text = detail() if callable(detail) else detail
            self._warn(f"dropped {kind.replace('_', ' ')}: {text}{also}; warnings of this kind "
                       f"at most every {self._interval:g} s, counts in /metrics")
