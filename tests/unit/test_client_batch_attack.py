"""Attacks on the client port's BATCH frames (branch p, issue 14), from outside.

Real one-node clusters on threads of the test process (as test_client_batch.py); nothing is
timed: replies are polled with a deadline.
"""

from __future__ import annotations

import pytest
import zmq

from tests.unit.test_bench_probe_refill import run_probe
from tests.unit.test_client_batch import WAIT_MS, one_node  # noqa: F401 (the fixture)
from zmqzab.messages import (
    ClientBatch,
    ClientReply,
    ReadReply,
    ReadRequest,
    ReplyBatch,
    decode_reply,
    encode,
)
from zmqzab.server.clients import FRAMES_PER_MESSAGE_MAX

pytestmark = [pytest.mark.storage]


def replies_until_marker(sock: zmq.Socket) -> list:
    """Every reply message the node sent before it answered a plain marker read sent now: the
    node takes messages in order and answers reads in the pass that takes them."""
    got = []
    sock.send(encode(ReadRequest(999_999, "state")))
    while True:
        assert sock.poll(WAIT_MS), "the marker read was not answered"
        for frame in sock.recv_multipart():
            msg = decode_reply(frame)
            if type(msg) is ReadReply and msg.req_id == 999_999:
                return got
            got.append(msg)


def test_a_message_of_batch_frames_is_bounded_like_a_message_of_plain_frames(one_node):
    """Goal: FRAMES_PER_MESSAGE_MAX ("requests taken from one client message") still bounds
    what one message makes the node do once a frame can hold thousands of requests.
    Setup: one node. Faults: one message of two BATCH frames with FRAMES_PER_MESSAGE_MAX/2 + 1
    reads each (an 8-byte read is answered with the node's whole status, about 1.9 KB: 64 KiB
    of them are 8,000 reads and a 15 MB REPLIES frame, measured).
    Expected: as a message of FRAMES_PER_MESSAGE_MAX + 1 plain frames is: dropped and counted,
    nothing answered. On p the node takes all 10,002."""
    node, sock = one_node
    half = FRAMES_PER_MESSAGE_MAX // 2 + 1
    frame = encode(ClientBatch([ReadRequest(k % 100, "") for k in range(half)]))
    assert len(frame) < 64 * 1024
    sock.send_multipart([frame, frame])
    got = replies_until_marker(sock)
    answered = sum(len(m.replies) if type(m) is ReplyBatch else 1 for m in got)
    print(f"requests in the message: {2 * half}, answered: {answered}, "
          f"client_requests counted: {node.counters['client_requests']}")
    assert answered == 0
    assert node.counters["client_bad_frames"] == 1


def test_a_message_of_exactly_the_bound_in_batch_frames_is_taken_whole(one_node):
    """Goal: the bound's edge. Setup: one node. Faults: none; one message of BATCH frames
    holding FRAMES_PER_MESSAGE_MAX reads in all. Expected: every read answered once, in
    REPLIES frames; nothing dropped."""
    node, sock = one_node
    reads = [ReadRequest(k, "") for k in range(FRAMES_PER_MESSAGE_MAX)]
    sock.send_multipart([encode(ClientBatch(reads[f:f + 2000])) for f in range(0, len(reads), 2000)])
    got = replies_until_marker(sock)
    assert all(type(m) is ReplyBatch for m in got)
    assert sorted(r.req_id for m in got for r in m.replies) == list(range(FRAMES_PER_MESSAGE_MAX))
    assert node.counters["client_bad_frames"] == 0


def test_the_bench_client_never_sends_a_message_the_node_drops(tmp_path):
    """Goal: ``zmqzab bench --inflight`` goes up to 100,000, and a refill went as ONE message:
    with the node's bound on the requests of a message, a refill above it must be split.
    Setup: no cluster; a ROUTER thread answers each message at once. Faults: none; inflight
    25,000. Expected: no message holds more than FRAMES_PER_MESSAGE_MAX requests; the window
    is kept; every write answered."""
    inflight, writes = 25_000, 60_000
    sizes, outstanding_max = run_probe(tmp_path, writes, inflight, 256, split_first=False)
    print(f"requests per message: {sizes[:12]}... ({len(sizes)} messages)")
    assert sum(sizes) == writes and outstanding_max <= inflight
    assert max(sizes) <= FRAMES_PER_MESSAGE_MAX, max(sizes)


def test_hostile_mix_every_request_is_answered_once_in_its_own_kind_of_frame(one_node):
    """Goal: exactly one answer per request, in a frame of the kind it was asked in, to the
    connection that asked, whatever a message mixes. Setup: one node, two connections.
    Faults: connection A sends one message of [plain write, empty BATCH, BATCH(write seq 1
    twice with the same req_id, a bad value, a read, a retry of the plain write, a new
    session's first write), plain read]; connection B sends the same (client id, seq) as A's
    batch, plain, in the same moment. Expected: A gets plain answers for its 2 plain frames and
    REPLIES answers for its 6 batched requests (req_ids as sent, duplicates answered once
    each); B gets only one plain answer; both writes of (c, 1) carry the same zxid."""
    from zmqzab.messages import ClientRequest, Guess

    node, a = one_node
    b = a.context.socket(zmq.DEALER)
    b.setsockopt(zmq.LINGER, 0)
    b.connect(a.getsockopt_string(zmq.LAST_ENDPOINT))
    try:
        batch = ClientBatch([
            ClientRequest(10, Guess("c", 1, 5)),
            ClientRequest(10, Guess("c", 1, 5)),           # the same request twice, same req_id
            ClientRequest(11, Guess("c", 2, 10**9)),       # refused: value out of range
            ReadRequest(12, "state"),
            ClientRequest(13, Guess("p", 1, 7)),           # the plain frame's request again
            ClientRequest(14, Guess("s", 5_000, 1, 3, 1)),  # a new session's first request
        ])
        a.send_multipart([encode(ClientRequest(1, Guess("p", 1, 7))), encode(ClientBatch([])),
                          encode(batch), encode(ReadRequest(2, "status"))])
        b.send(encode(ClientRequest(20, Guess("c", 1, 5))))
        plain_a, batched_a, plain_b = [], [], []
        while len(plain_a) < 2 or len(batched_a) < 6:
            assert a.poll(WAIT_MS), (plain_a, batched_a)
            for frame in a.recv_multipart():
                msg = decode_reply(frame)
                (batched_a.extend(msg.replies) if type(msg) is ReplyBatch else plain_a.append(msg))
        while not plain_b:
            assert b.poll(WAIT_MS)
            plain_b += [decode_reply(f) for f in b.recv_multipart()]
        # Nothing more comes to either: a marker read on each is the next thing answered.
        assert replies_until_marker(a) == [] and replies_until_marker(b) == []
    finally:
        b.close(0)
    assert sorted(m.req_id for m in plain_a) == [1, 2]
    assert sorted(r.req_id for r in batched_a) == [10, 10, 11, 12, 13, 14]
    assert [type(m) for m in plain_b] == [ClientReply] and plain_b[0].req_id == 20
    by = {r.req_id: r for r in batched_a}
    assert not by[11].ok and by[11].error_kind == "bad_request"
    assert type(by[12]) is ReadReply
    tens = [r for r in batched_a if r.req_id == 10]
    assert all(r.ok for r in tens) and tens[0].zxid == tens[1].zxid == plain_b[0].zxid
    plain_write = next(m for m in plain_a if m.req_id == 1)
    assert plain_write.ok and by[13].ok and by[13].zxid == plain_write.zxid
    assert by[14].ok, by[14]


def test_answers_wait_for_the_flush_as_bytes_not_as_live_objects(one_node):
    """Goal: what a pass's answers cost while they wait for the end of the pass. On p the
    outbox holds reply OBJECTS till flush (to build one REPLIES frame): a read's answer is the
    node's whole status, a tree of dicts the cyclic GC walks again while a big pass grows.
    Measured (node in one process, the client in another; 20 messages of 10,000 status reads,
    1 MB in): main, plain frames: 4.75 s of loop, longest pass 2.2 s, 0.50 GB peak; p, BATCH
    frames: 7.2 s, one pass of 6.1 s, 1.57 GB; p with answers encoded when made: 6.8 s, one
    pass of 5.5 s, 1.27 GB. Modest: the flood's real cost is that nothing bounds a pass (see
    the report). Setup: one node; the outbox is looked at when the loop flushes it. Faults: one
    BATCH frame of 2,000 status reads. Expected: every answer waits as encoded bytes (nothing
    the GC tracks), and the REPLIES frame still decodes to the 2,000 answers."""
    import gc

    node, sock = one_node
    port = node.clients
    held: list[int] = []
    real_flush = port.flush

    def flush() -> None:  # runs on the node's thread, at the end of a pass
        held.append(sum(1 for replies in port.outbox.values() for r in replies if gc.is_tracked(r)))
        real_flush()

    port.flush = flush
    try:
        sock.send(encode(ClientBatch([ReadRequest(k, "") for k in range(2000)])))
        got = replies_until_marker(sock)
    finally:
        del port.flush
    assert sorted(r.req_id for m in got for r in m.replies) == list(range(2000))
    assert held and max(held) == 0, f"GC-tracked answers held till flush: {held}"
