"""A lesson's recording: the simulated cluster's streams as the recorder (zmqzab/record/)
writes them for ``zmqzab sim --record``, with the lesson's captions among them, served by the
replay server (``zmqzab replay``)."""

from __future__ import annotations

from pathlib import Path

from zmqzab.cli.common import EXIT_FAILED, fail


def record_and_serve(lesson, host: str, port: int, out: Path | None, open_browser: bool) -> None:
    try:
        import zmqzab.record  # noqa: F401
    except ImportError:
        fail(f"this build has no recorder (zmqzab/record), so lesson {lesson.name} cannot be "
             f"replayed in the page yet; 'zmqzab lesson {lesson.name} --captions' prints its script",
             EXIT_FAILED)
    raise NotImplementedError("wired once the recorder lands")
