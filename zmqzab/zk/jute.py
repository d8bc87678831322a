"""Jute, ZooKeeper's binary encoding, as its BinaryOutputArchive writes it and its
BinaryInputArchive reads it: pure, no I/O.

Theory of operation. Every value is big-endian: int is 4 bytes, long 8, boolean 1 byte (Java's
``DataInput.readBoolean``: any byte but 0 is true), buffer an int length (-1 for null) and the
bytes, ustring a buffer of UTF-8, vector an int count (-1 for null) and the items, a record its
fields in order with no framing of its own. Decoding reads one frame (a ``bytes`` whose end is
the frame's end) through a ``Reader``; encoding appends to a ``bytearray``.

Decoding never trusts a length: a negative one (other than -1, null), one that runs past the
frame's end, or one over ``FIELD_LEN_MAX`` raises ``DecodeError`` naming the field, before
anything is allocated; a vector's count is checked against the bytes left (each item takes at
least ``item_min_bytes``), so a hostile count can neither allocate nor loop. Strings decode as
Java's ``new String(bytes, UTF_8)`` does (a malformed byte becomes U+FFFD), so a bad path reaches
the path check (BADARGUMENTS, as ZooKeeper answers) instead of closing the connection.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

#: ``jute.maxbuffer``'s default (BinaryInputArchive.maxBuffer, 0xfffff = 1,048,575 bytes): the
#: largest frame a ZooKeeper server reads (NIOServerCnxn.readLength: ``len > maxBuffer`` is a
#: "Len error" and closes the connection).
MAX_BUFFER = 0xFFFFF
#: ``zookeeper.jute.maxbuffer.extrasize``'s default: maxBuffer itself (never below 1024);
#: BinaryInputArchive.checkLength lets one field reach maxBuffer + extraMaxBuffer ("some padding
#: ... for extra fields"). Inside a frame the frame's end is the tighter bound.
EXTRA_MAX_BUFFER = max(1024, MAX_BUFFER)
#: The longest buffer or ustring a Reader accepts (BinaryInputArchive.checkLength).
FIELD_LEN_MAX = MAX_BUFFER + EXTRA_MAX_BUFFER

INT = struct.Struct(">i")
LONG = struct.Struct(">q")
_int_unpack = INT.unpack_from
_long_unpack = LONG.unpack_from
_int_pack = INT.pack
_long_pack = LONG.pack


class DecodeError(ValueError):
    """Bytes that are not the record they should be: the field and what is wrong with it.

    A peer's error, never ours: the server answers as ZooKeeper does (it closes the connection
    on a bad frame, MARSHALLINGERROR where ZooKeeper answers so)."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class Reader:
    """Reads jute values from one frame, from ``pos`` to ``end`` (the frame's end)."""

    __slots__ = ("buf", "pos", "end", "field_len_max")

    def __init__(self, buf: bytes, pos: int = 0, end: int | None = None,
                 field_len_max: int = FIELD_LEN_MAX):
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else end
        self.field_len_max = field_len_max

    @property
    def remaining(self) -> int:
        return self.end - self.pos

    def _short(self, field: str, wanted: int) -> DecodeError:
        return DecodeError(field, f"needs {wanted} bytes, {self.end - self.pos} left in the frame")

    def read_int(self, field: str) -> int:
        pos = self.pos
        if pos + 4 > self.end:
            raise self._short(field, 4)
        self.pos = pos + 4
        return _int_unpack(self.buf, pos)[0]

    def read_long(self, field: str) -> int:
        pos = self.pos
        if pos + 8 > self.end:
            raise self._short(field, 8)
        self.pos = pos + 8
        return _long_unpack(self.buf, pos)[0]

    def read_bool(self, field: str) -> bool:
        pos = self.pos
        if pos >= self.end:
            raise self._short(field, 1)
        self.pos = pos + 1
        return self.buf[pos] != 0

    def _length(self, field: str) -> int:
        """A buffer's length, checked before anything is allocated: -1 (null) or 0..left."""
        n = self.read_int(field)
        if n < -1:
            raise DecodeError(field, f"negative length {n}")
        if n > self.field_len_max:
            raise DecodeError(field, f"length {n} over the limit of {self.field_len_max} bytes "
                                     "(jute.maxbuffer)")
        if n > self.end - self.pos:
            raise DecodeError(field, f"length {n} runs past the frame's end "
                                     f"({self.end - self.pos} bytes left)")
        return n

    def read_buffer(self, field: str) -> bytes | None:
        n = self._length(field)
        if n < 0:
            return None
        pos = self.pos
        self.pos = pos + n
        return bytes(self.buf[pos:pos + n])

    def read_ustring(self, field: str) -> str | None:
        n = self._length(field)
        if n < 0:
            return None
        pos = self.pos
        self.pos = pos + n
        return str(self.buf[pos:pos + n], "utf-8", "replace")

    def read_vector(self, field: str, read_item: Callable[[Reader], T],
                    item_min_bytes: int) -> list[T] | None:
        """A vector: its count is checked against the bytes left, then each item read."""
        n = self.read_int(field)
        if n < -1:
            raise DecodeError(field, f"negative count {n}")
        if n < 0:
            return None
        if n * item_min_bytes > self.end - self.pos:
            raise DecodeError(field, f"count {n} needs at least {n * item_min_bytes} bytes, "
                                     f"{self.end - self.pos} left in the frame")
        return [read_item(self) for _ in range(n)]

    def read_ustrings(self, field: str) -> list[str | None] | None:
        """A vector<ustring> (children, watch paths): the hot case, without a call per item."""
        n = self.read_int(field)
        if n < -1:
            raise DecodeError(field, f"negative count {n}")
        if n < 0:
            return None
        if n * 4 > self.end - self.pos:
            raise DecodeError(field, f"count {n} needs at least {n * 4} bytes, "
                                     f"{self.end - self.pos} left in the frame")
        read = self.read_ustring
        return [read(field) for _ in range(n)]

    def expect_end(self, record: str) -> None:
        """The record took the whole frame: trailing bytes mean it was not that record."""
        if self.pos != self.end:
            raise DecodeError(record, f"{self.end - self.pos} bytes left after the record")


# --- encoding: append to a bytearray -------------------------------------------------------

def write_int(out: bytearray, value: int) -> None:
    out += _int_pack(value)


def write_long(out: bytearray, value: int) -> None:
    out += _long_pack(value)


def write_bool(out: bytearray, value: bool) -> None:
    out.append(1 if value else 0)


def write_buffer(out: bytearray, value: bytes | None) -> None:
    if value is None:
        out += b"\xff\xff\xff\xff"
        return
    out += _int_pack(len(value))
    out += value


def write_ustring(out: bytearray, value: str | None) -> None:
    if value is None:
        out += b"\xff\xff\xff\xff"
        return
    data = value.encode("utf-8")
    out += _int_pack(len(data))
    out += data


def write_ustrings(out: bytearray, values: Sequence[str | None] | None) -> None:
    if values is None:
        out += b"\xff\xff\xff\xff"
        return
    out += _int_pack(len(values))
    for value in values:
        write_ustring(out, value)
