"""Property tests of what a node does with bytes from the network, without sockets.

* the decoders raise only DecodeError, whatever the bytes (random, truncated, mutated, wrong
  tags, wrong field types);
* ``plausible`` never raises on anything that decodes, refuses impossible values, and accepts
  every message real peers send (all messages of simulated runs with faults).

Hypothesis prints the falsifying example (and its seed with --hypothesis-seed) on failure. About
3,500 generated cases (over 20,000 decoder calls); the live sockets get theirs in
test_hostile_processes.py, and the longer run is tests/processes/fuzz_long.py.
"""

from __future__ import annotations

import os

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zmqzab.messages import (
    Ack,
    AckEpoch,
    ClientRequest,
    Commit,
    DecodeError,
    FetchTxns,
    FollowerInfo,
    Forward,
    Guess,
    LeaderInfo,
    NewGame,
    NewLeader,
    Notification,
    Ping,
    Proposal,
    ReadRequest,
    SnapAck,
    SnapChunk,
    SyncStart,
    SyncTxns,
    Txn,
    UpToDate,
    Vote,
    decode_client,
    decode_peer,
    decode_reply,
    encode,
)
from zmqzab.security.plausible import plausible
from zmqzab.zxid import make_zxid

pytestmark = [pytest.mark.security]

IDS = frozenset(range(5))
FAST = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Any int msgpack can carry, biased to the edges a check must get right.
ints = st.one_of(st.integers(-(2**63), 2**64 - 1), st.sampled_from([-1, 0, 1, 2**31, 2**32 - 1, 2**32,
                                                                    2**63 - 1, 2**64 - 1]))
small = st.integers(0, 50)
text = st.text(max_size=20)
ops = st.one_of(st.builds(Guess, text, ints, ints, ints), st.builds(NewGame, text, ints, ints))
txns = st.lists(st.builds(Txn, ints, ops, ints), max_size=4)

#: Well-formed messages of every peer type, with any values at all.
peer_messages = st.one_of(
    st.builds(Notification, ints, st.sampled_from(["LOOKING", "FOLLOWING", "LEADING", "x", ""]),
              st.builds(Vote, ints, ints, ints)),
    st.builds(FollowerInfo, ints, ints, ints, ints),
    st.builds(LeaderInfo, ints, ints),
    st.builds(AckEpoch, ints, ints, ints, ints),
    st.builds(SyncStart, ints, ints, st.sampled_from(["DIFF", "TRUNC", "SNAP", "BOGUS"]), ints, ints, text,
              ints, ints, ints),
    st.builds(SnapChunk, ints, ints, ints, st.binary(max_size=16)),
    st.builds(SnapAck, ints, ints, ints),
    st.builds(SyncTxns, ints, ints, txns, ints, ints),
    st.builds(NewLeader, ints, ints, ints),
    st.builds(Ack, ints, ints, ints),
    st.builds(UpToDate, ints, ints, ints),
    st.builds(Proposal, ints, txns),
    st.builds(Commit, ints, ints),
    st.builds(Ping, ints, ints, ints, ints),
    st.builds(FetchTxns, ints, ints, ints),
    st.builds(Forward, ints, st.lists(ops, max_size=3)),
)
client_messages = st.one_of(st.builds(ClientRequest, ints, ops), st.builds(ReadRequest, ints, text))
# Anything msgpack can hold, nested a little: the "wrong tag / wrong field types" inputs.
msgpack_values = st.recursive(
    st.one_of(st.none(), st.booleans(), ints, st.floats(allow_nan=True), text, st.binary(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=6), st.dictionaries(text, inner, max_size=4)),
    max_leaves=8,
)
tags = st.sampled_from(["NOTIFICATION", "FOLLOWERINFO", "LEADERINFO", "ACKEPOCH", "SYNC", "TXNS", "NEWLEADER",
                        "ACK", "UPTODATE", "PROPOSAL", "COMMIT", "PING", "FETCH", "FORWARD", "REQUEST", "READ",
                        "REPLY", "READ_REPLY", "guess", "new_game", "nope", ""])

DECODERS = (decode_peer, decode_client, decode_reply)


def only_decode_errors(data: bytes) -> list:
    out = []
    for decode in DECODERS:
        try:
            out.append(decode(data))
        except DecodeError:
            pass
    return out


def check_plausible_never_raises(decoded: list) -> None:
    for msg in decoded:
        assert plausible(msg, IDS) in (True, False)


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_decode_error(data):
    check_plausible_never_raises(only_decode_errors(data))


@FAST
@given(st.one_of(peer_messages, client_messages), st.data())
def test_truncated_and_mutated_messages_raise_only_decode_error(msg, data):
    raw = encode(msg)
    cut = data.draw(st.integers(0, max(0, len(raw) - 1)), label="cut")
    check_plausible_never_raises(only_decode_errors(raw[:cut]))
    mutated = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4), label="flips")):
        i = data.draw(st.integers(0, len(mutated) - 1), label="at")
        mutated[i] = data.draw(st.integers(0, 255), label="byte")
    check_plausible_never_raises(only_decode_errors(bytes(mutated)))


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tags, st.lists(msgpack_values, max_size=8))
def test_wrong_tags_and_field_types_raise_only_decode_error(tag, fields):
    for shape in ([tag, *fields], {"type": tag, "fields": fields}, fields):
        check_plausible_never_raises(only_decode_errors(msgspec.msgpack.encode(shape)))


@FAST
@given(peer_messages)
def test_plausible_never_raises_and_refuses_negative_numbers(msg):
    decoded = decode_peer(encode(msg))  # what a node would see
    ok = plausible(decoded, IDS)
    assert ok in (True, False)
    # -1 is the protocol's "not said" in these two fields (SyncStart, SyncTxns), and ACKEPOCH's
    # NOT_COUNTED (an epoch accepted already); nowhere else.
    sentinels = {"prev_zxid", "zxid_upto", "current_epoch"}
    numbers = [v for k, v in msgspec.structs.asdict(decoded).items()
               if isinstance(v, int) and not isinstance(v, bool) and not (k in sentinels and v == -1)]
    if any(v < 0 for v in numbers):
        assert not ok, decoded


@pytest.mark.parametrize("msg", [
    Commit(epoch=1, zxid=make_zxid(2, 1)),  # a zxid from a later epoch than the message
    Ack(session=1, epoch=3, zxid=make_zxid(4, 0)),
    Proposal(epoch=2, txns=[Txn(make_zxid(1, 5), Guess("c", 1, 1))]),  # proposed in another epoch
    Proposal(epoch=2, txns=[]),
    NewLeader(session=1, epoch=2, zxid=make_zxid(2, 7)),
    Notification(round=1, state="LOOKING", vote=Vote(leader=9, zxid=0, epoch=0)),  # unknown node
    Notification(round=1, state="BORED", vote=Vote(leader=1, zxid=0, epoch=0)),
    SyncStart(session=1, epoch=2, mode="MAGIC", zxid=0, txns_total=0, reason=""),
    Forward(epoch=1, ops=[Guess("c", 1, 101)]),
    Forward(epoch=1, ops=[Guess("", 1, 1)]),
    Forward(epoch=1, ops=[NewGame("c", 0)]),
    Ping(epoch=2**32, zxid_committed=0, zxid_last=0),
])
def test_impossible_values_are_not_plausible(msg):
    assert not plausible(decode_peer(encode(msg)), IDS)


def test_every_message_of_simulated_runs_is_plausible(monkeypatch):
    """Goal: the checks never drop real traffic. Setup: simulated 5-node runs with faults
    (crashes, partitions, loss, reordering, disk faults), seeds 1..6. Expected: every message
    any peer sent passes ``plausible`` after a round trip through the wire format."""
    from zmqzab.sim import SimOptions, Simulation
    from zmqzab.sim.network import Network

    seen: list[int] = [0]
    refused: list[object] = []
    deliver = Network.deliver

    def checked(self, src, dst, pub, msg, note):
        seen[0] += 1
        if not plausible(decode_peer(encode(msg)), frozenset(self.nodes)):
            refused.append(msg)
        return deliver(self, src, dst, pub, msg, note)

    monkeypatch.setattr(Network, "deliver", checked)
    for seed in range(1, int(os.environ.get("PLAUSIBLE_SEEDS", "6")) + 1):
        print(f"seed {seed}")
        with Simulation(SimOptions(seed=seed, ticks=200)) as sim:
            sim.run()
    assert seen[0] > 1000
    assert not refused, refused[:5]
