"""The simulated disk's page cache (zmqzab/sim/disk.py): a power loss keeps exactly what fsync
made durable, files and directory entries alike; a process crash keeps everything written."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from zmqzab.core.output import Append
from zmqzab.sim.disk import PageCache, SimDisk
from zmqzab.storage.durable import replace_atomically

from tests.unit.test_storage_compaction import guesses

pytestmark = [pytest.mark.storage]


def _names(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


def test_power_loss_drops_unsynced_bytes_names_renames_and_unlinks(tmp_path: Path) -> None:
    """Goal: the model loses what a real power loss can lose. Setup: a dir with a file fsynced
    with its name, then: more bytes appended (not fsynced), a new file fsynced whose name was
    not, a file renamed over (atomic replace without its directory fsync), a file unlinked
    without a directory fsync. Expected: after the power loss, the synced bytes and names only."""
    for sub in ("log", "snap"):
        (tmp_path / sub).mkdir()
    cache = PageCache(tmp_path)
    log = tmp_path / "log"
    fd = os.open(log / "a", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"synced")
    cache.fsync_fd(fd)
    os.write(fd, b"+unsynced")
    os.close(fd)
    (log / "gone").write_bytes(b"old")
    fd = os.open(log / "gone", os.O_RDONLY)
    cache.fsync_fd(fd)
    os.close(fd)
    cache.fsync_dir(log)  # names now durable: a, gone
    fd = os.open(log / "new", os.O_WRONLY | os.O_CREAT, 0o644)
    os.write(fd, b"data")
    cache.fsync_fd(fd)  # bytes durable, name not
    os.close(fd)
    os.unlink(log / "gone")
    epoch = tmp_path / "currentEpoch"
    replace_atomically(epoch, b"1\n", cache)  # durable: tmp, fsync, rename, fsync dir
    tmp = tmp_path / "currentEpoch.tmp"
    tmp.write_bytes(b"2\n")
    fd = os.open(tmp, os.O_RDONLY)
    cache.fsync_fd(fd)
    os.close(fd)
    os.replace(tmp, epoch)  # the directory is never fsynced after this rename
    assert epoch.read_bytes() == b"2\n"
    assert cache.undurable()

    cache.power_loss(random.Random(1), torn_rate=0.0)

    assert (log / "a").read_bytes() == b"synced"
    assert _names(log) == ["a", "gone"] and (log / "gone").read_bytes() == b"old"
    assert epoch.read_bytes() == b"1\n" and _names(tmp_path) == ["currentEpoch", "log", "snap"]
    assert cache.undurable() == []


def test_a_process_crash_keeps_the_page_cache_and_a_power_loss_does_not(tmp_path: Path) -> None:
    """Goal: kill -9 and power loss differ. Setup: a SimDisk; 5 txns written and synced, then
    5 written (the writer took them) but not synced. Expected: after a kill -9 recovery finds
    10 txns (and, with the fix of issue 11 defect 3, made them durable: nothing undurable is
    left); after a power loss instead, 5, and the 5 unsynced ones counted lost."""
    rng = random.Random(3)
    for power, expected in ((False, 10), (True, 5)):
        disk = SimDisk(tmp_path / f"power-{power}")
        disk.open()
        disk.write_epochs(1, 1)
        disk.submit(Append(guesses(1, 1, 5)))
        assert disk.take_batch()
        disk.complete()
        disk.submit(Append(guesses(1, 6, 10)))
        assert disk.take_batch()  # written, its fsync not done
        lost, note = disk.crash(rng, torn_rate=0.0, power=power)
        assert lost == (1 if power else 0), note
        rec = disk.open()
        assert len(rec.txns) == expected, (power, note)
        assert disk.cache.undurable() == []
        assert disk.lost_claims(rec) == ""
        disk.close()


def test_the_unsynced_tail_kept_by_kill_9_is_what_the_power_loss_model_flags_without_the_fix(tmp_path: Path) -> None:
    """With the storage switch trust_recovered_tail (defect 3 put back), recovery after kill -9
    leaves the tail it reports durable in the page cache only: ``undurable`` names the segment."""
    disk = SimDisk(tmp_path, test_faults=frozenset({"trust_recovered_tail"}))
    disk.open()
    disk.write_epochs(1, 1)
    disk.submit(Append(guesses(1, 1, 5)))
    disk.take_batch()
    disk.crash(random.Random(1), torn_rate=0.0, power=False)
    rec = disk.open()
    assert len(rec.txns) == 5
    assert any("bytes never fsynced" in u or "name was never fsynced" in u for u in disk.cache.undurable())
    disk.close()
