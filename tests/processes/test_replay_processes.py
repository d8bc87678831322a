"""`zmqzab replay` and `zmqzab sim --view` as processes: they serve the page and the recording
on the port the OS gives them, and refuse a file that is not a recording."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from zmqzab.record.sim import record_run
from zmqzab.sim import SimOptions

from tests.polling import wait_for

pytestmark = [pytest.mark.web, pytest.mark.cli]

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _serve(args: list[str], log: Path) -> tuple[subprocess.Popen, str]:
    out = log.open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "zmqzab", *args], stdout=out, stderr=subprocess.STDOUT,
                            env=_env())

    def address() -> str | None:
        if proc.poll() is not None:
            raise AssertionError(f"zmqzab {' '.join(args)} exited {proc.returncode}: {log.read_text()}")
        m = re.search(r"open (http://\S+)", log.read_text())
        return m.group(1) if m else None

    return proc, wait_for(address, 120, f"the address zmqzab {args[0]} prints")


def _get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.headers.get("Content-Type", ""), r.read()


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=30)


@pytest.mark.processes
def test_processes_replay_serves_the_page_and_the_recording(tmp_path):
    """Goal: `zmqzab replay FILE` serves what the page needs. Setup: seed 2 recorded to a file,
    served on a port from the OS. Expected: / is the page, /recording the recording's lines
    (decompressed, NDJSON) from header to trailer; the printed address asks for replay mode."""
    print("seed 2")
    path = tmp_path / "run.zrec"
    _, trailer = record_run(SimOptions(seed=2, ticks=60), path)
    proc, url = _serve(["replay", str(path), "--port", "0"], tmp_path / "replay.log")
    try:
        assert url.endswith("/?replay=/recording")
        base = url.split("/?")[0]
        status, ctype, page = _get(base + "/")
        assert status == 200 and ctype.startswith("text/html") and b"<html" in page.lower()
        status, ctype, body = _get(base + "/recording")
        assert status == 200 and ctype.startswith("application/x-ndjson")
        lines = [json.loads(line) for line in body.splitlines()]
        assert lines[0]["format"] == "zmqzab-recording" and lines[0]["seed"] == 2
        assert lines[-1] == trailer and len(lines) == trailer["frames"] + 2
    finally:
        _stop(proc)


@pytest.mark.processes
def test_processes_sim_view_serves_the_seed_paused_with_its_verdict(tmp_path):
    """Goal: `zmqzab sim --view` shows a seed with an injected bug. Setup: seed 3 with
    commit_without_quorum, --view on a port from the OS. Expected: the recording served asks
    the page to start paused and ends with the checker's verdict (not ok)."""
    print("seed 3 --inject-bug commit_without_quorum")
    proc, url = _serve(["sim", "--seed", "3", "--inject-bug", "commit_without_quorum", "--view",
                        "--port", "0"], tmp_path / "view.log")
    try:
        _, _, body = _get(url.split("/?")[0] + "/recording")
        lines = [json.loads(line) for line in body.splitlines()]
        assert lines[0]["start_paused"] is True and lines[0]["source"] == "sim"
        assert lines[-2]["kind"] == "mark" and lines[-2]["data"]["mark"] == "verdict"
        assert lines[-2]["data"]["ok"] is False and lines[-1]["verdict"]["ok"] is False
        assert "VIOLATION" in (tmp_path / "view.log").read_text()
    finally:
        _stop(proc)


@pytest.mark.processes
def test_processes_replay_refuses_a_file_that_is_not_a_recording(tmp_path):
    """Goal: a bad file is one clear line and exit 2. Setup: a text file. Expected: exit 2, the
    error names the file and how to make a recording."""
    bad = tmp_path / "notes.zrec"
    bad.write_text("not a recording\n")
    done = subprocess.run([sys.executable, "-m", "zmqzab", "replay", str(bad)], capture_output=True,
                          text=True, env=_env(), timeout=120)
    assert done.returncode == 2
    assert "not a zmqzab recording" in done.stderr and "--record" in done.stderr
