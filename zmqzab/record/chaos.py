"""A chaos run's recording (``recording.zrec`` in its report dir).

The nodes' streams are followed during the run as ``zmqzab up --record`` follows them
(live.py), into a temporary file in the run's work dir. The nemesis's faults are known in
full (start, end, nodes, what) only when the run is over, so at the end the temporary frames
and the faults, as marks with their ``until``, are merged in time order into the report's
recording, closed by the checker's verdict. The size bound holds for the temporary file and
again for the merged one; the trailer counts what both dropped.
"""

from __future__ import annotations

import heapq
from pathlib import Path
from typing import Any

from zmqzab.config import ClusterConfig
from zmqzab.record.format import DEFAULT_CAP_BYTES
from zmqzab.record.live import LiveRecorder
from zmqzab.record.reader import RecordingError, read_recording
from zmqzab.record.writer import RecordingWriter

FILE_NAME = "recording.zrec"


class ChaosRecording:
    def __init__(self, config: ClusterConfig, work: Path, command: str,
                 cap_bytes: int = DEFAULT_CAP_BYTES) -> None:
        self.part = work / "recording.part.jsonl"
        self.cap_bytes = cap_bytes
        self.live = LiveRecorder(config, self.part, command, source="chaos", cap_bytes=cap_bytes).begin()
        self.t0_ms = 0.0
        self._closed = False

    def start_clock(self) -> None:
        """The nemesis's clock starts now (its fault times are seconds from here)."""
        self.t0_ms = self.live.ms()

    def finish(self, path: Path, faults: list[Any], verdict: dict[str, Any]) -> dict[str, Any]:
        """Merge the followed streams with ``faults`` (nemesis.Fault) and ``verdict`` into ``path``."""
        self._close_live()
        try:
            part = read_recording(self.part)
        except RecordingError as exc:
            raise RecordingError(f"the chaos run's streams could not be read back: {exc}") from None
        header = {k: v for k, v in part.header.items() if k != "cap_bytes"}
        writer = RecordingWriter(path, header, self.cap_bytes)
        if part.trailer is not None:
            for kind, n in part.trailer.get("dropped", {}).items():
                writer.dropped[kind] = writer.dropped.get(kind, 0) + n
            writer.truncated = bool(part.trailer.get("truncated"))
        marks = sorted((self._mark(f) for f in faults), key=lambda m: m["t"])
        for frame in heapq.merge(marks, part.frames, key=lambda f: f["t"]):
            writer.write(frame)
        end_t = part.frames[-1]["t"] if part.frames else 0.0
        writer.frame(end_t, "mark", {"mark": "verdict", **verdict})
        trailer = writer.close(verdict, end_t)
        self.part.unlink(missing_ok=True)
        return trailer

    def _mark(self, fault: Any) -> dict[str, Any]:
        t = round(self.t0_ms + fault.start * 1000, 1)
        until = round(self.t0_ms + fault.end * 1000, 1) if fault.end is not None else None
        nodes = ",".join(f"n{i}" for i in fault.nodes)
        data = {"mark": "fault", "fault": fault.kind, "text": f"{fault.kind} {nodes}".strip()
                + (f": {fault.detail}" if fault.detail else ""), "nodes": list(fault.nodes), "until": until}
        if fault.move:
            data["move"] = fault.move
        return {"t": t, "kind": "mark", "data": data}

    def _close_live(self) -> None:
        if not self._closed:
            self._closed = True
            self.live.close(ends=False)  # the nemesis knows its faults' ends: finish() adds them

    def abandon(self) -> None:
        """The run ended without a report (an error): stop following, drop the temporary file."""
        self._close_live()
        self.part.unlink(missing_ok=True)
