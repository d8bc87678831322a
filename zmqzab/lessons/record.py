"""A lesson's recording: the simulated cluster's streams as the simulator's recorder
(zmqzab/record/sim.py) writes them, with the lesson's captions among them. ``zmqzab lesson``
(cli/lesson.py) serves it to the page with the replay server (zmqzab/record/server.py)."""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import IO, Any

from zmqzab.lessons import Lesson, Script, play
from zmqzab.sim.checkers import Violation


def record_lesson(lesson: Lesson, target: str | Path | IO[bytes]) -> tuple[Script, dict[str, Any]]:
    """Run ``lesson`` into a recording (header ``source`` "lesson", its title, paused at t=0);
    returns the finished Script (its simulation closed) and the recording's trailer. A lesson
    that fails (LessonError, or a checker's Violation) still closes the recording, with the
    violation as its verdict, and raises."""
    from zmqzab.record.sim import SimRecorder

    recorder = SimRecorder(target, command=f"zmqzab lesson {lesson.name}", title=lesson.title,
                           start_paused=True, source="lesson")

    def caption(c) -> None:
        # The page draws the ring, the logs and the quorum from status frames, which the
        # recorder writes at tick boundaries: without a status of this instant a caption
        # "3 of 5 hold 1:1" would show over "2/5 acked".
        recorder.statuses()
        recorder.caption(**c.data())

    try:
        script = play(lesson, on_caption=caption, recorder=recorder)
    except Violation as exc:
        if recorder.writer is not None:
            recorder.finish(exc)
        raise
    except BaseException:
        if recorder.writer is not None:
            recorder.finish(None, text=f"lesson {lesson.name} stopped before its end")
        raise
    script.sim.close()
    trailer = recorder.finish(None, text=f"lesson {lesson.name}: all {len(script.claims)} of its "
                              "claims held, and every property the simulator checks")
    return script, trailer


def recording_bytes(lesson: Lesson) -> tuple[Script, bytes]:
    """The lesson's recording as uncompressed JSON Lines (header, frames, trailer): what the
    replay server sends the page."""
    buffer = io.BytesIO()
    script, _ = record_lesson(lesson, buffer)  # a file object gets gzip, as a .zrec file
    return script, gzip.decompress(buffer.getvalue())
