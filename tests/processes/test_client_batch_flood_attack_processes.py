"""A flood of cheap BATCH reads on a leader's client port, between real node processes (branch
p, issue 14), from outside. On p (and on main, with plain frames) nothing bounded the work of
one loop pass: a status read costs ~30 us and ~1.9 KB for 8 bytes in, and this flood cost an
election every run; the client port now takes requests for at most PASS_S per pass."""

from __future__ import annotations

import pytest
import zmq

from zmqzab.messages import ClientBatch, ReadRequest, encode
from zmqzab.security.curve import client_socket

from tests.polling import wait_for
from tests.processes.procs import ProcCluster

pytestmark = [pytest.mark.processes]


def test_processes_a_read_flood_on_the_leader_does_not_cost_an_election(tmp_path):
    """Goal: a client cannot starve the leader's peers (ZooKeeper throttles a client:
    globalOutstandingLimit; this node's own ZooKeeper port stops reading at its outstanding
    limit, server/node.py). Setup: three nodes. Faults: one connection sends 30 messages of 5
    BATCH frames of 2,000 status reads (8 bytes each: 1.5 MB in all) to the leader and never
    reads. Expected: once the leader answered them all, the same leader in the same epoch."""
    c = ProcCluster(tmp_path, n=3)
    ctx = zmq.Context()
    try:
        c.start_all()
        ld = c.wait_leader()
        before = c.status(ld, timeout=5)["current_epoch"]
        sock = client_socket(ctx, c.config, ld, None)
        sock.setsockopt(zmq.LINGER, 0)
        frame = encode(ClientBatch([ReadRequest(k % 100, "") for k in range(2000)]))
        for _ in range(30):
            sock.send_multipart([frame] * 5)
        # Taken: the flood's reads are counted (a bound, the test waits for the node's count).
        wait_for(lambda: (st := c.status(ld, timeout=5)) and st["counters"]["client_requests"] >= 300_000,
                 120, "the leader took the flood")
        after = c.wait_leader(30)
        epoch = c.status(after, timeout=5)["current_epoch"]
        print(f"leader {ld} epoch {before} -> leader {after} epoch {epoch}")
        assert (after, epoch) == (ld, before)
    finally:
        ctx.destroy(linger=0)
        c.close()
