"""A pause returns once the process is stopped (zmqzab/up/stopped.py): kill(SIGSTOP) returns
before its threads stop, and a paused node's HTTP thread answered a request sent after
`zmqzab pause` had returned (seen with each node kept to one CPU, under load)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from zmqzab.up.stopped import all_stopped, wait_stopped

pytestmark = [pytest.mark.processes,
              pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc")]

BUSY = """
import threading
def spin():
    while True:
        pass
for _ in range(3):
    threading.Thread(target=spin, daemon=True).start()
print("ready", flush=True)
spin()
"""


def test_wait_stopped_returns_when_every_thread_is_stopped_processes():
    """Goal: True only once every thread is in the stopped state. Setup: a child with four busy
    threads on one CPU (the way a node is kept), SIGSTOP. Expected: wait_stopped is True and
    all_stopped agrees; after SIGCONT it is no longer stopped; a gone process reads as None."""
    cpu = min(os.sched_getaffinity(0))
    child = subprocess.Popen([sys.executable, "-c", BUSY], stdout=subprocess.PIPE, text=True,
                             preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    try:
        assert child.stdout.readline().strip() == "ready"
        assert all_stopped(child.pid) is False
        os.kill(child.pid, signal.SIGSTOP)
        assert wait_stopped(child.pid, timeout=30)
        assert all_stopped(child.pid) is True
        assert len(os.listdir(f"/proc/{child.pid}/task")) == 4
        os.kill(child.pid, signal.SIGCONT)
        deadline_ok = any(all_stopped(child.pid) is False for _ in range(100_000))
        assert deadline_ok
    finally:
        child.kill()
        child.wait()
    assert all_stopped(child.pid) is None
    assert wait_stopped(child.pid, timeout=0.1) is False
