"""The simulator's recorder (zmqzab/record/sim.py): a recording is what each node would have
streamed to the page, it does not change the run, and it is bounded."""

from __future__ import annotations

import dataclasses
import io
import json

import pytest

from zmqzab.record.reader import parse_lines
from zmqzab.record.sim import SimRecorder, TICK_MS, record_run
from zmqzab.sim import SimOptions, Simulation

pytestmark = [pytest.mark.web]


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


def test_streams_go_down_and_up_as_the_page_would_see_them():
    """Goal: a node's stream in the recording goes down when its process dies or stops and up
    when it answers again, as a live node's would. Setup: seed 3 with faults (crashes and
    pauses). Expected: per node, up and down alternate and every up is followed by a hello; a
    paused node is down from its pause mark until the pause's end (or a crash and restart); clients' requests and
    answers are zab events as nodes record them."""
    print("seed 3")
    text, result, _ = _record(SimOptions(seed=3))
    assert result.ok
    frames = parse_lines(text).frames
    for i in range(1, 6):
        mine = [f for f in frames if f.get("node") == i and f["kind"] in ("up", "down", "hello")]
        ups = [f["kind"] for f in mine if f["kind"] != "hello"]
        assert ups == ["up", "down"] * (len(ups) // 2) + ["up"] * (len(ups) % 2), (i, ups)
        for k, f in enumerate(mine):
            if f["kind"] == "up":
                assert mine[k + 1]["kind"] == "hello"
    pauses = [(k, f) for k, f in enumerate(frames)
              if f["kind"] == "mark" and f["data"].get("fault") == "pause"]
    assert pauses
    for k, p in pauses:
        (i,) = p["data"]["nodes"]
        # What follows the mark (a pause may begin the tick the last one ended, after its "up").
        after = [f for f in frames[k:] if f.get("node") == i and f["kind"] in ("up", "down")]
        assert after[0]["kind"] == "down" and after[0]["t"] == p["t"]
        if len(after) > 1 and after[1]["kind"] == "up" and after[1]["t"] < p["data"]["until"]:
            # up early only when it was crashed meanwhile (a crash ends a pause) and restarted
            assert any(f["kind"] == "mark" and f["data"].get("fault") == "crash" and f["data"]["nodes"] == [i]
                       and p["t"] <= f["t"] <= after[1]["t"] for f in frames)
    kinds = {f["data"]["kind"] for f in frames if f["kind"] == "zab"}
    assert {"client", "answer", "commit", "send", "recv"} <= kinds


def test_cli_record_takes_one_seed_and_a_writable_file(tmp_path):
    """Goal: --record's errors are one line and exit 2. Expected: with --seeds, or a file in a
    directory that does not exist, exit 2 naming the way out; a good path gets a recording."""
    from typer.testing import CliRunner

    from zmqzab.cli.app import app

    runner = CliRunner()
    r = runner.invoke(app, ["sim", "--seeds", "3", "--record", str(tmp_path / "a.zrec")])
    assert r.exit_code == 2 and "--seed alone" in r.output
    r = runner.invoke(app, ["sim", "--seed", "1", "--ticks", "20", "--record", str(tmp_path / "no" / "a.zrec")])
    assert r.exit_code == 2 and "cannot write the recording" in r.output
    r = runner.invoke(app, ["sim", "--seed", "1", "--ticks", "20", "--record", str(tmp_path / "a.jsonl")])
    assert r.exit_code == 0, r.output
    assert parse_lines((tmp_path / "a.jsonl").read_bytes()).trailer["verdict"]["ok"] is True


def test_zookeeper_clients_show_in_the_status_frames():
    """Goal: the page's ZooKeeper panel has its data in a simulated run. Setup: seed 4, 3
    simulated ZooKeeper clients, 100 ticks. Expected: status frames carry "zk" (connections,
    the tree, the sessions) as a live node's /status does, built by the same zk_view."""
    print("seed 4 --zk-clients 3")
    text, result, _ = _record(dataclasses.replace(SimOptions(seed=4, zk_clients=3), ticks=100))
    zk = [f["data"]["zk"] for f in parse_lines(text).frames if f["kind"] == "status" and "zk" in f["data"]]
    assert zk and all({"connections", "watches", "tree", "sessions"} <= set(z) for z in zk)
    assert any(z["connections"] for z in zk) and any(z["sessions"] for z in zk)


def test_a_script_drives_the_run_and_captions_it():
    """Goal: the API a lesson uses. Setup: a calm 3-node cluster with a SimRecorder (source
    "lesson", a title, start paused); the script runs until a leader serves, captions, crashes
    the leader, partitions, heals, runs on, finishes. Expected: the captions at the script's
    instants, the crash mark ending at the restart, the partition mark ending at the heal, a
    new leader marked, the verdict ok."""
    from tests.sim.helpers import wait_serving

    print("calm seed 1, 3 nodes")
    buf = io.BytesIO()
    rec = SimRecorder(buf, "lesson test", title="An election", start_paused=True, source="lesson",
                      compress=False)
    with Simulation(SimOptions(seed=1, nodes=3, faults=False, workload=False, recorder=rec)) as sim:
        first = wait_serving(sim)
        rec.caption("elected", f"n{first} leads", pause=True, question="Why this node?")
        sim.crash(first, "the lesson")
        sim.run_ticks(40)
        sim.restart(first)
        sim.partition([[1], [2, 3]])
        sim.run_ticks(10)
        sim.heal()
        second = wait_serving(sim)
        rec.caption("again", "everyone follows")
        rec.finish()
    lines = parse_lines(buf.getvalue())
    assert lines.header["source"] == "lesson" and lines.header["title"] == "An election"
    assert lines.header["start_paused"] is True
    caps = [f for f in lines.frames if f["kind"] == "caption"]
    assert [c["data"]["id"] for c in caps] == ["elected", "again"]
    assert caps[0]["data"] == {"id": "elected", "text": f"n{first} leads", "pause": True,
                               "question": "Why this node?"}
    marks = [f for f in lines.frames if f["kind"] == "mark"]
    crash = next(m for m in marks if m["data"].get("fault") == "crash")
    restart_up = next(f for f in lines.frames if f.get("node") == first and f["kind"] == "up" and f["t"] > crash["t"])
    assert crash["data"]["until"] == restart_up["t"]
    part = next(m for m in marks if m["data"].get("fault") == "partition")
    heal = next(m for m in marks if m["data"].get("fault") == "heal")
    assert part["data"]["until"] == heal["t"] and part["data"]["groups"] == [[1], [2, 3]]
    leaders = [m["data"]["leader"] for m in marks if m["data"]["mark"] == "leader"]
    assert leaders[0] == first and second in leaders
    assert marks[-1]["data"] == {"mark": "verdict", "ok": True, "text": "every checked property held"}
