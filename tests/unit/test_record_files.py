"""The recording format's writer and reader (zmqzab/record/): the size bound, key-frame
thinning, the trailer's counts, and the reader's answers to damaged, cut and foreign files."""

from __future__ import annotations

import gzip
import io
import json

import pytest

from zmqzab.record.format import FORMAT, THIN_AT
from zmqzab.record.reader import RecordingError, parse_lines, read_recording
from zmqzab.record.writer import RecordingWriter, make_header

pytestmark = [pytest.mark.web]


def _header() -> dict:
    return make_header("live", "test", [1, 2, 3], "wall", 50, 100)


def _zab(t: float, node: int, kind: str) -> dict:
    return {"t": t, "node": node, "kind": "zab", "data": {"seq": 1, "t": t, "node": node, "kind": kind, "text": "x"}}


def _write(path, frames: int, cap: int) -> dict:
    w = RecordingWriter(path, _header(), cap_bytes=cap)
    for k in range(frames):
        w.write(_zab(float(k), 1 + k % 3, "send" if k % 10 else "role"))
        w.frame(float(k), "status", {"id": 1 + k % 3, "role": "LOOKING"}, node=1 + k % 3)
    w.frame(float(frames), "mark", {"mark": "leader", "leader": 1, "epoch": 1})
    return w.close({"ok": True, "text": "fine"})


def test_writer_stays_under_the_cap_and_counts_what_it_dropped(tmp_path):
    cap = 20_000
    path = tmp_path / "r.zrec"
    trailer = _write(path, 2000, cap)
    lines = gzip.decompress(path.read_bytes()).split(b"\n")[:-1]
    frame_bytes = sum(len(line) + 1 for line in lines[1:-1])
    assert frame_bytes <= cap
    assert json.loads(lines[0])["cap_bytes"] == cap
    end = json.loads(lines[-1])
    assert end == trailer and end["kind"] == "end"
    assert end["truncated"] is True
    assert end["frames"] == len(lines) - 2
    assert end["dropped"]["zab"] > 0 and end["dropped"]["status"] > 0
    assert end["frames"] + sum(end["dropped"].values()) == 2 * 2000 + 1


def test_past_the_thinning_point_only_key_frames_are_written(tmp_path):
    path = tmp_path / "r.jsonl"
    cap = 1_000_000
    w = RecordingWriter(path, _header(), cap_bytes=cap)
    k = 0
    while w.bytes < cap * THIN_AT:
        w.write(_zab(float(k), 1, "send"))
        k += 1
    before = w.frames
    for j in range(100):
        w.write(_zab(float(k + j), 1, "send"))        # traffic: dropped
        w.write(_zab(float(k + j), 1, "elected"))     # a key event: kept
        w.frame(float(k + j), "status", {"id": 1}, node=1)  # at most one per second per node
    w.frame(float(k + 2000), "status", {"id": 1}, node=1)
    end = w.close()
    rec = read_recording(path)
    late = rec.frames[before:]
    assert [f["data"]["kind"] for f in late if f["kind"] == "zab"] == ["elected"] * 100
    assert [f["t"] for f in late if f["kind"] == "status"] == [float(k), float(k + 2000)]
    assert end["dropped"] == {"zab": 100, "status": 99} and end["truncated"] is False


def test_times_never_go_back(tmp_path):
    buf = io.BytesIO()
    w = RecordingWriter(buf, _header(), compress=False)
    w.write(_zab(10.0, 1, "send"))
    w.write(_zab(5.0, 2, "send"))  # merged streams a little out of order
    w.close()
    rec = parse_lines(buf.getvalue())
    assert [f["t"] for f in rec.frames] == [10.0, 10.0]


def test_a_whole_recording_reads_back(tmp_path):
    path = tmp_path / "r.zrec"
    trailer = _write(path, 50, 10**6)
    rec = read_recording(path)
    assert rec.header["format"] == FORMAT and rec.trailer == trailer and rec.cut == ""
    assert len(rec.frames) == trailer["frames"] == 101
    assert rec.ndjson() == gzip.decompress(path.read_bytes())


def test_a_cut_gzip_file_replays_up_to_where_it_ends(tmp_path):
    path = tmp_path / "r.zrec"
    _write(path, 3000, 10**7)
    raw = path.read_bytes()
    cut = tmp_path / "cut.zrec"
    cut.write_bytes(raw[: len(raw) // 2])
    rec = read_recording(cut)
    assert rec.trailer is None and "ends early" in rec.cut
    assert 100 < len(rec.frames) < 6001
    served = [json.loads(line) for line in rec.ndjson().split(b"\n")[:-1]]
    assert served[-1]["kind"] == "end" and served[-1]["truncated"] is True
    assert served[-1]["frames"] == len(rec.frames) == len(served) - 2


def test_a_half_written_last_line_is_left_out(tmp_path):
    path = tmp_path / "r.jsonl"
    _write(path, 10, 10**6)
    lines = path.read_bytes().split(b"\n")
    path.write_bytes(b"\n".join(lines[:8]) + b"\n" + lines[8][:7])
    rec = read_recording(path)
    assert len(rec.frames) == 7 and "line 9 is cut short" in rec.cut


def test_a_damaged_line_in_the_middle_is_named(tmp_path):
    path = tmp_path / "r.jsonl"
    _write(path, 10, 10**6)
    lines = path.read_bytes().split(b"\n")
    lines[4] = b'{"t": 3, "kind": "zab", "da'
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(RecordingError, match=r"line 5 is not valid JSON.*head -n 4"):
        read_recording(path)


@pytest.mark.parametrize("line, problem", [
    (b'{"t": -1, "node": 1, "kind": "up"}', "goes back in time"),
    (b'{"t": 1e9, "node": 9, "kind": "up"}', "not one of the header's nodes"),
    (b'{"t": 1e9, "kind": "dance"}', "unknown kind"),
    (b'{"t": 1e9, "node": 1, "kind": "status"}', "without its data"),
    (b'{"kind": "end", "t": 0}', "more lines follow"),
])
def test_frames_that_break_the_format_are_named(tmp_path, line, problem):
    path = tmp_path / "r.jsonl"
    _write(path, 5, 10**6)
    lines = path.read_bytes().split(b"\n")
    lines.insert(3, line)
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(RecordingError, match=f"line 4 .*{problem}"):
        read_recording(path)


def test_foreign_and_newer_files_are_refused(tmp_path):
    other = tmp_path / "notes.jsonl"
    other.write_text('{"hello": 1}\n')
    with pytest.raises(RecordingError, match="not a zmqzab recording.*--record"):
        read_recording(other)
    empty = tmp_path / "empty.zrec"
    empty.write_bytes(b"")
    with pytest.raises(RecordingError, match="is empty"):
        read_recording(empty)
    newer = tmp_path / "newer.jsonl"
    newer.write_text(json.dumps({**_header(), "version": 99}) + "\n")
    with pytest.raises(RecordingError, match="version 99.*upgrade zmqzab"):
        read_recording(newer)
    binary = tmp_path / "junk.zrec"
    binary.write_bytes(gzip.compress(b"\x00\x01\x02garbage"))
    with pytest.raises(RecordingError, match="not a zmqzab recording"):
        read_recording(binary)


def test_a_live_recording_leaves_the_configs_secrets_out():
    """A recording is made to be shown: the cluster config in its header has no secret."""
    from zmqzab.config import load_config
    from zmqzab.record.live import config_json
    from zmqzab.resources import builtin_config

    cfg = load_config(builtin_config())
    text = json.dumps(config_json(cfg))
    assert cfg.zookeeper.session_secret and cfg.zookeeper.session_secret not in text
    assert json.loads(text)["zookeeper"]["session_secret"] == "(not recorded)"
    assert json.loads(text)["timing"]["tick_ms"] == cfg.timing.tick_ms


def test_a_live_faults_end_is_the_mark_that_ends_it():
    """A live recording learns a fault's end later: the crash ends at the node's restart, the
    pause at its resume (or a crash), a partition at the heal or the next partition; a fault
    still open when the recording ends lasts to its end; instant faults keep no end."""
    from zmqzab.record.live import fill_until

    def fault(t, kind, nodes):
        return {"t": t, "kind": "mark", "data": {"mark": "fault", "fault": kind, "text": kind,
                                                 "nodes": nodes, "until": None}}

    frames = [fault(1, "crash", [2]), fault(2, "pause", [3]), fault(3, "partition", [1]),
              fault(4, "restart", [1]), fault(5, "restart", [2]), fault(6, "partition", [4]),
              fault(7, "crash", [3]), fault(8, "heal", []), fault(9, "election", [1]),
              fault(10, "pause", [1])]
    fill_until(frames, 99.0)
    until = [f["data"]["until"] for f in frames]
    assert until == [5, 7, 6, None, None, 8, 99.0, None, None, 99.0]


def test_damaged_compressed_data_is_named_or_replayed_up_to_the_damage(tmp_path):
    """Bytes flipped inside the gzip stream: either the damage surfaces as a bad line (an
    error naming it) or the file replays the lines before it and says it is damaged; never
    an unexplained exception."""
    path = tmp_path / "r.zrec"
    _write(path, 3000, 10**7)
    raw = bytearray(path.read_bytes())
    for k in range(len(raw) // 2, len(raw) // 2 + 64):
        raw[k] ^= 0x5A
    path.write_bytes(bytes(raw))
    try:
        rec = read_recording(path)
    except RecordingError as exc:
        assert "line" in str(exc) or "damaged" in str(exc)
    else:
        assert "damaged" in rec.cut and rec.trailer is None and len(rec.frames) > 100
