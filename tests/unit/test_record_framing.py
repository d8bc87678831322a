"""The log's record framing has one reader (storage/txnlog.records): recovery's scan and the
DIFF/log-tool reader (storage/reader.iter_segment) must agree on every byte string: the same
txns, and the same verdict on a torn tail (quietly the end) versus damage (CorruptLogError)."""

import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqzab.messages import Guess, Txn, encoder
from zmqzab.storage.errors import CorruptLogError
from zmqzab.storage.reader import iter_segment
from zmqzab.storage.txnlog import RECORD_HEADER, _scan_segment

pytestmark = pytest.mark.storage
FIRST = (1 << 32) | 1


def _segment(n: int) -> bytes:
    out = bytearray()
    for i in range(n):
        payload = encoder.encode(Txn(zxid=FIRST + i, op=Guess("c", i + 1, i % 100, 3)))
        out += RECORD_HEADER.pack(len(payload), zlib.crc32(payload)) + payload
    return bytes(out)


def _recovery(buf: bytes, is_last: bool):
    try:
        return [t.zxid for t in _scan_segment(buf, Path("s"), is_last=is_last, prev_zxid=0, first_zxid=FIRST).txns]
    except CorruptLogError:
        return "corrupt"


def _reader(buf: bytes, is_last: bool):
    try:
        return [t.zxid for _, t in iter_segment(buf, Path("s"), is_last=is_last)]
    except CorruptLogError:
        return "corrupt"


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 6), cut=st.integers(0, 400), flip=st.integers(-1, 400), zeros=st.integers(0, 20),
       is_last=st.booleans())
def test_recovery_and_the_reader_agree_on_every_damage(n, cut, flip, zeros, is_last):
    buf = bytearray(_segment(n))
    if flip >= 0 and flip < len(buf):
        buf[flip] ^= 0x41
    buf = bytes(buf[: max(1, len(buf) - cut)]) + b"\0" * zeros
    assert _recovery(buf, is_last) == _reader(buf, is_last)


def test_a_torn_tail_ends_both_quietly_and_damage_before_it_stops_both():
    whole = _segment(3)
    torn = whole[:-5]
    assert _recovery(torn, True) == _reader(torn, True) == [FIRST, FIRST + 1]
    damaged = bytearray(whole)
    damaged[RECORD_HEADER.size + 2] ^= 0xFF  # inside the first record, two intact ones follow
    assert _recovery(bytes(damaged), True) == _reader(bytes(damaged), True) == "corrupt"


def test_a_zero_length_record_at_the_end_is_damage_to_both():
    """The two framings written separately disagreed here: the reader took a zero-length header
    that ends the file for a torn write, recovery for damage (it is never written by an append)."""
    buf = _segment(2) + RECORD_HEADER.pack(0, 7)
    assert _recovery(buf, True) == _reader(buf, True) == "corrupt"
