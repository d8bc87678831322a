"""Attack on `zmqzab node --resync` (session 6, branch f) with real processes: the operator runs
it for a node that is still running (hung, or the wrong terminal)."""

from __future__ import annotations

from tests.processes.test_disk_faults_processes import _run_node, _victim, cluster  # noqa: F401

import pytest

pytestmark = [pytest.mark.security, pytest.mark.storage]


def test_processes_resync_of_a_running_node_moves_nothing(cluster):  # noqa: F811
    """Goal: --resync started beside a running node of the same id leaves that node's data dir
    where it is. Setup: 3 nodes, 10 committed writes. Faults: `zmqzab node --id i --resync`
    while node i runs. Expected: exit 2 naming the lock (the dir is in use), no `.aside-` dir,
    node i still serving and in step. Before the fix: the running node's dir was renamed aside
    and an empty one put in its place (with the old acceptedEpoch); the new process then
    failed on its ports (exit 2), leaving the running node writing epochs into the new dir by
    path and its log into the aside one."""
    c = cluster
    i = _victim(c)
    node_dir = c.config.storage.data_dir / f"node-{i}"
    out = _run_node(c, i, "--resync")
    print(out.stderr[-2000:])
    aside = [p.name for p in c.config.storage.data_dir.iterdir() if p.name.startswith(f"node-{i}.aside-")]
    assert out.returncode == 2
    assert not aside, f"--resync moved the running node's data dir: {aside}"
    assert "in use" in out.stderr
    assert (node_dir / "log").is_dir()
    ld = c.wait_leader()
    c.write_all(ld, "after", range(1, 4))
    c.wait_same_committed()
