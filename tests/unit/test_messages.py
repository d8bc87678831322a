"""Every wire message survives encode -> decode unchanged; garbage is a DecodeError, never a crash."""

import random

import pytest

from zmqzab.messages import (
    Ack, AckEpoch, ClientReply, ClientRequest, Commit, DecodeError, FetchTxns, FollowerInfo, Forward,
    GameResult, Guess, LeaderInfo, decode_client, decode_peer, NewGame, NewLeader, Notification, Ping, Proposal, ReadReply,
    ReadRequest, SnapAck, SnapChunk, SyncStart, SyncTxns, Txn, UpToDate, Vote, client_decoder, encode, peer_decoder,
    reply_decoder, txn_decoder,
)
from zmqzab.zxid import fmt_zxid, is_next, make_zxid, parse_zxid, zxid_counter, zxid_epoch

TXNS = [Txn(make_zxid(3, 1), Guess("c1", 1, 42, 3), 1700000000000), Txn(make_zxid(3, 2), NewGame("c2", 9, 5))]

PEER_MESSAGES = [
    Notification(4, "LOOKING", Vote(2, make_zxid(3, 7), 3)),
    FollowerInfo(session=11, accepted_epoch=3, zxid_last=make_zxid(3, 7), zxid_base=5),
    LeaderInfo(session=11, epoch=4),
    AckEpoch(session=11, epoch=4, current_epoch=3, zxid_last=make_zxid(3, 7)),
    SyncStart(session=11, epoch=4, mode="SNAP", zxid=make_zxid(3, 2), txns_total=5, reason="far behind",
              zxid_upto=make_zxid(3, 9), snapshot_bytes=6, snapshot_crc=7),
    SnapChunk(session=11, epoch=4, index=2, data=b"\x00\x01snap"),
    SnapAck(session=11, epoch=4, index=2),
    SyncTxns(session=11, epoch=4, txns=TXNS, zxid_committed=make_zxid(3, 1), prev_zxid=make_zxid(3, 0)),
    NewLeader(session=11, epoch=4, zxid=make_zxid(4, 0)),
    Ack(session=11, epoch=4, zxid=make_zxid(4, 9)),
    UpToDate(session=11, epoch=4, zxid_committed=make_zxid(4, 9)),
    Proposal(epoch=4, txns=TXNS),
    Commit(epoch=4, zxid=make_zxid(4, 9)),
    Ping(epoch=4, zxid_committed=1, zxid_last=2, session=11),
    FetchTxns(session=11, epoch=4, zxid_after=make_zxid(4, 3)),
    Forward(epoch=4, ops=[Guess("c", 1, 5), NewGame("c", 2)]),
]


@pytest.mark.parametrize("msg", PEER_MESSAGES, ids=lambda m: type(m).__name__)
def test_peer_message_round_trip(msg):
    assert peer_decoder.decode(encode(msg)) == msg


def test_client_messages_round_trip():
    req = ClientRequest(7, Guess("c", 3, 99))
    assert client_decoder.decode(encode(req)) == req
    assert client_decoder.decode(encode(ReadRequest(8, "status"))) == ReadRequest(8, "status")
    reply = ClientReply(7, True, 2, make_zxid(1, 4), GameResult("target_set", "set", target=99))
    assert reply_decoder.decode(encode(reply)) == reply
    rr = ReadReply(8, 1, {"role": "LEADING", "n": [1, 2]})
    assert reply_decoder.decode(encode(rr)) == rr
    assert txn_decoder.decode(encode(TXNS[0])) == TXNS[0]


def test_garbage_and_wrong_types_are_decode_errors():
    seed = random.randrange(2**32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    for _ in range(2000):
        blob = rng.randbytes(rng.randrange(0, 64))
        for decode in (decode_peer, decode_client):
            try:
                decode(blob)
            except DecodeError:
                pass  # the only exception a garbage frame may raise
    good = encode(Commit(epoch=1, zxid=2))
    for cut in range(len(good)):
        with pytest.raises(DecodeError):
            peer_decoder.decode(good[:cut])
    with pytest.raises(DecodeError):
        peer_decoder.decode(encode(["COMMIT", "one", 2]))  # wrong field type
    with pytest.raises(DecodeError):
        peer_decoder.decode(encode(["NOPE", 1, 2]))  # unknown tag
    with pytest.raises(DecodeError):
        client_decoder.decode(encode(Commit(epoch=1, zxid=2)))  # a peer message on the client port


def test_zxid_helpers():
    z = make_zxid(3, 17)
    assert (zxid_epoch(z), zxid_counter(z), fmt_zxid(z)) == (3, 17, "3:17")
    assert parse_zxid("3:17") == z and parse_zxid(str(z)) == z
    assert is_next(make_zxid(3, 17), make_zxid(3, 18))
    assert is_next(make_zxid(3, 17), make_zxid(5, 1))
    assert not is_next(make_zxid(3, 17), make_zxid(3, 19))
    assert not is_next(make_zxid(3, 17), make_zxid(5, 2))
    with pytest.raises(ValueError):
        parse_zxid("-1")
