"""The recording format's names and limits (shared by the writer, the reader and the page).

Header: ``{"format": FORMAT, "version": VERSION, "source", "command", "created", "clock",
"tick_ms", "heartbeat_ms", "nodes", "config", "seed"?, "title"?, "start_paused"?, "cap_bytes"}``.
Frames: ``{"t", "node"?, "kind", "data"?}`` with ``kind`` one of ``FRAME_KINDS``; ``t`` is ms
since the start of the recording, non-decreasing. Trailer: ``{"kind": "end", "t", "frames",
"dropped", "truncated", "verdict"}``.

Fields added to version 1 after it was first written down (additive only, readers ignore what
they do not know): header ``start_paused`` (the page opens paused at t=0); fault marks carry
``fault`` (the simulator's crash, restart, partition, heal, pause, loss, flap, election, power,
disk, resync; the supervisor's crash, restart, pause, resume, partition, heal, election; the
chaos nemesis's move kinds), a partition's ``groups``, a loss mark's ``count`` and ``first``, a
chaos fault's ``move``; a leader mark's ``leader`` is null while no leader is established; a
trailer the replay server adds to a file cut short has ``cut`` (why it ends early). A fault's
``until`` is null when its end is unknown (a live recording cut before its clean close).
"""

from __future__ import annotations

FORMAT = "zmqzab-recording"
VERSION = 1
#: Uncompressed bytes of frame text a recording may hold (``--record-max-mb``).
DEFAULT_CAP_BYTES = 50 * 1024 * 1024
#: Past this share of the cap only key frames are written.
THIN_AT = 0.8
#: Past THIN_AT, one status frame per node per this many ms.
THIN_STATUS_MS = 1000.0
#: Frames about one node.
NODE_KINDS = frozenset({"hello", "status", "zab", "down", "up"})
FRAME_KINDS = NODE_KINDS | {"mark", "caption"}
#: Marks the page knows.
MARKS = frozenset({"fault", "leader", "verdict"})
#: The media type of ``GET /recording`` (the frames, decompressed).
NDJSON = "application/x-ndjson"
SUFFIXES = (".zrec", ".jsonl")
