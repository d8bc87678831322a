"""Writing a recording: header, frames in time order, trailer; never past the size bound.

The bound (format.py): ``cap_bytes`` of uncompressed frame text. Up to ``THIN_AT`` of it every
frame is written; past it only key frames (hello/up/down, marks, captions, zab events that are
not message traffic, and one status frame per node per ``THIN_STATUS_MS``); at the cap nothing
more but the trailer, which counts by kind what was dropped and says whether the cap cut the
recording short (``truncated``). The trailer is not counted in the cap (it is one short line).

A live recording may be cut by a crash or a kill: with ``flush_s`` the compressed stream is
flushed (a gzip sync flush) at most that often, so what was written up to the last flush reads
back (reader.py replays a recording without its trailer up to where it ends).
"""

from __future__ import annotations

import gzip
import threading
import time
from pathlib import Path
from typing import IO, Any

import msgspec

from zmqzab.record.format import DEFAULT_CAP_BYTES, FORMAT, THIN_AT, THIN_STATUS_MS, VERSION
from zmqzab.server.events import TRAFFIC

_json = msgspec.json.Encoder()


def now_iso() -> str:
    """The header's informative "created" (wall clock, UTC)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def make_header(source: str, command: str, nodes: list[int], clock: str, tick_ms: int,
                heartbeat_ms: int, config: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    """A header in the format's key order (``cap_bytes`` is set by the writer)."""
    header: dict[str, Any] = {"format": FORMAT, "version": VERSION, "source": source,
                              "command": command, "created": now_iso(), "clock": clock,
                              "tick_ms": tick_ms, "heartbeat_ms": heartbeat_ms,
                              "nodes": list(nodes), "config": config or {}}
    header.update({k: v for k, v in extra.items() if v is not None})
    return header


def is_key_frame(frame: dict[str, Any]) -> bool:
    """What survives past THIN_AT (status frames are rate-limited apart)."""
    kind = frame["kind"]
    if kind == "zab":
        return frame["data"].get("kind") not in TRAFFIC
    return kind != "status"


#: Status fields that change at every tick without news (clocks, counters, heartbeats seen).
_STATUS_NOISE = ("time_ms", "uptime_s", "events_seq", "counters")
#: A node's status is written again after this long even without news (its counters move).
STATUS_REFRESH_MS = 1000.0


class StatusFilter:
    """Which status frames to write: a node publishes one per tick, the recording keeps those
    that say something new (or refresh it every ``STATUS_REFRESH_MS``)."""

    def __init__(self) -> None:
        self._last: dict[int, tuple[dict[str, Any], float]] = {}

    def due(self, node: int, status: dict[str, Any], t: float) -> bool:
        sig = {k: v for k, v in status.items() if k not in _STATUS_NOISE}
        followers = sig.get("followers")
        if isinstance(followers, dict):
            sig["followers"] = {i: {k: v for k, v in row.items() if k != "heard_ticks_ago"}
                                for i, row in followers.items() if isinstance(row, dict)}
        last = self._last.get(node)
        if last is not None and last[0] == sig and t - last[1] < STATUS_REFRESH_MS:
            return False
        self._last[node] = (sig, t)
        return True

    def forget(self, node: int) -> None:
        """The node restarted: its next status is news."""
        self._last.pop(node, None)


class RecordingWriter:
    """One recording file. ``target``: a path (``.zrec`` gzip, ``.jsonl`` plain, or as
    ``compress`` says) or a binary file object. Thread-safe: the live recorder writes from
    several threads."""

    def __init__(self, target: str | Path | IO[bytes], header: dict[str, Any],
                 cap_bytes: int = DEFAULT_CAP_BYTES, compress: bool | None = None,
                 flush_s: float | None = None, reserve_bytes: int = 0) -> None:
        if isinstance(target, (str, Path)):
            path = Path(target)
            if compress is None:
                compress = path.suffix != ".jsonl"
            self._raw: IO[bytes] = open(path, "wb")
            self._own_raw = True
        else:
            self._raw = target
            self._own_raw = False
            compress = True if compress is None else compress
        # No file name or time in the gzip header: the same run gives the same bytes.
        self._out: IO[bytes] = (gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0)
                                if compress else self._raw)
        self._compress = compress
        self.cap_bytes = int(cap_bytes)
        #: Frames stop here: the cap less what a later pass may add (live.py's ends).
        self._limit = self.cap_bytes - reserve_bytes
        self._thin_at = int(self._limit * THIN_AT)
        self.header = {**header, "cap_bytes": self.cap_bytes}
        self.bytes = 0
        self.frames = 0
        self.dropped: dict[str, int] = {"zab": 0, "status": 0}
        self.truncated = False
        self.t = 0.0
        self._status_at: dict[int, float] = {}
        self._lock = threading.Lock()
        self._flush_s = flush_s
        self._flushed = time.monotonic()
        self.closed = False
        self._out.write(_json.encode(self.header) + b"\n")

    def frame(self, t: float, kind: str, data: dict[str, Any] | None = None,
              node: int | None = None) -> bool:
        """Write one frame (see ``write``)."""
        frame: dict[str, Any] = {"t": t}
        if node is not None:
            frame["node"] = node
        frame["kind"] = kind
        if data is not None:
            frame["data"] = data
        return self.write(frame)

    def write(self, frame: dict[str, Any]) -> bool:
        """Write ``frame`` unless the bound drops it (then count it); True if written. A ``t``
        before the last one written is raised to it (merged live streams may be a little out
        of order; the format's times never go back)."""
        with self._lock:
            if self.closed:
                return False
            t = frame["t"]
            if t < self.t:
                frame["t"] = t = self.t
            kind = frame["kind"]
            if self.bytes >= self._thin_at and not self._thinned_keeps(frame, t):
                self._drop(kind)
                return False
            line = _json.encode(frame) + b"\n"
            if self.bytes + len(line) > self._limit:
                self.truncated = True
                self._drop(kind)
                return False
            self._out.write(line)
            self.bytes += len(line)
            self.frames += 1
            self.t = t
            if kind == "status":
                self._status_at[frame["node"]] = t
            if self._flush_s is not None and time.monotonic() - self._flushed >= self._flush_s:
                self._flush()
            return True

    def _thinned_keeps(self, frame: dict[str, Any], t: float) -> bool:
        if frame["kind"] == "status":
            last = self._status_at.get(frame["node"])
            return last is None or t - last >= THIN_STATUS_MS
        return is_key_frame(frame)

    def _drop(self, kind: str) -> None:
        self.dropped[kind] = self.dropped.get(kind, 0) + 1

    def _flush(self) -> None:
        if self._compress:
            self._out.flush()  # GzipFile.flush: a zlib sync flush, readable up to here
        self._raw.flush()
        self._flushed = time.monotonic()

    def close(self, verdict: dict[str, Any] | None = None, t: float | None = None) -> dict[str, Any]:
        """Write the trailer and close; returns the trailer."""
        with self._lock:
            if self.closed:
                raise ValueError("recording already closed")
            self.closed = True
            trailer = {"kind": "end", "t": max(self.t, t or 0.0), "frames": self.frames,
                       "dropped": dict(self.dropped), "truncated": self.truncated, "verdict": verdict}
            self._out.write(_json.encode(trailer) + b"\n")
            if self._compress:
                self._out.close()
            if self._own_raw:
                self._raw.close()
            else:
                self._raw.flush()
            return trailer
