"""`zmqzab log` and `zmqzab snapshot` on data dirs built by storage itself: listing, --from,
--json, and --verify finding each kind of damage (no node processes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zmqzab.cli.app import app
from zmqzab.core.output import Append
from zmqzab.game.rules import Game
from zmqzab.messages import Guess, NewGame, Txn
from zmqzab.storage.compaction import SaveSnapshot
from zmqzab.storage.snapshot import PREFIX_SIZE
from zmqzab.storage.store import open_storage
from zmqzab.storage.txnlog import list_segments
from zmqzab.zxid import make_zxid

pytestmark = [pytest.mark.snapshots, pytest.mark.storage, pytest.mark.cli]

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Epoch 1: 1:1..1:120, epoch 2: 2:1..2:30; a snapshot every 30 txns, 3 kept (1:90,
    1:120, 2:30), so the log holds 1:91..2:30."""
    d = tmp_path / "node-0"
    storage, _ = open_storage(d, snapshots_kept=3)
    storage.write_epochs(2, 2)
    game = Game()
    txns = [Txn(make_zxid(1, c), Guess(f"p{c % 4}", c, c % 101), 1_700_000_000_000 + c) for c in range(1, 121)]
    txns += [Txn(make_zxid(2, 1), NewGame("p0", 121, 4))]
    txns += [Txn(make_zxid(2, c), Guess(f"p{c % 4}", 120 + c, c), 0) for c in range(2, 31)]
    for k, t in enumerate(txns, 1):
        storage.apply(Append([t]))
        game.apply(t)
        if k % 30 == 0:
            storage.save_snapshot(SaveSnapshot(t.zxid, game.snapshot()))
    storage.sync()
    storage.close()
    return d


def run(*args: str):
    return runner.invoke(app, list(args))


def test_log_lists_txns_after_the_oldest_kept_snapshot(data_dir: Path) -> None:
    r = run("log", "--data-dir", str(data_dir))
    assert r.exit_code == 0, r.output
    lines = [x for x in r.stdout.splitlines() if not x.startswith("#")]
    assert lines[0].split()[0] == "1:91" and lines[-1].split()[0] == "2:30" and len(lines) == 60
    assert "new-game (seq 121, round size 4)" in r.stdout
    assert " - " in lines[-1]  # forwarded txns carry no leader time
    r = run("log", "--data-dir", str(data_dir), "--from", "2:29", "--json")
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [(x["zxid"], x["client"], x["command"], x["value"]) for x in rows] == [("2:29", "p1", "guess", 29),
                                                                                ("2:30", "p2", "guess", 30)]


def test_log_verify_passes_then_finds_a_flipped_bit(data_dir: Path) -> None:
    r = run("log", "--data-dir", str(data_dir), "--verify")
    assert r.exit_code == 0 and "OK:" in r.stdout and "60 txns (1:91..2:30)" in r.stdout, r.stdout
    segments = list_segments(data_dir / "log")
    assert len(segments) == 2
    first = segments[0].path
    raw = bytearray(first.read_bytes())
    raw[13] ^= 0x01  # inside the first record's payload
    first.write_bytes(bytes(raw))
    r = run("log", "--data-dir", str(data_dir), "--verify")
    assert r.exit_code == 1 and "DAMAGED" in r.stdout
    assert f"corrupt txn log {first} at byte 0: checksum mismatch" in r.stdout


def test_log_verify_finds_missing_segments(tmp_path: Path) -> None:
    d = tmp_path / "node-1"
    storage, _ = open_storage(d, segment_max_bytes=600)
    storage.write_epochs(1, 1)
    game = Game()
    for c in range(1, 61):
        t = Txn(make_zxid(1, c), Guess("m", c, 5))
        storage.apply(Append([t]))
        game.apply(t)
        if c == 10:
            storage.save_snapshot(SaveSnapshot(t.zxid, game.snapshot()))
    storage.sync()
    storage.close()
    segments = list_segments(d / "log")
    assert len(segments) > 3
    assert run("log", "--data-dir", str(d), "--verify").exit_code == 0
    segments[2].path.unlink()
    r = run("log", "--data-dir", str(d), "--verify")
    assert r.exit_code == 1 and "txns are missing in between" in r.stdout, r.stdout
    segments[0].path.unlink()
    segments[1].path.unlink()  # now the log does not follow the snapshot either
    r = run("log", "--data-dir", str(d), "--verify", "--json")
    report = json.loads(r.stdout)
    assert not report["ok"] and any("does not hold every txn after 1:10" in p for p in report["problems"])


def test_log_verify_notes_a_torn_tail_and_a_gap_inside_an_epoch(data_dir: Path) -> None:
    last = list_segments(data_dir / "log")[-1].path
    with open(last, "ab") as f:
        f.write(b"\x00\x00\x00\x30\x12")  # a record header cut short: a torn last write
    r = run("log", "--data-dir", str(data_dir), "--verify")
    assert r.exit_code == 0 and "torn last write" in r.stdout, r.stdout
    # A log whose zxids skip inside an epoch: continuity fails.
    d = data_dir.parent / "gappy"
    storage, _ = open_storage(d)
    storage.write_epochs(1, 1)
    storage.apply(Append([Txn(make_zxid(1, c), Guess("g", c, 1)) for c in (1, 2, 4)]))
    storage.sync()
    storage.close()
    r = run("log", "--data-dir", str(d), "--verify")
    assert r.exit_code == 1 and "1:4 follows 1:2: txns are missing in between" in r.stdout, r.stdout


def test_snapshot_show_list_and_fallback_past_a_damaged_newest(data_dir: Path) -> None:
    r = run("snapshot", "--show", "--data-dir", str(data_dir))
    assert r.exit_code == 0, r.output
    assert "zxid 2:30, generation 0" in r.stdout and "checksum ok" in r.stdout
    assert "game 2, round" in r.stdout and "round size 4" in r.stdout
    r = run("snapshot", "--list", "--data-dir", str(data_dir), "--json")
    assert [x["zxid"] for x in json.loads(r.stdout)] == ["2:30", "1:120", "1:90"]
    newest = data_dir / "snap" / f"snapshot.{make_zxid(2, 30):016x}"
    raw = bytearray(newest.read_bytes())
    raw[PREFIX_SIZE + 3] ^= 0xFF
    newest.write_bytes(bytes(raw))
    r = run("snapshot", "--data-dir", str(data_dir), "--json")
    shown = json.loads(r.stdout)
    assert shown["zxid"] == "1:120" and shown["game"]["zxid_applied"] == "1:120"
    assert any("data checksum mismatch" in s for s in shown["skipped"])
    r = run("snapshot", "--data-dir", str(data_dir), "--zxid", "2:30")
    assert r.exit_code == 1 and "damaged" in r.output


@pytest.mark.parametrize("args, message", [
    (["log"], "give one of --node N (with --config) or --data-dir DIR"),
    (["log", "--data-dir", "/nonexistent/zz"], "no data dir at /nonexistent/zz"),
    (["log", "--data-dir", "{dir}", "--from", "x:y"], "--from"),
    (["snapshot", "--data-dir", "{dir}", "--zxid", "9:9"], "no snapshot at 9:9"),
])
def test_bad_input_is_exit_2_with_one_line(data_dir: Path, args: list[str], message: str) -> None:
    r = run(*[a.replace("{dir}", str(data_dir)) for a in args])
    assert r.exit_code == 2 and message in r.output, r.output
