"""Reading a recording back: every line validated; a damaged file named by its line.

``read_recording`` returns the header, the frames and the trailer. A file whose end is missing
(the recorder was killed, the disk filled: no trailer, maybe half a last line or a cut gzip
stream) is still read up to where it ends, and says so (``Recording.cut``); a damaged line
*before* the end, a file that is not a recording, or one of a newer format is a
``RecordingError`` whose message names the line and the way out.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zmqzab.record.format import FORMAT, FRAME_KINDS, NODE_KINDS, VERSION

#: Decompressed bytes read at most (the default cap is 50 MiB of frames).
READ_MAX_BYTES = 1024 * 1024 * 1024
_HEADER_FIELDS = {"source": str, "clock": str, "nodes": list, "tick_ms": (int, float)}
_WITH_DATA = frozenset({"hello", "status", "zab", "mark", "caption"})


class RecordingError(Exception):
    """A file that cannot be replayed; the message names the cause and the way out."""


@dataclass
class Recording:
    header: dict[str, Any]
    frames: list[dict[str, Any]] = field(default_factory=list)
    #: The last line; None when the file ends before it (see ``cut``).
    trailer: dict[str, Any] | None = None
    #: Why the file ends early ("" when it is whole).
    cut: str = ""
    #: The lines read and found good, as they are in the file (decompressed).
    text: bytes = b""
    #: Frames read (also when they are not kept).
    count: int = 0
    last_t: float = 0.0

    def ndjson(self) -> bytes:
        """Header, frames and trailer as JSON Lines (what ``GET /recording`` serves). A cut
        file gets a trailer saying so, so the page always sees one."""
        if self.trailer is not None:
            return self.text
        trailer = {"kind": "end", "t": self.last_t, "frames": self.count, "dropped": {},
                   "truncated": True, "verdict": None, "cut": self.cut}
        return self.text + json.dumps(trailer, ensure_ascii=False).encode() + b"\n"


def _decompress(raw: bytes, name: str) -> tuple[bytes, str]:
    """The file's text, and why it stops early ("" if it does not)."""
    if raw[:2] != b"\x1f\x8b":
        return raw, ""
    d = zlib.decompressobj(wbits=31)
    try:
        text = d.decompress(raw, READ_MAX_BYTES)
    except zlib.error as exc:
        # zlib keeps no partial output on error: retry in small pieces to keep what was good.
        return _decompress_until_damage(raw), f"the compressed data is damaged ({exc})"
    if d.unconsumed_tail:
        raise RecordingError(f"{name} decompresses to more than {READ_MAX_BYTES // 2**20} MiB: "
                             "not a recording zmqzab wrote (they are bounded); check the file")
    if not d.eof:
        return text, "the compressed stream ends early (the recorder was stopped before it finished)"
    return text, ""


def _decompress_until_damage(raw: bytes) -> bytes:
    d = zlib.decompressobj(wbits=31)
    out = []
    for i in range(0, len(raw), 4096):
        try:
            out.append(d.decompress(raw[i:i + 4096]))
        except zlib.error:
            break
    return b"".join(out)


def read_recording(path: str | Path, keep_frames: bool = True) -> Recording:
    path = Path(path)
    name = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RecordingError(f"cannot read {name}: {exc.strerror or exc}") from None
    if not raw:
        raise RecordingError(f"{name} is empty: not a zmqzab recording (make one with zmqzab sim "
                             "--seed N --record FILE or zmqzab up --record FILE)")
    text, cut = _decompress(raw, name)
    return parse_lines(text, name, cut, keep_frames)


def parse_lines(text: bytes, name: str = "the recording", cut: str = "",
                keep_frames: bool = True) -> Recording:
    lines = text.split(b"\n")
    ended = lines[-1] == b""  # the last line is complete
    if ended:
        lines.pop()
    if not lines:
        raise RecordingError(f"{name} holds no lines: not a zmqzab recording; {cut or 'check the file'}")
    header = _header(lines[0], name)
    rec = Recording(header)
    nodes = set(header["nodes"])
    last_t = 0.0
    count = len(lines)
    good = len(lines[0]) + 1  # bytes of text up to the last good line
    for n, line in enumerate(lines[1:], start=2):
        final = n == count
        try:
            obj = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            if final and (cut or not ended):
                rec.cut = cut or f"line {n} is cut short (the recorder was stopped while writing it)"
                break
            raise RecordingError(_damaged(name, n, f"is not valid JSON ({exc})")) from None
        if not isinstance(obj, dict):
            raise RecordingError(_damaged(name, n, "is not a JSON object"))
        if obj.get("kind") == "end":
            if not final:
                raise RecordingError(_damaged(name, n, "is the trailer, but more lines follow it"))
            rec.trailer = obj
            good += len(line) + 1
            break
        problem = _frame_problem(obj, nodes, last_t)
        if problem:
            raise RecordingError(_damaged(name, n, problem))
        last_t = obj["t"]
        good += len(line) + 1
        rec.count += 1
        if keep_frames:
            rec.frames.append(obj)
    rec.text = text[:good]
    if not rec.text.endswith(b"\n"):
        rec.text += b"\n"
    rec.last_t = last_t
    if rec.trailer is None and not rec.cut:
        rec.cut = cut or f"it ends after line {count} without its trailer (the recorder was stopped before it finished)"
    return rec


def _damaged(name: str, n: int, what: str) -> str:
    return (f"{name}: line {n} {what}: the file is damaged there. Record the run again, or "
            f"replay what comes before it: zcat -f {name} | head -n {n - 1} > part.jsonl && "
            "zmqzab replay part.jsonl")


def _header(line: bytes, name: str) -> dict[str, Any]:
    try:
        header = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise RecordingError(f"{name} is not a zmqzab recording (line 1 is not its header): make one "
                             "with zmqzab sim --seed N --record FILE, zmqzab up --record FILE or "
                             "zmqzab chaos (recording.zrec in its report dir)")
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise RecordingError(f"{name}: line 1: the header's version is {version!r}, not a number: "
                             "the file is damaged; record the run again")
    if version > VERSION:
        raise RecordingError(f"{name} is a version {version} recording; this zmqzab reads version "
                             f"{VERSION}: upgrade zmqzab to replay it")
    for key, kind in _HEADER_FIELDS.items():
        if not isinstance(header.get(key), kind):
            raise RecordingError(f"{name}: line 1: the header has no valid {key!r}: the file is "
                                 "damaged or was not written by zmqzab; record the run again")
    if not all(type(i) is int for i in header["nodes"]):
        raise RecordingError(f"{name}: line 1: the header's nodes must be node ids: the file is "
                             "damaged; record the run again")
    return header


def _frame_problem(obj: dict[str, Any], nodes: set[int], last_t: float) -> str:
    t = obj.get("t")
    if not isinstance(t, (int, float)) or isinstance(t, bool):
        return "has no time (t)"
    if t < last_t:
        return f"goes back in time (t {t} after {last_t})"
    kind = obj.get("kind")
    if kind not in FRAME_KINDS:
        return f"has an unknown kind {kind!r} (known: {', '.join(sorted(FRAME_KINDS))}, end)"
    if kind in NODE_KINDS and obj.get("node") not in nodes:
        return f"is about node {obj.get('node')!r}, not one of the header's nodes {sorted(nodes)}"
    if kind in _WITH_DATA and not isinstance(obj.get("data"), dict):
        return f"is a {kind} frame without its data object"
    return ""
