"""The lessons (zmqzab/lessons/): each builds, its anchors are found, what its captions say
happens, and the simulator's checkers hold throughout and in the liveness phase after it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.sim.helpers import LIVENESS_TICKS
from zmqzab.core.settings import CoreConfig
from zmqzab.lessons import LESSONS, LessonError, find, play
from zmqzab.lessons.script import LESSON_PROFILE
from zmqzab.sim.checkers import Violation
from zmqzab.sim.trace import TICK
from zmqzab.sim.zkclients import TICK_MS


@pytest.mark.parametrize("lesson", LESSONS, ids=[x.name for x in LESSONS])
def test_lesson_builds_and_what_it_says_happens(lesson):
    """Goal: a lesson is a script whose every caption is anchored and whose claims hold.

    Setup: the lesson's own seed, calm network, scripted writes and faults (the lesson's file).
    Faults: the lesson's own (crashes, partitions, a purged log, a node that dies).
    Expected: every anchor is found (else LessonError names it), every claim checked by the
    script holds, the captions have unique ids and non-decreasing times within the run, at
    least one pauses and at least one asks the class a question; then the liveness phase
    (heal, restart, one leader, equal commits, a fresh write everywhere) passes."""
    print(f"lesson {lesson.name}, seed {lesson.seed}")
    script = play(lesson)
    sim = script.sim
    try:
        caps = script.captions
        assert len(caps) >= 5, [c.id for c in caps]
        assert len({c.id for c in caps}) == len(caps)
        assert [c.t_ms for c in caps] == sorted(c.t_ms for c in caps)
        assert caps[-1].t_ms <= sim.now * TICK_MS / TICK
        assert any(c.pause for c in caps) and any(c.question for c in caps)
        assert all(c.text and c.frame()["kind"] == "caption" for c in caps)
        assert script.claims, "a lesson checks what it says"
        sim.check_liveness(LIVENESS_TICKS)
        if sim.zk is not None:
            sim.zk.check_abandoned_sessions_expire()
    finally:
        sim.close()


def test_a_trunc_lesson_that_no_longer_truncates_fails():
    """Goal: the lessons' claims are live: a cluster that stops doing what a caption says
    fails the lesson.

    Setup: the trunc lesson, with the core's deliberate bug diff_instead_of_trunc (the leader
    sends a DIFF where it must send TRUNC).
    Faults: the lesson's own (an old leader and its follower cut off with uncommitted txns).
    Expected: the lesson fails: its claim "synced by TRUNC" no longer holds (LessonError), or the
    simulator's checkers catch the divergent logs first (Violation)."""
    lesson = replace(find("trunc"), core=CoreConfig(test_faults=frozenset({"diff_instead_of_trunc"})))
    with pytest.raises((LessonError, Violation)) as caught:
        play(lesson).sim.close()
    print(caught.value)


def test_captions_follow_the_events_when_the_timing_changes():
    """Goal: captions are anchored to what happens, not to times.

    Setup: the one-commit lesson on its own network, then on one whose messages take up to
    twice as long.
    Faults: none.
    Expected: both runs pass; on each, the "commit" caption sits exactly at the time the
    leader sent its first COMMIT, and on the slower network that time is later."""
    times = []
    for profile in (LESSON_PROFILE, replace(LESSON_PROFILE, latency_max=2 * LESSON_PROFILE.latency_max)):
        script = play(find("one-commit"), profile=profile)
        try:
            commit = next(c for c in script.captions if c.id == "commit")
            sent = next(x for x in script.seen if x.kind == "send" and x.wire == "COMMIT" and x.msg.zxid & 0xFFFFFFFF)
            assert commit.t_ms == sent.time * TICK_MS / TICK
            times.append(commit.t_ms)
        finally:
            script.sim.close()
    assert times[1] > times[0], times


def test_an_anchor_that_never_comes_names_itself():
    """Goal: a lesson whose anchor is not found fails with what it waited for.

    Setup: the election lesson with a script that waits for a TRUNC in a healthy start-up.
    Faults: none. Expected: LessonError naming the anchor and the nodes' roles."""
    from zmqzab.lessons.script import traced

    def script(s):
        s.when("a TRUNC in a healthy start", traced("sync: TRUNC"), max_ticks=20)

    with pytest.raises(LessonError, match="anchor 'a TRUNC in a healthy start' not found within 20 ticks"):
        play(replace(find("election"), script=script))
