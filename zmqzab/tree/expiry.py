"""The leader's session expiry tracker, counted in ticks (ZooKeeper's SessionTrackerImpl and
ExpiryQueue), and the learners' touch table (LearnerSessionTracker's touchTable).

Theory of operation
-------------------
Only the leader expires sessions. It keeps every open session in a *bucket*: the session's
deadline ``now + timeout`` rounded UP to the next multiple of ``interval_ticks`` (ExpiryQueue's
``roundToNextInterval``: strictly after ``now + timeout``, so a session is never expired before
its whole timeout has passed, and at most one interval after). Sessions are expired a bucket at a
time: ``expired(now)`` hands back every session whose bucket is at or before ``now``, once.
Rounding is what makes it cheap: a session touched every tick only moves when it crosses into a
new bucket, and the tracker looks at one bucket per interval, not at every session.

A session is *touched* (moved to the bucket of ``now + timeout``) whenever its client is heard
from: on the leader directly (``touch``), or, for a client connected to a follower, when the
follower's PING reports it. A follower collects the sessions it heard from since its last PING in
a ``TouchTable`` and ships ``drain()`` in the PING; the leader merges the set with
``touch_reported`` (ZooKeeper's ``LearnerHandler`` on PING calls ``touch`` for each).

Closing. When ``expired`` reports a session, or the leader accepts a client's closeSession, the
session becomes *closing* (SessionImpl.isClosing): the leader is about to propose its
closeSession, and a touch that arrives now (a late PING from a follower, a request already on its
way) must not bring it back. Touches of a closing session are refused (False), it sits in no
bucket, so it is reported once only, and it stays known as closing until ``remove`` (when the
closeSession txn is applied), so that nothing re-tracks it in between. ``closing()`` lists
the sessions still waiting for their close, for a leader that must propose it again.

A new leader ``rebuild``s the tracker from the replicated ``Sessions`` table: every open session
gets a full timeout from the moment of leadership, as in ZooKeeper (a new leader cannot know when
a client was last heard from by the old one; a session whose client is gone expires one timeout
later). Sessions the old leader had marked closing but not closed are open again: their clients
get a full timeout to show up.

Owners. A session belongs to the node its client is connected to (SessionImpl.owner). A request
of the session that arrives through another node is answered SESSIONMOVED (the client has moved
on; an old connection's requests must not act for it), one of an unknown or closing session
SESSIONEXPIRED: ``check_session``, which the leader runs before preparing a write (ZooKeeper's
PrepRequestProcessor calls checkSession first). A reconnect moves the session with
``revalidate`` (ZooKeeper's REVALIDATE: touch it, and the new node owns it).

All time is ``now`` in ticks, an argument; the caller's tick counter must not go backwards. No
clock, no threads, no I/O; every list that leaves this module is in a deterministic order.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterable

from zmqzab.tree.sessions import fmt_session_id


#: ``check_session``'s answers, ZooKeeper's KeeperException.Code names (None: go ahead).
SESSIONEXPIRED = "SESSIONEXPIRED"
SESSIONMOVED = "SESSIONMOVED"


def timeout_ticks(timeout_ms: int, tick_ms: int) -> int:
    """A session timeout in whole ticks, rounded up (never shorter than negotiated), at least 1."""
    if type(tick_ms) is not int or tick_ms < 1:
        raise ValueError(f"tick_ms must be a positive integer, got {tick_ms!r}")
    if type(timeout_ms) is not int or timeout_ms < 1:
        raise ValueError(f"a session timeout must be a positive number of ms, got {timeout_ms!r}")
    return max(1, -(-timeout_ms // tick_ms))


class ExpiryTracker:
    """Open sessions in deadline buckets of ``interval_ticks``; see the module docstring.

    ``interval_ticks`` is ZooKeeper's expirationInterval (its tickTime): 1 tick expires sessions
    as precisely as the ticks allow; a larger interval expires them in fewer, larger batches.
    """

    __slots__ = ("interval_ticks", "_timeout", "_deadline", "_buckets", "_bucket_heap", "_closing",
                 "_owner")

    def __init__(self, interval_ticks: int = 1) -> None:
        if type(interval_ticks) is not int or interval_ticks < 1:
            raise ValueError(f"interval_ticks must be a positive integer, got {interval_ticks!r}")
        self.interval_ticks = interval_ticks
        # Every session known to the tracker (live or closing) -> its timeout in ticks.
        self._timeout: dict[int, int] = {}
        # Live sessions only -> the bucket (tick) they expire at.
        self._deadline: dict[int, int] = {}
        # Bucket tick -> its sessions (a dict as an ordered set). A bucket emptied by touches
        # stays until its tick passes, as in ExpiryQueue: its key is then pushed on the heap
        # once, so the heap holds at most one entry per bucket between now and the longest
        # timeout.
        self._buckets: dict[int, dict[int, None]] = {}
        self._bucket_heap: list[int] = []
        # Closing sessions, in the order they became closing.
        self._closing: dict[int, None] = {}
        # Session -> the node its client is connected to, once known.
        self._owner: dict[int, Hashable] = {}

    # ----------------------------------------------------------------------------------------
    # sessions in and out

    def bucket_for(self, now: int, timeout_ticks: int) -> int:
        """The bucket of a session touched at ``now``: ``now + timeout`` rounded up to the next
        multiple of the interval (strictly after it; ExpiryQueue.roundToNextInterval)."""
        return ((now + timeout_ticks) // self.interval_ticks + 1) * self.interval_ticks

    def track(self, session_id: int, timeout_ticks: int, now: int) -> bool:
        """Start tracking a session (the leader accepted its createSession, or a rebuild) with a
        full timeout from ``now``. False, and nothing changes, if it is closing; a session
        already tracked is touched with the new timeout (SessionTrackerImpl.trackSession)."""
        _check_timeout(timeout_ticks)
        if session_id in self._closing:
            return False
        self._timeout[session_id] = timeout_ticks
        self._move(session_id, self.bucket_for(now, timeout_ticks))
        return True

    def touch(self, session_id: int, timeout_ticks: int, now: int) -> bool:
        """The session's client was heard from at ``now``: its deadline moves to the bucket of
        ``now + timeout_ticks``. False if the tracker does not know it or it is closing (a touch
        never resurrects; SessionTrackerImpl.touchSession)."""
        if session_id not in self._deadline:
            return False
        _check_timeout(timeout_ticks)
        self._move(session_id, self.bucket_for(now, timeout_ticks))
        return True

    def touch_reported(self, session_ids: Iterable[int], now: int) -> list[int]:
        """Merge a follower's PING report (the sessions its clients were heard from since its
        last PING), each touched with its own timeout. Returns the reported sessions that were
        NOT touched (unknown or closing: the follower may tell their clients the session
        expired), in report order, each once."""
        refused: dict[int, None] = {}
        for sid in session_ids:
            timeout = self._timeout.get(sid)
            if timeout is None or not self.touch(sid, timeout, now):
                refused[sid] = None
        return list(refused)

    def mark_closing(self, session_id: int) -> bool:
        """The leader is about to propose this session's closeSession (the client asked):
        it leaves its bucket and touches are refused from now on. False if it is unknown or
        closing already (SessionTrackerImpl.setSessionClosing)."""
        if session_id not in self._deadline:
            return False
        self._unbucket(session_id)
        self._closing[session_id] = None
        return True

    def remove(self, session_id: int) -> bool:
        """Forget a session (its closeSession was applied). False if it was not known."""
        if session_id not in self._timeout:
            return False
        if session_id in self._deadline:
            self._unbucket(session_id)
        self._closing.pop(session_id, None)
        self._owner.pop(session_id, None)
        del self._timeout[session_id]
        return True

    # ----------------------------------------------------------------------------------------
    # owners

    def check_session(self, session_id: int, owner: Hashable) -> str | None:
        """May a request of this session, arriving through ``owner`` (the node its client is
        connected to), go ahead? None if so; SESSIONEXPIRED if the session is unknown or
        closing; SESSIONMOVED if another node owns it. The first request claims an ownerless
        session (SessionTrackerImpl.checkSession, unknown read as expired as in
        checkGlobalSession)."""
        if session_id not in self._timeout or session_id in self._closing:
            return SESSIONEXPIRED
        current = self._owner.get(session_id)
        if current is None:
            self._owner[session_id] = owner
            return None
        return None if current == owner else SESSIONMOVED

    def revalidate(self, session_id: int, timeout_ticks: int, now: int, owner: Hashable) -> bool:
        """A client reconnected through ``owner`` with the session's password: the session lives
        on (touched) and ``owner`` owns it from now, if it is live; False (the client gets
        SESSIONEXPIRED) if it is unknown or closing (ZooKeeper's REVALIDATE and setOwner)."""
        if not self.touch(session_id, timeout_ticks, now):
            return False
        self._owner[session_id] = owner
        return True

    def owner(self, session_id: int) -> Hashable | None:
        return self._owner.get(session_id)

    # ----------------------------------------------------------------------------------------
    # expiry

    def expired(self, now: int) -> list[int]:
        """The sessions whose bucket is at or before ``now``, by (bucket, session id); each is
        reported once and becomes closing. Call it every tick (or less often: the buckets that
        passed in between are all taken)."""
        out: list[int] = []
        while self._bucket_heap and self._bucket_heap[0] <= now:
            tick = heapq.heappop(self._bucket_heap)
            bucket = self._buckets.pop(tick, None)
            if not bucket:
                continue
            for sid in sorted(bucket):
                del self._deadline[sid]
                self._closing[sid] = None
                out.append(sid)
        return out

    def next_expiry(self) -> int | None:
        """The earliest tick at which ``expired`` may report a session, or None if none is live."""
        for tick in sorted(self._buckets):
            if self._buckets[tick]:
                return tick
        return None

    # ----------------------------------------------------------------------------------------
    # a new leader

    @classmethod
    def rebuild(cls, sessions: Iterable[tuple[int, int]], now: int,
                interval_ticks: int = 1) -> ExpiryTracker:
        """A new leader's tracker: every open session ``(session_id, timeout_ticks)`` (from the
        replicated table, ``Sessions.open_sessions()`` converted with ``timeout_ticks``) gets a
        full timeout from ``now``."""
        tracker = cls(interval_ticks)
        for sid, ticks in sessions:
            tracker.track(sid, ticks, now)
        return tracker

    # ----------------------------------------------------------------------------------------
    # questions

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._timeout

    def __len__(self) -> int:
        return len(self._timeout)

    def is_closing(self, session_id: int) -> bool:
        return session_id in self._closing

    def deadline(self, session_id: int) -> int | None:
        """The bucket tick a live session expires at; None if it is unknown or closing."""
        return self._deadline.get(session_id)

    def timeout_of(self, session_id: int) -> int | None:
        return self._timeout.get(session_id)

    def closing(self) -> list[int]:
        """Sessions whose close is pending, in the order they became closing."""
        return list(self._closing)

    def view(self, now: int) -> list[dict]:
        """A JSON-able picture for people, by session id (hex, as ZooKeeper prints it): each
        session's timeout, the bucket it expires at and the ticks left (None while closing)."""
        rows = []
        for sid in sorted(self._timeout):
            deadline = self._deadline.get(sid)
            rows.append({
                "session": fmt_session_id(sid),
                "timeout_ticks": self._timeout[sid],
                "expires_at_tick": deadline,
                "ticks_left": None if deadline is None else max(0, deadline - now),
                "closing": sid in self._closing,
                "owner": self._owner.get(sid),
            })
        return rows

    # ----------------------------------------------------------------------------------------
    # buckets

    def _move(self, session_id: int, tick: int) -> None:
        old = self._deadline.get(session_id)
        if old == tick:
            return  # same bucket: nothing to do (the common case of frequent touches)
        if old is not None:
            self._buckets[old].pop(session_id, None)
        bucket = self._buckets.get(tick)
        if bucket is None:
            bucket = self._buckets[tick] = {}
            heapq.heappush(self._bucket_heap, tick)
        bucket[session_id] = None
        self._deadline[session_id] = tick

    def _unbucket(self, session_id: int) -> None:
        tick = self._deadline.pop(session_id)
        bucket = self._buckets.get(tick)
        if bucket is not None:
            bucket.pop(session_id, None)

    def __repr__(self) -> str:
        return (f"ExpiryTracker(sessions={len(self._timeout)}, closing={len(self._closing)}, "
                f"interval_ticks={self.interval_ticks})")


def _check_timeout(timeout_ticks: int) -> None:
    if type(timeout_ticks) is not int or timeout_ticks < 1:
        raise ValueError(f"a session timeout must be a positive number of ticks, got "
                         f"{timeout_ticks!r}")


class TouchTable:
    """A follower's record of the sessions its clients were heard from since its last PING
    (LearnerSessionTracker's touchTable). Bounded by the sessions connected to this node: each
    appears once however often it is touched."""

    __slots__ = ("_touched",)

    def __init__(self) -> None:
        self._touched: dict[int, None] = {}

    def touch(self, session_id: int) -> None:
        self._touched[session_id] = None

    def drain(self) -> list[int]:
        """The sessions touched since the last drain, in the order first touched; empties the
        table (the PING that carries them is the touch)."""
        out = list(self._touched)
        self._touched.clear()
        return out

    def __len__(self) -> int:
        return len(self._touched)
