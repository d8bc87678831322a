"""The kazoo judge's stand-in for kazoo's ZooKeeper launcher keeps the launcher's promises.

Goal: kazoo's harness may stop and start members and terminate the whole cluster; the plugin's
ZmqzabCluster (tests/processes/kazoo_judge/plugin.py) must map those faithfully, and a node that
dies on its own must not pass unnoticed between kazoo's tests.
Setup: a ZmqzabCluster (3 zmqzab nodes, LocalCluster, free ports) and a kazoo client in this
process.
Faults: member 0 stopped (SIGTERM) and run again, as test_client's test_update_host_list does;
node 1 killed with SIGKILL behind the harness's back; terminate() then start().
Expected: start() returns with every node answering on its zk_port; a stopped member is not
running and is no crash; the killed node is restarted by start() and reported as a crash;
after terminate() the ensemble is fresh (a znode made before is gone), as ZooKeeper's
ManagedZooKeeper.destroy() wipes the data dir.
"""

from __future__ import annotations

import pytest

from tests.processes.kazoo_judge.plugin import ZmqzabCluster

pytestmark = [pytest.mark.zk]


def test_judge_cluster_stops_runs_terminates_and_reports_a_crash_processes():
    kazoo_client = pytest.importorskip("kazoo.client")
    cluster = ZmqzabCluster()
    try:
        cluster.start()
        assert len(cluster) == 3 and all(s.running and s.answers_ruok() for s in cluster)
        hosts = ",".join(s.address for s in cluster)
        zk = kazoo_client.KazooClient(hosts, timeout=15)
        zk.start(timeout=30)
        try:
            zk.create("/judge", b"before")
        finally:
            zk.stop()
            zk.close()

        cluster[0].stop()
        assert not cluster[0].running and not cluster[0].answers_ruok()
        cluster.start()
        assert cluster[0].running and cluster[0].answers_ruok()
        assert cluster.crashes == []  # a stop by the harness is no crash

        killed = cluster.local.procs[1]
        killed.kill()
        killed.wait()
        cluster.start()
        assert cluster[1].running
        assert len(cluster.crashes) == 1 and cluster.crashes[0].startswith("node 1 exited on its own with code -9")

        cluster.terminate()
        assert not any(s.running for s in cluster) and not any(s.data_dir.exists() for s in cluster)
        cluster.start()
        zk = kazoo_client.KazooClient(hosts, timeout=15)
        zk.start(timeout=30)
        try:
            assert zk.exists("/judge") is None  # a fresh ensemble
        finally:
            zk.stop()
            zk.close()
    finally:
        cluster.close(keep=False)
