"""The simulator's recorder (zmqzab/record/sim.py): a recording is what each node would have
streamed to the page, it does not change the run, and it is bounded."""

from __future__ import annotations

import dataclasses
import io
import json

from zmqzab.record.reader import parse_lines
from zmqzab.record.sim import SimRecorder, TICK_MS, record_run
from zmqzab.sim import SimOptions, Simulation


def _record(options: SimOptions, **kwargs) -> tuple[bytes, object, dict]:
    buf = io.BytesIO()
    result, trailer = record_run(options, buf, **kwargs)
    import gzip

    return gzip.decompress(buf.getvalue()), result, trailer


def _without_created(text: bytes) -> list[bytes]:
    lines = text.split(b"\n")
    header = json.loads(lines[0])
    header.pop("created")
    return [json.dumps(header).encode(), *lines[1:]]


def test_same_seed_same_recording():
    """Goal: a recording of a seed is reproducible. Setup: seed 7 with faults, recorded twice in
    one process. Expected: the same lines, byte for byte, but for the header's "created"."""
    print("seed 7")
    first, result, _ = _record(SimOptions(seed=7))
    second, _, _ = _record(SimOptions(seed=7))
    assert result.ok and first.count(b"\n") > 1000
    assert _without_created(first) == _without_created(second)


def test_recording_does_not_change_the_run():
    """Goal: recording is only reading. Setup: seed 42 with faults, its full trace without and
    with a recorder. Expected: identical traces (and the recording's last frame is the verdict)."""
    print("seed 42")
    with Simulation(SimOptions(seed=42, trace_keep=None)) as sim:
        sim.run()
        plain = sim.trace.lines()
    buf = io.BytesIO()
    recorder = SimRecorder(buf, "test", compress=False)
    with Simulation(SimOptions(seed=42, trace_keep=None, recorder=recorder)) as sim:
        result = sim.run()
        recorded = sim.trace.lines()
        recorder.finish_run(result)
    assert plain == recorded
    rec = parse_lines(buf.getvalue())
    assert rec.frames[-1]["data"] == {"mark": "verdict", "ok": True, "text": rec.trailer["verdict"]["text"]}


def test_frames_are_what_the_page_reads():
    """Goal: the recording holds the page's streams, marks in place. Setup: seed 1 with faults.
    Expected: every node has hello and status frames; zab frames carry rendered events in
    virtual ms; crashes are down frames and fault marks that end (until) when the node is up
    again; partitions end at a heal; leader marks name an established leader."""
    print("seed 1")
    text, result, trailer = _record(SimOptions(seed=1))
    rec = parse_lines(text)
    assert rec.header["source"] == "sim" and rec.header["clock"] == "virtual"
    assert rec.header["seed"] == 1 and rec.header["tick_ms"] == TICK_MS
    frames = rec.frames
    for i in rec.header["nodes"]:
        mine = [f for f in frames if f.get("node") == i]
        assert mine[0]["kind"] == "up" and mine[1]["kind"] == "hello"
        statuses = [f["data"] for f in mine if f["kind"] == "status"]
        assert statuses and all(s["id"] == i and "role" in s and "log_tail" in s for s in statuses)
    zab = [f for f in frames if f["kind"] == "zab"]
    assert all(f["t"] == f["data"]["t"] and f["data"]["text"] for f in zab)
    assert any(f["data"]["kind"] == "send" and f["data"]["msg"] == "PROPOSAL" for f in zab)
    marks = [f["data"] for f in frames if f["kind"] == "mark"]
    crashes = [m for m in marks if m["mark"] == "fault" and m["fault"] == "crash"]
    assert crashes and all(m["until"] is not None for m in crashes)
    assert sum(1 for f in frames if f["kind"] == "down") >= len(crashes)
    leaders = [m for m in marks if m["mark"] == "leader" and m["leader"] is not None]
    assert leaders and all(m["epoch"] >= 1 for m in leaders)
    for f in frames:
        if f["kind"] == "mark" and f["data"].get("fault") == "partition":
            assert f["data"]["until"] >= f["t"]


def test_an_injected_bug_ends_with_the_checkers_verdict():
    """Goal: a student sees the violation where it happens. Setup: seed 3 with the
    commit_without_quorum switch (the sweep catches it there). Expected: the recording ends
    with a verdict mark, not ok, with the checker's property and message, at the trailer's time."""
    print("seed 3 --inject-bug commit_without_quorum")
    text, result, trailer = _record(SimOptions(seed=3, test_faults=frozenset({"commit_without_quorum"})))
    assert result.violation is not None
    rec = parse_lines(text)
    last = rec.frames[-1]
    assert last["kind"] == "mark"
    assert last["data"] == {"mark": "verdict", "ok": False, "text": result.violation.detail,
                            "prop": result.violation.prop}
    assert last["t"] == trailer["t"]
    assert result.ticks * TICK_MS <= last["t"] < (result.ticks + 1) * TICK_MS  # the step it happened
    assert trailer["verdict"]["ok"] is False


def test_a_long_run_stays_under_a_small_cap():
    """Goal: the size bound holds. Setup: seed 5, 1500 ticks of faults, cap 150 kB. Expected:
    the frames' text stays under the cap, the trailer counts what was dropped and says the cap
    cut it short; captions and marks written before the cap are all there."""
    print("seed 5, 1500 ticks")
    cap = 150_000
    captions = [(10, {"id": "c1", "text": "first", "pause": True, "question": None})]
    text, result, trailer = _record(dataclasses.replace(SimOptions(seed=5), ticks=1500),
                                    cap_bytes=cap, captions=captions)
    lines = text.split(b"\n")[:-1]
    assert sum(len(line) + 1 for line in lines[1:-1]) <= cap
    assert json.loads(lines[0])["cap_bytes"] == cap
    assert trailer["truncated"] is True and trailer["dropped"]["zab"] > 0
    rec = parse_lines(text)
    captioned = [f for f in rec.frames if f["kind"] == "caption"]
    assert [c["data"]["id"] for c in captioned] == ["c1"] and captioned[0]["t"] == 10 * TICK_MS
