"""Attack on 8cc762f's ACK checker (``Checkers.check_ack_synced``): it looks only at ``Ack``
messages, but the leader also counts a follower's PING as an ACK.

``leader.on_ping`` raises ``ln.acked`` to the PING's ``zxid_last`` (a lost ACK repaired by the
next heartbeat), and ``_advance_commit`` commits with it. ``follower.tick`` sends
``zxid_last=fs.last_acked``, which is right; but a one-word bug there (the log's end,
``peer.zxid_last``, instead of what was ACKed) makes every heartbeat vouch for txns only handed
to the writer: the leader commits with a quorum that a power loss can take back, exactly what
the checker is for ("every ACK follows an fsync that covers what it vouches for").

The bug is played here by wrapping ``follower.tick`` (no core switch holds it): on a heartbeat
tick of a serving follower, ``last_acked`` reads as the log's end for the PING only. Before the
fix, seeds 1..40 with report schedules found no violation at all (no checker saw it); after it
(NodeIO.send checks a follower's PING as the ACK it is), 16 of seeds 1..20 violate the ACK
property. Clean sweeps (report schedules on and off) stay clean with the fix.
"""

from __future__ import annotations

import pytest

from zmqzab.core import follower
from zmqzab.sim import SimOptions, sweep

pytestmark = pytest.mark.storage

SEEDS = range(1, 9)
ACK_PROP = "ACK only after an fsync that covers what it vouches for"


def test_a_ping_that_vouches_for_unsynced_txns_is_caught(monkeypatch):
    """Goal: the ACK checker sees every message the leader counts as an ACK. Setup: 5 nodes,
    random faults, report schedules on, seeds 1..8; followers' heartbeats carry their log's end
    (the bug above). Expected: some seed violates the ACK property, through a PING."""
    tick = follower.tick

    def pings_the_log_end(peer, fs, out):
        acked = fs.last_acked
        if fs.serving and peer.now % peer.cfg.heartbeat_ticks == 0:
            fs.last_acked = max(acked, peer.zxid_last)  # the bug: the PING vouches for it all
        try:
            return tick(peer, fs, out)
        finally:
            fs.last_acked = acked

    monkeypatch.setattr(follower, "tick", pings_the_log_end)
    found = sweep(SEEDS, SimOptions(nodes=5, report_schedules=True))
    for f in found.failures:
        print(f"seed {f.options.seed}: {f.violation}")
    caught = [f for f in found.failures if f.violation.prop == ACK_PROP and "PING" in str(f.violation)]
    print(f"caught by {len(caught)} of seeds {list(SEEDS)}")
    assert caught, f"no seed of {list(SEEDS)} caught a PING that vouches for unsynced txns"
