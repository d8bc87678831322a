"""CURVE and BATCH frames (branch p, issue 17 x issue 14), from outside: a connection that owns
one client id must not smuggle a write under another key's id inside a BATCH frame."""

from __future__ import annotations

import pytest
import zmq

from zmqzab.messages import ClientBatch, ClientRequest, Guess, ReadRequest, ReplyBatch, decode_reply, encode
from zmqzab.security.curve import make_client
from zmqzab.security.keys import read_pair
from zmqzab.security.zap import bound_client_id, client_user_id

from tests.processes.securecluster import running_curve_cluster

pytestmark = [pytest.mark.security, pytest.mark.processes]


def test_processes_curve_every_request_of_a_batch_is_checked_for_its_client_id(tmp_path):
    """Goal: the client-id ownership check applies to each request of a BATCH frame, not to
    the frame. Setup: a three-node CURVE cluster, its leader; the attacker holds key client-1. Faults: one
    message of [a plain write under client-0's id, a BATCH frame of (own write, a write under
    client-0's id with seq 1 and 2**62, a read)]. Expected: own write ok; the three writes
    under client-0's id refused as not its id (bad_request), client_ids_refused counts 3; the
    read answered; the two batched refusals come in the REPLIES frame, the plain one plain."""
    with running_curve_cluster(tmp_path) as c:
        ld = c.wait_leader()
        pub0, _ = read_pair(c.keys_dir / "client-0.key_secret")
        pub1, sec1 = read_pair(c.keys_dir / "client-1.key_secret")
        victim = bound_client_id(client_user_id(pub0), "victim")
        mine = bound_client_id(client_user_id(pub1), "attacker")
        ctx = zmq.Context()
        try:
            sock = ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            make_client(sock, pub1, sec1, c.keys.keyring.node_public[ld])
            sock.connect(c.config.node(ld).client_endpoint)
            sock.send_multipart([
                encode(ClientRequest(1, Guess(victim, 1, 5, 3, 1))),
                encode(ClientBatch([ClientRequest(2, Guess(mine, 1, 6, 3, 1)),
                                    ClientRequest(3, Guess(victim, 1, 7, 3, 1)),
                                    ClientRequest(4, Guess(victim, 2**62, 8, 3, 1)),
                                    ReadRequest(5, "state")])),
            ])
            plain, batched = [], []
            while len(plain) + len(batched) < 5:
                assert sock.poll(10_000), (plain, batched)
                for frame in sock.recv_multipart():
                    msg = decode_reply(frame)
                    (batched.extend(msg.replies) if type(msg) is ReplyBatch else plain.append(msg))
        finally:
            ctx.destroy(linger=0)
        refused = c.counters(ld)["client_ids_refused"]
    assert [m.req_id for m in plain] == [1] and not plain[0].ok
    by = {r.req_id: r for r in batched}
    assert sorted(by) == [2, 3, 4, 5]
    assert by[2].ok, by[2]
    for k in (3, 4):
        assert not by[k].ok and by[k].error_kind == "bad_request"
        assert "does not belong to this connection's key" in by[k].error
    assert refused == 3
