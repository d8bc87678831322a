"""When a harness (zmqzab bench, chaos, bench/*.py) gives up waiting for a leader, it says why:
a node that died at start (it could not even import zmqzab, say) logs nothing, so the reason is
its exit code and the last line of its console. Found when a broken editable install made
bench/cpu_per_write.py print only "no leader within 30 s"."""

from __future__ import annotations

import sys

import pytest

from zmqzab.up.localcluster import LocalCluster, make_config

pytestmark = [pytest.mark.processes]


def test_no_leader_reason_names_a_node_that_died_at_start_processes(tmp_path):
    """Goal: the exit code and the node's own last words. Setup: a 3-node cluster whose node 1
    runs a command that fails like an interpreter that cannot find the package. Expected: the
    reason names node 1, its code 1 and the ModuleNotFoundError; the running nodes are not named."""
    lc = LocalCluster(make_config(tmp_path, 3), tmp_path)
    broken = [sys.executable, "-c", "import zmqzab_not_installed"]
    lc.node_command = lambda i: broken if i == 1 else [sys.executable, "-c", "import signal; signal.pause()"]
    try:
        for i in lc.ids:
            lc.start(i)
        assert lc.wait(lambda: True if not lc.alive(1) else None, 30)
        reason = lc.no_leader_reason()
        assert "node 1 exited with code 1" in reason, reason
        assert "ModuleNotFoundError: No module named 'zmqzab_not_installed'" in reason, reason
        assert "node 0" not in reason and "node 2" not in reason, reason
    finally:
        lc.close()


def test_nodes_import_the_harness_own_package_processes(tmp_path):
    """Goal: the nodes run the code of the harness that starts them, not whatever the
    interpreter's site-packages would give (a stale editable install that points at a checkout
    since moved). Setup: a child with no site-packages at all (``-S``) and the cluster's node
    environment. Expected: it imports zmqzab from the harness's own directory."""
    import subprocess

    import zmqzab

    lc = LocalCluster(make_config(tmp_path, 3), tmp_path)
    try:
        out = subprocess.run([sys.executable, "-S", "-c", "import zmqzab; print(zmqzab.__file__)"],
                             env=lc.node_env(0), cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert out.stdout.strip() == zmqzab.__file__, out
    finally:
        lc.close()
