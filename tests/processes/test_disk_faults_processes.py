"""Damaged and failing disks under real node processes (ARCHITECTURE §5, ZAB_CHECKLIST #25).

Each test: three nodes, some committed writes, then one follower's disk is damaged or fails.
The storage unit tests (tests/unit/test_storage_*.py) cover the byte-level cases; these check
what a person running `zmqzab node` sees and that the cluster goes on.
"""

from __future__ import annotations

import resource
import signal
import subprocess

import pytest

from zmqzab.storage.txnlog import list_segments

from tests.polling import wait_for
from tests.processes.securecluster import SecureCluster

pytestmark = [pytest.mark.security, pytest.mark.storage]


@pytest.fixture
def cluster(tmp_path):
    c = SecureCluster(tmp_path, n=3)
    c.start_all()
    try:
        ld = c.wait_leader(timeout=20)
        c.write_all(ld, "before", range(1, 11))
        c.wait_same_committed()
        yield c
    finally:
        c.close()


def _victim(c: SecureCluster) -> int:
    ld = c.wait_leader()
    return next(i for i in c.ids if i != ld)


def _last_segment(c: SecureCluster, i: int):
    segments = list_segments(c.config.storage.data_dir / f"node-{i}" / "log")
    assert segments, "no log segment"
    return segments[-1].path


def _run_node(c: SecureCluster, i: int, *extra: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([*c.node_command(i), *extra], capture_output=True, text=True, timeout=timeout,
                          cwd=c.root)


def test_processes_torn_tail_is_truncated_with_a_warning_and_the_node_rejoins(cluster):
    c = cluster
    i = _victim(c)
    c.kill(i, signal.SIGTERM)
    seg = _last_segment(c, i)
    size = seg.stat().st_size
    with open(seg, "ab") as f:
        f.write(b"\x00\x00\x00\x40\x12\x34")  # half a record header and no payload: a cut write
    c.start(i)
    c.wait_same_committed(timeout=20)
    console = c.console(i)
    assert f"{seg}: torn record at byte {size}" in console and "dropped the last 6 byte(s)" in console
    assert "WARNING" in next(ln for ln in console.splitlines() if "torn record" in ln)
    ld = c.wait_leader()
    c.write_all(ld, "after", range(1, 4))
    c.wait_same_committed()


def test_processes_bad_checksum_stops_start_up_then_resync_rebuilds_from_the_leader(cluster):
    c = cluster
    i = _victim(c)
    c.kill(i, signal.SIGTERM)
    seg = _last_segment(c, i)
    data = bytearray(seg.read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside an early record, far from the tail
    seg.write_bytes(bytes(data))

    out = _run_node(c, i)
    assert out.returncode == 2, out.stdout + out.stderr
    line = next(ln for ln in out.stderr.splitlines() if "corrupt txn log" in ln)
    assert str(seg) in line and "at byte " in line and "--resync" in line

    # A promise --resync cannot read stops it: started empty, the node could promise an epoch
    # a second time. Nothing is moved; the message names the file and what to write into it.
    node_dir = c.config.storage.data_dir / f"node-{i}"
    promised = (node_dir / "acceptedEpoch").read_text()
    (node_dir / "acceptedEpoch").write_text("garbage\n")
    out = _run_node(c, i, "--resync")
    assert out.returncode == 2, out.stdout + out.stderr
    line = next(ln for ln in out.stderr.splitlines() if "cannot read the epoch this node promised" in ln)
    assert str(node_dir / "acceptedEpoch") in line and "highest acceptedEpoch of the other nodes" in line
    (node_dir / "acceptedEpoch").write_text(promised)

    # The way out it names: set the data aside and let the leader rebuild it; the node keeps
    # the epoch it promised (acceptedEpoch) and nothing else.
    c.start(i, "--resync")
    z = c.wait_same_committed(timeout=30)
    assert f"(acceptedEpoch {int(promised)})" in c.console(i)
    assert int((node_dir / "acceptedEpoch").read_text()) >= int(promised)
    assert z == c.status(c.wait_leader())["zxid_committed"]
    aside = [p for p in (c.config.storage.data_dir).iterdir() if p.name.startswith(f"node-{i}.aside-")]
    assert len(aside) == 1 and (aside[0] / "log").is_dir(), "the damaged data dir is kept, renamed"
    assert "--resync" in c.console(i) and str(aside[0]) in c.console(i)
    assert c.status(i)["game"] == c.status(c.wait_leader())["game"]


def _limit_file_size(limit: int):
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def _wait_exit(c: SecureCluster, i: int, timeout: float = 30) -> int:
    """Node i's exit code, once it has stopped."""
    return wait_for(lambda: c.procs[i].poll() is not None and (c.procs[i].returncode,), timeout,
                    f"node {i} to stop")[0]


def test_processes_a_full_disk_stops_the_follower_and_the_quorum_goes_on(cluster, tmp_path):
    """Fault: the follower may not grow any file more than 8 KiB past its current log
    (RLIMIT_FSIZE: a write fails with EFBIG, as one fails with ENOSPC on a full disk). Its output
    goes to a pipe and its log file to a fresh dir, so only the txn log reaches the limit.
    Expected: it stops with exit 1 and a message naming the disk and the way out; the leader
    and the other follower go on committing."""
    c = cluster
    i = _victim(c)
    c.kill(i, signal.SIGTERM)
    limit = _last_segment(c, i).stat().st_size + 8192
    proc = subprocess.Popen(
        [*c.node_command(i), "--log-dir", str(tmp_path / "fresh-logs")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=c.root, preexec_fn=_limit_file_size(limit))
    try:
        ld = c.wait_leader()
        seq = 0
        while proc.poll() is None and seq < 2000:  # ~60 bytes a txn: the limit is a few hundred away
            c.write_all(ld, "fill", range(seq + 1, seq + 21))
            seq += 20
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    console = output.decode(errors="replace")
    assert proc.returncode == 1, console[-2000:]
    assert "the disk failed" in console and "no longer acknowledges" in console and "--resync" in console
    assert "File too large" in console and "Traceback" not in console
    c.write_all(c.wait_leader(), "fill-after", range(1, 6))
    wait_for(lambda: all(c.status(j) for j in c.procs), 10, "the two others serving")


def test_processes_enospc_on_a_tiny_filesystem_stops_the_node(cluster, tmp_path):
    """The same on a real full file system (a 256 KiB tmpfs); skipped where mount is not allowed."""
    c = cluster
    i = _victim(c)
    c.kill(i, signal.SIGTERM)
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (not root, or no CAP_SYS_ADMIN)")
    try:
        c.start(i, "--data-dir", str(mnt / "node"))  # a fresh node: the leader syncs it
        ld = c.wait_leader()
        big = 0
        while c.procs[i].poll() is None and big < 3000:
            c.write_all(ld, "x" * 100, range(big + 1, big + 101))
            big += 100
        assert _wait_exit(c, i) == 1
        console = c.console(i)
        assert "the disk failed" in console and ("No space left" in console or "ENOSPC" in console)
        c.procs.pop(i)
        c.write_all(c.wait_leader(), "after-enospc", range(1, 4))
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
