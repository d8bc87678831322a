"""Attack on the snapshot at exit (server/node.py ``_snapshot_at_exit``): power loss at the
steps of the exit path a test can stop at, with the power-loss model of chaos/powerloss.py
(the node's fsyncs recorded by its witness; afterwards every file cut to what was fsynced and
every name never made durable by a directory fsync removed).

The exit snapshot purges the log behind it: a power loss right after a clean stop must find the
snapshot (renamed AND its directory fsynced) before the purge took the log away, or the node
loses acknowledged txns. A power loss while its child writes it must leave the last snapshot and
the whole log. A leader stopped right after a burst (proposals in flight) must keep every
acknowledged write.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.polling import wait_for
from tests.processes.procs import ProcCluster
from tests.processes.test_snapshot_at_exit_processes import (
    applied_everywhere,
    children,
    recoveries,
    snap_dir,
    write,
)
from zmqzab.storage.snapshot import snapshot_name
from zmqzab.zxid import make_zxid, parse_zxid

pytestmark = [pytest.mark.processes, pytest.mark.snapshots, pytest.mark.chaos]


def test_processes_power_loss_after_a_clean_stop_keeps_every_txn_its_exit_snapshot_purged(tmp_path):
    """Goal: the exit snapshot's commit (log fsync, rename, directory fsync) is durable before
    the purge deletes the log it replaces, so a power loss after a clean stop loses nothing.

    Setup: 3 nodes with the fsync witness, small log segments' worth of guesses (40), no
    periodic snapshot. Faults: a follower and then the leader are stopped with SIGTERM (the
    exit snapshot commits and purges), then their power is cut (power_loss), then restarted.
    Expected: each restart recovers from its exit snapshot at the applied zxid (0 txns after it,
    or more only if the log after it survived), and the cluster converges to the same game
    with every guess acknowledged."""
    c = ProcCluster(tmp_path, n=3)
    c.witness = True
    try:
        c.start_all()
        ld = c.wait_leader()
        write(c, ld, "a", range(1, 41))
        applied = applied_everywhere(c)
        f = next(i for i in c.ids if i != ld)
        for victim in (f, ld):
            c.kill(victim, signal.SIGTERM)
            assert f"snapshot at exit: {applied}," in c.console(victim), c.console(victim)[-2000:]
            lost = c.power_loss(victim)
            print(f"power loss of node {victim}: {lost}")
            assert snapshot_name(parse_zxid(applied)) in os.listdir(snap_dir(c, victim)), lost
            c.start(victim)
            wait_for(lambda: len(recoveries(c, victim)) == 2, 20, "the restart's recovery line")
            assert recoveries(c, victim)[1] == (0, applied), c.console(victim)[-2000:]
            if victim == ld:
                ld = c.wait_leader()
            write(c, ld, "b" + str(victim), range(1, 6))
            applied = applied_everywhere(c)
        games = {i: c.status(i)["game"] for i in c.ids}
        assert len({repr(g) for g in games.values()}) == 1, games
    finally:
        c.close()


def test_processes_power_loss_while_the_exit_snapshot_is_written_recovers_the_whole_log(tmp_path):
    """Goal: a power loss while the exit snapshot's child writes its ``.tmp`` (held in open() by
    a FIFO, as in test_snapshot_at_exit_processes) leaves the last snapshot and the whole log:
    nothing is purged or renamed before the commit.

    Setup: 3 nodes with the fsync witness, 25 guesses. Faults: SIGTERM to a follower, kill -9 +
    power loss while its exit snapshot's writer is held, the orphaned writer killed.
    Expected: the restart reads all 25 txns from its log (from snapshot 0:0) and rejoins with
    the leader's game."""
    c = ProcCluster(tmp_path, n=3)
    c.witness = True
    try:
        c.start_all()
        ld = c.wait_leader()
        write(c, ld, "a", range(1, 26))
        applied = applied_everywhere(c)
        f = next(i for i in c.ids if i != ld)
        fifo = snap_dir(c, f) / (snapshot_name(parse_zxid(applied)) + ".tmp")
        os.mkfifo(fifo)
        proc = c.procs[f]
        proc.send_signal(signal.SIGTERM)
        writer = wait_for(lambda: children(proc.pid), 20, "the exit snapshot's writer")
        lost = c.power_loss(f)  # kill -9, then the files cut to what was fsynced
        for pid in writer:
            os.kill(pid, signal.SIGKILL)
        print(f"power loss of node {f}: {lost}")
        c.start(f)
        wait_for(lambda: len(recoveries(c, f)) == 2, 20, "the restart's recovery line")
        assert recoveries(c, f)[1] == (25, "0:0"), c.console(f)[-2000:]
        assert applied_everywhere(c) == applied
        assert c.status(f)["game"] == c.status(ld)["game"]
    finally:
        c.close()


def _held_periodic(c: ProcCluster, f: int, ld: int) -> tuple[str, list[int]]:
    """A follower whose periodic snapshot child is held in open() by FIFOs at every name it may
    take (snapshot_every_txns = 10: the 10th applied txn, or a later one if COMMITs batch).
    Returns (the epoch, the held child's pids)."""
    write(c, ld, "a", range(1, 2))
    epoch = parse_zxid(applied_everywhere(c)) >> 32
    for counter in range(10, 14):
        os.mkfifo(snap_dir(c, f) / (snapshot_name(make_zxid(epoch, counter)) + ".tmp"))
    write(c, ld, "a", range(2, 11))
    applied_everywhere(c)
    held = wait_for(lambda: children(c.procs[f].pid), 20, "the periodic snapshot's child, held")
    return epoch, held


def test_processes_a_clean_stop_supersedes_a_periodic_child_still_writing(tmp_path):
    """Goal: SIGTERM while the periodic snapshot's child is still writing (held) and more txns
    were applied since: the held child is killed (reaped by the node, not left behind), and
    the exit snapshot is taken at the applied zxid and committed; the restart starts from it.

    Setup: 3 nodes, snapshot_every_txns = 10; FIFOs hold the follower's periodic child. Faults:
    5 more guesses, SIGTERM.
    Expected: "snapshot at exit" at the applied zxid; no child of the node left alive; the
    restart recovers 0 txns after that snapshot and rejoins with the leader's game."""
    c = ProcCluster(tmp_path, n=3, storage_extra={"snapshot_every_txns": 10})
    try:
        c.start_all()
        ld = c.wait_leader()
        f = next(i for i in c.ids if i != ld)
        _, held = _held_periodic(c, f, ld)
        write(c, ld, "b", range(1, 6))
        applied = applied_everywhere(c)
        c.kill(f, signal.SIGTERM)
        assert f"snapshot at exit: {applied}," in c.console(f), c.console(f)[-3000:]
        assert not [pid for pid in held if os.path.exists(f"/proc/{pid}") and _alive(pid)], held
        c.start(f)
        wait_for(lambda: len(recoveries(c, f)) == 2, 20, "the restart's recovery line")
        assert recoveries(c, f)[1] == (0, applied), c.console(f)[-2000:]
        assert applied_everywhere(c) == applied
        assert c.status(f)["game"] == c.status(ld)["game"]
    finally:
        c.close()


def test_processes_a_clean_stop_with_only_the_periodic_child_held_says_what_happened(tmp_path):
    """Goal: SIGTERM while the periodic snapshot's child is held and nothing was applied since
    (the exit awaits that child, at the applied zxid): the stop is bounded, the child killed,
    and the node's log says no snapshot was saved, not that one "is being saved".

    Expected: the stop takes under 5 s (`zmqzab up`'s SIGKILL); the log says the snapshot took
    longer than its bound; it does NOT claim the snapshot is still being saved; the restart
    recovers all 10 txns from its log."""
    c = ProcCluster(tmp_path, n=3, storage_extra={"snapshot_every_txns": 10})
    try:
        c.start_all()
        ld = c.wait_leader()
        f = next(i for i in c.ids if i != ld)
        _, held = _held_periodic(c, f, ld)
        applied = applied_everywhere(c)
        t0 = time.monotonic()
        c.kill(f, signal.SIGTERM)
        took = time.monotonic() - t0
        text = c.console(f)
        assert took < 5.0, took
        assert "took longer than" in text, text[-3000:]
        assert not [pid for pid in held if _alive(pid)], held
        c.start(f)
        wait_for(lambda: len(recoveries(c, f)) == 2, 20, "the restart's recovery line")
        assert recoveries(c, f)[1] == (10, "0:0"), c.console(f)[-2000:]
        assert applied_everywhere(c) == applied
        assert "is being saved" not in text, [ln for ln in text.splitlines() if "at exit" in ln]
    finally:
        c.close()


def _alive(pid: int) -> bool:
    """Not reaped and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def test_processes_sigterm_twice_and_sigint_during_the_exit_snapshot_change_nothing(tmp_path):
    """Goal: more stop signals while the exit snapshot is being written (its child held in
    open() by a FIFO) neither cut the stop short nor leave a child or a .tmp behind.

    Faults: SIGTERM, then (the child seen) SIGTERM and SIGINT to the node, and SIGTERM to the
    child itself (it inherits the node's handler: it must still be killed at the bound).
    Expected: the node exits 0 on its own within 5 s, says the snapshot took too long, no
    child alive, no .tmp; the restart reads its 15 txns from the log."""
    c = ProcCluster(tmp_path, n=3)
    try:
        c.start_all()
        ld = c.wait_leader()
        f = next(i for i in c.ids if i != ld)
        write(c, ld, "a", range(1, 16))
        applied = applied_everywhere(c)
        fifo = snap_dir(c, f) / (snapshot_name(parse_zxid(applied)) + ".tmp")
        os.mkfifo(fifo)
        proc = c.procs.pop(f)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        writer = wait_for(lambda: children(proc.pid), 20, "the exit snapshot's writer")
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGINT)
        for pid in writer:
            os.kill(pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - t0 < 5.0
        assert "took longer than" in c.console(f), c.console(f)[-2000:]
        assert not [pid for pid in writer if _alive(pid)], writer
        assert not fifo.exists()
        c.start(f)
        wait_for(lambda: len(recoveries(c, f)) == 2, 20, "the restart's recovery line")
        assert recoveries(c, f)[1] == (15, "0:0"), c.console(f)[-2000:]
        assert applied_everywhere(c) == applied
    finally:
        c.close()
