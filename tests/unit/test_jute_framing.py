"""The client port's stream decoder (zmqzab/zk/framing.py): frames cut at every byte boundary
come out whole and in order; a length that is negative or over jute.maxbuffer is a protocol
error before anything is buffered for it; the four-letter words are told from a length the way
NIOServerCnxn tells them, only at a connection's start."""

from __future__ import annotations

import random

import pytest

from zmqzab.zk import protocol as p
from zmqzab.zk import records as r
from zmqzab.zk.framing import (FOUR_LETTER_WORD_OF_INT, SERVED_FOUR_LETTER_WORDS, FourLetterWord,
                               FrameDecoder, FrameError)
from zmqzab.zk.jute import MAX_BUFFER
from zmqzab.zk.opcodes import OpCode

pytestmark = pytest.mark.zk

CONNECT = p.encode_connect_request(r.ConnectRequest(0, 0, 10_000, 0, b"\0" * 16, False))
REQUESTS = [p.encode_request(1, OpCode.create, r.CreateRequest("/a", b"x" * 300, (), 0)),
            p.encode_request(2, OpCode.getData, r.GetDataRequest("/a", True)),
            p.encode_request(-2, OpCode.ping),
            p.encode_request(3, OpCode.getChildren, r.GetChildrenRequest("/", False))]
STREAM = CONNECT + b"".join(REQUESTS)
FRAMES = [CONNECT[4:]] + [w[4:] for w in REQUESTS]


def test_a_stream_split_at_every_byte_gives_the_same_frames():
    for cut in range(len(STREAM) + 1):
        decoder = FrameDecoder()
        got = decoder.feed(STREAM[:cut]) + decoder.feed(STREAM[cut:])
        assert got == FRAMES, f"split at byte {cut}"
        assert decoder.buffered_bytes == 0


def test_a_stream_fed_one_byte_at_a_time():
    decoder = FrameDecoder()
    got = []
    for i in range(len(STREAM)):
        got += decoder.feed(STREAM[i:i + 1])
        assert decoder.buffered_bytes <= max(len(f) for f in FRAMES) + 4
    assert got == FRAMES


def test_a_stream_split_at_random_points():
    seed = random.randrange(2 ** 32)
    print(f"seed {seed}")  # reproduce: rng = random.Random(seed)
    rng = random.Random(seed)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(STREAM)), rng.randint(1, 8)))
        decoder = FrameDecoder()
        got = []
        for a, b in zip([0] + cuts, cuts + [len(STREAM)]):
            got += decoder.feed(STREAM[a:b])
        assert got == FRAMES, f"seed {seed}, cuts {cuts}"


def test_frames_decode_after_the_decoder():
    decoder = FrameDecoder()
    connect, *requests = decoder.feed(STREAM)
    assert p.decode_connect_request(connect).time_out == 10_000
    assert [p.decode_request(f).header.xid for f in requests] == [1, 2, -2, 3]


def test_an_empty_frame_is_a_frame():
    decoder = FrameDecoder()
    decoder.initialized = True
    assert decoder.feed(b"\0\0\0\0\0\0\0\0") == [b"", b""]


@pytest.mark.parametrize("length", [-1, -2 ** 31, MAX_BUFFER + 1, 2 ** 31 - 1])
def test_a_length_outside_the_limit_is_a_protocol_error_at_once(length):
    """Known as soon as the four length bytes are in: nothing is buffered for such a frame, and
    the decoder stays broken (the caller closes the connection)."""
    decoder = FrameDecoder()
    decoder.initialized = True
    with pytest.raises(FrameError, match="jute.maxbuffer"):
        decoder.feed(length.to_bytes(4, "big", signed=True))
    with pytest.raises(FrameError):
        decoder.feed(b"\0\0\0\0")


def test_the_limit_is_jute_maxbuffer_and_a_frame_of_exactly_that_passes():
    assert MAX_BUFFER == 0xFFFFF == 1_048_575
    decoder = FrameDecoder()
    decoder.initialized = True
    assert decoder.feed(MAX_BUFFER.to_bytes(4, "big") + b"\0" * MAX_BUFFER) == [b"\0" * MAX_BUFFER]
    small = FrameDecoder(max_frame_bytes=10)
    small.initialized = True
    with pytest.raises(FrameError):
        small.feed((11).to_bytes(4, "big"))


def test_a_good_frame_before_a_bad_length_is_still_an_error():
    """The connection is closed: ZooKeeper reads no further either."""
    decoder = FrameDecoder()
    decoder.initialized = True
    with pytest.raises(FrameError):
        decoder.feed(b"\0\0\0\x01x" + b"\xff\xff\xff\xfe")


@pytest.mark.parametrize("word", SERVED_FOUR_LETTER_WORDS)
def test_a_four_letter_word_opens_a_connection(word):
    for split in range(5):
        decoder = FrameDecoder()
        data = word.encode()
        got = decoder.feed(data[:split]) + decoder.feed(data[split:])
        assert got == [FourLetterWord(word)]
    assert decoder.feed(b"more") == [], "nothing is read after a four-letter word"


def test_the_four_letter_words_as_ints_are_above_the_frame_limit():
    """Why NIOServerCnxn can tell them apart: every word read as a length is over jute.maxbuffer."""
    assert all(n > MAX_BUFFER for n in FOUR_LETTER_WORD_OF_INT)
    assert FOUR_LETTER_WORD_OF_INT[int.from_bytes(b"ruok", "big")] == "ruok"
    assert set(SERVED_FOUR_LETTER_WORDS) <= set(FOUR_LETTER_WORD_OF_INT.values())


def test_stmk_keeps_what_follows_it():
    decoder = FrameDecoder()
    assert decoder.feed(b"stmk" + (0xFF).to_bytes(8, "big")) == [
        FourLetterWord("stmk", (0xFF).to_bytes(8, "big"))]


def test_a_four_letter_word_after_the_connect_request_is_a_bad_length():
    decoder = FrameDecoder()
    assert decoder.feed(CONNECT) == [CONNECT[4:]]
    with pytest.raises(FrameError, match="frame length"):
        decoder.feed(b"ruok")


def test_an_unknown_word_is_a_bad_length():
    with pytest.raises(FrameError):
        FrameDecoder().feed(b"abcd")
