"""`zmqzab up --record FILE` as a process: every node's stream and the controls' faults in one
recording, written while the cluster runs and closed with a trailer when it stops."""

from __future__ import annotations

import pytest

from tests.polling import wait_for
from tests.processes.upcluster import UpCluster
from zmqzab.record.reader import read_recording

pytestmark = [pytest.mark.web, pytest.mark.cli]


@pytest.mark.processes
def test_processes_up_record_writes_every_node_and_the_crash(tmp_path):
    """Goal: a live cluster's recording. Setup: `zmqzab up --record` over 3 nodes. Faults: a
    follower crashed from the controls (kill -9), then restarted; then paused (SIGSTOP) and
    resumed. Expected: hello, status and
    zab frames from every node; the crashed node's stream goes down and comes up again with a
    new hello; the pause shows as down (the stream goes silent) and up again; fault marks for
    the crash and the pause that end at the restart and the resume; a leader mark; a trailer
    after the stop."""
    path = tmp_path / "live.zrec"
    up = UpCluster(tmp_path, n=3)
    up.start(args=("--record", str(path)))
    try:
        leader = up.wait_leader(timeout=60)

        def followed() -> set[int]:  # the file is flushed every second while it is written
            try:
                frames = read_recording(path).frames
            except Exception:  # not even its header flushed yet
                return set()
            seen = {f["node"] for f in frames if f["kind"] == "hello"}
            return seen if seen == set(up.ids) else set()

        wait_for(followed, 60, "the recorder to follow every node")
        victim = next(i for i in up.ids if i != leader)
        assert up.act("crash", {"node": victim})[0] == 200
        assert up.act("restart", {"node": victim})[0] == 200
        wait_for(lambda: (up.status(victim) or {}).get("role") == "FOLLOWING", 60,
                 "the restarted node to follow")

        def seen(kind: str) -> int:
            try:
                return sum(1 for f in read_recording(path).frames if f.get("node") == victim and f["kind"] == kind)
            except Exception:  # between flushes
                return 0

        wait_for(lambda: seen("hello") >= 2, 60, "the recorder to follow the restarted node")
        assert up.act("pause", {"node": victim})[0] == 200
        wait_for(lambda: seen("down") >= 2, 60, "the paused node's stream to be seen silent (down)")
        assert up.act("resume", {"node": victim})[0] == 200
        wait_for(lambda: seen("up") >= 3, 60, "the resumed node's stream to answer again (up)")
    finally:
        up.stop()
    assert "recording: " in up.console()
    rec = read_recording(path)
    assert rec.trailer is not None and rec.cut == "", rec.cut
    assert rec.header["source"] == "live" and rec.header["nodes"] == up.ids
    for i in up.ids:
        kinds = {f["kind"] for f in rec.frames if f.get("node") == i}
        assert {"hello", "status", "zab"} <= kinds, (i, kinds)
    mine = [f["kind"] for f in rec.frames if f.get("node") == victim and f["kind"] in ("up", "down", "hello")]
    assert mine[:2] == ["up", "hello"] and "down" in mine
    assert mine[mine.index("down") + 1:][:2] == ["up", "hello"]
    marks = [f["data"] for f in rec.frames if f["kind"] == "mark"]
    crash = next(m for m in marks if m["mark"] == "fault" and m["fault"] == "crash")
    restart = next(f for f in rec.frames if f["kind"] == "mark" and f["data"].get("fault") == "restart")
    assert crash["nodes"] == [victim] and crash["until"] == restart["t"]  # the file rewritten with ends
    pause = next(m for m in marks if m["mark"] == "fault" and m["fault"] == "pause")
    resume = next(f for f in rec.frames if f["kind"] == "mark" and f["data"].get("fault") == "resume")
    assert pause["nodes"] == [victim] and pause["until"] == resume["t"]
    assert mine.count("down") >= 2 and mine.count("up") >= 3  # start, restart, resume
    assert any(m["mark"] == "leader" and m["leader"] is not None for m in marks)
    # as pages see them: no controls' URL, no secrets
    assert all("control" not in f["data"] for f in rec.frames if f["kind"] == "status")
    assert rec.header["config"]["zookeeper"]["session_secret"] == "(not recorded)"
