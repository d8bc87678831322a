"""The live view's ZooKeeper panel in real headless Chromium, fed by fake nodes.

The fake nodes serve what a node's HTTP port serves the page (index.html, and ``/events`` with
``status=1``: a ``hello`` event, then the node's status every 100 ms) and answer nothing else.
Their "zk" part is made by zmqzab/tree/view.py from a tree and a sessions table built by applying
txns, so the page is checked against the shape the node really sends. A fake node that is
stopped closes its streams and its port, as a crashed node does. Every wait is Playwright's
polling of a condition with a deadline; no fixed sleeps.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.unit.tree_harness import Zk
from zmqzab.server.web import INDEX_HTML
from zmqzab.tree.requests import CreateMode
from zmqzab.tree.sessions import CreateSessionTxn, Sessions
from zmqzab.tree.view import sessions_view, tree_view

pytestmark = [pytest.mark.web, pytest.mark.zk]

#: How often a fake node sends its status (a node sends it every tick).
STATUS_EVERY_S = 0.1
ALICE = 0x100000ABCD0000  # holds the lock, connected to n2
BOB = 0x200000ABCD0001    # waits for it, connected to n0
ALICE_HEX, BOB_HEX = "0x100000abcd0000", "0x200000abcd0001"
KAZOO_PREFIX = "1126b722ea6d43c6ae07cc34691c619f__lock__"


class FakeNode:
    """One node's HTTP face: index.html and an event stream of ``status`` (replaced whole by
    the test, as the node's loop swaps its status dict)."""

    def __init__(self, node_id: int) -> None:
        self.id = node_id
        self.status: dict[str, Any] = {}
        self.stopped = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, fmt: str, *args) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                try:
                    if path in ("/", "/index.html"):
                        self._send(200, INDEX_HTML.read_bytes(), "text/html; charset=utf-8")
                    elif path == "/status":
                        self._send(200, json.dumps(fake.status).encode(), "application/json")
                    elif path == "/events":
                        self._events()
                    else:
                        self._send(404, b"not found", "text/plain")
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()
                self.wfile.write(body)

            def _events(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream; charset=utf-8")
                self.send_header("Cache-Control", "no-store")
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()
                hello = {"node": fake.id, "boot": "fake", "seq": 0, "heartbeat_ms": 100,
                         "down_after_ms": 1000}
                self.wfile.write(b"retry: 1000\n\nevent: hello\ndata: " + json.dumps(hello).encode() + b"\n\n")
                while not fake.stopped.is_set():
                    self.wfile.write(b"event: status\ndata: " + json.dumps(fake.status).encode() + b"\n\n")
                    self.wfile.flush()
                    fake.stopped.wait(STATUS_EVERY_S)
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Crash: the streams end and the port closes."""
        if not self.stopped.is_set():
            self.stopped.set()
            self.server.shutdown()
            self.server.server_close()


def node_status(i: int, nodes: list[FakeNode], leader: int | None) -> dict[str, Any]:
    """The status fields the page reads, of a node in BROADCAST with an empty game."""
    ids = [n.id for n in nodes]
    role = "LEADING" if i == leader else ("FOLLOWING" if leader is not None else "LOOKING")
    return {
        "id": i, "role": role, "phase": "BROADCAST" if leader is not None else "ELECTION",
        "leader": leader, "epoch": 1, "accepted_epoch": 1, "current_epoch": 1,
        "zxid_last": "1:9", "zxid_durable": "1:9", "zxid_committed": "1:9", "zxid_applied": "1:9",
        "zxid_disk_base": "0:0", "round": 1, "vote": None, "last_sync": {},
        "followers": ({str(j): {"phase": "BROADCAST", "acked": "1:9", "lag": 0, "heard_ticks_ago": 0,
                                "sync_mode": "DIFF"} for j in ids if j != i} if i == leader else {}),
        "log_base": "0:0",
        "log_tail": [{"zxid": "1:9", "cmd": "create /app/lock/x-0000000001", "client": "",
                      "committed": True, **({"acks": len(ids), "ackers": ids} if i == leader else {})}],
        "quorum": len(ids) // 2 + 1, "voters": ids, "votes_received": {},
        "game": {"game": 1, "round": 1, "round_size": 3, "target": 50, "guesses": [], "history": [],
                 "clients": 0, "zxid_applied": "1:9"},
        "cluster": [{"id": n.id, "http": n.url} for n in nodes],
        "faults": {"blocked": [], "message_delay_ms": 0},
        "heartbeat_ms": 100, "down_after_ms": 1000, "control": None,
    }


class LockWorld:
    """A kazoo Lock as the tree holds it: alice's ephemeral sequential node holds it, bob's
    waits; /app/config has text data, /app/blob binary data."""

    def __init__(self) -> None:
        self.zk = Zk()
        self.sessions = Sessions()
        for sid in (ALICE, BOB):
            self.zk.zxid += 1
            self.sessions.apply(CreateSessionTxn(sid, 10_000), self.zk.zxid)
            self.zk.prep.applied(self.zk.zxid)
        self.zk.create("/app")
        self.zk.create("/app/config", b"hello")
        self.zk.create("/app/blob", b"\x00\x01\xfe")
        self.zk.create("/app/lock")
        self.zk.create("/app/lock/x-", b"", CreateMode.EPHEMERAL_SEQUENTIAL, session=ALICE)
        self.zk.create("/app/lock/x-", b"", CreateMode.EPHEMERAL_SEQUENTIAL, session=BOB)
        # A queue whose names sort otherwise than their numbers, one of them kazoo-style long.
        self.zk.create("/app/queue")
        for prefix in ("b-", "a-", KAZOO_PREFIX):
            self.zk.create("/app/queue/" + prefix, b"", CreateMode.PERSISTENT_SEQUENTIAL)

    def zk_status(self, port: int, expiry: dict[int, int] | None, watches: dict[str, int],
                  connections: list[dict]) -> dict[str, Any]:
        return {"port": port, "connections": connections, "watches": sum(watches.values()),
                "tree": tree_view(self.zk.tree, self.sessions, watches),
                "sessions": sessions_view(self.sessions, expiry, self.zk.tree)}


@pytest.fixture
def fakes():
    nodes = [FakeNode(i) for i in range(3)]
    yield nodes
    for n in nodes:
        n.stop()


def set_statuses(nodes: list[FakeNode], leader: int | None, zk: dict[int, dict] | None) -> None:
    for n in nodes:
        st = node_status(n.id, nodes, leader)
        if zk is not None and n.id in zk:
            st["zk"] = zk[n.id]
        n.status = st  # swapped whole, as the node does


def session_row(sid: str) -> str:
    return f'.zk-session[data-session="{sid}"]'


def test_browser_zk_panel_shows_tree_sessions_countdown_and_clients(fakes, page):
    """Goal: the ZooKeeper panel shows what a class needs to follow a lock recipe. Setup: three
    fake nodes, n1 leading; the tree of a kazoo Lock (alice's ephemeral sequential node holds
    it, bob's waits); alice connected to n2 with a watch there, bob to n0; the leader counts
    alice's expiry. Faults: the leader's countdown runs down; n2 (alice's node) crashes; then
    the leader crashes. Expected: the nodes with their sessions, the sequential counter, data,
    the watch, the countdown and each client's node; the countdown follows the leader's
    status; a crashed node's clients show as not connected; without a leader no countdown is
    shown; the panel keeps working and the page raises no error."""
    world = LockWorld()
    conn_alice = [{"session": ALICE_HEX, "remote": "127.0.0.1:53312", "queued": 0}]
    conn_bob = [{"session": BOB_HEX, "remote": "127.0.0.1:53313", "queued": 0}]

    def zk_parts(expiry_alice: int) -> dict[int, dict]:
        return {0: world.zk_status(2181, None, {}, conn_bob),
                1: world.zk_status(2182, {ALICE: expiry_alice, BOB: 9_000}, {}, []),
                2: world.zk_status(2183, None, {"/app/lock/x-0000000000": 1}, conn_alice)}

    set_statuses(fakes, 1, zk_parts(7_400))
    page.goto(fakes[0].url + "/")
    page.wait_for_function("document.querySelectorAll('.node-row[data-state=\"up\"]').length === 3",
                           timeout=15_000)
    page.wait_for_selector("#zk-panel", state="visible", timeout=10_000)
    assert "with-zk" in (page.locator("main").get_attribute("class") or "")

    holder = page.locator('.zk-node[data-path="/app/lock/x-0000000000"]')
    holder.wait_for(timeout=10_000)
    assert holder.get_attribute("data-owner") == ALICE_HEX
    assert f"ephemeral · {ALICE_HEX}" in holder.inner_text()
    assert "1 watch on n2" in holder.inner_text()
    assert page.locator('.zk-node[data-path="/app/lock/x-0000000001"]').get_attribute("data-owner") == BOB_HEX
    assert "next seq 0000000002" in page.locator('.zk-node[data-path="/app/lock"]').inner_text()
    assert '"hello"' in page.locator('.zk-node[data-path="/app/config"]').inner_text()
    assert "0x0001fe" in page.locator('.zk-node[data-path="/app/blob"]').inner_text()
    # Sequential siblings in the order of their numbers, not of their names; a long prefix
    # keeps its ends.
    queue = page.locator('.zk-node[data-path^="/app/queue/"]')
    assert [queue.nth(k).get_attribute("data-path") for k in range(3)] == [
        "/app/queue/b-0000000000", "/app/queue/a-0000000001", f"/app/queue/{KAZOO_PREFIX}0000000002"]
    assert queue.nth(2).locator(".zk-name").inner_text() == "1126b722…__lock__0000000002"

    alice = page.locator(session_row(ALICE_HEX))
    assert alice.get_attribute("data-expires-ms") == "7400"
    assert alice.get_attribute("data-node") == "2"
    assert "7.4 s of 10.0 s" in alice.inner_text()
    assert alice.locator("td").nth(2).inner_text() == "1"  # its ephemerals
    assert "n2" in alice.inner_text() and "127.0.0.1:53312" in alice.inner_text()
    assert page.locator(session_row(BOB_HEX)).get_attribute("data-node") == "0"

    # The countdown follows the leader's status.
    set_statuses(fakes, 1, zk_parts(3_100))
    page.wait_for_function(f"document.querySelector('{session_row(ALICE_HEX)}').innerText.includes('3.1 s')",
                           timeout=10_000)

    # The leader stops counting a session down when it expires it: closing.
    set_statuses(fakes, 1, {**zk_parts(3_100), 1: world.zk_status(2182, {BOB: 9_000}, {}, [])})
    page.wait_for_function(f"document.querySelector('{session_row(ALICE_HEX)}').innerText.includes('expired: closing')",
                           timeout=10_000)
    set_statuses(fakes, 1, zk_parts(3_100))

    # z hides the panel and gives the timeline its room back; z again shows it.
    page.keyboard.press("z")
    page.wait_for_selector("#zk-panel", state="hidden", timeout=5_000)
    page.keyboard.press("z")
    page.wait_for_selector("#zk-panel", state="visible", timeout=5_000)

    # Alice's node crashes: her session is still open (the leader counts it down) but no
    # node holds her connection any more.
    fakes[2].stop()
    page.wait_for_function("document.querySelector('.node-row[data-node=\"2\"]').dataset.state === 'down'",
                           timeout=10_000)
    page.wait_for_function(f"document.querySelector('{session_row(ALICE_HEX)}').dataset.node === ''",
                           timeout=10_000)
    assert "no client connected" in alice.inner_text()
    assert "watch" not in holder.inner_text()  # the watch lived on n2

    # The leader crashes too: the survivor shows the same tree, and no countdown.
    fakes[1].stop()
    set_statuses(fakes[:1], None, {0: world.zk_status(2181, None, {}, conn_bob)})
    page.wait_for_function("document.querySelector('.node-row[data-node=\"1\"]').dataset.state === 'down'",
                           timeout=10_000)
    page.wait_for_function(f"document.querySelector('{session_row(ALICE_HEX)}').dataset.expiresMs === ''",
                           timeout=10_000)
    assert "no leader" in page.locator("#zk-sessions").inner_text()
    assert page.locator('.zk-node[data-path="/app/lock/x-0000000000"]').count() == 1
    assert page.errors == []  # type: ignore[attr-defined]


def test_browser_zk_panel_absent_when_no_node_serves_zookeeper(fakes, page):
    """Goal: a cluster without zk_port looks as before. Setup: three fake nodes whose statuses
    have no "zk". Faults: one node crashes. Expected: the nodes are shown, the ZooKeeper panel
    never appears, the timeline keeps its full width, and the page raises no error."""
    set_statuses(fakes, 0, None)
    page.goto(fakes[0].url + "/")
    page.wait_for_function("document.querySelectorAll('.node-row[data-state=\"up\"]').length === 3",
                           timeout=15_000)
    page.wait_for_function("document.querySelectorAll('.tl-col').length === 3")
    assert not page.locator("#zk-panel").is_visible()
    assert "with-zk" not in (page.locator("main").get_attribute("class") or "")
    fakes[2].stop()
    page.wait_for_function("document.querySelector('.node-row[data-node=\"2\"]').dataset.state === 'down'",
                           timeout=10_000)
    assert not page.locator("#zk-panel").is_visible()
    assert page.errors == []  # type: ignore[attr-defined]


def test_browser_zk_panel_says_so_when_every_zk_node_is_down(fakes, page):
    """Goal: the panel stays honest when the nodes that serve ZooKeeper are gone. Setup: n0
    serves zk (a follower), n1 leads, n2 serves none. Faults: n0 crashes. Expected: the panel
    stays (it was shown) and says no live node serves ZooKeeper clients; no page error."""
    world = LockWorld()
    set_statuses(fakes, 1, {0: world.zk_status(2181, None, {}, [])})
    page.goto(fakes[1].url + "/")
    page.wait_for_selector('.zk-node[data-path="/app/lock"]', timeout=15_000)
    fakes[0].stop()
    page.wait_for_function("document.getElementById('zk-sessions').innerText.includes('no live node serves')",
                           timeout=10_000)
    assert page.locator("#zk-panel").is_visible()
    assert page.errors == []  # type: ignore[attr-defined]
