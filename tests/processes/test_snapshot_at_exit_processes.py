"""Real node processes: the snapshot a clean stop (SIGTERM) saves, so that a restart starts from
it instead of reading and applying its own log again (issue 14, restart catch-up; ClickHouse
Keeper's create_snapshot_on_exit). server/node.py ``_snapshot_at_exit``.

The snapshot at exit is only an optimisation: a stop that cannot finish it in time, or a kill -9
in the middle of it, must leave a node that recovers exactly as it did before it existed. A FIFO
at the name of the snapshot's ``.tmp`` holds the child that writes it in its ``open`` for as
long as the test wants (nobody reads the FIFO): the node is then "mid-save", without a timed
race.
"""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from tests.polling import wait_for
from tests.processes.procs import ProcCluster
from zmqzab.storage.snapshot import snapshot_name
from zmqzab.zxid import parse_zxid

pytestmark = [pytest.mark.processes, pytest.mark.snapshots]

RECOVERED = re.compile(r"recovered from .*: acceptedEpoch \d+, currentEpoch \d+, (\d+) txns after snapshot (\d+:\d+)")


def write(c: ProcCluster, node: int, client: str, seqs: range) -> None:
    for seq in seqs:
        r = c.guess(node, seq % 101, client, seq)
        assert r is not None and r.ok, r


def recoveries(c: ProcCluster, i: int) -> list[tuple[int, str]]:
    """(txns read after the snapshot, the snapshot's zxid) of each start of node ``i``."""
    return [(int(n), z) for n, z in RECOVERED.findall(c.console(i))]


def snap_dir(c: ProcCluster, i: int) -> Path:
    return c.config.storage.data_dir / f"node-{i}" / "snap"


def snapshots(c: ProcCluster, i: int) -> list[str]:
    return sorted(p.name for p in snap_dir(c, i).iterdir())


def children(pid: int) -> list[int]:
    """The processes ``pid`` forked (a snapshot writer), from /proc."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            found += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            pass  # the thread ended meanwhile
    return found


def applied_everywhere(c: ProcCluster) -> str:
    """Wait until every node applied the same last txn; that zxid."""
    committed = c.wait_same_committed(timeout=20)
    wait_for(lambda: all((c.status(i) or {}).get("zxid_applied") == committed for i in c.ids), 20,
             f"every node applied {committed}")
    return committed


def test_processes_a_clean_stop_saves_a_snapshot_and_the_restart_starts_from_it(tmp_path):
    """Goal: a follower stopped with SIGTERM after applying txns saves a snapshot of them at
    exit, and its restart starts from it (reads no txn of its log again); stopped again with
    nothing new applied, it writes none.

    Setup: 3 nodes, snapshots every 100,000 txns (the default: none periodic here). Faults: a
    follower is stopped with SIGTERM after 30 guesses, restarted, stopped again.
    Expected: "snapshot at exit" at the applied zxid in its log and the file on disk; the restart
    recovers 0 txns after that snapshot and rejoins with the same game; the second stop says
    nothing was applied and leaves the snapshot dir as it was."""
    c = ProcCluster(tmp_path, n=3)
    try:
        c.start_all()
        ld = c.wait_leader()
        write(c, ld, "a", range(1, 31))
        applied = applied_everywhere(c)
        f = next(i for i in c.ids if i != ld)
        assert recoveries(c, f) == [(0, "0:0")]
        c.kill(f, signal.SIGTERM)
        assert f"snapshot at exit: {applied}," in c.console(f), c.console(f)[-2000:]
        assert snapshot_name(parse_zxid(applied)) in snapshots(c, f)

        c.start(f)
        wait_for(lambda: len(recoveries(c, f)) == 2, 20, "the restart's recovery line")
        assert recoveries(c, f)[1] == (0, applied)  # from the exit snapshot, no log to apply
        assert applied_everywhere(c) == applied
        assert c.status(f)["game"] == c.status(ld)["game"]

        before = snapshots(c, f)
        c.kill(f, signal.SIGTERM)
        assert "no snapshot at exit: nothing applied since the snapshot at" in c.console(f)
        assert snapshots(c, f) == before
    finally:
        c.close()


def test_processes_an_exit_snapshot_cut_short_or_killed_mid_save_recovers_as_before(tmp_path):
    """Goal: a snapshot at exit that cannot finish in time, or whose node is killed -9 while its
    child writes it, changes nothing for the next start: the node recovers from its last
    snapshot and its log, as it did before the snapshot at exit existed, and rejoins.

    Setup: 3 nodes, no periodic snapshot. A FIFO at the exit snapshot's ``.tmp`` name holds its
    writer in ``open`` (no reader). Faults: (1) SIGTERM after 20 guesses: the node waits out
    its bound, kills the writer, stops; (2) 10 more guesses, SIGTERM, then kill -9 of the node
    (and of its orphaned writer) while the writer is held.
    Expected: (1) the node stops on its own, says the snapshot took too long, leaves no .tmp; its
    restart reads the 20 txns from its log. (2) the restart deletes the interrupted .tmp with a
    note and reads all 30 txns from its log. Each time it rejoins with the leader's game."""
    c = ProcCluster(tmp_path, n=3)
    try:
        c.start_all()
        ld = c.wait_leader()
        f = next(i for i in c.ids if i != ld)

        # (1) The writer never gets through open(): the stop gives up on it.
        write(c, ld, "a", range(1, 21))
        applied = applied_everywhere(c)
        fifo = snap_dir(c, f) / (snapshot_name(parse_zxid(applied)) + ".tmp")
        os.mkfifo(fifo)
        c.kill(f, signal.SIGTERM)  # waits for the process to exit (bounded in procs.py)
        assert f"no snapshot at exit: writing it at {applied} took longer than" in c.console(f)
        assert not fifo.exists() and not any(n.endswith(".tmp") for n in snapshots(c, f))
        c.start(f)
        wait_for(lambda: len(recoveries(c, f)) == 2, 20, "the restart's recovery line")
        assert recoveries(c, f)[1] == (20, "0:0")  # from the log, as before
        assert applied_everywhere(c) == applied

        # (2) kill -9 while the writer is held in open().
        write(c, ld, "b", range(1, 11))
        applied = applied_everywhere(c)
        fifo = snap_dir(c, f) / (snapshot_name(parse_zxid(applied)) + ".tmp")
        os.mkfifo(fifo)
        proc = c.procs[f]
        proc.send_signal(signal.SIGTERM)
        writer = wait_for(lambda: children(proc.pid), 20, "the exit snapshot's writer")
        c.kill(f)  # kill -9, mid-save
        for pid in writer:
            os.kill(pid, signal.SIGKILL)  # orphaned, still held in open(): not the node's any more
        assert fifo.exists()
        c.start(f)
        wait_for(lambda: len(recoveries(c, f)) == 3, 20, "the second restart's recovery line")
        assert recoveries(c, f)[2] == (30, "0:0")
        assert "a crash interrupted saving that snapshot" in c.console(f)
        assert not fifo.exists()
        assert applied_everywhere(c) == applied
        assert c.status(f)["game"] == c.status(ld)["game"]
    finally:
        c.close()
