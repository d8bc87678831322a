"""`zmqzab bench -w catchup`'s split of a catch-up (zmqzab/up/bench.py ``catchup_split``).

Goal: the restarted node's log is read for its own restart only, and each part ends at the
first of its line after the previous part. Setup: a node log with a previous life (the same
lines, earlier) and this life's lines, times to the millisecond as the node writes them.
Faults: none. Expected: start / election / sync / rest as the differences of those times; a log
that stops before UPTODATE gives only the parts it shows.
"""

from __future__ import annotations

import time

import pytest

from zmqzab.up.bench import catchup_split


def stamp(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(round(at % 1 * 1000)):03d}"


def lines(at: float) -> list[str]:
    return [f"{stamp(at)} INFO    n1 | recovered from data/node-1",
            f"{stamp(at + 0.010)} INFO    n1 | election round 1 started: start-up",
            f"{stamp(at + 0.013)} INFO    n1 | FOLLOWING / DISCOVERY: following node 4",
            f"{stamp(at + 0.015)} INFO    n1 | DIFF from node 4 at 1:1: 50000 txns behind (50000 txns to come)",
            f"{stamp(at + 0.205)} INFO    n1 | FOLLOWING / BROADCAST: UPTODATE from node 4 (DIFF, 50000 txns)"]


def test_the_split_reads_this_restart_only(tmp_path):
    spawned = float(int(time.time())) + 0.5  # whole milliseconds: the log's resolution
    log = tmp_path / "node-1.log"
    log.write_text("\n".join(lines(spawned - 20) + lines(spawned + 0.150)) + "\n")
    split = catchup_split(log, spawned, spawned + 0.365)
    assert split == pytest.approx({"start_s": 0.160, "election_s": 0.005, "sync_s": 0.190, "rest_s": 0.010},
                                  abs=0.0015)


def test_a_log_that_stops_early_gives_the_parts_it_shows(tmp_path):
    spawned = float(int(time.time())) + 0.5
    log = tmp_path / "node-1.log"
    log.write_text("\n".join(lines(spawned + 0.1)[:3]) + "\n")
    assert set(catchup_split(log, spawned, spawned + 1)) == {"start_s"}
    assert catchup_split(tmp_path / "missing.log", spawned, spawned + 1) == {}


def test_an_exited_nodes_last_words_are_quoted(tmp_path):
    """When the restarted node dies (a port of its taken meanwhile, say), the bench's error quotes
    the last line it wrote, or says it wrote nothing."""
    from zmqzab.up.bench import last_line

    console = tmp_path / "node-1.console"
    console.write_text("12:00:00.000 INFO    n1 | recovered\n12:00:00.100 ERROR   n1 | port 7101 is in use\n")
    assert last_line(console).endswith("12:00:00.100 ERROR   n1 | port 7101 is in use")
    assert "wrote nothing" in last_line(tmp_path / "none.console")
