"""Attack on issue 14's lazy status (``Node.status_snapshot``): the first reader after a quiet
spell waits STATUS_CATCH_UP_S (1 s) for the loop's next tick, and gets the status built before
the spell if the tick is further away than that: any tick_ms above 1000 (config.py allows any
tick_ms >= 1; ZooKeeper's own tickTime defaults to 2000 ms).

Schedule: one node, leading; its tick becomes 3 s; the quiet spell is shortened to 0.3 s
(STATUS_WATCHED_S) so the test does not wait 5 s; after it the loop stops building the status;
a client write commits; then /status is read. Expected: the status shows the write (its
committed zxid). Before the fix: the status of before the write, after a 1 s wait.
"""

from __future__ import annotations

import threading
import time

import pytest

from tests import polling
from zmqzab.client import Client
from zmqzab.config import load_config
from zmqzab.core.roles import Role
from zmqzab.server import node as node_module
from zmqzab.server.node import Node
from zmqzab.up.localcluster import make_config
from zmqzab.zxid import fmt_zxid

pytestmark = [pytest.mark.storage]

WAIT = 30.0  # a bound for a stuck test, never a pause


def wait_for(condition, what: str, deadline_s: float = WAIT) -> None:
    polling.wait_for(condition, deadline_s, what, interval=0.005)


def test_the_first_status_after_a_quiet_spell_is_current_with_a_tick_over_a_second(tmp_path, monkeypatch):
    monkeypatch.setattr(node_module, "STATUS_WATCHED_S", 0.3)
    config = load_config(make_config(tmp_path, 1))
    node = Node(config, 0, tmp_path / "data" / "node-0")
    runner = threading.Thread(target=node.run, daemon=True)
    runner.start()
    try:
        wait_for(lambda: node.peer.role == Role.LEADING and node.peer.phase == "BROADCAST", "node 0 leads")
        node.tick_s = 3.0
        wait_for(lambda: not node._status_current.is_set(), "a tick with nobody reading: the status goes stale",
                 deadline_s=WAIT)
        with Client(config, node=0, timeout=10.0) as client:
            written = client.guess(42).zxid
        wait_for(lambda: node.peer.zxid_committed >= written, "the write committed")
        t0 = time.monotonic()
        status = node.status_snapshot  # what /status and /events?status=1 return
        took = time.monotonic() - t0
    finally:
        node.running = False
        node.wake.poke_quietly(b"x")  # out of its 3 s wait now
        runner.join(timeout=20)
    print(f"status read in {took:.3f} s: {status.get('zxid_committed')}, the write {fmt_zxid(written)}")
    assert status.get("zxid_committed") == fmt_zxid(written), \
        f"the status after a quiet spell is from before it: {status.get('zxid_committed')} (write {fmt_zxid(written)})"
