"""The /events stream in process, against a stand-in node: bounded rate, resume, filters.

The HTTP side only reads ``status_snapshot``, ``events``, ``metrics`` and ``running`` of the
node, so a small stand-in with a real EventLog exercises the real handler and server.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from pathlib import Path

import pytest

from tests.polling import wait_for
from zmqzab.up.localcluster import free_ports
from zmqzab.config import NodeAddress, Timing, load_config, render_config
from zmqzab.core.output import Trace
from zmqzab.server.events import EventLog
from zmqzab.messages import GameResult, Guess, Txn
from zmqzab.server.metrics import NodeMetrics
from zmqzab.server.web import BURST_EVENTS, MAX_EVENTS_PER_S, start_http
from zmqzab.zxid import make_zxid

pytestmark = [pytest.mark.web]


class StandIn:
    def __init__(self, config, heartbeat_ms: int = 50) -> None:
        self.id = 0
        self.config = config
        self.addr = config.node(0)
        self.events = EventLog(0, size=2000)
        self.metrics = NodeMetrics()
        self.running = True
        self.control_token = None
        self.status_snapshot = {"id": 0, "role": "LEADING", "heartbeat_ms": heartbeat_ms, "n": 0}


@pytest.fixture
def node(tmp_path: Path):
    ports = free_ports(4)
    path = tmp_path / "one.toml"
    path.write_text(render_config([NodeAddress(0, "127.0.0.1", *ports)], Timing()))
    n = StandIn(load_config(path))
    server = start_http(n)
    yield n
    n.running = False
    server.shutdown()
    server.server_close()


class Reader:
    """Reads an SSE stream on a thread; keeps (event, data, id) tuples."""

    def __init__(self, node: StandIn, query: str, headers: dict | None = None) -> None:
        self.got: list[tuple[str, object, str]] = []
        self.conn = http.client.HTTPConnection("127.0.0.1", node.addr.http_port, timeout=5)
        self.conn.request("GET", "/events" + query, headers=headers or {})
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        event, data, ident = "message", [], ""
        try:
            while not self.stop:
                line = self.resp.readline()
                if not line:
                    return
                line = line.decode().rstrip("\n")
                if line == "":
                    if data:
                        self.got.append((event, json.loads("\n".join(data)), ident))
                    event, data = "message", []
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line.startswith("id:"):
                    ident = line[3:].strip()
        except (OSError, ValueError):
            return

    def events(self, kind: str = "zab") -> list:
        return [d for e, d, _ in list(self.got) if e == kind]

    def close(self) -> None:
        self.stop = True
        self.conn.close()


def trace(kind: str, text: str, **fields) -> Trace:
    return Trace(kind, text, fields)


def test_stream_starts_with_hello_and_a_backlog_then_follows(node):
    for i in range(5):
        node.events.add("control", f"old {i}")
    r = Reader(node, "?backlog=3")
    try:
        wait_for(lambda: len(r.events()) >= 3, 5, "the backlog")
        hello = r.events("hello")[0]
        assert hello["node"] == 0 and hello["boot"] == node.events.boot and hello["heartbeat_ms"] == 50
        assert [e["text"] for e in r.events()] == ["old 2", "old 3", "old 4"]
        node.events.add("trace", trace("role", "LEADING / BROADCAST: established", role="LEADING"))
        ev = wait_for(lambda: next((e for e in r.events() if e["kind"] == "role"), None), 5, "a live event")
        assert ev["role"] == "LEADING" and ev["node"] == 0 and ev["seq"] == 6
        assert r.got[-1][2] == f"{node.events.boot}-6"  # id: boot-seq, for Last-Event-ID
        assert r.events("status") == []  # only with ?status=1
    finally:
        r.close()


def test_status_snapshots_are_pushed_when_asked(node):
    r = Reader(node, "?status=1&backlog=0")
    try:
        wait_for(lambda: r.events("status"), 5, "a status event")
        node.status_snapshot = {**node.status_snapshot, "n": 1}
        wait_for(lambda: any(s["n"] == 1 for s in r.events("status")), 5, "the new status")
    finally:
        r.close()


def test_last_event_id_resumes_without_duplicates_and_only_for_the_same_boot(node):
    for i in range(10):
        node.events.add("control", f"e{i}")
    r = Reader(node, "?backlog=0", {"Last-Event-ID": f"{node.events.boot}-7"})
    other = Reader(node, "?backlog=2", {"Last-Event-ID": "deadbeef-3"})  # another process's id
    try:
        wait_for(lambda: len(r.events()) >= 3, 5, "the resumed events")
        assert [e["text"] for e in r.events()] == ["e7", "e8", "e9"]
        wait_for(lambda: len(other.events()) >= 2, 5, "a backlog instead")
        assert [e["text"] for e in other.events()] == ["e8", "e9"]
    finally:
        r.close()
        other.close()


def test_kinds_filter(node):
    r = Reader(node, "?backlog=0&kinds=elected")
    try:
        node.events.add("control", "not this")
        node.events.add("trace", trace("elected", "round 2: node 3 leads", leader=3))
        wait_for(lambda: r.events(), 5, "the elected event")
        assert [e["kind"] for e in r.events()] == ["elected"]
    finally:
        r.close()


@pytest.mark.parametrize("query", ["?backlog=-1", "?backlog=abc", "?backlog=99999", "?status=2",
                                   "?kinds=", "?kinds=a;b", "?since=x"])
def test_bad_stream_parameters_get_400(node, query):
    conn = http.client.HTTPConnection("127.0.0.1", node.addr.http_port, timeout=5)
    try:
        conn.request("GET", "/events" + query)
        resp = conn.getresponse()
        body = json.loads(resp.read())
        assert resp.status == 400 and body["error"]
    finally:
        conn.close()


def test_a_flood_of_50k_commits_per_second_reaches_the_reader_bounded(node):
    """Goal: 50k commits/s do not become 50k SSE events/s. Setup: a producer records one
    commit per txn (the worst case: no batching at all) at ~50k/s for 2 s, with a role change
    in the middle. Expected: the reader gets at most the burst plus MAX_EVENTS_PER_S a second
    (plus one summary per flush), the role change among them, and commit ranges that cover
    every txn up to the last one."""
    r = Reader(node, "?backlog=0")
    result = GameResult(kind="guess_recorded", message="ok")
    total = 100_000
    done = threading.Event()

    def produce():
        t0 = time.perf_counter()
        for i in range(1, total + 1):
            node.events.committed([(Txn(zxid=make_zxid(5, i), op=Guess("c", i, 1)), result)])
            if i == total // 2:
                node.events.add("trace", trace("role", "LOOKING / ELECTION: lost the quorum"))
            if i % 500 == 0:  # pace to ~50k/s
                ahead = i / 50_000 - (time.perf_counter() - t0)
                if ahead > 0:
                    time.sleep(ahead)
        done.set()

    try:
        wait_for(lambda: r.events("hello"), 5, "hello")
        t0 = time.monotonic()
        threading.Thread(target=produce, daemon=True).start()
        done.wait(20)
        last = f"5:{total}"
        wait_for(lambda: any(e.get("zxid_to") == last or e.get("zxid") == last for e in r.events()), 5,
                 "the last commit")
        seconds = time.monotonic() - t0
        evs = r.events()
        summaries = [e for e in evs if e["kind"] == "summary"]
        assert len(evs) <= BURST_EVENTS + MAX_EVENTS_PER_S * seconds + len(summaries), (len(evs), seconds)
        assert len(evs) < total / 50
        assert any(e["kind"] == "role" for e in evs)
        commits = [e for e in evs if e["kind"] == "commit"]
        covered = sum(e["count"] for e in commits)
        lost = sum(int(s["text"].split(" commit")[0].split()[-1]) for s in summaries if " commit" in s["text"])
        gaps = [e for e in evs if e["kind"] == "gap"]
        assert covered + lost + sum(int(g["text"].split()[0]) for g in gaps) == total
    finally:
        r.close()
