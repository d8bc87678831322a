"""The lessons (zmqzab/lessons/): each builds, its anchors are found, what its captions say
happens, and the simulator's checkers hold throughout and in the liveness phase after it."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from tests.sim.helpers import LIVENESS_TICKS
from zmqzab.core.settings import CoreConfig
from zmqzab.cli.app import app
from zmqzab.lessons import LESSONS, LessonError, find, play
from zmqzab.lessons.record import recording_bytes
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
        assert all(0 <= c.t_ms - c.anchor_ms <= TICK_MS / TICK for c in caps), "a caption strays from its anchor"
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


def test_a_snap_lesson_whose_leader_can_still_diff_fails():
    """Goal: a lesson fails by its own claims, not only by the simulator's checkers.

    Setup: the snap lesson with the default log window (50000 txns in memory) instead of its 4:
    the leader still holds every txn the follower missed, in memory.
    Faults: the lesson's own (a follower down for a dozen commits, the leader's log purged).
    Expected: LessonError: the leader sends a DIFF, so the anchor "the leader decides SNAP" is
    never found; the checkers see nothing wrong (a DIFF is correct here)."""
    with pytest.raises(LessonError, match="anchor 'the leader decides SNAP' not found"):
        play(replace(find("snap"), core=None))


def test_captions_follow_the_events_when_the_timing_changes():
    """Goal: captions are anchored to what happens, not to times.

    Setup: the one-commit lesson on its own network, then on one whose messages take up to
    twice as long.
    Faults: none.
    Expected: both runs pass; on each, the "commit" caption's anchor is the instant the
    leader sent its first COMMIT, and the caption shows at most one unit of time after it; on
    the slower network that instant is later."""
    times = []
    for profile in (LESSON_PROFILE, replace(LESSON_PROFILE, latency_max=2 * LESSON_PROFILE.latency_max)):
        script = play(find("one-commit"), profile=profile)
        try:
            commit = next(c for c in script.captions if c.id == "commit")
            sent = next(x for x in script.seen if x.kind == "send" and x.wire == "COMMIT" and x.msg.zxid & 0xFFFFFFFF)
            assert commit.anchor_ms == sent.time * TICK_MS / TICK
            assert 0 <= commit.t_ms - commit.anchor_ms <= TICK_MS / TICK
            times.append(commit.anchor_ms)
        finally:
            script.sim.close()
    assert times[1] > times[0], times


#: Networks other than the lessons' own: fast messages and slow disks, slow messages and fast
#: disks, both slow.
OTHER_NETWORKS = {"fast-net-slow-disk": (10, 60), "slow-net-fast-disk": (100, 2), "both-slow": (80, 120)}


@pytest.mark.parametrize("network", sorted(OTHER_NETWORKS))
def test_every_lesson_tells_its_story_on_other_networks(network):
    """Goal: the lessons do not depend on the timing of their network: the anchors move with
    the events, and what the captions claim still happens.

    Setup: every lesson, on a network whose latency and fsync time differ from the lessons'
    own (OTHER_NETWORKS). Faults: each lesson's own.
    Expected: every lesson ends, each with as many captions as on its own network."""
    latency, fsync = OTHER_NETWORKS[network]
    profile = replace(LESSON_PROFILE, latency_max=latency, fsync_max=fsync)
    for lesson in LESSONS:
        own = play(lesson)
        own.sim.close()
        other = play(lesson, profile=profile)
        other.sim.close()
        assert [c.id for c in other.captions] == [c.id for c in own.captions], lesson.name


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_every_lesson_tells_its_story_with_other_seeds(seed):
    """Goal: a lesson's script does not lean on its seed's interleaving (which node leads,
    which message arrives first, when a ZooKeeper client's link is cut).

    Setup: every lesson with ``seed`` instead of its own. Faults: each lesson's own.
    Expected: every lesson ends with the captions of its own run."""
    print(f"seed {seed}")
    for lesson in LESSONS:
        own = play(lesson)
        own.sim.close()
        other = play(replace(lesson, seed=seed))
        other.sim.close()
        assert [c.id for c in other.captions] == [c.id for c in own.captions], lesson.name


def test_an_anchor_that_never_comes_names_itself():
    """Goal: a lesson whose anchor is not found fails with what it waited for.

    Setup: the election lesson with a script that waits for a TRUNC in a healthy start-up.
    Faults: none. Expected: LessonError naming the anchor and the nodes' roles."""
    from zmqzab.lessons.script import traced

    def script(s):
        s.when("a TRUNC in a healthy start", traced("sync: TRUNC"), max_ticks=20)

    with pytest.raises(LessonError, match="anchor 'a TRUNC in a healthy start' not found within 20 ticks"):
        play(replace(find("election"), script=script))


@pytest.mark.parametrize("lesson", LESSONS, ids=[x.name for x in LESSONS])
def test_lesson_recording_carries_its_captions_among_the_nodes_streams(lesson):
    """Goal: what the page replays for a lesson: the nodes' streams with the captions in place.

    Setup: the lesson recorded by the simulator's recorder (zmqzab/record/sim.py), in memory.
    Faults: the lesson's own.
    Expected: a header of source "lesson" with the lesson's title and seed, opening paused; the
    lesson's captions as caption frames, in order, each at its time; every frame's time
    non-decreasing; hello, status and zab frames of every node; a verdict that says the claims
    held; far below the size bound."""
    script, body = recording_bytes(lesson)
    lines = [json.loads(line) for line in body.decode().splitlines()]
    header, frames, trailer = lines[0], lines[1:-1], lines[-1]
    assert (header["source"], header["title"], header["seed"]) == ("lesson", lesson.title, lesson.seed)
    assert header["start_paused"] is True and header["command"] == f"zmqzab lesson {lesson.name}"
    caps = [f for f in frames if f["kind"] == "caption"]
    assert [(f["t"], f["data"]) for f in caps] == [(c.t_ms, c.data()) for c in script.captions]
    times = [f["t"] for f in frames]
    assert times == sorted(times)
    for kind in ("hello", "status", "zab"):
        assert {f["node"] for f in frames if f["kind"] == kind} == set(header["nodes"]), kind
    assert trailer["kind"] == "end" and trailer["verdict"]["ok"] is True
    assert not trailer["truncated"] and sum(trailer["dropped"].values()) == 0
    assert len(body) < header["cap_bytes"] // 50


def test_the_commit_caption_follows_the_commit_in_the_recording():
    """Goal: stepping through the recording, the "commit" caption comes right after the
    leader's COMMIT, not before it and not a tick later.

    Setup: the one-commit lesson, recorded. Faults: none.
    Expected: the leader's zab frame "send COMMIT" for the lesson's zxid precedes the caption
    in the file, and no message frame lies between them but those of the same instant; the
    leader's last status before the caption already says 1:1 is committed (the page draws the
    ring and the logs from status frames: they must agree with the caption)."""
    _, body = recording_bytes(find("one-commit"))
    frames = [json.loads(line) for line in body.decode().splitlines()][1:-1]
    at = next(i for i, f in enumerate(frames) if f["kind"] == "caption" and f["data"]["id"] == "commit")
    sends = [i for i, f in enumerate(frames[:at]) if f["kind"] == "zab" and f["data"].get("kind") == "send"
             and f["data"].get("msg") == "COMMIT" and f["data"].get("zxid") == "1:1"]
    assert sends, "no COMMIT 1:1 before the commit caption"
    between = [f for f in frames[sends[0] + 1:at] if f["kind"] == "zab"]
    assert all(f["t"] == frames[sends[0]]["t"] for f in between), between
    leader = frames[sends[0]]["node"]
    status = [f for f in frames[:at] if f["kind"] == "status" and f["node"] == leader][-1]
    assert status["data"]["zxid_committed"] == "1:1", status["data"]


runner = CliRunner()


def test_lesson_command_lists_the_lessons():
    result = runner.invoke(app, ["lesson"])
    assert result.exit_code == 0, result.output
    for lesson in LESSONS:
        assert any(line.startswith(lesson.name + " ") for line in result.stdout.splitlines()), lesson.name


def test_lesson_command_prints_a_lessons_captions():
    result = runner.invoke(app, ["lesson", "trunc", "--captions"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("TRUNC: txns the new leader never committed (lesson trunc, seed 4)")
    assert "[pause]" in result.stdout and "question: " in result.stdout and "sends TRUNC" in result.stdout


def test_an_unknown_lesson_is_bad_input_naming_the_lessons():
    result = runner.invoke(app, ["lesson", "raft"])
    assert result.exit_code == 2
    out = result.stderr if result.stderr_bytes is not None else result.output
    assert "no lesson 'raft'" in out and "election" in out
