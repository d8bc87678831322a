"""Recordings for the page's replay tests, written as record-format.md says (header, frames,
trailer; gzip JSON Lines), and `zmqzab replay`'s server over one (GET / the page, GET
/recording the frames as application/x-ndjson).

`election_and_crash()` is a small hand-made run of five nodes: an election (n3 leads epoch 1),
one write from PROPOSAL to COMMIT, n3 crashes, n5 leads epoch 2, n3 comes back as a follower.
Its instants are named below so that the tests can scrub to them.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

IDS = [1, 2, 3, 4, 5]
#: Instants of election_and_crash() (ms since the start).
T_ELECTED_1 = 500.0      # n3 LEADING epoch 1, the others FOLLOWING
T_PROPOSAL = 600.0       # n3 sends PROPOSAL 1:1
T_COMMIT = 700.0         # n3 sends COMMIT 1:1
T_CRASH = 1000.0         # n3's stream closes; a fault band 1000..2000
T_ELECTED_2 = 2000.0     # n5 LEADING epoch 2
T_BACK = 2600.0          # n3 up again, FOLLOWING n5
T_SPLIT = 2700.0         # a partition mark without its end (until null) ...
T_HEAL = 2900.0          # ... which this heal mark ends
T_END = 3000.0           # the checker's verdict (not ok), the trailer


def status(i: int, role: str, phase: str, epoch: int, leader: int | None,
           tail: list[dict[str, Any]] | None = None, vote: int | None = None) -> dict[str, Any]:
    """The status fields the page reads (the shape a node's /events?status=1 sends)."""
    tail = tail or []
    last = tail[-1]["zxid"] if tail else "0:0"
    committed = next((t["zxid"] for t in reversed(tail) if t["committed"]), "0:0")
    return {
        "id": i, "role": role, "phase": phase, "leader": leader, "epoch": epoch,
        "accepted_epoch": epoch, "current_epoch": epoch, "zxid_last": last, "zxid_durable": last,
        "zxid_committed": committed, "zxid_applied": committed, "round": 1,
        "vote": {"leader": vote, "epoch": epoch, "zxid": last} if vote is not None else None,
        "last_sync": {}, "followers": ({str(j): {"phase": phase, "acked": last, "lag": 0, "sync_mode": "DIFF"}
                                        for j in IDS if j != i} if role == "LEADING" else {}),
        "log_base": "0:0", "log_tail": tail, "quorum": 3, "voters": IDS, "votes_received": {},
        "game": {"game": 1, "round": 1, "round_size": 3, "target": 50 if committed == "0:0" else 33,
                 "guesses": [], "history": [], "clients": 0, "zxid_applied": committed},
        "cluster": [], "faults": {"blocked": [], "message_delay_ms": 0},
        "heartbeat_ms": 100, "down_after_ms": 250,
    }


def zab(t: float, node: int, kind: str, text: str, **extra: Any) -> dict[str, Any]:
    return {"t": t, "node": node, "kind": "zab",
            "data": {"seq": int(t), "t": t, "node": node, "kind": kind, "text": text, **extra}}


def send(t: float, node: int, msg: str, to: int | str, text: str) -> dict[str, Any]:
    where = "all" if to == "all" else f"n{to}"
    return zab(t, node, "send", f"→ {where} {text}", msg=msg, to=to)


def st(t: float, s: dict[str, Any]) -> dict[str, Any]:
    return {"t": t, "node": s["id"], "kind": "status", "data": s}


def election_and_crash(captions: bool = False, start_paused: bool = False) -> tuple[dict, list[dict], dict]:
    """(header, frames, trailer) of the hand-made run described in the module's docstring."""
    header: dict[str, Any] = {
        "format": "zmqzab-recording", "version": 1, "source": "sim",
        "command": "tests/browser/recordings.py election_and_crash", "created": "2026-12-05T09:00:00Z",
        "clock": "virtual", "tick_ms": 50, "heartbeat_ms": 100, "nodes": IDS, "config": {},
        "seed": 7, "title": "election, one write, the leader crashes", "cap_bytes": 50 * 1024 * 1024}
    if start_paused:
        header["start_paused"] = True
    f: list[dict[str, Any]] = []
    for i in IDS:
        f.append({"t": 0.0, "node": i, "kind": "hello", "data": {"node": i, "boot": f"boot-{i}-a", "seq": 0,
                                                               "heartbeat_ms": 100, "down_after_ms": 250}})
        f.append(st(0.0, status(i, "LOOKING", "ELECTION", 0, None, vote=i)))
    for k, i in enumerate(IDS):
        f.append(send(100.0 + 10 * k, i, "VOTE", "all", f"VOTE n{i} (e0, 0:0)"))
    f.append({"t": T_ELECTED_1, "kind": "mark", "data": {"mark": "leader", "leader": 3, "epoch": 1}})
    for i in IDS:
        f.append(st(T_ELECTED_1, status(i, "LEADING" if i == 3 else "FOLLOWING", "BROADCAST", 1, 3)))
    p = [{"zxid": "1:1", "cmd": "guess 33 (alice#1)", "client": "alice", "committed": False}]
    f.append(send(T_PROPOSAL, 3, "PROPOSAL", "all", "PROPOSAL 1:1 guess 33"))
    f.append(st(T_PROPOSAL, status(3, "LEADING", "BROADCAST", 1, 3, [dict(p[0], acks=1)])))
    for k, i in enumerate([1, 2, 4, 5]):
        f.append(send(T_PROPOSAL + 20 + 5 * k, i, "ACK", 3, "ACK 1:1"))
    c = [dict(p[0], committed=True)]
    f.append(send(T_COMMIT, 3, "COMMIT", "all", "COMMIT 1:1"))
    for i in IDS:
        f.append(st(T_COMMIT, status(i, "LEADING" if i == 3 else "FOLLOWING", "BROADCAST", 1, 3,
                                     [dict(c[0], acks=5)] if i == 3 else c)))
    f.append({"t": T_CRASH, "kind": "mark", "data": {"mark": "fault", "text": "crash n3", "nodes": [3], "until": T_ELECTED_2}})
    f.append({"t": T_CRASH, "node": 3, "kind": "down"})
    for i in [1, 2, 4, 5]:
        f.append(st(T_CRASH + 300, status(i, "LOOKING", "ELECTION", 1, None, c, vote=5)))
    f.append({"t": T_ELECTED_2, "kind": "mark", "data": {"mark": "leader", "leader": 5, "epoch": 2}})
    for i in [1, 2, 4, 5]:
        f.append(st(T_ELECTED_2, status(i, "LEADING" if i == 5 else "FOLLOWING", "BROADCAST", 2, 5, c)))
    f.append({"t": T_BACK, "node": 3, "kind": "up"})
    f.append({"t": T_BACK, "node": 3, "kind": "hello", "data": {"node": 3, "boot": "boot-3-b", "seq": 0,
                                                                "heartbeat_ms": 100, "down_after_ms": 250}})
    f.append(st(T_BACK, status(3, "FOLLOWING", "BROADCAST", 2, 5, c)))
    # As a live recording writes them: the end is not known, a heal mark ends the partition.
    f.append({"t": T_SPLIT, "kind": "mark", "data": {"mark": "fault", "fault": "partition", "text": "partition {n1} | {n2,n3,n4,n5}",
                                                     "nodes": [1], "until": None, "groups": [[1], [2, 3, 4, 5]]}})
    f.append({"t": T_HEAL, "kind": "mark", "data": {"mark": "fault", "fault": "heal", "text": "heal: every link works again",
                                                    "nodes": [], "until": None}})
    f.append({"t": T_END, "kind": "mark", "data": {"mark": "verdict", "ok": False,
                                                   "text": "logs differ at 1:1 (a made-up violation)", "prop": "logs_identical"}})
    if captions:
        f += [
            {"t": 0.0, "kind": "caption", "data": {"id": "start", "text": "Five nodes start, each LOOKING.", "pause": True, "question": None}},
            {"t": T_ELECTED_1, "kind": "caption", "data": {"id": "votes", "text": "Every node votes for the one with the newest history.", "pause": False, "question": None}},
            {"t": T_ELECTED_1, "kind": "caption", "data": {"id": "elected", "text": "n3 has a quorum of votes: it leads epoch 1.", "pause": False, "question": None}},
            {"t": T_PROPOSAL, "kind": "caption", "data": {"id": "proposal", "text": "The leader sends its PROPOSAL to every follower.", "pause": True,
                                                         "question": "How many ACKs does it need to commit?"}},
            {"t": T_CRASH, "kind": "caption", "data": {"id": "crash", "text": "The leader crashes.", "pause": True, "question": None}},
        ]
        f.sort(key=lambda fr: fr["t"])  # stable: a caption comes after the frames of its instant
    trailer = {"kind": "end", "t": T_END, "frames": len(f), "dropped": {"zab": 0, "status": 0}, "truncated": False,
               "verdict": {"ok": False, "text": "logs differ at 1:1 (a made-up violation)"}}
    return header, f, trailer


def lines(header: dict, frames: list[dict], trailer: dict | None) -> bytes:
    out = [json.dumps(header)] + [json.dumps(fr) for fr in frames] + ([json.dumps(trailer)] if trailer else [])
    return ("\n".join(out) + "\n").encode()


def write_recording(path: Path, header: dict, frames: list[dict], trailer: dict | None) -> Path:
    """A .zrec is gzip-compressed; any other suffix (.jsonl) is written plain."""
    data = lines(header, frames, trailer)
    path.write_bytes(gzip.compress(data) if path.suffix == ".zrec" else data)
    return path


class ReplayServer:
    """`zmqzab replay`'s server (zmqzab/record/server.py: GET / the page, GET /recording the
    recording's lines, decompressed) over a file; ``as_is``: the file's bytes as they are on
    disk (gzip for a .zrec), which the page must decompress itself."""

    def __init__(self, path: Path, as_is: bool = False) -> None:
        from zmqzab.record.server import serve_recording

        raw = path.read_bytes()
        body = raw if as_is or raw[:2] != b"\x1f\x8b" else gzip.decompress(raw)
        self.server, address = serve_recording(body)
        self.url = address.split("/?", 1)[0]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def many_writes(n: int, title: str = "many writes") -> tuple[dict, list[dict], dict]:
    """(header, frames, trailer): n1 leads, then n writes, each a PROPOSAL, four ACKs, a COMMIT
    and every node's status; n4 crashes after a third of them and comes back after two thirds
    (about 12 frames a write: thousands of frames for the checkpoints of the replay)."""
    header, frames, _ = election_and_crash()
    header = dict(header, title=title, command="tests/browser/recordings.py many_writes")
    f: list[dict[str, Any]] = []
    for i in IDS:
        f.append({"t": 0.0, "node": i, "kind": "hello", "data": {"node": i, "boot": f"boot-{i}", "seq": 0,
                                                               "heartbeat_ms": 100, "down_after_ms": 250}})
        f.append(st(0.0, status(i, "LEADING" if i == 1 else "FOLLOWING", "BROADCAST", 1, 1)))
    f.append({"t": 0.0, "kind": "mark", "data": {"mark": "leader", "leader": 1, "epoch": 1}})
    tail: list[dict[str, Any]] = []
    down = False
    for k in range(1, n + 1):
        t = 10.0 * k
        z = f"1:{k}"
        if k == n // 3:
            f.append({"t": t, "node": 4, "kind": "down"})
            f.append({"t": t, "kind": "mark", "data": {"mark": "fault", "text": "crash n4", "nodes": [4], "until": 10.0 * (2 * n // 3)}})
            down = True
        if k == 2 * n // 3:
            f.append({"t": t, "node": 4, "kind": "up"})
            f.append({"t": t, "node": 4, "kind": "hello", "data": {"node": 4, "boot": "boot-4-b", "seq": 0,
                                                                   "heartbeat_ms": 100, "down_after_ms": 250}})
            down = False
        entry = {"zxid": z, "cmd": f"guess {k % 101} (c#{k})", "client": "c", "committed": False}
        f.append(send(t, 1, "PROPOSAL", "all", f"PROPOSAL {z}"))
        f.append(st(t, status(1, "LEADING", "BROADCAST", 1, 1, (tail + [dict(entry, acks=1)])[-8:])))
        for j, i in enumerate([2, 3, 4, 5]):
            if not (down and i == 4):
                f.append(send(t + 2 + j, i, "ACK", 1, f"ACK {z}"))
        tail = (tail + [dict(entry, committed=True)])[-8:]
        f.append(send(t + 7, 1, "COMMIT", "all", f"COMMIT {z}"))
        f.append(zab(t + 7, 1, "commit", f"committed {z} guess {k % 101}", zxid=z))
        for i in IDS:
            if not (down and i == 4):
                f.append(st(t + 8, status(i, "LEADING" if i == 1 else "FOLLOWING", "BROADCAST", 1, 1,
                                          [dict(e, acks=5) for e in tail] if i == 1 else tail)))
    end = 10.0 * (n + 1)
    trailer = {"kind": "end", "t": end, "frames": len(f), "dropped": {"zab": 0, "status": 0}, "truncated": False,
               "verdict": {"ok": True, "text": "every property holds"}}
    return header, f, trailer
