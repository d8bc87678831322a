"""The simulator's trace: one readable line per event, e.g. ``t=412 n3->n1 ACK 2:17``.

Entries are kept as small tuples and formatted only when someone reads them (``--trace``, a
failure's tail, the determinism test): formatting every message of a 1000-seed sweep would
cost more than simulating it. Lines contain nothing that differs between two runs of the same
seed (no temp-dir paths, no wall clock, no ids of Python objects), so a trace is byte-identical
from run to run and can be diffed.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable

# describe_op is re-exported: the simulator's modules take it from here.
from zmqzab.messages import describe, describe_op  # noqa: F401
from zmqzab.zxid import fmt_zxid

#: Simulated time units per tick (the trace prints whole ticks: ``t=412``).
TICK = 100


class Trace:
    """Entries ``(time, kind, payload...)``; ``keep`` bounds memory (None keeps everything).

    ``echo`` (e.g. ``print``) receives each line as it happens, for ``zmqzab sim --trace``.
    """

    def __init__(self, keep: int | None = 400, echo: Callable[[str], None] | None = None) -> None:
        self.entries: deque[tuple[Any, ...]] = deque(maxlen=keep)
        self.echo = echo
        self.count = 0

    def add(self, *entry: Any) -> None:
        self.entries.append(entry)
        self.count += 1
        if self.echo is not None:
            self.echo(format_entry(entry))

    def lines(self, last: int | None = None) -> list[str]:
        entries = list(self.entries)
        if last is not None:
            entries = entries[-last:]
        return [format_entry(e) for e in entries]


def format_entry(entry: tuple[Any, ...]) -> str:
    time, kind = entry[0], entry[1]
    head = f"t={time // TICK}"
    match kind:
        case "msg":
            _, _, src, dst, msg, note = entry
            return f"{head} n{src}->n{dst} {describe(msg)}{note}"
        case "lost":
            _, _, src, dst, msg, why = entry
            return f"{head} n{src}->n{dst} {describe(msg)}  [lost: {why}]"
        case "node":
            _, _, node, text = entry
            return f"{head} n{node}  {text}"
        case "fault":
            return f"{head} ** {entry[2]}"
        case "client":
            return f"{head} {entry[2]}"
        case "disk":
            _, _, node, zxid = entry
            return f"{head} n{node}  fsync done: log durable to {fmt_zxid(zxid)}"
        case "phase":
            return f"{head} == {entry[2]}"
    return f"{head} {entry[1:]}"
