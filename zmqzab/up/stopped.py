"""Waiting until a SIGSTOP has stopped every thread of a process.

Why: ``kill(pid, SIGSTOP)`` returns at once, and the stop begins only when one of the process's
threads takes the signal; until then its other threads run on. With each node kept to one CPU
([processes] cpu_affinity) that thread may wait behind the CPU's other nodes, and a paused node's
HTTP thread was seen answering a request sent after `zmqzab pause` had returned. A pause that
returns once the node is stopped is what a person (and a test, and a nemesis) means by it.
"""

from __future__ import annotations

import os
import time


def all_stopped(pid: int) -> bool | None:
    """True once every thread of ``pid`` is stopped; None if that cannot be read (no /proc, or
    the process is gone)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
        states = []
        for tid in tids:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                states.append(f.read().rsplit(")", 1)[1].split()[0])
    except OSError:
        return None
    return all(s in ("T", "t") for s in states)


def wait_stopped(pid: int, timeout: float = 2.0) -> bool:
    """Poll until every thread of ``pid`` is stopped (True), or until the deadline, or when this
    cannot be told (False: the caller carries on as before)."""
    deadline = time.monotonic() + timeout
    while True:
        state = all_stopped(pid)
        if state is None:
            return False
        if state:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.001)
