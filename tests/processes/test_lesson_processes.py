"""`zmqzab lesson NAME` as a process: it records the lesson, serves it to the page on the port
the OS gives it, and never fails for want of a browser."""

from __future__ import annotations

import json
import os

import pytest

from tests.processes.test_replay_processes import _get, _serve, _stop


@pytest.mark.processes
def test_processes_lesson_serves_its_recording_without_a_browser(tmp_path, monkeypatch):
    """Goal: a lesson opens in the page, and a machine with no display does not stop it.

    Setup: `zmqzab lesson one-commit --port 0 --out FILE` with no DISPLAY nor WAYLAND_DISPLAY
    (so no browser can be opened). Faults: none.
    Expected: it says no browser could be opened, prints the replay address and serves / (the
    page) and /recording: a lesson recording with the lesson's title, paused at t=0, its
    captions (the "commit" one pauses), an ok verdict; the --out file holds the same recording."""
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert "DISPLAY" not in os.environ
    out = tmp_path / "lesson.zrec"
    log = tmp_path / "lesson.log"
    proc, url = _serve(["lesson", "one-commit", "--port", "0", "--out", str(out)], log)
    try:
        assert url.endswith("/?replay=/recording")
        assert "no browser to open here" in log.read_text()
        base = url.split("/?")[0]
        status, ctype, page = _get(base + "/")
        assert status == 200 and b"<html" in page.lower()
        status, ctype, body = _get(base + "/recording")
        assert status == 200 and ctype.startswith("application/x-ndjson")
        lines = [json.loads(line) for line in body.splitlines()]
        header, trailer = lines[0], lines[-1]
        assert header["source"] == "lesson" and header["start_paused"] is True
        assert header["title"] == "One commit, from PROPOSAL to COMMIT"
        caps = {f["data"]["id"]: f["data"] for f in lines[1:-1] if f["kind"] == "caption"}
        assert caps["commit"]["pause"] is True and caps["commit"]["question"]
        assert trailer["verdict"]["ok"] is True
        import gzip

        assert gzip.decompress(out.read_bytes()).splitlines()[1:] == body.splitlines()[1:]
    finally:
        _stop(proc)
