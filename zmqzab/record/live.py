"""A live cluster's recorder: every node's ``/events?status=1`` stream, merged into one file.

Theory of operation
-------------------
One thread per node follows the node's event stream (the page's own feed: ``hello``,
``status``, ``zab`` SSE events) and writes each as a frame, in wall-clock ms since the
recording started (``zab`` events keep their own time, moved to that clock). A node whose
stream ends, fails or stays silent past ``SILENT_S`` (the node sends a keepalive every 2 s; a
paused process sends nothing) gets a ``down`` frame; when it answers again, ``up`` and its
``hello`` follow, then the process's backlog (so a start-up's election shows). A
status frame is written only when something but the clocks and counters changed, or a second
after the last one (the node publishes one per tick: writer.py's StatusFilter). The supervisor (``zmqzab up``) or the chaos runner adds fault marks for what it
does; leader marks follow the statuses (a node LEADING in BROADCAST, the highest epoch wins).

Bounded by the writer's cap; the file is flushed every ``FLUSH_S`` so a killed recorder leaves
a readable recording (reader.py replays it up to where it ends). A fault's end is a later mark
(a restart, a resume, a heal); when the recorder closes, it rewrites the file once with every
fault mark's ``until`` filled in (``fill_until``), as the simulator's recordings have them.
"""

from __future__ import annotations

import dataclasses
import gzip
import http.client
import json
import threading
import time
from pathlib import Path
from typing import Any

import msgspec

from zmqzab.config import ClusterConfig
from zmqzab.record.format import DEFAULT_CAP_BYTES
from zmqzab.record.reader import read_recording
from zmqzab.record.writer import RecordingWriter, StatusFilter, make_header

#: A stream silent this long is a node that stopped answering (a pause, a hung process): a
#: node sends its status every tick and a keepalive every 2 s.
SILENT_S = 3.0
#: How often a node that is down is tried again.
RETRY_S = 0.25
#: Events asked of a node's ring when its stream opens (its start-up: a node's events are
#: all younger than the recording when it starts first, and after a restart).
BACKLOG = 500
FLUSH_S = 1.0
#: Kept free under the cap for the fault marks' ends (``until``: null becomes a time).
ENDS_RESERVE_BYTES = 64 * 1024
_json = msgspec.json.Encoder()


#: Config keys a recording leaves out: recordings are made to be shown and passed around.
SECRET_KEYS = ("secret", "digest", "password", "token")


def config_json(config: ClusterConfig) -> dict[str, Any]:
    """The cluster config as JSON (paths as text), without its secrets."""
    return _redacted(json.loads(json.dumps(dataclasses.asdict(config), default=str)))


def _redacted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("(not recorded)" if any(w in k.lower() for w in SECRET_KEYS) and value[k] else _redacted(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


class LiveRecorder:
    """Records the nodes of ``config`` into ``path`` until ``close``."""

    def __init__(self, config: ClusterConfig, path: str | Path, command: str, source: str = "live",
                 cap_bytes: int = DEFAULT_CAP_BYTES, title: str | None = None) -> None:
        self.config = config
        timing = config.timing
        header = make_header(source, command, config.ids, "wall", timing.tick_ms, timing.heartbeat_ms,
                             config_json(config), title=title)
        # Room kept under the cap for the ends the close writes in (a few bytes per fault mark).
        self.writer = RecordingWriter(path, header, cap_bytes, flush_s=FLUSH_S,
                                      reserve_bytes=min(ENDS_RESERVE_BYTES, cap_bytes // 100))
        self.path = Path(path)
        self.start = time.time()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._latest: dict[int, tuple[str, str, int]] = {}  # node -> (role, phase, epoch)
        self._statuses = StatusFilter()
        self._leader: tuple[int | None, int] = (None, 0)
        self._threads = [threading.Thread(target=self._follow, args=(i,), name=f"record-n{i}", daemon=True)
                         for i in config.ids]

    def ms(self, wall_s: float | None = None) -> float:
        return round(((time.time() if wall_s is None else wall_s) - self.start) * 1000, 1)

    def begin(self) -> LiveRecorder:
        for th in self._threads:
            th.start()
        return self

    def fault(self, fault: str, text: str, nodes: list[int], **extra: Any) -> None:
        """A fault mark, now (``until`` unknown: null; its end is a mark of its own)."""
        self.mark({"mark": "fault", "fault": fault, "text": text, "nodes": sorted(nodes), "until": None, **extra})

    def mark(self, data: dict[str, Any]) -> None:
        self.writer.frame(self.ms(), "mark", data)

    def caption(self, id: str, text: str, pause: bool = False, question: str | None = None) -> None:  # noqa: A002
        """A lesson's caption, now."""
        self.writer.frame(self.ms(), "caption", {"id": id, "text": text, "pause": pause, "question": question})

    def close(self, verdict: dict[str, Any] | None = None, ends: bool = True) -> dict[str, Any]:
        """Stop following (after the nodes stopped: their ends are recorded) and write the
        trailer; with ``ends``, rewrite the file with each fault mark's ``until`` (``fill_until``)."""
        self._stop.set()
        for th in self._threads:
            th.join(timeout=SILENT_S + 1)
        if verdict is not None:
            self.mark({"mark": "verdict", **verdict})
        trailer = self.writer.close(verdict, self.ms())
        if ends and self.path is not None:
            trailer = rewrite_with_ends(self.path)
        return trailer

    # ------------------------------------------------------------------ one node's stream

    def _follow(self, i: int) -> None:
        node = self.config.node(i)
        host, port = self.config.http_host(node), node.http_port
        seen_up = False
        boot, last_id = None, ""
        while not self._stop.is_set():
            query = f"/events?status=1&backlog={BACKLOG}" + (f"&last_id={last_id}" if last_id else "")
            conn = http.client.HTTPConnection(host, port, timeout=SILENT_S)
            try:
                conn.request("GET", query)
                resp = conn.getresponse()
                if resp.status != 200:
                    raise OSError(f"HTTP {resp.status}")
                for event, data, ev_id in _sse(resp, self._stop):
                    if event == "hello":
                        if boot is not None and data.get("boot") != boot:
                            last_id = ""  # a new process: its seqs start again
                        if not seen_up:
                            self.writer.frame(self.ms(), "up", node=i)
                            seen_up = True
                        boot = data.get("boot")
                        self.writer.frame(self.ms(), "hello", data, node=i)
                    elif event == "status":
                        self._status(i, data)
                    elif event == "zab":
                        last_id = ev_id or last_id
                        t = data.get("t")
                        if isinstance(t, (int, float)):
                            data["t"] = max(0.0, round(t - self.start * 1000, 1))
                        self.writer.frame(data.get("t", self.ms()), "zab", data, node=i)
            except (OSError, http.client.HTTPException, ValueError):
                pass
            finally:
                conn.close()
            if seen_up and not self._stop.is_set():
                self.writer.frame(self.ms(), "down", node=i)
                seen_up = False
                self._statuses.forget(i)
                with self._lock:
                    self._latest.pop(i, None)
                self._check_leader()
            self._stop.wait(RETRY_S)

    def _status(self, i: int, status: dict[str, Any]) -> None:
        status.pop("control", None)  # as pages get it (web.py _without_control)
        t = self.ms()
        if not self._statuses.due(i, status, t):
            return
        self.writer.frame(t, "status", status, node=i)
        with self._lock:
            self._latest[i] = (status.get("role"), status.get("phase"), status.get("epoch") or 0)
        self._check_leader()

    def _check_leader(self) -> None:
        with self._lock:
            leading = [(epoch, i) for i, (role, phase, epoch) in self._latest.items()
                       if role == "LEADING" and phase == "BROADCAST"]
            epoch, leader = max(leading) if leading else (self._leader[1], None)
            if (leader, epoch) == self._leader:
                return
            self._leader = (leader, epoch)
        self.mark({"mark": "leader", "leader": leader, "epoch": epoch})


#: Which later fault marks end a fault (a live fault's end is not known when it begins).
ENDED_BY = {"crash": ("restart",), "pause": ("resume", "restart", "crash"),
            "partition": ("heal", "partition")}


def fill_until(frames: list[dict[str, Any]], end_t: float) -> None:
    """Set ``until`` of every fault mark a later mark ends (a crash at the node's restart, a
    pause at its resume, a partition at the heal or the next partition); still open at the
    end: ``end_t``."""
    open_marks: dict[tuple, dict[str, Any]] = {}
    for f in frames:
        data = f.get("data") or {}
        if f["kind"] != "mark" or data.get("mark") != "fault":
            continue
        kind, nodes = data.get("fault"), tuple(data.get("nodes") or ())
        for key in list(open_marks):
            if kind in ENDED_BY[key[0]] and (key[0] == "partition" or key[1] == nodes):
                open_marks.pop(key)["until"] = f["t"]
        if kind in ENDED_BY and data.get("until") is None:
            open_marks[(kind, () if kind == "partition" else nodes)] = data
    for data in open_marks.values():
        data["until"] = end_t


def rewrite_with_ends(path: Path) -> dict[str, Any]:
    """Rewrite a closed recording with its fault marks' ``until`` filled in; the trailer. Line
    by line: only mark lines are decoded and encoded again (a bound-sized file stays one copy
    of its text in memory)."""
    rec = read_recording(path, keep_frames=False)
    lines = rec.text.split(b"\n")[:-1]
    marks = {n: json.loads(line) for n, line in enumerate(lines)
             if n and b'"kind":"mark"' in line}
    trailer = rec.trailer or {}
    fill_until(list(marks.values()), float(trailer.get("t", rec.last_t)))
    for n, frame in marks.items():
        lines[n] = _json.encode(frame)
    tmp = path.with_name(path.name + ".tmp")
    body = b"\n".join(lines) + b"\n"
    tmp.write_bytes(body if path.suffix == ".jsonl" else gzip.compress(body, mtime=0))
    tmp.replace(path)
    return trailer


def _sse(resp: http.client.HTTPResponse, stop: threading.Event):
    """(event, data as JSON, id) of a Server-Sent Events stream, until it ends or ``stop``."""
    event, data, ev_id = "message", [], ""
    while not stop.is_set():
        raw = resp.readline()
        if not raw:
            return
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if not line:
            if data:
                yield event, json.loads("\n".join(data)), ev_id
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            ev_id = value
