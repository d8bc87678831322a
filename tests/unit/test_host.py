"""The host's small parts (zmqzab/host/), on their own: the client table, the snapshot policy
and a DIFF stream from disk. The node, the simulator and the core harness all run them; the
simulator scenarios (tests/sim/test_host_fidelity.py) show them at work in a cluster."""

from __future__ import annotations

from zmqzab.core.output import ReadLog
from zmqzab.host.clients import ClientTable
from zmqzab.host.reads import DiskStream
from zmqzab.host.snapshots import SnapshotPolicy
from zmqzab.messages import Guess, SyncStart, SyncTxns, Txn
from zmqzab.zxid import make_zxid


def guess(client: str, seq: int) -> Guess:
    return Guess(client, seq, 50, 3)


def test_every_taker_of_a_request_is_answered_once_when_it_applies():
    table: ClientTable[str] = ClientTable(expiry_ticks=10)
    table.wait([guess("a", 1), guess("b", 1)], ["a-first", "b"], now=0)
    table.wait([guess("a", 1)], ["a-retry"], now=3)  # the same (client, seq) taken again
    assert table.pop(guess("a", 1)) == ["a-first", "a-retry"]
    assert table.pop(guess("a", 1)) == []
    assert table.pop(guess("c", 1)) == []
    assert len(table) == 1


def test_unanswered_requests_are_forgotten_after_the_expiry_only():
    table: ClientTable[str] = ClientTable(expiry_ticks=10)
    table.wait([guess("a", 1)], ["old"], now=0)
    table.wait([guess("b", 1)], ["young"], now=5)
    table.expire(10)
    assert len(table) == 2  # the deadline itself still waits
    table.expire(11)
    assert table.pop(guess("a", 1)) == [] and table.pop(guess("b", 1)) == ["young"]


def test_a_retry_keeps_its_request_waiting_past_the_first_takers_deadline():
    table: ClientTable[str] = ClientTable(expiry_ticks=10)
    table.wait([guess("a", 1)], ["first"], now=0)
    table.wait([guess("a", 1)], ["retry"], now=8)
    table.expire(12)
    assert table.pop(guess("a", 1)) == ["first", "retry"]


def test_snapshots_are_due_every_n_applied_txns_one_at_a_time():
    policy = SnapshotPolicy(every=4)
    assert not policy.applied(3)
    assert policy.applied(1)
    policy.started(in_flight=True)
    assert not policy.applied(5), "one is in flight: the next waits for its report"
    policy.finished()
    assert policy.applied(0) is True
    policy.started(in_flight=False)
    policy.applied(2)
    policy.installed()  # a SNAP from the leader is a snapshot: count again from 0
    assert not policy.applied(3) and policy.applied(1)
    assert not SnapshotPolicy(every=0).applied(10**6), "0: never"


def test_a_disk_stream_sends_its_header_once_then_chained_txns():
    header = SyncStart(7, 2, "DIFF", make_zxid(1, 3), 4, "behind the window")
    stream = DiskStream(ReadLog(to=2, session=7, epoch=2, after=make_zxid(1, 3), upto=make_zxid(1, 7),
                                zxid_committed=make_zxid(1, 7), header=header))
    assert stream.header() is header and stream.header() is None
    batch = [Txn(make_zxid(1, k), guess("a", k)) for k in (4, 5)]
    first = stream.txns(batch)
    second = stream.txns([Txn(make_zxid(1, 6), guess("a", 6)), Txn(make_zxid(1, 7), guess("a", 7))])
    assert isinstance(first, SyncTxns) and first.prev_zxid == make_zxid(1, 3)
    assert second.prev_zxid == make_zxid(1, 5) and second.session == 7 and second.epoch == 2
    assert stream.sent == 4 and stream.prev == make_zxid(1, 7)


def test_a_continued_disk_stream_has_no_header_to_send():
    stream = DiskStream(ReadLog(to=2, session=7, epoch=2, after=make_zxid(1, 3), upto=make_zxid(1, 4),
                                zxid_committed=make_zxid(1, 4)))
    assert stream.header_sent and stream.header() is None
