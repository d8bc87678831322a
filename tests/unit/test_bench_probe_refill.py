"""The pipelined bench client (zmqzab/up/bench.py ``Probe.pipelined``): how it fills its window.

Goal: the client keeps at most ``inflight`` writes outstanding and sends each refill as ONE
message (BATCH frames), not as ``batch``-sized messages: several messages of one refill reach a
node in several loop passes and become several PROPOSALs (issue 14). Setup: no cluster; a ROUTER
thread on the config's client port plays the node: it answers the first message in two REPLIES
messages (half each), every later one in one. Faults: none. Expected: the first message carries
the whole window (64), every later one all that an answer freed (32, not two of 16); nothing
beyond 64 outstanding; every write answered once.
"""

from __future__ import annotations

import threading

import zmq

from zmqzab.config import load_config
from zmqzab.messages import ClientBatch, ClientReply, ReplyBatch, decode_client, encode
from zmqzab.up.bench import Probe
from zmqzab.up.localcluster import make_config

WAIT_MS = 30_000  # a bound for a stuck test, never a pause


def serve(sock: zmq.Socket, writes: int, sizes: list[int], outstanding_max: list[int],
          split_first: bool = True) -> None:
    """Answer the first message in two REPLIES messages (``split_first``; else in one), every
    later one in one, until ``writes`` requests were answered."""
    answered = outstanding = 0
    while answered < writes and sock.poll(WAIT_MS):
        identity, *frames = sock.recv_multipart()
        requests = [r for frame in frames for r in decode_client(frame).requests]
        assert all(type(decode_client(f)) is ClientBatch for f in frames)
        sizes.append(len(requests))
        outstanding += len(requests)
        outstanding_max[0] = max(outstanding_max[0], outstanding)
        half = len(requests) // 2 if split_first and len(sizes) == 1 else 0
        for part in (requests[:half], requests[half:]):
            if part:
                sock.send_multipart([identity, encode(ReplyBatch([ClientReply(r.req_id, True, 0, zxid=r.op.seq)
                                                                  for r in part]))])
                outstanding -= len(part)
                answered += len(part)


def run_probe(tmp_path, writes: int, inflight: int, batch: int,
              split_first: bool = True) -> tuple[list[int], int]:
    """``Probe.pipelined`` against ``serve`` on a one-node config's client port: the requests
    of each message it sent, and the most it had outstanding."""
    config = load_config(make_config(tmp_path, 1))
    ctx = zmq.Context()
    router = ctx.socket(zmq.ROUTER)
    router.setsockopt(zmq.LINGER, 0)
    router.bind(config.node(0).client_endpoint)
    sizes: list[int] = []
    outstanding_max = [0]
    server = threading.Thread(target=serve, args=(router, writes, sizes, outstanding_max, split_first),
                              daemon=True)
    server.start()
    probe = Probe(config)
    try:
        probe.pipelined(0, writes, inflight, batch, lambda done: None)
    finally:
        probe.close()
        server.join(timeout=10)
        router.close(0)
        ctx.term()
    return sizes, outstanding_max[0]


def test_each_refill_goes_as_one_message_and_the_window_is_kept(tmp_path):
    writes = 64 * 10
    sizes, outstanding_max = run_probe(tmp_path, writes, 64, 16)
    print(f"requests per message: {sizes}")
    assert sum(sizes) == writes and outstanding_max <= 64
    assert sizes[0] == 64 and set(sizes[1:]) == {32}, sizes
