"""Attack on issue 14's write path: a write the ZooKeeper port submits in its end-of-pass
``flush`` is proposed after the pass handed its log ops to the writer.

The loop hands a pass's log ops to the writer (``_write_log``) BEFORE ``zk.server.flush()``.
That flush submits writes too (host/zk.py): requests a client sent before its ConnectResponse
(kazoo's first create or auth, ``_held``), writes that waited behind a read of their session
(``_release_deferred``), throttled connections taken again. Their Append is left in
``Node._log_pending`` until the end of the NEXT pass, which comes only when something else
wakes the loop. On a leader whose quorum needs its own ACK nothing does: the write waits for
the next tick (50 ms by default; here the tick is 10 s, so the miss shows as a timeout).

Schedule: a one-node cluster with a zk_port; once it leads, its tick becomes 10 s. A client
sends its ConnectRequest and a create in one TCP write (kazoo pipelines the same way).
Expected: the create's reply within 3 s (a few ms in fact). Before the fix: none within 3 s.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tests import polling
from zmqzab.config import NodeAddress, StorageConfig, load_config, render_config
from zmqzab.core.roles import Role
from zmqzab.server.node import Node
from zmqzab.up.localcluster import free_ports
from zmqzab.zk.framing import FrameDecoder
from zmqzab.zk.opcodes import OpCode
from zmqzab.zk.protocol import decode_connect_response, encode_connect_request, encode_request
from zmqzab.zk.records import ConnectRequest, CreateRequest
from zmqzab.zk_client import OPEN_ACL_UNSAFE

pytestmark = [pytest.mark.storage]

WAIT = 30.0  # a bound for a stuck test, never a pause
REPLY_S = 3.0  # far below the 10 s tick


def wait_for(condition, what: str, deadline_s: float = WAIT) -> None:
    polling.wait_for(condition, deadline_s, what, interval=0.005)


def frames_within(sock: socket.socket, decoder: FrameDecoder, n: int, seconds: float) -> list[bytes]:
    got: list[bytes] = []
    deadline = time.monotonic() + seconds
    while len(got) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except TimeoutError:
            break
        if not data:
            break
        got.extend(decoder.feed(data))
    return got


def test_a_create_sent_with_the_connect_request_is_written_without_waiting_for_a_tick(tmp_path):
    ports = iter(free_ports(5))
    path = tmp_path / "cluster.toml"
    path.write_text(render_config([NodeAddress(0, "127.0.0.1", *(next(ports) for _ in range(5)))],
                                  storage=StorageConfig(data_dir=tmp_path / "d", log_dir=tmp_path / "l")))
    config = load_config(path)
    node = Node(config, 0, tmp_path / "d" / "node-0")
    runner = threading.Thread(target=node.run, daemon=True)
    runner.start()
    try:
        wait_for(lambda: node.peer.role == Role.LEADING and node.peer.phase == "BROADCAST", "node 0 leads")
        node.tick_s = 10.0
        ticks = node.replica.ticks
        wait_for(lambda: node.replica.ticks > ticks, "one more tick: the next is 10 s away")
        sock = socket.create_connection(("127.0.0.1", config.node(0).zk_port), timeout=WAIT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        decoder = FrameDecoder()
        decoder.initialized = True
        sock.sendall(encode_connect_request(ConnectRequest(0, 0, 30_000, 0, b"\0" * 16, False))
                     + encode_request(1, OpCode.create, CreateRequest("/pipelined", b"x", OPEN_ACL_UNSAFE, 0)))
        t0 = time.monotonic()
        got = frames_within(sock, decoder, 2, REPLY_S)
        took = time.monotonic() - t0
        sock.close()
    finally:
        node.running = False
        node.wake.poke_quietly(b"x")  # out of its 10 s wait now
        runner.join(timeout=20)
    assert got and decode_connect_response(got[0]).session_id != 0
    print(f"{len(got)} frames in {took:.3f} s")
    assert len(got) == 2, f"the create's reply did not come within {REPLY_S} s (the tick is 10 s)"
