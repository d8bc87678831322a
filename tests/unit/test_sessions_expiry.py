"""The leader's session expiry tracker (zmqzab/tree/expiry.py): buckets in ticks, touches,
closing, a new leader's rebuild, the followers' touches.

Random tests use hypothesis: a failure prints the falsifying example and a
``@reproduce_failure`` line; ``pytest --hypothesis-seed=N`` replays a whole run.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqzab.tree.expiry import (
    SESSIONEXPIRED,
    SESSIONMOVED,
    ExpiryTracker,
    TouchTable,
    timeout_ticks,
)
from zmqzab.tree.sessions import CloseSessionTxn, CreateSessionTxn, Sessions
from zmqzab.zxid import make_zxid

pytestmark = [pytest.mark.zk]


def expiries(tracker: ExpiryTracker, start: int, stop: int) -> dict[int, list[int]]:
    """Call ``expired`` at every tick of [start, stop); the ticks that reported something."""
    out = {}
    for now in range(start, stop):
        got = tracker.expired(now)
        if got:
            out[now] = got
    return out


def test_timeout_in_ticks_rounds_up():
    assert timeout_ticks(10_000, 50) == 200
    assert timeout_ticks(10_001, 50) == 201  # never shorter than negotiated
    assert timeout_ticks(1, 50) == 1
    with pytest.raises(ValueError, match="positive"):
        timeout_ticks(0, 50)


def test_bucket_is_the_next_multiple_of_the_interval_after_the_deadline():
    """ExpiryQueue.roundToNextInterval: (t / interval + 1) * interval, strictly after t."""
    tracker = ExpiryTracker(interval_ticks=4)
    assert tracker.bucket_for(now=0, timeout_ticks=10) == 12  # 10 -> 12
    assert tracker.bucket_for(now=2, timeout_ticks=10) == 16  # 12 is a multiple: the NEXT one
    assert tracker.bucket_for(now=3, timeout_ticks=10) == 16  # 13 -> 16
    assert ExpiryTracker(1).bucket_for(now=5, timeout_ticks=10) == 16


def test_expiry_at_the_bucket_tick_and_not_before():
    tracker = ExpiryTracker(interval_ticks=4)
    assert tracker.track(101, 10, now=0)  # bucket 12
    assert tracker.track(102, 10, now=3)  # 13 -> bucket 16
    assert tracker.track(103, 10, now=2)  # 12 -> bucket 16
    assert tracker.deadline(101) == 12 and tracker.next_expiry() == 12
    assert expiries(tracker, 0, 30) == {12: [101], 16: [102, 103]}


def test_sessions_of_one_bucket_come_out_by_id_whatever_the_order_they_went_in():
    a, b = ExpiryTracker(4), ExpiryTracker(4)
    for sid in (9, -2, 5):
        a.track(sid, 10, now=0)
    for sid in (5, 9, -2):
        b.track(sid, 10, now=1)
    assert a.expired(12) == b.expired(12) == [-2, 5, 9]


def test_a_late_call_takes_every_bucket_that_passed_in_bucket_order():
    tracker = ExpiryTracker(interval_ticks=2)
    tracker.track(1, 9, now=0)  # bucket 10
    tracker.track(2, 3, now=0)  # bucket 4
    tracker.track(3, 5, now=0)  # bucket 6
    assert tracker.expired(3) == []
    assert tracker.expired(50) == [2, 3, 1]
    assert tracker.expired(51) == []


def test_touches_extend():
    tracker = ExpiryTracker(interval_ticks=1)
    tracker.track(7, 5, now=0)  # bucket 6
    for now in range(0, 20):
        assert tracker.expired(now) == []
        assert tracker.touch(7, 5, now)  # heard from every tick: never expires
    assert tracker.deadline(7) == 25
    assert expiries(tracker, 20, 40) == {25: [7]}


def test_a_touch_within_the_same_bucket_changes_nothing():
    tracker = ExpiryTracker(interval_ticks=10)
    tracker.track(7, 5, now=0)  # 5 -> bucket 10
    assert tracker.touch(7, 5, now=4)  # 9 -> bucket 10 still
    assert tracker.deadline(7) == 10
    assert tracker.touch(7, 5, now=5)  # 10 -> bucket 20
    assert tracker.deadline(7) == 20
    assert tracker.expired(10) == []  # the old bucket passes empty
    assert tracker.expired(20) == [7]


def test_an_expired_session_is_reported_once_and_a_late_touch_does_not_revive_it():
    """Goal: the leader proposes one closeSession per expiry. Setup: a session expires.
    Faults: a follower's PING reporting it arrives after the expiry, and the leader's tick
    keeps coming. Expected: reported once; every touch refused while closing; remove() when
    the close is applied forgets it."""
    tracker = ExpiryTracker(interval_ticks=1)
    tracker.track(7, 3, now=0)  # bucket 4
    assert tracker.expired(4) == [7]
    assert tracker.is_closing(7) and tracker.closing() == [7]
    assert tracker.deadline(7) is None
    assert not tracker.touch(7, 3, now=5)
    assert tracker.touch_reported([7], now=5) == [7]
    assert not tracker.track(7, 3, now=5)  # nor does a re-track
    assert expiries(tracker, 5, 100) == {}  # never reported again
    assert 7 in tracker
    assert tracker.remove(7)  # its closeSession applied
    assert 7 not in tracker and tracker.closing() == [] and not tracker.is_closing(7)
    assert not tracker.remove(7)


def test_a_client_close_marks_the_session_closing():
    tracker = ExpiryTracker(interval_ticks=1)
    tracker.track(7, 3, now=0)
    tracker.track(8, 3, now=0)
    assert tracker.mark_closing(7)
    assert not tracker.mark_closing(7)  # once
    assert not tracker.mark_closing(99)  # unknown
    assert not tracker.touch(7, 3, now=1)
    assert tracker.expired(4) == [8]  # the closing one is not reported by expiry as well
    assert tracker.closing() == [7, 8]


def test_remove_of_a_live_session_takes_it_out_of_its_bucket():
    tracker = ExpiryTracker(interval_ticks=1)
    tracker.track(7, 3, now=0)
    assert tracker.remove(7)
    assert expiries(tracker, 0, 10) == {}
    assert not tracker.touch(7, 3, now=1)  # unknown now


def test_touching_an_unknown_session_does_not_start_tracking_it():
    tracker = ExpiryTracker(interval_ticks=1)
    assert not tracker.touch(5, 10, now=0)
    assert 5 not in tracker and len(tracker) == 0


def test_followers_touches_are_merged_with_each_sessions_own_timeout():
    tracker = ExpiryTracker(interval_ticks=1)
    tracker.track(1, 5, now=0)
    tracker.track(2, 50, now=0)
    tracker.track(3, 5, now=0)
    tracker.mark_closing(3)
    follower = TouchTable()
    for sid in (2, 1, 2, 99, 3, 1):
        follower.touch(sid)
    assert len(follower) == 4
    report = follower.drain()
    assert report == [2, 1, 99, 3] and len(follower) == 0 and follower.drain() == []
    assert tracker.touch_reported(report, now=10) == [99, 3]  # unknown, closing
    assert tracker.deadline(1) == 16 and tracker.deadline(2) == 61


def test_rebuild_on_a_new_leader_gives_every_session_a_full_timeout():
    """Goal: sessions survive a leader change. Setup: the old leader tracked three sessions,
    touched one, expired one and proposed its close (not committed). Faults: the old leader
    dies at tick 100. Expected: the new leader, elected at tick 130 with its own tick count,
    rebuilds from the replicated table: every open session (the one marked closing too, since
    its close never committed) gets its whole timeout from tick 130, in ticks of its own."""
    table = Sessions()
    for k, (sid, ms) in enumerate([(11, 1000), (12, 2000), (13, 400)]):
        table.apply(CreateSessionTxn(sid, ms), make_zxid(1, k + 1))
    old = ExpiryTracker.rebuild(((r.session_id, timeout_ticks(r.timeout_ms, 50))
                                 for r in table.open_sessions()), now=0)
    assert old.expired(9) == [13]  # 8 ticks: bucket 9

    new = ExpiryTracker.rebuild(((r.session_id, timeout_ticks(r.timeout_ms, 50))
                                 for r in table.open_sessions()), now=130, interval_ticks=1)
    assert [new.deadline(s) for s in (11, 12, 13)] == [151, 171, 139]
    assert new.closing() == []
    assert expiries(new, 130, 200) == {139: [13], 151: [11], 171: [12]}

    # A session closed before the change is not in the table, so not in the rebuilt tracker.
    table.apply(CloseSessionTxn(12), make_zxid(1, 4))
    again = ExpiryTracker.rebuild(((r.session_id, timeout_ticks(r.timeout_ms, 50))
                                   for r in table.open_sessions()), now=0)
    assert 12 not in again and len(again) == 2


def test_view_is_by_session_id():
    tracker = ExpiryTracker(interval_ticks=1)
    tracker.track(9, 4, now=0)
    tracker.track(-1, 2, now=0)
    tracker.mark_closing(9)
    assert tracker.view(now=1) == [
        {"session": "0xffffffffffffffff", "timeout_ticks": 2, "expires_at_tick": 3, "ticks_left": 2,
         "closing": False, "owner": None},
        {"session": "0x9", "timeout_ticks": 4, "expires_at_tick": None, "ticks_left": None,
         "closing": True, "owner": None},
    ]


def test_check_session_gives_zookeepers_errors_and_a_reconnect_moves_the_owner():
    """Goal: an old connection cannot act for a session that moved (SESSIONMOVED), and nothing
    acts for an expired one (SESSIONEXPIRED). Setup: a session created through node 1. Faults:
    its client reconnects to node 2 while node 1 still forwards an old request; later the
    session expires. Expected: ZooKeeper's codes at each step."""
    tracker = ExpiryTracker(interval_ticks=1)
    tracker.track(7, 10, now=0)
    assert tracker.owner(7) is None
    assert tracker.check_session(7, owner=1) is None  # the first request claims it
    assert tracker.owner(7) == 1
    assert tracker.check_session(7, owner=1) is None
    assert tracker.check_session(7, owner=2) == SESSIONMOVED
    assert tracker.revalidate(7, 10, now=5, owner=2)  # reconnect to node 2
    assert tracker.deadline(7) == 16  # and it was touched
    assert tracker.check_session(7, owner=2) is None
    assert tracker.check_session(7, owner=1) == SESSIONMOVED  # the old connection's request
    assert tracker.check_session(99, owner=1) == SESSIONEXPIRED  # unknown
    assert tracker.expired(16) == [7]
    assert tracker.check_session(7, owner=2) == SESSIONEXPIRED  # closing
    assert not tracker.revalidate(7, 10, now=17, owner=2)
    assert not tracker.revalidate(99, 10, now=17, owner=2)
    tracker.remove(7)
    assert tracker.owner(7) is None
    assert tracker.check_session(7, owner=2) == SESSIONEXPIRED


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="interval_ticks"):
        ExpiryTracker(0)
    with pytest.raises(ValueError, match="positive number of ticks"):
        ExpiryTracker(1).track(1, 0, now=0)


def test_heap_holds_one_entry_per_bucket_under_constant_touching():
    """A session touched every tick for a long time must not pile up heap entries beyond the
    buckets that lie ahead (the bound that keeps the leader's memory flat)."""
    tracker = ExpiryTracker(interval_ticks=1)
    timeout = 20
    for sid in range(50):
        tracker.track(sid, timeout, now=0)
    for now in range(1, 2000):
        assert tracker.expired(now) == []
        for sid in range(50):
            tracker.touch(sid, timeout, now)
        assert len(tracker._bucket_heap) <= timeout + 2
        assert len(tracker._buckets) <= timeout + 2


# --------------------------------------------------------------------------------------------
# the property: expiry is exactly as late as promised

schedules = st.lists(
    st.tuples(
        st.integers(1, 5),  # ticks to advance
        st.lists(st.integers(0, 5), max_size=4),  # sessions heard from at that tick
        st.booleans(),  # whether the leader runs expired() at that tick
    ),
    min_size=1, max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(interval=st.integers(1, 6), timeouts=st.lists(st.integers(1, 25), min_size=6, max_size=6),
       schedule=schedules)
def test_random_schedule_never_expires_early_and_always_expires_late_ones(interval, timeouts,
                                                                         schedule):
    """Six sessions (ids 0..5, their own timeouts) tracked at tick 0; the schedule advances
    time, touches some sessions and sometimes runs ``expired``. At every ``expired(now)``:

    * a session it reports was not heard from within its timeout (now - last > timeout), so a
      session touched within its timeout is never expired;
    * every session not heard from for timeout + one interval has been reported (now or before);
    * nothing is reported twice, and a touch after the report does not bring it back.
    """
    tracker = ExpiryTracker(interval)
    last = {}
    for sid, t in enumerate(timeouts):
        tracker.track(sid, t, now=0)
        last[sid] = 0
    reported: set[int] = set()
    now = 0
    for advance, touched, run in schedule:
        now += advance
        for sid in touched:
            accepted = tracker.touch(sid, timeouts[sid], now)
            assert accepted == (sid not in reported)
            if accepted:
                last[sid] = now
        if not run:
            continue
        got = tracker.expired(now)
        assert len(got) == len(set(got))
        for sid in got:
            assert sid not in reported, f"session {sid} reported twice"
            assert now - last[sid] > timeouts[sid], (
                f"session {sid} expired at {now}, heard from at {last[sid]}, timeout "
                f"{timeouts[sid]}")
            reported.add(sid)
        for sid, t in enumerate(timeouts):
            if now - last[sid] >= t + interval:
                assert sid in reported, (
                    f"session {sid} silent since {last[sid]} (timeout {t}, interval {interval}) "
                    f"not expired at {now}")
        assert sorted(tracker.closing()) == sorted(reported)


def test_leader_and_follower_pieces_together_expire_a_silent_client_once():
    """Goal: the pieces fit as the node will wire them. Setup: a leader with a tracker (interval
    2 ticks, tick 50 ms), a follower with a TouchTable; client A talks to the follower, client B
    to the leader; both sessions created by txns applied to the leader's table. Faults: B goes
    silent at tick 10, and a late PING from the follower names B after B expired. Expected: B
    is reported once, its CloseSessionTxn deletes its ephemeral and removes it everywhere; A,
    touched through the follower's PINGs, lives on."""
    from zmqzab.tree.sessions import (SESSION_CLOSED, SessionIdGenerator,
                                      default_timeout_bounds_ms, negotiate_timeout_ms)

    tick_ms = 50
    low, high = default_timeout_bounds_ms(tick_ms)
    table = Sessions()
    tracker = ExpiryTracker(interval_ticks=2)
    follower_ids = SessionIdGenerator(server_id=1, time_ms=1_000)
    leader_ids = SessionIdGenerator(server_id=2, time_ms=1_000)
    ephemerals: dict[int, list[str]] = {}
    zxid = 0

    def commit(op, now):
        nonlocal zxid
        zxid += 1
        result = table.apply(op, make_zxid(1, zxid), lambda sid, z, paths: ephemerals.pop(sid, []))
        if result.kind == SESSION_CLOSED:
            tracker.remove(op.session_id)
        return result

    a = follower_ids.next(taken=table)
    b = leader_ids.next(taken=table)
    for sid in (a, b):
        timeout_ms = negotiate_timeout_ms(400, low, high)  # 400 ms = 8 ticks
        tracker.track(sid, timeout_ticks(timeout_ms, tick_ms), now=0)
        commit(CreateSessionTxn(sid, timeout_ms), now=0)
    ephemerals[b] = ["/election/n-0000000001"]

    follower = TouchTable()
    closed = []
    for now in range(1, 60):
        follower.touch(a)  # A sends a request or a ping every tick
        if now <= 10:
            tracker.touch(b, 8, now)
        if now == 30:
            follower.touch(b)  # a late report of B, after its expiry
        assert tracker.touch_reported(follower.drain(), now) == ([b] if now == 30 else [])
        for sid in tracker.expired(now):
            closed.append((now, sid, commit(CloseSessionTxn(sid), now)))
    assert [(now, sid) for now, sid, _ in closed] == [(20, b)]  # 10 + 8 -> bucket 20
    assert closed[0][2].deleted == ("/election/n-0000000001",)
    assert b not in table and b not in tracker and a in table and a in tracker


class ModelTracker:
    """The tracker's contract without buckets' bookkeeping: each live session's deadline is
    ``bucket_for(last touch)``; ``expired`` takes every live one at or past its deadline."""

    def __init__(self, interval: int) -> None:
        self.interval = interval
        self.timeout: dict[int, int] = {}
        self.deadline: dict[int, int] = {}
        self.closing: list[int] = []

    def bucket(self, now, t):
        return ((now + t) // self.interval + 1) * self.interval

    def track(self, sid, t, now):
        if sid in self.closing:
            return False
        self.timeout[sid] = t
        self.deadline[sid] = self.bucket(now, t)
        return True

    def touch(self, sid, t, now):
        if sid not in self.deadline:
            return False
        self.deadline[sid] = self.bucket(now, t)
        return True

    def mark_closing(self, sid):
        if sid not in self.deadline:
            return False
        del self.deadline[sid]
        self.closing.append(sid)
        return True

    def remove(self, sid):
        if sid not in self.timeout:
            return False
        self.deadline.pop(sid, None)
        if sid in self.closing:
            self.closing.remove(sid)
        del self.timeout[sid]
        return True

    def expired(self, now):
        due = sorted((d, sid) for sid, d in self.deadline.items() if d <= now)
        for _, sid in due:
            del self.deadline[sid]
            self.closing.append(sid)
        return [sid for _, sid in due]


tracker_ops = st.lists(st.tuples(
    st.sampled_from(["track", "touch", "mark_closing", "remove", "expired"]),
    st.integers(0, 7),  # session id
    st.integers(1, 12),  # timeout ticks
    st.integers(0, 4),  # ticks to advance before the op
), max_size=120)


@settings(max_examples=300, deadline=None)
@given(interval=st.integers(1, 5), ops=tracker_ops)
def test_the_tracker_agrees_with_a_model_without_buckets(interval, ops):
    """Every answer of the bucketed tracker (and its closing list and deadlines) equals the
    naive model's, for any sequence of track / touch / mark_closing / remove / expired."""
    real, model = ExpiryTracker(interval), ModelTracker(interval)
    now = 0
    for op, sid, t, advance in ops:
        now += advance
        if op == "track":
            assert real.track(sid, t, now) == model.track(sid, t, now)
        elif op == "touch":
            assert real.touch(sid, t, now) == model.touch(sid, t, now)
        elif op == "mark_closing":
            assert real.mark_closing(sid) == model.mark_closing(sid)
        elif op == "remove":
            assert real.remove(sid) == model.remove(sid)
        else:
            assert real.expired(now) == model.expired(now)
        assert real.closing() == model.closing
        assert {s: real.deadline(s) for s in range(8)} == {s: model.deadline.get(s)
                                                            for s in range(8)}
        live = list(model.deadline.values())
        assert real.next_expiry() == (min(live) if live else None)
        assert len(real) == len(model.timeout)
