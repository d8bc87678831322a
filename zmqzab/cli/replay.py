"""`zmqzab replay FILE`: serve a recording and the page that replays it.

Recordings come from ``zmqzab sim --seed N --record FILE``, ``zmqzab up --record FILE`` and
``zmqzab chaos`` (``recording.zrec`` in its report dir). A file that is not a readable recording
is one line on stderr and exit 2; a recording cut short (its recorder was killed) is served up
to where it ends, with a warning.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from zmqzab.cli.common import fail

REPLAY_EXIT_CODES = """\b
Exit codes:
  0  served until interrupted (Ctrl-C)
  2  bad input: not a readable recording, or the port is taken
"""

HostOption = Annotated[str, typer.Option("--host", help="Address to serve on (loopback unless you "
                                         "mean to show it to others).")]
PortOption = Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="Port to serve on "
                                         "(0: any free port).")]


def replay(
    file: Annotated[Path, typer.Argument(help="The recording (.zrec or .jsonl).", show_default=False, metavar="FILE")],
    port: PortOption = 0,
    host: HostOption = "127.0.0.1",
) -> None:
    """Serve a recording and the page: open the printed address to replay it (play, pause, step,
    scrub). Runs until interrupted."""
    from zmqzab.record.reader import RecordingError, read_recording

    try:
        rec = read_recording(file, keep_frames=False)
    except RecordingError as exc:
        fail(str(exc))
    if rec.cut:
        typer.echo(f"warning: {file}: {rec.cut}; replaying the {rec.count} frames before that", err=True)
    serve_until_interrupted(rec.ndjson(), host, port,
                            f"replaying {file}: {rec.header.get('command') or rec.header['source']}")


def serve_until_interrupted(body: bytes, host: str, port: int, headline: str,
                            on_ready: Callable[[str], None] | None = None) -> None:
    """Serve ``body`` with the page, print ``headline`` and the address, call ``on_ready(url)``
    (a lesson opens the browser there), wait for Ctrl-C."""
    from zmqzab.record.server import serve_recording
    from zmqzab.server.transport import PortInUseError

    try:
        server, url = serve_recording(body, host, port)
    except PortInUseError as exc:
        fail(str(exc))
    typer.echo(headline)
    typer.echo(f"open {url}   (Ctrl-C stops)")
    if on_ready is not None:
        on_ready(url)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()


def register(app: typer.Typer) -> None:
    app.command(epilog=REPLAY_EXIT_CODES)(replay)
