"""Hostile bytes on the client port, without sockets (zmqzab/zk/*).

* every decoder raises only the codec's DecodeError, whatever the bytes: random frames, valid
  frames of every request and reply truncated, with bytes flipped, inserted or cut, and lengths
  and counts replaced by hostile values; the stream decoder raises only FrameError;
* a claimed length or count never allocates: memory used while decoding stays within a small
  multiple of the frame, whatever the frame claims (tracemalloc's peak).

Hypothesis prints the falsifying example (and its seed with --hypothesis-seed) on failure.
"""

from __future__ import annotations

import struct
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zmqzab.zk import protocol as p
from zmqzab.zk import records as r
from zmqzab.zk.framing import FrameDecoder, FrameError
from zmqzab.zk.jute import DecodeError, Reader
from zmqzab.zk.opcodes import OpCode
from tests.unit.jute_strategies import of

pytestmark = [pytest.mark.zk, pytest.mark.security]

FAST = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OPCODES = sorted(set(p.REQUEST_BODY) | set(p.RESPONSE_BODY)) + [-99, 0, 99]
HOSTILE_INTS = st.sampled_from([-1, -2, -(2 ** 31), 2 ** 31 - 1, 0xFFFFF, 0x100000, 0x1FFFFF,
                                0x200000, 2 ** 24, 5, 0])


def _valid_request() -> st.SearchStrategy[bytes]:
    return st.sampled_from(sorted(p.REQUEST_BODY.items())).flatmap(
        lambda oc: (st.none() if oc[1] is None else of(oc[1])).map(
            lambda body: p.encode_request(7, oc[0], body)[4:]))


def _valid_reply() -> st.SearchStrategy[tuple[int, bytes]]:
    return st.sampled_from(sorted(p.RESPONSE_BODY.items())).flatmap(
        lambda oc: (st.none() if oc[1] is None else of(oc[1])).map(
            lambda body: (oc[0], p.encode_reply(7, 9, 0, body)[4:])))


@st.composite
def mutated(draw, frames: st.SearchStrategy[bytes]) -> bytes:
    """A valid frame, then a few mutations: cut, flip, insert, delete, or a hostile int written
    over any 4 bytes (a length, a count, a type)."""
    data = bytearray(draw(frames))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["cut", "flip", "insert", "delete", "int"]))
        at = draw(st.integers(0, len(data)))
        if kind == "cut":
            del data[at:]
        elif kind == "flip" and at < len(data):
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 8))]
        elif kind == "int" and at + 4 <= len(data):
            data[at:at + 4] = struct.pack(">i", draw(HOSTILE_INTS))
    return bytes(data)


def _decode_everything(frame: bytes) -> None:
    """Every decoder of the codec on one frame: each may refuse it, only with DecodeError."""
    for decode in (p.decode_request, p.decode_connect_request, p.decode_connect_response):
        try:
            decode(frame)
        except DecodeError:
            pass
    for opcode in OPCODES:
        try:
            p.decode_reply(frame, opcode)
        except DecodeError:
            pass


@FAST
@given(st.binary(max_size=300))
def test_random_frames_raise_only_decode_error(frame):
    _decode_everything(frame)


@FAST
@given(mutated(_valid_request()))
def test_mutated_requests_raise_only_decode_error(frame):
    _decode_everything(frame)


@FAST
@given(mutated(_valid_reply().map(lambda t: t[1])))
def test_mutated_replies_raise_only_decode_error(frame):
    _decode_everything(frame)


@FAST
@given(st.lists(st.binary(max_size=40), max_size=8), st.booleans())
def test_the_stream_decoder_raises_only_frame_error(chunks, initialized):
    decoder = FrameDecoder(max_frame_bytes=64)
    decoder.initialized = initialized
    try:
        for chunk in chunks:
            for frame in decoder.feed(chunk):
                if not isinstance(frame, bytes):
                    return  # a four-letter word: the connection ends
                assert len(frame) <= 64
                _decode_everything(frame)
            assert decoder.buffered_bytes <= 64 + 4 + 40
    except FrameError:
        pass


def _peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        try:
            fn()
        except DecodeError:
            pass
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(_valid_request()))
def test_decoding_allocates_in_proportion_to_the_frame_not_to_its_claims(frame):
    """Objects for what the frame holds (a list slot, a record per item): a bounded multiple
    of its bytes; never what a length or count claims."""
    peak = _peak_bytes(lambda: _decode_everything(frame))
    assert peak <= 64 * len(frame) + 64 * 1024, (peak, len(frame))


@pytest.mark.parametrize("claim", [0x7FFFFFFF, 0x100000, 0x1FFFFE, 1000])
@pytest.mark.parametrize("where", ["buffer", "ustring", "vector<ustring>", "vector<ACL>"])
def test_a_huge_claim_is_refused_without_allocating(claim, where):
    path = b"\0\0\0\x02/a"
    frames = {
        "buffer": struct.pack(">ii", 1, OpCode.setData) + path + struct.pack(">i", claim),
        "ustring": struct.pack(">ii", 1, OpCode.getData) + struct.pack(">i", claim) + b"/a",
        "vector<ustring>": struct.pack(">ii", 1, OpCode.setWatches) + b"\0" * 8 + struct.pack(">i", claim),
        "vector<ACL>": struct.pack(">ii", 1, OpCode.setACL) + path + struct.pack(">i", claim) + b"\0" * 12,
    }
    frame = frames[where]
    with pytest.raises(DecodeError) as caught:
        p.decode_request(frame)
    assert caught.value.field in ("SetDataRequest.data", "GetDataRequest.path",
                                  "SetWatches.dataWatches", "SetACLRequest.acl")
    assert _peak_bytes(lambda: p.decode_request(frame)) < 16 * 1024


def test_a_multi_of_headers_only_ends_at_the_frame():
    """Ops are read until the done header; one without it ends at the frame's end with a
    DecodeError, not a loop."""
    body = b"".join(struct.pack(">iBi", OpCode.check, 0, -1) + b"\0\0\0\x01/\0\0\0\0" for _ in range(1000))
    frame = struct.pack(">ii", 1, OpCode.multi) + body
    with pytest.raises(DecodeError, match="MultiHeader"):
        p.decode_request(frame)


def test_error_names_the_field_and_the_problem():
    with pytest.raises(DecodeError) as caught:
        r.CreateRequest.decode(Reader(b"\0\0\0\x02/a" + b"\0\0\0\x09abc"))
    assert str(caught.value) == ("CreateRequest.data: length 9 runs past the frame's end "
                                 "(3 bytes left)")
    with pytest.raises(DecodeError, match=r"CreateRequest.path: negative length -2"):
        r.CreateRequest.decode(Reader(b"\xff\xff\xff\xfe"))
    with pytest.raises(DecodeError, match=r"GetChildrenResponse.children: count 3 needs at least "
                                          r"12 bytes, 4 left"):
        r.GetChildrenResponse.decode(Reader(b"\0\0\0\x03\0\0\0\0"))
    with pytest.raises(p.UnknownOpcodeError) as unknown:
        p.decode_request(struct.pack(">ii", 12, 999))
    assert (unknown.value.xid, unknown.value.type) == (12, 999)
    with pytest.raises(DecodeError, match="invalid type of op 3"):
        p.decode_request(struct.pack(">iiiBi", 1, OpCode.multi, OpCode.exists, 0, -1))
