"""`zmqzab lesson`: guided scenarios over the simulator (zmqzab/lessons/) for a class.

Without a name it lists the lessons. With one it runs the lesson's script, records it (the
nodes' streams, marks and the lesson's captions: record-format, zmqzab/record/) and serves the
recording to the page with the replay server, prints the address and opens the browser (never
failing for want of one). ``--captions`` prints the teacher's script instead: every caption at
its simulated time, with the pauses and questions.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from zmqzab.cli.common import EXIT_FAILED, fail

LESSON_EXIT_CODES = """\b
Exit codes:
  0  listed, printed, or served until interrupted (Ctrl-C)
  1  the lesson did not go as its captions say (a bug: report it)
  2  bad input: an unknown lesson, a bad flag, the port is taken, --out cannot be written
"""


def lesson(
    name: Annotated[str | None, typer.Argument(help="The lesson to run (without it: the list).",
                                               show_default=False, metavar="NAME")] = None,
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="Port to serve the "
                                      "recording on (0: a free one).")] = 0,
    host: Annotated[str, typer.Option("--host", help="Address to serve on.")] = "127.0.0.1",
    no_open: Annotated[bool, typer.Option("--no-open", help="Print the address; do not open a "
                                          "browser.")] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Keep the recording in this file "
                                             "(.zrec) as well; `zmqzab replay FILE` serves it again.",
                                             show_default=False, dir_okay=False)] = None,
    captions: Annotated[bool, typer.Option("--captions", help="Print the lesson's captions (time, "
                                           "pause, question) and exit: the teacher's script.")] = False,
) -> None:
    """Guided scenarios for a class: an election, one commit, a leader crash, TRUNC, SNAP, a
    minority, a lock.

    Each lesson is a deterministic script over the simulator (a fixed seed, fixed writes and
    faults) with a caption for every step, a pause where something important happens and a
    question for the class. It is recorded and replayed in the live view's page: step, go
    back, play, next caption.
    """
    from zmqzab.lessons import LESSONS, LessonError, find, play

    if name is None:
        width = max(len(x.name) for x in LESSONS)
        for x in LESSONS:
            typer.echo(f"{x.name:<{width}}  {x.title} ({x.summary})")
        typer.echo("\nrun one: zmqzab lesson NAME (--captions prints its script)")
        return
    try:
        chosen = find(name)
    except KeyError:
        fail(f"no lesson {name!r}; the lessons are {', '.join(x.name for x in LESSONS)} "
             "(zmqzab lesson lists them)")
    if captions:
        from zmqzab.sim.checkers import Violation

        try:
            script = play(chosen)
        except (LessonError, Violation) as exc:
            fail(f"lesson {name} did not go as its captions say: {exc} (a bug: please report it)",
                 EXIT_FAILED)
        script.sim.close()
        typer.echo(f"{chosen.title} (lesson {chosen.name}, seed {chosen.seed})")
        for c in script.captions:
            typer.echo(f"{c.t_ms / 1000:7.2f}s {'[pause] ' if c.pause else ''}{c.text}")
            if c.question:
                typer.echo(f"         question: {c.question}")
        return
    record_and_serve(chosen, host, port, out, browse=not no_open)


def record_and_serve(lesson, host: str, port: int, out: Path | None, browse: bool) -> None:
    """``zmqzab lesson NAME``: record, keep a copy in ``out`` if asked, serve until Ctrl-C."""
    import gzip

    from zmqzab.cli.replay import serve_until_interrupted
    from zmqzab.lessons import LessonError
    from zmqzab.lessons.record import recording_bytes
    from zmqzab.sim.checkers import Violation

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
    headline = (f"lesson {lesson.name}: {lesson.title} ({len(script.captions)} captions"
                + (f"; recording kept in {out}" if out is not None else "") + ")")

    def opened(url: str) -> None:
        if browse and not open_browser(url):
            typer.echo("(no browser to open here: open the address above yourself)")

    serve_until_interrupted(body, host, port, headline, opened)


def open_browser(url: str) -> bool:
    """Open ``url`` in a graphical browser if there is one; never fails. Without a display
    (ssh, a container) nothing is opened: Python's webbrowser would pick a text browser that
    takes over the terminal."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        import webbrowser

        return webbrowser.open(url)
    except Exception:  # noqa: BLE001 - a missing or broken browser must not stop the lesson
        return False


def register(app: typer.Typer) -> None:
    app.command(epilog=LESSON_EXIT_CODES)(lesson)
