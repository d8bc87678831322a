"""Real nodes' zk_port (a ZMQ_STREAM socket in the node's loop) under hostile TCP input.

Goal: the hostile-input fuzzing of the other ports extends to the ZooKeeper port, through the
real socket layer (the protocol's own fuzz on the host is tests/core/test_zk_host.py). Setup:
three real nodes; a kazoo client writes before and after; in between, seeded hostile
connections to every node: random bytes, a length prefix of 1 GiB, a frame over jute.maxbuffer
(1 MiB), mutated ConnectRequests, a session id that never existed, four-letter words.
Expected: every node alive and without a traceback, the client's writes all there, the nodes'
zk_bad_frames counters moved, ruok still answered. The seed is printed.
"""

from __future__ import annotations

import os
import random
import socket
import struct
import time

import pytest

from zmqzab.config import load_config
from zmqzab.up.localcluster import LocalCluster, make_config
from zmqzab.zk import records as r
from zmqzab.zk.protocol import encode_connect_request

pytestmark = [pytest.mark.zk, pytest.mark.security]


def _hostile(rng: random.Random) -> bytes:
    connect = encode_connect_request(r.ConnectRequest(0, 0, 5_000, 0, b"\0" * 16, False))
    kind = rng.randrange(6)
    if kind == 0:
        return rng.randbytes(rng.randrange(1, 4000))
    if kind == 1:
        return struct.pack(">i", 1 << 30) + rng.randbytes(64)
    if kind == 2:
        n = (1 << 20) + 1024
        return struct.pack(">i", n) + bytes(n)
    if kind == 3:
        b = bytearray(connect)
        b[rng.randrange(4, len(b))] = rng.randrange(256)
        return bytes(b) + rng.randbytes(rng.randrange(0, 200))
    if kind == 4:
        return encode_connect_request(r.ConnectRequest(0, 0, 5_000, rng.randrange(1, 1 << 62),
                                                       rng.randbytes(16), False))
    return rng.choice([b"ruok", b"srvr", b"mntr", b"cons", b"wchs"])


def _send(port: int, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            s.recv(65536)
        except OSError:
            pass  # the node closed it: what it should do with most of these


def test_processes_hostile_tcp_on_zk_port_changes_nothing_but_counters(tmp_path):
    kazoo = pytest.importorskip("kazoo.client")
    seed = int(os.environ.get("ZMQZAB_FUZZ_SEED", random.randrange(2**32)))
    print(f"seed {seed} (rerun with ZMQZAB_FUZZ_SEED={seed})")
    rng = random.Random(seed)
    cfg_path = make_config(tmp_path, 3)
    cfg = load_config(cfg_path)
    lc = LocalCluster(cfg_path, tmp_path)
    zk = None
    try:
        for i in range(3):
            lc.start(i)
        assert lc.wait(lc.converged, 30) is not None
        hosts = ",".join(f"127.0.0.1:{n.zk_port}" for n in cfg.nodes)
        zk = kazoo.KazooClient(hosts=hosts, timeout=10)
        zk.start(timeout=30)
        zk.ensure_path("/fuzz")
        before = [zk.create("/fuzz/n-", b"x", sequence=True) for _ in range(10)]
        for _ in range(60):
            _send(rng.choice(cfg.nodes).zk_port, _hostile(rng))
        after = [zk.create("/fuzz/n-", b"y", sequence=True) for _ in range(10)]
        assert sorted(zk.get_children("/fuzz")) == sorted(p.rsplit("/", 1)[1] for p in before + after)
        for n in cfg.nodes:
            assert lc.alive(n.id), f"node {n.id} died"
            with socket.create_connection(("127.0.0.1", n.zk_port), timeout=5) as s:
                s.sendall(b"ruok")
                assert s.recv(16) == b"imok"
        deadline = time.monotonic() + 10
        bad = 0
        while time.monotonic() < deadline:
            statuses = [lc.status(n.id) for n in cfg.nodes]
            bad = sum((st or {}).get("counters", {}).get("zk_bad_frames", 0) for st in statuses)
            if bad:
                break
        assert bad > 0
    finally:
        if zk is not None:
            zk.stop()
            zk.close()
        lc.close()
    for i in range(3):
        console = (tmp_path / f"node-{i}.console").read_text(errors="replace")
        assert "Traceback" not in console, console[-3000:]
