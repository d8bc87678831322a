"""A lesson's recording: the simulated cluster's streams as the simulator's recorder
(zmqzab/record/sim.py) writes them, the lesson's captions among them, and serving it to the page
with the replay server (zmqzab/record/server.py), as ``zmqzab replay`` does."""

from __future__ import annotations

import gzip
import io
import threading
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
    try:
        script = play(lesson, on_caption=lambda c: recorder.caption(**c.data()), recorder=recorder)
    except Violation as exc:
        if recorder.writer is not None:
            recorder.finish(exc)
        raise
    except BaseException:
        if recorder.writer is not None:
            recorder.finish(None, text=f"lesson {lesson.name} stopped before its end")
        raise
    script.sim.close()
    trailer = recorder.finish(None, text=f"lesson {lesson.name}: the {len(script.claims)} claims its "
                              "captions make held, and every property the simulator checks")
    return script, trailer


def recording_bytes(lesson: Lesson) -> tuple[Script, bytes]:
    """The lesson's recording as uncompressed JSON Lines (header, frames, trailer): what the
    replay server sends the page."""
    buffer = io.BytesIO()
    script, _ = record_lesson(lesson, buffer)  # a file object gets gzip, as a .zrec file
    return script, gzip.decompress(buffer.getvalue())


def record_and_serve(lesson: Lesson, host: str, port: int, out: Path | None, open_browser: bool) -> None:
    """``zmqzab lesson NAME``: record, keep a copy in ``out`` if asked, serve until Ctrl-C."""
    import typer

    from zmqzab.cli.common import EXIT_FAILED, fail
    from zmqzab.cli.lesson import open_browser as browse
    from zmqzab.lessons import LessonError
    from zmqzab.record.server import serve_recording
    from zmqzab.server.transport import PortInUseError

    try:
        script, body = recording_bytes(lesson)
    except (LessonError, Violation) as exc:
        fail(f"lesson {lesson.name} did not go as its captions say: {exc} (a bug: please report it)",
             EXIT_FAILED)
    if out is not None:
        try:
            out.write_bytes(body if out.suffix == ".jsonl" else gzip.compress(body, mtime=0))
        except OSError as exc:
            fail(f"cannot write the recording {out}: {exc.strerror or exc}; choose another path")
    try:
        server, url = serve_recording(body, host, port)
    except PortInUseError as exc:
        fail(str(exc))
    typer.echo(f"lesson {lesson.name}: {lesson.title} ({len(script.captions)} captions"
               + (f"; recording kept in {out}" if out is not None else "") + ")")
    typer.echo(f"open {url}   (Ctrl-C stops)")
    if open_browser and not browse(url):
        typer.echo("(no browser to open here: open the address above yourself)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
