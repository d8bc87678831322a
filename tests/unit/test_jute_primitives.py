"""Jute's primitives (zmqzab/zk/jute.py) as ZooKeeper's BinaryOutputArchive writes them and
BinaryInputArchive reads them: big-endian, null as -1, lengths checked before use."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zmqzab.zk.jute import (FIELD_LEN_MAX, MAX_BUFFER, DecodeError, Reader, write_bool,
                            write_buffer, write_int, write_long, write_ustring, write_ustrings)

pytestmark = pytest.mark.zk


def _bytes(write, value) -> bytes:
    out = bytearray()
    write(out, value)
    return bytes(out)


def test_layouts():
    assert _bytes(write_int, 1) == b"\0\0\0\x01"
    assert _bytes(write_int, -1) == b"\xff\xff\xff\xff"
    assert _bytes(write_long, (5 << 32) | 3) == b"\0\0\0\x05\0\0\0\x03"
    assert _bytes(write_bool, True) == b"\x01" and _bytes(write_bool, False) == b"\x00"
    assert _bytes(write_buffer, None) == b"\xff\xff\xff\xff"
    assert _bytes(write_buffer, b"") == b"\0\0\0\0"
    assert _bytes(write_buffer, b"ab") == b"\0\0\0\x02ab"
    assert _bytes(write_ustring, "é") == b"\0\0\0\x02\xc3\xa9"  # length in UTF-8 bytes
    assert _bytes(write_ustring, None) == b"\xff\xff\xff\xff"
    assert _bytes(write_ustrings, None) == b"\xff\xff\xff\xff"
    assert _bytes(write_ustrings, ()) == b"\0\0\0\0"
    assert _bytes(write_ustrings, ("a", None)) == b"\0\0\0\x02\0\0\0\x01a\xff\xff\xff\xff"


@given(st.integers(-(2 ** 31), 2 ** 31 - 1), st.integers(-(2 ** 63), 2 ** 63 - 1), st.booleans(),
       st.none() | st.binary(max_size=50), st.none() | st.text(max_size=20),
       st.none() | st.lists(st.none() | st.text(max_size=5), max_size=5))
def test_primitives_round_trip(i, q, b, buf, s, strings):
    out = bytearray()
    write_int(out, i)
    write_long(out, q)
    write_bool(out, b)
    write_buffer(out, buf)
    write_ustring(out, s)
    write_ustrings(out, strings)
    r = Reader(bytes(out))
    assert r.read_int("i") == i
    assert r.read_long("q") == q
    assert r.read_bool("b") is b
    assert r.read_buffer("buf") == buf
    assert r.read_ustring("s") == s
    assert r.read_ustrings("strings") == strings
    r.expect_end("all")


def test_a_bool_is_any_byte_but_zero():
    """Java's DataInput.readBoolean: ZooKeeper reads 2 as true, so do we."""
    assert Reader(b"\x02").read_bool("watch") is True
    assert Reader(b"\x00").read_bool("watch") is False


def test_malformed_utf8_becomes_the_replacement_character():
    """As Java's new String(bytes, UTF_8): the path check then refuses it (BADARGUMENTS)."""
    assert Reader(b"\0\0\0\x03/\xff\xfe").read_ustring("path") == "/\ufffd\ufffd"


def test_short_input_names_the_field():
    with pytest.raises(DecodeError, match=r"^X.version: needs 4 bytes, 3 left in the frame$"):
        Reader(b"abc").read_int("X.version")
    with pytest.raises(DecodeError, match=r"^X.zxid: needs 8 bytes"):
        Reader(b"\0" * 7).read_long("X.zxid")
    with pytest.raises(DecodeError, match=r"^X.watch: needs 1 bytes"):
        Reader(b"").read_bool("X.watch")


def test_lengths_are_checked_before_use():
    with pytest.raises(DecodeError, match="negative length -5"):
        Reader(b"\xff\xff\xff\xfb").read_buffer("data")
    with pytest.raises(DecodeError, match="runs past the frame's end"):
        Reader(b"\0\0\0\x05abcd").read_buffer("data")
    with pytest.raises(DecodeError, match="over the limit"):
        Reader(b"\0\0\0\x05abcde", field_len_max=4).read_buffer("data")
    assert FIELD_LEN_MAX == 2 * MAX_BUFFER  # BinaryInputArchive: maxBuffer + extraMaxBuffer
    with pytest.raises(DecodeError, match="over the limit"):
        Reader((FIELD_LEN_MAX + 1).to_bytes(4, "big")).read_ustring("path")
    with pytest.raises(DecodeError, match="negative count -2"):
        Reader(b"\xff\xff\xff\xfe").read_ustrings("children")
    with pytest.raises(DecodeError, match="count 2 needs at least 8 bytes"):
        Reader(b"\0\0\0\x02\0\0\0\0").read_ustrings("children")


def test_the_frame_end_is_the_readers_end():
    """A Reader over part of a buffer stops at ``end``, not at the buffer's end."""
    data = b"\0\0\0\x04abcd"
    with pytest.raises(DecodeError, match="runs past"):
        Reader(data, 0, 6).read_buffer("data")
    assert Reader(data, 0, 8).read_buffer("data") == b"abcd"


def test_trailing_bytes_are_read_by_no_one_unless_asked():
    r = Reader(b"\0\0\0\x01extra")
    assert r.read_int("n") == 1 and r.remaining == 5
    with pytest.raises(DecodeError, match="^Rec: 5 bytes left after the record$"):
        r.expect_end("Rec")
