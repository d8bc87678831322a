"""The power-loss model (chaos/powerloss.py) on real files, without processes.

Goal: after a "power loss" a file keeps exactly what its last fsync saw, and a name keeps
existing only if its directory was fsynced after it appeared. Setup: a temp dir, the fsync
witness installed in storage/durable.py as ZMQZAB_DURABLE_LOG would. Faults: writes after the
last fsync, a file created after the last directory fsync, a file never fsynced, an atomic
replace. Expected: cut, removed, emptied, kept, as the docstrings say.
"""

import os

import pytest

from zmqzab.chaos import powerloss
from zmqzab.storage import durable

pytestmark = [pytest.mark.chaos, pytest.mark.storage]


@pytest.fixture
def witness(tmp_path, monkeypatch):
    path = tmp_path / "node.durable"
    monkeypatch.setattr(durable, "_witness", powerloss.Witness(str(path)))
    return path


def write(path, data: bytes, sync: bool) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        durable.write_all(fd, data)
        durable.fsync_fd(fd, sync)
    finally:
        os.close(fd)


def test_power_loss_keeps_what_fsync_saw_and_drops_the_rest(tmp_path, witness):
    d = tmp_path / "data"
    d.mkdir()
    log, empty = d / "log.1", d / "never-synced"
    write(log, b"a" * 100, sync=True)
    write(empty, b"x" * 10, sync=False)
    durable.fsync_dir(d, True)  # both names durable; only log's 100 bytes are
    durable.replace_atomically(d / "epoch", b"7", fsync=True)  # tmp synced, renamed, dir synced
    write(log, b"b" * 50, sync=False)  # in the page cache only
    late = d / "log.2"
    write(late, b"c" * 30, sync=True)  # data synced, but its name never was

    done = powerloss.power_loss(witness)

    assert log.read_bytes() == b"a" * 100
    assert empty.read_bytes() == b""
    assert not late.exists()
    assert (d / "epoch").read_bytes() == b"7"
    assert len(done) == 3, done


def test_without_fsync_enabled_nothing_is_durable(tmp_path, witness):
    d = tmp_path / "data"
    d.mkdir()
    durable.fsync_dir(d, True)
    write(d / "log.1", b"a" * 10, sync=False)  # the fsync = false benchmark switch
    durable.fsync_dir(d, False)
    powerloss.power_loss(witness)
    assert not (d / "log.1").exists()


def test_a_reused_inode_does_not_inherit_the_old_files_synced_length(tmp_path, witness):
    d = tmp_path / "data"
    d.mkdir()
    old = d / "old"
    write(old, b"a" * 100, sync=True)
    durable.fsync_dir(d, True)
    ino = old.stat().st_ino
    old.unlink()
    durable.fsync_dir(d, True)  # the removal is durable: the old inode's record is void
    sizes, dirs = powerloss.durable_state(witness)
    assert ino not in sizes and "old" not in dirs[str(d.resolve())]


def test_a_directory_never_fsynced_is_left_alone(tmp_path, witness):
    d = tmp_path / "other"
    d.mkdir()
    write(d / "f", b"abc", sync=False)
    assert powerloss.power_loss(witness) == []
    assert (d / "f").read_bytes() == b"abc"


def test_a_node_process_installs_the_witness_before_the_node_runs(tmp_path, monkeypatch):
    """`zmqzab node` (both ways in: cli/node.py) installs it when the nemesis set the variable."""
    from tests.unit.test_client import free_port, make_config
    from zmqzab.cli.node import run_node_command
    from zmqzab.server import node

    make_config(tmp_path, {0: free_port()})
    seen = []
    monkeypatch.setattr(durable, "_witness", None)
    monkeypatch.setattr(node, "run_node", lambda *args, **kwargs: seen.append(durable._witness) or 0)
    monkeypatch.setenv(powerloss.ENV, str(tmp_path / "w.durable"))
    with pytest.raises(SystemExit):
        run_node_command(0, tmp_path / "cluster.toml", None, None, False)
    assert len(seen) == 1 and isinstance(seen[0], powerloss.Witness)


def test_with_the_data_dir_given_nothing_unsynced_survives(tmp_path, witness):
    root = tmp_path / "node-0"
    (root / "log").mkdir(parents=True)
    write(root / "acceptedEpoch", b"3", sync=False)  # fsync = false: no fsync, no record
    write(root / "log" / "log.1", b"a" * 10, sync=False)
    done = powerloss.power_loss(witness, root)
    assert not (root / "acceptedEpoch").exists() and not (root / "log" / "log.1").exists()
    assert (root / "log").is_dir() and len(done) == 2
