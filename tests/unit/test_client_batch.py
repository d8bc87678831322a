"""The client port's BATCH frames (issue 14): many requests in one frame, answered in REPLIES frames.

Real nodes (zmq sockets on ports from the OS, real files) run on threads of the test process, as
in test_node_loop.py; nothing is timed: replies are polled with a deadline.
"""

from __future__ import annotations

import contextlib
import threading

import pytest
import zmq

from tests import polling
from zmqzab.config import load_config
from zmqzab.core.roles import Role
from zmqzab.messages import (
    ClientBatch,
    ClientReply,
    ClientRequest,
    Guess,
    ReadReply,
    ReadRequest,
    ReplyBatch,
    decode_client,
    decode_reply,
    encode,
)
from zmqzab.server.node import Node
from zmqzab.up.localcluster import make_config

pytestmark = [pytest.mark.storage]

WAIT_MS = 30_000  # a bound for a stuck test, never a pause


@contextlib.contextmanager
def node_on_a_thread(tmp_path, nodes: int):
    """Node 0 of an ``nodes``-node config on a thread, and a DEALER to its client port."""
    config = load_config(make_config(tmp_path, nodes))
    node = Node(config, 0, tmp_path / "data" / "node-0")
    runner = threading.Thread(target=node.run, daemon=True)
    runner.start()
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(config.node(0).client_endpoint)
    try:
        yield node, sock
    finally:
        sock.close(0)
        ctx.term()
        node.running = False
        runner.join(timeout=10)


@pytest.fixture
def one_node(tmp_path):
    """A one-node cluster on a thread (it leads alone) and a DEALER to its client port."""
    with node_on_a_thread(tmp_path, 1) as (node, sock):
        polling.wait_for(lambda: node.peer.role == Role.LEADING, 30.0, "node 0 leads", interval=0.005)
        yield node, sock


def collect(sock: zmq.Socket, want: int) -> tuple[list[bytes], list]:
    """Frames until ``want`` replies came: (raw frames, decoded messages)."""
    frames, messages, replies = [], [], 0
    while replies < want:
        assert sock.poll(WAIT_MS), f"{replies} of {want} replies within {WAIT_MS} ms"
        for frame in sock.recv_multipart():
            msg = decode_reply(frame)
            frames.append(frame)
            messages.append(msg)
            replies += len(msg.replies) if type(msg) is ReplyBatch else 1
    return frames, messages


def test_batch_messages_round_trip_and_old_frames_still_decode():
    """Goal: the wire forms. Expected: a BATCH and a REPLIES frame decode to what was encoded;
    the plain REQUEST/READ and REPLY frames of older clients decode as before."""
    batch = ClientBatch([ClientRequest(1, Guess("c", 1, 5)), ReadRequest(2, "state")])
    assert decode_client(encode(batch)) == batch
    assert decode_client(encode(batch.requests[0])) == batch.requests[0]
    replies = ReplyBatch([ClientReply(1, True, 0, zxid=7), ReadReply(2, 0, {"a": 1})])
    assert decode_reply(encode(replies)) == replies
    assert decode_reply(encode(replies.replies[0])) == replies.replies[0]


def test_a_batch_frame_is_answered_in_replies_frames_and_a_plain_frame_in_plain_ones(one_node):
    """Goal: a pipelining client's requests in one BATCH frame are each answered once, in
    REPLIES frames; a client that sends plain frames still gets one frame per reply.
    Setup: one node. Faults: none; the batch holds a read, a bad request (value out of range)
    and a retry of its own first write. Expected: 40 writes committed in the batch's order,
    the retry gets its original answer, the read and the refusal are answered in the batch's
    REPLIES; then a plain two-frame message gets two plain REPLY frames."""
    node, sock = one_node
    requests = [ClientRequest(k, Guess("batch", k, k % 101)) for k in range(1, 41)]
    requests += [ReadRequest(41, "state"), ClientRequest(42, Guess("batch", 41, 100_000)),
                 ClientRequest(43, Guess("batch", 1, 1))]
    sock.send(encode(ClientBatch(requests)))
    frames, messages = collect(sock, len(requests))
    assert all(type(m) is ReplyBatch for m in messages), messages
    assert len(frames) < len(requests)  # batched: not one frame per reply
    replies = {r.req_id: r for m in messages for r in m.replies}
    assert sorted(replies) == list(range(1, 44))
    zxids = [replies[k].zxid for k in range(1, 41)]
    assert all(replies[k].ok for k in range(1, 41)) and zxids == sorted(zxids) and len(set(zxids)) == 40
    assert type(replies[41]) is ReadReply and replies[41].data["node"] == 0
    assert not replies[42].ok and replies[42].error_kind == "bad_request"
    assert replies[43].ok and replies[43].zxid == replies[1].zxid  # the retry: its original answer
    assert node.counters["client_requests"] == 43

    sock.send_multipart([encode(ClientRequest(44, Guess("plain", 1, 3))), encode(ReadRequest(45, "status"))])
    _, plain = collect(sock, 2)
    # The read is answered at once, the write when applied: in either order, each its own frame.
    assert sorted(type(m).__name__ for m in plain) == ["ClientReply", "ReadReply"]
    assert {m.req_id for m in plain} == {44, 45}


def test_a_batch_frame_that_does_not_decode_is_dropped_and_counted(one_node):
    """Goal: hostile input on the new form is one dropped frame, never fatal. Setup: one node.
    Faults: a BATCH frame holding a request that is not a request, then a good plain request.
    Expected: the bad frame is counted (client_bad_frames) and not answered; the node still
    answers the good request."""
    node, sock = one_node
    bad = encode(ClientBatch([ReadRequest(1, "state")])).replace(b"READ", b"XXXX")
    sock.send(bad)
    sock.send(encode(ClientRequest(2, Guess("after-bad", 1, 1))))
    _, messages = collect(sock, 1)
    assert [m.req_id for m in messages] == [2] and messages[0].ok
    assert node.counters["client_bad_frames"] == 1


def test_a_batch_a_node_cannot_take_is_refused_in_replies_frames(tmp_path):
    """Goal: a refusal of a whole batch (the core's NotReady) reaches a BATCH client in its
    form. Setup: one node of a three-node config, its peers never started: it looks for a
    leader. Faults: no quorum. Expected: each write of the BATCH frame is refused (no_leader)
    in REPLIES frames, nothing is counted as a bad frame."""
    with node_on_a_thread(tmp_path, 3) as (node, sock):
        sock.send(encode(ClientBatch([ClientRequest(k, Guess("lonely", k, 1)) for k in (1, 2, 3)])))
        _, messages = collect(sock, 3)
    assert all(type(m) is ReplyBatch for m in messages)
    replies = [r for m in messages for r in m.replies]
    assert sorted(r.req_id for r in replies) == [1, 2, 3]
    assert all(not r.ok and r.error_kind == "no_leader" for r in replies), replies
    assert node.counters["client_bad_frames"] == 0
