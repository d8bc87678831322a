"""Lessons: guided scenarios over the simulator for a class, each with a caption for every step,
a pause where something important happens, and a question for the class.

``LESSONS`` lists them (name, title, one line, seed, script); ``play`` runs one into a ``Script``
(script.py: anchors, captions, claims); ``zmqzab lesson`` (cli/lesson.py) records it and serves
the recording to the page. Each lesson is a file of its own holding its script.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from zmqzab.core.settings import CoreConfig
from zmqzab.sim import FaultProfile
from zmqzab.lessons import election, leader_crash, lock, minority, one_commit, snap, trunc
from zmqzab.lessons.script import Caption, LessonError, Script, new_simulation


@dataclass(frozen=True)
class Lesson:
    name: str
    title: str
    #: One line for the list.
    summary: str
    seed: int
    script: Callable[[Script], None]
    core: CoreConfig | None = None
    zk_clients: int = 0


LESSONS: tuple[Lesson, ...] = (
    Lesson("election", "An election", "five nodes start, vote, and one leads epoch 1", 1, election.run),
    Lesson("one-commit", "One commit, from PROPOSAL to COMMIT",
           "one write: logged, proposed, ACKed by a quorum, committed", 2, one_commit.run),
    Lesson("leader-crash-after-proposal", "The leader dies after one follower got its PROPOSAL",
           "what ZAB guarantees about a txn only one follower logged", 3, leader_crash.run),
    Lesson("trunc", "TRUNC: txns the new leader never committed",
           "a follower's extra txns from an old epoch are cut away", 4, trunc.run),
    Lesson("snap", "SNAP: a node far behind",
           "a follower behind the leader's log gets the whole state", 5, snap.run,
           core=CoreConfig(log_window_txns=4)),
    Lesson("minority", "A minority cannot commit",
           "a leader cut off with one follower proposes but never commits", 6, minority.run),
    Lesson("lock", "A lock passes on when its holder's node dies",
           "ZooKeeper's lock recipe: ephemeral sequential znodes, a watch, a session that expires",
           7, lock.run, zk_clients=2),
)


def find(name: str) -> Lesson:
    for lesson in LESSONS:
        if lesson.name == name:
            return lesson
    raise KeyError(f"no lesson {name!r}; the lessons: {', '.join(x.name for x in LESSONS)}")


def play(lesson: Lesson, on_caption: Callable[[Caption], None] | None = None,
         profile: FaultProfile | None = None, recorder: Any = None) -> Script:
    """Run ``lesson`` to its end; the returned Script holds its simulation (still open: close it
    with ``script.sim.close()``), what it saw, its captions and the claims it checked.
    ``profile``: another network than the lessons' own (the tests move the timing with it);
    ``recorder``: a ``SimRecorder`` attached to the run (lessons/record.py)."""
    sim = new_simulation(lesson.seed, lesson.core, lesson.zk_clients, profile, recorder)
    script = Script(sim, lesson.name, on_caption=on_caption)
    try:
        lesson.script(script)
    except BaseException:
        sim.close()
        raise
    return script


__all__ = ["LESSONS", "Caption", "Lesson", "LessonError", "Script", "find", "play"]
