"""BATCH frames across a leader change, between real node processes (branch p, issue 14), from
outside: a follower forwards a BATCH's writes and the leader dies under them."""

from __future__ import annotations

import time

import pytest
import zmq

from zmqzab.messages import ClientBatch, ClientRequest, Guess, ReplyBatch, decode_reply, encode
from zmqzab.security.curve import client_socket

from tests.processes.procs import ProcCluster

pytestmark = [pytest.mark.processes]

WRITES = 300


def _collect(sock: zmq.Socket, want: set[int], seconds: float) -> dict[int, list]:
    """Answers by req_id (every one kept: a req_id answered twice shows as two) until all of
    ``want`` came or ``seconds`` passed with nothing new (a bound, never a pause)."""
    got: dict[int, list] = {}
    while not want <= set(got) and sock.poll(int(seconds * 1000)):
        for frame in sock.recv_multipart():
            msg = decode_reply(frame)
            assert type(msg) is ReplyBatch, msg  # a BATCH client only ever gets REPLIES frames
            for r in msg.replies:
                got.setdefault(r.req_id, []).append(r)
    return got


def test_processes_a_forwarded_batch_whose_leader_dies_is_answered_at_most_once_and_retries_agree(tmp_path):
    """Goal: exactly-once across a leader change for batched writes. Setup: three nodes.
    Faults: three BATCHes of 100 writes to a follower: the first answered, the second sent just
    before the leader is SIGKILLed, the third just after; then
    the same (client id, seq)s retried as one BATCH (new req_ids) through the new leader until
    every one is ok. Expected: the follower answers each req_id at most once, only req_ids it
    was sent; every write the follower acknowledged has the same zxid in the retry's answer
    (one txn per (client id, seq)); the retry answers each of its req_ids exactly once."""
    c = ProcCluster(tmp_path, n=3)
    ctx = zmq.Context()
    try:
        c.start_all()
        ld = c.wait_leader()
        f = next(i for i in c.ids if i != ld)
        sock = client_socket(ctx, c.config, f, None)
        sock.setsockopt(zmq.LINGER, 0)
        assert c.guess(f, 1, "warm", 1, timeout=10) is not None  # the follower serves
        def batch(seqs: range) -> bytes:
            return encode(ClientBatch([ClientRequest(k, Guess("x", k, k % 101)) for k in seqs]))

        third = WRITES // 3
        sock.send(batch(range(1, third + 1)))  # committed before the fault
        first = _collect(sock, set(range(1, third + 1)), 10.0)
        sock.send(batch(range(third + 1, 2 * third + 1)))  # forwarded as the leader dies
        c.kill(ld)
        sock.send(batch(range(2 * third + 1, WRITES + 1)))  # taken while the follower looks
        for k, v in _collect(sock, set(range(third + 1, WRITES + 1)), 5.0).items():
            first.setdefault(k, []).extend(v)
        assert set(first) <= set(range(1, WRITES + 1)) and all(len(v) == 1 for v in first.values()), first
        acked = {k: v[0].zxid for k, v in first.items() if v[0].ok}
        print(f"the follower answered {len(first)} of {WRITES} before the leader change, {len(acked)} ok")
        new = c.wait_leader(30)
        retry = client_socket(ctx, c.config, new, None)
        retry.setsockopt(zmq.LINGER, 0)
        final: dict[int, int] = {}
        req = 10_000
        deadline = time.monotonic() + 60
        while len(final) < WRITES and time.monotonic() < deadline:
            todo = [k for k in range(1, WRITES + 1) if k not in final]
            ids = {req + j: k for j, k in enumerate(todo)}
            retry.send(encode(ClientBatch([ClientRequest(r, Guess("x", k, k % 101)) for r, k in ids.items()])))
            got = _collect(retry, set(ids), 10.0)
            assert set(got) <= set(ids) and all(len(v) == 1 for v in got.values()), got
            for r, (reply,) in got.items():
                if reply.ok:
                    final[ids[r]] = reply.zxid
            req += len(todo)
        assert len(final) == WRITES, f"{WRITES - len(final)} writes never committed"
        assert all(final[k] == z for k, z in acked.items()), {k: (z, final[k]) for k, z in acked.items() if final[k] != z}
        assert len(set(final.values())) == WRITES  # one txn each
    finally:
        ctx.destroy(linger=0)
        c.close()
