"""ForkedSnapshots.take_at_exit (server/snapshots.py), the snapshot a clean stop saves: with a
real data dir and real forked children, whose encoding a pipe holds for as long as a test wants
(the child blocks reading it; no timed race). What each child did is read from its files.

The rules under test: a child still writing at an older zxid is superseded (killed, its .tmp
deleted) and the exit snapshot is committed; one at the exit's own zxid is awaited, never forked
a second time (one file name, one writer); a child that outlasts the bound is killed and leaves
nothing behind; with nothing applied since the last snapshot, nothing is forked.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from zmqzab.core.output import Append
from zmqzab.messages import Guess, Txn
from zmqzab.server.events import EventLog
from zmqzab.server.snapshots import ForkedSnapshots
from zmqzab.server.wake import WakePipe
from zmqzab.storage.snapshot import snapshot_name
from zmqzab.storage.store import open_storage
from zmqzab.zxid import make_zxid

pytestmark = [pytest.mark.snapshots, pytest.mark.storage]

WAIT = 10.0  # a bound for a stuck test, never a pause


class HeldState:
    """A state whose ``snapshot()`` (run in the forked child) first reads one byte from a pipe:
    the child writes nothing until the test releases it (or closes the pipe)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.gate_r, self.gate_w = os.pipe()

    def snapshot(self) -> bytes:
        # In the child: its copy of the write end closed, so that the test's close() (EOF)
        # frees it too, and a regression that leaves it alive cannot hang the run.
        os.close(self.gate_w)
        os.read(self.gate_r, 1)
        return self.data

    def release(self) -> None:
        os.write(self.gate_w, b"go")

    def close(self) -> None:
        os.close(self.gate_r)
        os.close(self.gate_w)


class FreeState:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def snapshot(self) -> bytes:
        return self.data


class Log:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def warning(self, text: str) -> None:
        self.lines.append(text)

    error = info = debug = warning


@pytest.fixture
def snaps(tmp_path: Path):
    storage, _ = open_storage(tmp_path / "data")
    storage.write_epochs(1, 1)
    storage.apply(Append([Txn(make_zxid(1, c), Guess("c", c, 1)) for c in range(1, 21)]))
    storage.sync()
    wake, log = WakePipe(), Log()
    forks: list[int] = []
    s = ForkedSnapshots(storage, lambda op: None, wake, log, EventLog(0), {})
    real_fork = s._fork

    def counted(zxid, state):
        forks.append(zxid)
        return real_fork(zxid, state)

    s._fork = counted
    s.forks, s.lines = forks, log.lines
    yield s
    wake.close()
    storage.close()


def tmps(s: ForkedSnapshots) -> list[str]:
    return sorted(p.name for p in s.storage.snapshots.dir.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.parametrize("older_done", [False, True], ids=["older-held", "older-released"])
def test_an_older_child_is_superseded_and_the_exit_snapshot_committed(snaps, older_done):
    """older-held: the periodic child at 10 is still encoding (killed, reaped). older-released:
    it may have written its .tmp, finished or not (either way its .tmp is deleted)."""
    s = snaps
    z10, z20 = make_zxid(1, 10), make_zxid(1, 20)
    held = HeldState(b"at 10")
    try:
        s.take(z10, held)
        if older_done:
            held.release()
        commit = s.take_at_exit(z20, FreeState(b"at 20"), WAIT)
    finally:
        held.close()
    assert commit is not None and commit.zxid == z20 and commit.size_bytes == len(b"at 20")
    assert s.forks == [z10, z20]
    assert s._inflight is None  # the older child was reaped
    assert tmps(s) == [snapshot_name(z20) + ".tmp"]  # the superseded one is gone
    report = s.storage.commit_snapshot(commit)
    assert not report.error and not report.skipped and s.storage.snapshot_zxid == z20


def test_a_child_at_the_exit_zxid_is_awaited_not_forked_again(snaps):
    s = snaps
    z20 = make_zxid(1, 20)
    held = HeldState(b"at 20")
    try:
        s.take(z20, held)
        held.release()  # it may finish before or while take_at_exit looks: either way, one child
        commit = s.take_at_exit(z20, None, WAIT)
    finally:
        held.close()
    assert s.forks == [z20]
    assert commit is not None and commit.zxid == z20 and commit.size_bytes == len(b"at 20")


def test_a_child_that_outlasts_the_bound_is_killed_and_leaves_nothing(snaps):
    s = snaps
    z20 = make_zxid(1, 20)
    held = HeldState(b"never written")
    try:
        assert s.take_at_exit(z20, held, 0.2) is None
    finally:
        held.close()
    assert s._inflight is None and tmps(s) == []
    assert any("took longer than" in line for line in s.lines), s.lines


def test_nothing_applied_since_the_last_snapshot_forks_nothing(snaps):
    s = snaps
    assert s.take_at_exit(make_zxid(1, 20), None, WAIT) is None
    assert s.forks == [] and tmps(s) == []
