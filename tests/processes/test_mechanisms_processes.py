"""The mechanisms behind the speed (issue 8), tested for correctness, never for speed.

Real processes (the core tests of the same mechanisms are tests/core/test_mechanisms.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import zmq

from tests.polling import wait_for
from tests.processes.procs import ProcCluster
from zmqzab.messages import ClientRequest, Guess, decode_reply, encode
from zmqzab.storage.store import open_storage

pytestmark = [pytest.mark.perf]


@pytest.fixture
def cluster3(tmp_path):
    # A test reads a node's whole log after a clean stop: no snapshot at exit, which would purge it.
    c = ProcCluster(tmp_path, n=3, storage_extra={"snapshot_on_exit": False})
    c.start_all()
    yield c
    c.close()


def test_processes_batched_requests_keep_order_and_apply_once(cluster3):
    """One client message carrying 300 requests (frames), some of them repeated, through a
    follower: every request is answered, zxids follow the order of the frames, a repeat gets
    its original answer, and the log holds each (client, seq) once, in order."""
    ld = cluster3.wait_leader()
    follower = next(i for i in cluster3.ids if i != ld)
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(cluster3.config.node(follower).client_endpoint)
    seqs = list(range(1, 301)) + [5, 150, 300]  # three retries inside the same batch
    frames = [encode(ClientRequest(k + 1, Guess("batch", seq, seq % 101))) for k, seq in enumerate(seqs)]
    sock.send_multipart(frames)
    replies = {}
    while len(replies) < len(frames):
        assert sock.poll(10_000), f"only {len(replies)} of {len(frames)} answered"
        for frame in sock.recv_multipart():
            r = decode_reply(frame)
            assert r.ok, r
            replies[r.req_id] = r
    sock.close(0)
    zxid_of = {}
    for k, seq in enumerate(seqs):
        zxid_of.setdefault(seq, replies[k + 1].zxid)
        assert replies[k + 1].zxid == zxid_of[seq]  # a repeat: the original answer
    ordered = [zxid_of[s] for s in range(1, 301)]
    assert ordered == sorted(ordered) and len(set(ordered)) == 300
    cluster3.wait_same_committed()
    cluster3.stop_all()
    storage, rec = open_storage(cluster3.config.storage.data_dir / f"node-{follower}", readonly=True)
    storage.close()
    logged = [t.op.seq for t in rec.txns if t.op.client_id == "batch"]
    assert logged == list(range(1, 301))


def test_processes_failure_detector_elects_on_closed_connection_not_on_a_short_pause(cluster3):
    """kill -9 of the leader (its connections close): a new leader well within syncLimit's
    silence. SIGSTOP of a leader for less than syncLimit: no election at all."""
    ld = cluster3.wait_leader()
    epoch = cluster3.status(ld)["epoch"]
    p = cluster3.procs[ld]
    os.kill(p.pid, signal.SIGSTOP)
    pause_s = cluster3.config.timing.sync_limit_ticks * cluster3.config.timing.tick_ms / 1000 / 3
    try:
        with pytest.raises(AssertionError):  # nothing may change while it is briefly paused
            wait_for(lambda: any((cluster3.status(i) or {}).get("role") == "LOOKING"
                                 for i in cluster3.ids if i != ld), pause_s, "an election")
    finally:
        os.kill(p.pid, signal.SIGCONT)
    assert cluster3.wait_leader() == ld and cluster3.status(ld)["epoch"] == epoch
    cluster3.kill(ld)
    new = cluster3.wait_leader(timeout=10)
    assert new != ld and cluster3.status(new)["epoch"] == epoch + 1
    follower = next(i for i in cluster3.ids if i not in (ld, new))
    lines = cluster3.console(follower)
    assert f"connection to leader node {ld} closed" in lines


def test_processes_bench_smoke_has_every_field(tmp_path):
    """`zmqzab bench --workload all --quick` runs and its JSON has every figure scripts read."""
    out = tmp_path / "bench.json"
    p = subprocess.run([sys.executable, "-m", "zmqzab", "bench", "--workload", "all", "--quick",
                        "--nodes", "3", "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    doc = json.loads(out.read_text())
    for path in ("seq.p50_ms", "seq.p99_ms", "seq.ops_s", "pipe.ops_s", "failover.median_ms",
                 "hung.median_ms", "catchup.median_s", "machine.cpus", "versions.pyzmq", "config.fsync",
                 "seq.leader_changes", "pipe.leader_changes"):
        node = doc
        for key in path.split("."):
            node = node[key]
        assert node is not None, path
    assert doc["seq"]["p50_ms"] > 0 and doc["pipe"]["ops_s"] > 0


def test_processes_bench_one_node_whose_leader_is_node_0(tmp_path):
    """A 1-node cluster's leader is node 0, an id that is falsy: waiting for "a leader" must still
    see it (this once timed out after 30 s; `zmqzab chaos` waited on the same helper)."""
    out = tmp_path / "bench.json"
    p = subprocess.run([sys.executable, "-m", "zmqzab", "bench", "--workload", "seq,pipe", "--quick",
                        "--nodes", "1", "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    doc = json.loads(out.read_text())
    assert doc["seq"]["p50_ms"] > 0 and doc["pipe"]["through"] == "leader"
