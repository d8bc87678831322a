"""The host's rule for durable reports (host/durable.py), shared by node.py and the simulator:
a report becomes ``Peer.persisted`` once, and only if it covers the last cut handed over."""

from __future__ import annotations

import pytest

from zmqzab.core.output import Append, InstallSnapshot, Truncate
from zmqzab.host.durable import HOST_TEST_FAULTS, DurableReports
from zmqzab.messages import Guess, Txn
from zmqzab.storage.compaction import SaveSnapshot
from zmqzab.zxid import make_zxid


def _append(counter: int) -> Append:
    return Append([Txn(make_zxid(1, counter), Guess("c", counter, counter))])


def test_each_report_passes_once_in_order():
    r = DurableReports(make_zxid(1, 0))
    r.handed_over([_append(1), _append(2)])
    assert r.take(make_zxid(1, 1), 1) and r.zxid == make_zxid(1, 1)
    assert not r.take(make_zxid(1, 1), 1)  # the same report again
    assert r.take(make_zxid(1, 2), 2)
    assert not r.take(make_zxid(1, 1), 1)  # an older one, late
    assert r.zxid == make_zxid(1, 2)


@pytest.mark.parametrize("cut", [Truncate(make_zxid(1, 1)), InstallSnapshot(make_zxid(1, 1), b"")])
def test_a_report_from_before_the_last_cut_is_dropped(cut):
    """The ABA of the node attacks: the log is cut back and refilled with the same zxids; the
    report made before the cut names a zxid the refilled log holds, but vouches for the old log."""
    r = DurableReports(0)
    r.handed_over([_append(1), _append(2)])
    r.handed_over([SaveSnapshot(make_zxid(1, 2), b"")])  # a snapshot batch, slow
    r.handed_over([cut, _append(2)])
    assert r.handed == 5 and r.cut_at == 4
    assert not r.take(make_zxid(1, 2), 3)  # the snapshot batch's report, after the cut
    assert r.zxid == 0
    assert r.take(make_zxid(1, 2), 5)  # the cut's batch
    assert r.zxid == make_zxid(1, 2)


def test_the_switches_put_each_defect_back():
    replayed = DurableReports(0, frozenset({"durable_report_replayed"}))
    replayed.handed_over([_append(1), Truncate(0)])
    assert replayed.take(make_zxid(1, 1), 1) and replayed.take(make_zxid(1, 1), 1)
    ignores_cut = DurableReports(0, frozenset({"durable_report_ignores_cut"}))
    ignores_cut.handed_over([_append(1), Truncate(0)])
    assert ignores_cut.take(make_zxid(1, 1), 1)
    assert not ignores_cut.take(make_zxid(1, 1), 1)  # still once
    with pytest.raises(ValueError, match="unknown host test fault"):
        DurableReports(0, frozenset({"no_such_bug"}))
    assert set(HOST_TEST_FAULTS) == {"durable_report_replayed", "durable_report_ignores_cut",
                                     "takes_stale_requests"}  # the last: Replica's, not the reports'
    other = DurableReports(0, frozenset({"takes_stale_requests"}))  # changes no report rule
    other.handed_over([_append(1), Truncate(0)])
    assert not other.take(make_zxid(1, 1), 1) and other.take(make_zxid(1, 1), 2)
