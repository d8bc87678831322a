"""The event ring and its rendering (events.py): cheap to record, bounded to read."""

from __future__ import annotations

import time

import pytest
from zmqzab.core.output import BROADCAST, Trace
from zmqzab.server.events import KEY_RING_SIZE, EventLog, bounded, render
from zmqzab.messages import (
    Ack,
    Commit,
    GameResult,
    Guess,
    Notification,
    Ping,
    Proposal,
    SyncStart,
    Txn,
    Vote,
    describe,
)
from zmqzab.zxid import make_zxid

pytestmark = [pytest.mark.web]


def txn(counter: int, epoch: int = 3, value: int = 42) -> Txn:
    return Txn(zxid=make_zxid(epoch, counter), op=Guess("alice", counter, value))


def result(text: str = "guess 1 of 3 recorded") -> GameResult:
    return GameResult(kind="guess_recorded", message=text)


def test_since_follows_by_sequence_and_counts_what_a_slow_reader_lost():
    log = EventLog(1, size=10, key_size=5)
    for i in range(25):
        log.add("commit", (make_zxid(1, i + 1), make_zxid(1, i + 1), 1, ()))
    items, lost = log.since(0)
    assert [it[0] for it in items] == list(range(16, 26))
    assert lost == 15
    items, lost = log.since(20)
    assert [it[0] for it in items] == [21, 22, 23, 24, 25] and lost == 0
    assert log.since(25) == ([], 0)


def test_key_events_survive_a_flood_of_traffic():
    """An election seen by a reader that fell behind, even after 2000+ traffic records."""
    log = EventLog(0, size=100, key_size=KEY_RING_SIZE)
    log.add("trace", Trace("role", "LOOKING / ELECTION: start-up", {"role": "LOOKING"}))
    log.add("trace", Trace("elected", "round 1: node 4 leads", {"leader": 4}))
    for i in range(2000):
        log.sent(3, Ack(session=1, epoch=1, zxid=make_zxid(1, i + 1)))
    items, lost = log.since(0)
    kinds = [it[2] for it in items]
    assert kinds[:2] == ["trace", "trace"] and len(items) == 102
    assert lost == 2000 - 100


def test_key_events_survive_the_read_limit_of_a_reader_that_fell_behind():
    """The role change a reader fell behind on is still sent when the ring it missed is full.

    Found by tests/unit/test_sse.py's 50k commits/s flood failing on a busy machine: the SSE
    reader (limit = RING_SIZE = the ring's size) got the key event plus a full ring, one over
    its limit, and the cut to the limit fell on the oldest record, the key event itself."""
    log = EventLog(0, size=100, key_size=10)
    for i in range(50):
        log.committed([(txn(i + 1), result())])
    log.add("trace", Trace("role", "LOOKING / ELECTION: lost the quorum", {"role": "LOOKING"}))
    for i in range(50, 300):
        log.committed([(txn(i + 1), result())])
    items, lost = log.since(0, limit=100)
    assert len(items) == 100
    assert [it[2] for it in items].count("trace") == 1, "the role change was cut"
    assert lost == 301 - 100


def test_sent_skips_pings_and_records_a_vote_to_all_once():
    log = EventLog(2)
    note = Notification(round=3, state="LOOKING", vote=Vote(leader=4, zxid=make_zxid(2, 7), epoch=2))
    for peer in (0, 1, 3, 4):
        log.sent(peer, note)  # the core sends one object to every peer
        log.sent(peer, Ping(epoch=2, zxid_committed=0, zxid_last=0))
    assert log.seq == 1
    ev = render(log.ring[0], 2)
    assert ev["msg"] == "VOTE" and ev["to"] == "all" and ev["vote"]["leader"] == 4
    assert ev["text"] == "→ all VOTE r3 LOOKING for n4 (epoch 2, 2:7)"


def test_received_votes_are_recorded_when_they_change_only():
    log = EventLog(0)
    a = Notification(round=1, state="LOOKING", vote=Vote(leader=1, zxid=0, epoch=0))
    b = Notification(round=1, state="LOOKING", vote=Vote(leader=4, zxid=0, epoch=0))
    for msg in (a, a, a, b, b):
        log.received(1, msg)
    log.received(1, Ping(epoch=0, zxid_committed=0, zxid_last=0))
    assert log.seq == 2


def test_render_names_zab_messages_and_zxids_as_epoch_counter():
    # The view's words are the simulator trace's (one renderer: messages.describe).
    log = EventLog(4)
    log.sent(1, Proposal(epoch=3, txns=[txn(17)]))
    assert render(log.ring[-1], 4)["text"] == f"→ n1 {describe(Proposal(epoch=3, txns=[txn(17)]))}"
    assert describe(Proposal(epoch=3, txns=[txn(17)])) == "PROPOSAL 3:17 [guess 42 (alice#17)]"
    assert describe(Proposal(epoch=3, txns=[txn(17), txn(18)])) == \
        "PROPOSAL 3:17..3:18 [guess 42 (alice#17), guess 42 (alice#18)]"
    assert describe(Commit(epoch=3, zxid=make_zxid(3, 18))) == "COMMIT 3:18"
    sync = SyncStart(session=1, epoch=4, mode="TRUNC", zxid=make_zxid(3, 2), txns_total=0,
                     reason="follower has txns after 3:2")
    assert describe(sync) == "TRUNC 3:2 (0 txns to come)"
    log = EventLog(4)
    log.committed([(txn(5), result("client alice set the target to 42"))])
    ev = render(log.ring[-1], 4)
    assert ev["kind"] == "commit" and ev["zxid"] == "3:5" and ev["count"] == 1
    assert ev["text"] == "committed 3:5 guess 42 (alice#5): client alice set the target to 42"
    log.add("trace", Trace("sync", "DIFF to node 2", {"mode": "DIFF", "follower": 2, "odd": object()}))
    ev = render(log.ring[-1], 4)
    assert ev["kind"] == "sync" and ev["mode"] == "DIFF" and "odd" not in ev


def test_render_truncates_long_text():
    log = EventLog(0)
    log.add("control", "x" * 5000)
    assert len(render(log.ring[-1], 0)["text"]) <= 240


def test_bounded_leaves_a_quiet_flush_alone():
    log = EventLog(0)
    log.sent(BROADCAST, Proposal(epoch=3, txns=[txn(1)]))
    log.received(1, Ack(session=1, epoch=3, zxid=make_zxid(3, 1)))
    log.committed([(txn(1), result())])
    out = bounded(list(log.ring), 0, cap=10)
    assert [e["kind"] for e in out] == ["send", "recv", "commit"]


def test_bounded_merges_50k_commits_into_ranges_and_keeps_the_election():
    """50k commit records (one per txn, the worst case) plus traffic and one role change in a
    single flush become a handful of events: ranges per kind and peer, the role change intact."""
    log = EventLog(0, size=200_000)
    for i in range(1, 25_001):
        log.committed([(txn(i), result())])
    log.add("trace", Trace("role", "LOOKING / ELECTION: lost the quorum", {"role": "LOOKING"}))
    for i in range(25_001, 50_001):
        log.committed([(txn(i), result())])
        if i % 10 == 0:
            log.received(1 + (i // 10) % 4, Ack(session=1, epoch=3, zxid=make_zxid(3, i)))
    items = list(log.ring)
    t0 = time.perf_counter()
    out = bounded(items, 0, cap=20)
    took = time.perf_counter() - t0
    assert len(out) <= 20
    kinds = [e["kind"] for e in out]
    assert "role" in kinds
    commit = next(e for e in out if e["kind"] == "commit")
    assert (commit["zxid"], commit["zxid_to"], commit["count"]) == ("3:1", "3:50000", 50_000)
    assert commit["text"] == "committed 3:1..3:50000 (50000 txns in 50000 batches)"
    acks = [e for e in out if e["kind"] == "recv"]
    assert sorted(e["from"] for e in acks) == [1, 2, 3, 4]
    assert took < 1.0, f"merging 55k records took {took:.2f}s"


def test_bounded_summarises_what_does_not_fit():
    log = EventLog(0)
    for peer in range(9):  # nine different merge keys
        log.sent(peer, Ack(session=1, epoch=1, zxid=make_zxid(1, 1)))
        log.sent(peer, Ack(session=1, epoch=1, zxid=make_zxid(1, 2)))
    log.add("trace", Trace("elected", "node 3 leads", {"leader": 3}))
    out = bounded(list(log.ring), 0, cap=5)
    assert len(out) == 5
    assert out[-1]["kind"] == "summary" and "ACK" in out[-1]["text"]
    assert any(e["kind"] == "elected" for e in out)


def test_recording_is_cheap():
    """The hot-path cost the node pays: a few microseconds per record at most."""
    log = EventLog(0)
    applied = [(txn(1), result())]
    ack = Ack(session=1, epoch=3, zxid=make_zxid(3, 1))
    n = 50_000
    t0 = time.perf_counter()
    for _ in range(n):
        log.committed(applied)
        log.received(2, ack)
    per_record = (time.perf_counter() - t0) / (2 * n)
    assert per_record < 10e-6, f"{per_record * 1e6:.2f} µs per record"
