"""Attack on 8cc762f's ACK checker (``Checkers.check_ack_synced``): it checks the messages a
follower sends, but a leader never sends itself an ACK. Its own vote is ``peer.zxid_durable``,
counted in every commit (``leader._advance_commit``) and its licence to write currentEpoch
(``leader._progress``), and it comes from the very rule this change moved (a durable report
the host passes, host/durable.py). A host that passes a leader more than its fsync covered is
invisible to a checker that looks at ACK messages only.

The bug is played by wrapping ``Replica.durable``: on a LEADING node, a new report is passed as
the log's end (``peer.zxid_last``), everything handed to the writer, synced or not (the leader
acking itself at hand-off instead of after the flush). Followers are correct, so no ACK or
PING vouches for anything unsynced. Before the fix, seeds 1..30 with report schedules found no
violation (no checker saw it); with the fix (the simulator checks, at every report the host
takes, that what the core now believes durable is synced on the node's disk, whatever its
role), 8 of seeds 1..8 violate the ACK property, at the leader. Clean sweeps stay clean.
"""

from __future__ import annotations

import pytest

from zmqzab.core.roles import Role
from zmqzab.host.replica import Replica
from zmqzab.sim import SimOptions, sweep

pytestmark = pytest.mark.storage

SEEDS = range(1, 6)
ACK_PROP = "ACK only after an fsync that covers what it vouches for"


def test_a_leader_that_counts_its_own_unsynced_vote_is_caught(monkeypatch):
    """Goal: the durability checker sees the leader's own vote, not only ACK messages. Setup:
    5 nodes, random faults, report schedules on, seeds 1..5; a leader's host passes each new
    report as its whole log (the bug above). Expected: some seed violates the ACK property at a
    LEADING node."""
    durable = Replica.durable

    def leader_counts_the_handed_log(self, zxid, covered):
        if self.peer.role == Role.LEADING and covered > self.reports.taken:
            zxid = self.peer.zxid_last  # the bug: its vote counts what it handed over
        return durable(self, zxid, covered)

    monkeypatch.setattr(Replica, "durable", leader_counts_the_handed_log)
    found = sweep(SEEDS, SimOptions(nodes=5, report_schedules=True))
    for f in found.failures:
        print(f"seed {f.options.seed}: {f.violation}")
    caught = [f for f in found.failures if f.violation.prop == ACK_PROP and "LEADING" in str(f.violation)]
    print(f"caught by {len(caught)} of seeds {list(SEEDS)}")
    assert caught, f"no seed of {list(SEEDS)} caught a leader counting its own unsynced vote"
