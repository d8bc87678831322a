"""The client port's TCP stream cut into frames: a 4-byte big-endian length, then that many
bytes. Pure: bytes in, frames out; the caller owns the socket.

Theory of operation. ``FrameDecoder.feed(data)`` buffers what arrived and returns every frame
completed, in order, each as ``bytes`` without its length. A length that is negative or over
``max_frame_bytes`` (ZooKeeper's jute.maxbuffer, 0xfffff by default: NIOServerCnxn.readLength
throws "Len error" and closes the connection) raises ``FrameError``: the caller closes the
connection, as ZooKeeper does, and the decoder stays broken (every later feed raises again).

The first four bytes of a connection may be a four-letter word instead of a length ("ruok",
"stat", ...): NIOServerCnxn.checkFourLetterWord reads them as the length int and compares it with
each command's int value, before the length check, and only while the connection is not yet
initialized (no ConnectRequest yet). ``feed`` then returns a ``FourLetterWord`` as the only item
and the decoder ends (later bytes are ignored): ZooKeeper answers the command and closes the
connection.
"""

from __future__ import annotations

import msgspec

from zmqzab.zk.jute import INT, MAX_BUFFER

#: FourLetterCommands' known words (ZooKeeper 3.8). ``SERVED_FOUR_LETTER_WORDS`` are the ones
#: zmqzab answers; the server answers any other known word as ZooKeeper answers one missing
#: from 4lw.commands.whitelist ("... is not executed because it is not in the whitelist.").
FOUR_LETTER_WORDS = ("conf", "cons", "crst", "dirs", "dump", "envi", "gtmk", "hash", "isro",
                     "mntr", "ruok", "srst", "srvr", "stat", "stmk", "wchc", "wchp", "wchs")
SERVED_FOUR_LETTER_WORDS = ("ruok", "srvr", "stat", "mntr", "envi", "conf", "cons", "wchs")
#: The int each word's bytes read as, the way NIOServerCnxn sees them.
FOUR_LETTER_WORD_OF_INT: dict[int, str] = {
    INT.unpack(w.encode("ascii"))[0]: w for w in FOUR_LETTER_WORDS}


class FrameError(Exception):
    """The stream cannot be a ZooKeeper client's: close the connection."""


class FourLetterWord(msgspec.Struct, frozen=True):
    """The connection opened with a four-letter word: answer it, then close."""

    word: str
    #: Whatever followed the word in the same read (stmk's 8-byte trace mask; ZooKeeper reads
    #: it from the socket, a caller that serves stmk takes it from here).
    rest: bytes = b""


class FrameDecoder:
    """Frames out of one connection's byte stream (one decoder per connection)."""

    __slots__ = ("_buf", "_start", "max_frame_bytes", "initialized", "_broken", "_ended")

    def __init__(self, max_frame_bytes: int = MAX_BUFFER):
        self._buf = bytearray()
        self._start = 0  # where the next frame's length begins in _buf
        self.max_frame_bytes = max_frame_bytes
        #: False until the first frame (the ConnectRequest) is out: only then are the first
        #: four bytes checked for a four-letter word.
        self.initialized = False
        self._broken: str | None = None
        self._ended = False

    @property
    def buffered_bytes(self) -> int:
        """Bytes held for a frame not yet complete (bounded by 4 + max_frame_bytes + one read)."""
        return len(self._buf) - self._start

    def feed(self, data: bytes) -> list[bytes | FourLetterWord]:
        if self._broken is not None:
            raise FrameError(self._broken)
        if self._ended:  # ZooKeeper reads nothing after a four-letter word: neither do we
            return []
        buf = self._buf
        buf += data
        frames: list[bytes | FourLetterWord] = []
        start = self._start
        end = len(buf)
        try:
            while end - start >= 4:
                length = INT.unpack_from(buf, start)[0]
                if not self.initialized:
                    word = FOUR_LETTER_WORD_OF_INT.get(length)
                    if word is not None:
                        self._ended = True
                        return [FourLetterWord(word, bytes(buf[start + 4:]))]
                if length < 0 or length > self.max_frame_bytes:
                    self._broken = (f"frame length {length} is outside 0..{self.max_frame_bytes} "
                                    "(jute.maxbuffer): not a ZooKeeper client, or a request "
                                    "over the size limit; closing the connection")
                    raise FrameError(self._broken)
                if end - start - 4 < length:
                    break
                frames.append(bytes(buf[start + 4:start + 4 + length]))
                start += 4 + length
                self.initialized = True
        finally:
            # Drop what was consumed: a long-lived connection's buffer holds at most one
            # partial frame.
            if start:
                del buf[:start]
                start = 0
            self._start = start
        return frames
