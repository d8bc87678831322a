"""/status, /events, /metrics and the controls of real node processes under `zmqzab up`.

Ports from the OS, data in a temp dir, every wait a polled condition with a deadline.
"""

from __future__ import annotations

import http.client
import json
import re

import pytest

from tests.polling import wait_for
from tests.processes.upcluster import UpCluster, http_json
from zmqzab.client import Client

pytestmark = [pytest.mark.web]


@pytest.fixture(scope="module")
def up(tmp_path_factory):
    c = UpCluster(tmp_path_factory.mktemp("up"))
    c.start()
    try:  # a set-up that fails must not leave five nodes running
        c.wait_leader()
        with Client(c.config, timeout=10) as client:
            for value in (40, 30, 20, 25):
                c.last_write = client.guess(value).zxid_text
        yield c
    finally:
        c.stop()


def committed_everywhere(c: UpCluster, zxid: str) -> str:
    def there():
        st = [c.status(i) for i in c.ids]
        return all(s is not None and s["zxid_committed"] == s["zxid_applied"] == zxid for s in st)

    wait_for(there, 15, f"every node committed and applied {zxid}")
    return zxid


def read_sse(url: str, want, timeout: float = 10.0, headers: dict | None = None) -> list[tuple[str, dict]]:
    """Read (event, data) pairs from an SSE URL until ``want(pairs)`` is true."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    got: list[tuple[str, dict]] = []
    try:
        conn.request("GET", "/" + url.split("/", 3)[3], headers=headers or {})
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Content-Type").startswith("text/event-stream")
        origin = (headers or {}).get("Origin")
        assert resp.getheader("Access-Control-Allow-Origin") == origin  # none without an Origin
        event, data = "message", []
        while not want(got):
            line = resp.readline().decode().rstrip("\n")
            if line == "":
                if data:
                    got.append((event, json.loads("\n".join(data))))
                event, data = "message", []
            elif line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
        return got
    finally:
        conn.close()


def test_status_has_everything_the_page_shows(up):
    z = committed_everywhere(up, up.last_write)
    ld = up.wait_leader()
    # Every follower's ACK of z reaches the leader (the slowest may come after the commit).
    st = wait_for(lambda: (lambda s: s if s and all(f["acked"] == z for f in s["followers"].values()) else None)(
        up.status(ld)), 10, "the leader to hear every follower's ACK")
    for key in ("role", "phase", "accepted_epoch", "current_epoch", "zxid_last", "zxid_committed",
                "leader", "vote", "log_tail", "followers", "last_sync", "game", "counters", "cluster",
                "quorum", "faults", "heartbeat_ms", "down_after_ms", "control", "events_seq"):
        assert key in st, key
    assert st["role"] == "LEADING" and st["leader"] == ld and st["vote"] is None
    assert st["control"] == up.control  # under zmqzab up; pages never see it (test_web_security)
    assert [c["http"] for c in st["cluster"]] == [up.http(i) for i in up.ids]
    tail = st["log_tail"]
    # messages.describe_op: "guess 40 (client#seq)"
    assert [t["cmd"].split(" (")[0] for t in tail][-4:] == ["guess 40", "guess 30", "guess 20", "guess 25"]
    assert tail[-1]["zxid"] == z and all(t["committed"] for t in tail)
    assert all(t["acks"] >= st["quorum"] and ld in t["ackers"] for t in tail)
    assert sorted(st["followers"]) == sorted(str(i) for i in up.ids if i != ld)
    for f in st["followers"].values():
        assert f["phase"] == "BROADCAST" and f["acked"] == z and f["lag"] == 0
    assert st["game"]["target"] == 30 and st["game"]["history"][-1]["winning_value"] == 30  # closest to 40
    follower = up.status(next(i for i in up.ids if i != ld))
    assert follower["last_sync"]["mode"] in ("DIFF", "TRUNC", "SNAP") and follower["last_sync"]["done"]
    assert "acks" not in follower["log_tail"][-1]
    assert follower["faults"] == {"blocked": [], "message_delay_ms": 0}


def test_events_stream_tells_the_story(up):
    ld = up.wait_leader()
    story = {"role", "election", "elected", "discovery", "sync", "commit", "PROPOSAL", "ACK", "status"}

    def seen(g) -> set:
        return {d.get("msg") or d["kind"] if e == "zab" else e for e, d in g}

    # The whole story from the leader's ring: role and phase changes, the election, discovery,
    # sync, proposals out, ACKs in, commits; plus a status snapshot (asked with status=1).
    got = read_sse(up.http(ld) + "/events?backlog=2000&status=1", lambda g: story <= seen(g))
    assert got[0][0] == "hello"
    evs = [d for e, d in got if e == "zab"]
    assert any(e["kind"] == "send" and e["msg"] == "PROPOSAL" and e["to"] == "all" for e in evs)
    assert any(e["kind"] == "recv" and e["msg"] == "ACK" and e["from"] != ld for e in evs)
    assert all(e["node"] == ld and "text" in e and "t" in e for e in evs)
    seqs = [e["seq"] for e in evs]
    assert seqs == sorted(seqs)
    status = next(d for e, d in got if e == "status")
    assert status["id"] == ld


def test_events_include_client_requests_and_answers(up):
    ld = up.wait_leader()
    follower = next(i for i in up.ids if i != ld)
    with Client(up.config, node=follower, timeout=10) as client:
        done = client.guess(77)
    got = read_sse(up.http(follower) + "/events?backlog=200&kinds=client,answer,commit",
                   lambda g: any(d.get("kind") == "answer" and d.get("zxid") == done.zxid_text for _, d in g))
    texts = [d["text"] for e, d in got if e == "zab"]
    assert any(f"forwarding to leader n{ld}" in t and "guess 77" in t for t in texts), texts


def test_metrics_have_the_counters_and_histograms(up):
    ld = up.wait_leader()
    code, text, headers = http_json(up.http(ld) + "/metrics")
    assert code == 200 and headers["content-type"].startswith("text/plain")
    assert "access-control-allow-origin" not in headers  # no Origin: not a page
    values = {}
    for line in text.splitlines():
        if not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    n = f'node="{ld}"'
    assert values[f"zmqzab_elections_total{{{n}}}"] >= 1
    assert values[f"zmqzab_leader_changes_total{{{n}}}"] >= 1
    assert values[f"zmqzab_proposals_total{{{n}}}"] >= 4
    assert values[f"zmqzab_commits_total{{{n}}}"] >= 4
    assert values[f"zmqzab_fsync_seconds_count{{{n}}}"] >= 1
    assert values[f"zmqzab_quorum_ack_seconds_count{{{n}}}"] >= 1
    assert values[f'zmqzab_role{{{n},role="LEADING"}}'] == 1
    lags = [k for k in values if k.startswith("zmqzab_follower_lag_txns")]
    assert len(lags) == 4
    assert sum(v for k, v in values.items() if k.startswith("zmqzab_sync_total") and 'direction="sent"' in k) >= 4
    follower = next(i for i in up.ids if i != ld)
    code, text, _ = http_json(up.http(follower) + "/metrics")
    assert re.search(rf'zmqzab_sync_total{{node="{follower}",mode="(DIFF|TRUNC|SNAP)",direction="received"}} [1-9]', text)


def test_index_cors_and_errors(up):
    code, body, headers = http_json(up.http(1) + "/")
    assert code == 200 and headers["content-type"].startswith("text/html")
    assert "<svg id=\"ring\"" in body and "<script" in body
    assert "access-control-allow-origin" not in headers  # no Origin: not a browser's request
    code, body, _ = http_json(up.http(1) + "/nope")
    assert code == 404 and "try /" in body["error"]
    # CORS: the file-opened page (Origin null) and the cluster's own pages, nobody else.
    for origin in ("null", up.http(0), up.control):
        code, _, headers = http_json(up.http(1) + "/status", "OPTIONS", headers={"Origin": origin})
        assert code == 204 and headers["access-control-allow-origin"] == origin
    code, _, headers = http_json(up.http(1) + "/status", "OPTIONS", headers={"Origin": "https://evil.example"})
    assert code == 403 and "access-control-allow-origin" not in headers


def test_page_needs_nothing_from_outside():
    from zmqzab.server.web import INDEX_HTML

    html = INDEX_HTML.read_text()
    assert not re.search(r'<(script|link|img)[^>]+(src|href)=', html)
    assert "@import" not in html and not re.search(r"url\((?!#)", html)  # url(#marker) is local
    assert not re.search(r"https?://(?!127\.0\.0\.1)", html.replace("http://<host>", ""))


def test_nodes_refuse_controls_not_from_their_supervisor(up):
    code, body, _ = http_json(up.http(0) + "/control/faults", "POST", {"blocked": [1]})
    assert code == 403 and "zmqzab up" in body["error"]
    code, body, _ = http_json(up.http(0) + "/control/faults", "POST", {"blocked": [1]},
                              headers={"X-Zmqzab-Token": "guess"})
    assert code == 403
    assert up.status(0)["faults"]["blocked"] == []


@pytest.mark.parametrize("action, body, status, words", [
    ("crash", {"node": 99}, 400, "no node with id 99"),
    ("crash", {"node": "1"}, 400, '"node"'),
    ("crash", {}, 400, '"node"'),
    ("restart", {"node": True}, 400, '"node"'),
    ("partition", {"groups": [[0, 1], [1, 2]]}, 400, "two groups"),
    ("partition", {"groups": [[0, 1, 2, 3, 4]]}, 400, "at least two groups"),
    ("partition", {"groups": "0,1"}, 400, "groups"),
    ("guess", {"value": 101}, 400, "0 to 100"),
    ("guess", {"value": "7"}, 400, "0 to 100"),
    ("explode", {}, 404, "unknown action"),
])
def test_control_inputs_are_checked(up, action, body, status, words):
    code, data = up.act(action, body)
    assert code == status and words in data["error"], data


def test_control_rejects_bad_bodies_and_foreign_pages(up):
    json_with_secret = {"Content-Type": "application/json", **up.auth}
    code, data, _ = http_json(up.control + "/control/heal", "POST", raw=b"{nope", headers=json_with_secret)
    assert code == 400 and "JSON" in data["error"]
    code, data, _ = http_json(up.control + "/control/heal", "POST", raw=b"[1]", headers=json_with_secret)
    assert code == 400 and "object" in data["error"]
    code, data, _ = http_json(up.control + "/control/heal", "POST", raw=b"{}",
                              headers={"Content-Type": "text/plain", **up.auth})
    assert code == 415
    code, data, _ = http_json(up.control + "/control/heal", "POST", raw=b"{" + b" " * 5000 + b"}",
                              headers=json_with_secret)
    assert code == 413
    code, data, _ = http_json(up.control + "/control", headers={"Origin": "https://evil.example", **up.auth})
    assert code == 403
    # No page but the controls' own ever gets a CORS answer: no preflight succeeds.
    for origin in ("https://evil.example", "null", up.http(0)):
        code, _, headers = http_json(up.control + "/control/crash", "OPTIONS",
                                     headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
        assert code == 403 and "access-control-allow-origin" not in headers
    code, state, headers = http_json(up.control + "/control", headers=up.auth)
    assert code == 200 and "access-control-allow-origin" not in headers
    assert [n["id"] for n in state["nodes"]] == up.ids and all(n["alive"] for n in state["nodes"])


def test_guess_and_new_game_through_the_controls(up):
    code, data = up.act("guess", {"value": 64})
    assert code == 200 and data["ok"] and data["result"]["kind"] in ("guess_recorded", "round_closed", "target_set")
    code, data = up.act("new-game", {})
    assert code == 200 and data["result"]["kind"] == "new_game"
    code, data = up.act("guess", {"value": 9, "node": 2})
    assert code == 200 and data["result"]["kind"] == "target_set" and data["node"] == 2


def test_real_controls_refuse_csrf_foreign_pages_rebinding_and_no_secret(up):
    """Goal: issue 17's attacks on a real `zmqzab up`: a CSRF from a sandboxed iframe (Origin
    null), a foreign site, a DNS rebinding page, a local process without the secret, each
    POSTing /control/crash. Expected: each 403; every node still alive; with the secret from
    the 0600 control file the same request is served (a bad body: 400, nothing crashed)."""
    port = up.control.rsplit(":", 1)[1]
    body = {"node": 0}
    for headers in ({"Origin": "null", **up.auth}, {"Origin": "null"}, {"Origin": "https://evil.example", **up.auth},
                    {"Origin": up.http(0), **up.auth}, {"Host": f"evil.example:{port}", **up.auth},
                    {}, {"X-Zmqzab-Secret": "0" * 43}):
        code, data, _ = http_json(up.control + "/control/crash", "POST", body, headers=headers)
        assert code == 403 and data["error"], headers
    code, state, _ = http_json(up.control + "/control", headers=up.auth)
    assert code == 200 and all(n["alive"] for n in state["nodes"])
    code, data, _ = http_json(up.control + "/control/crash", "POST", {"node": "x"}, headers=up.auth)
    assert code == 400  # past the gate: the input check


def test_pages_never_see_the_control_url_and_foreign_pages_read_nothing(up):
    for origin in ("null", up.control, up.http(1)):
        code, st, headers = http_json(up.http(0) + "/status", headers={"Origin": origin})
        assert code == 200 and "control" not in st and headers["access-control-allow-origin"] == origin
        got = read_sse(up.http(0) + "/events?status=1&backlog=0", lambda g: any(e == "status" for e, _ in g),
                       headers={"Origin": origin})
        assert all("control" not in d for e, d in got if e == "status")
    code, _, headers = http_json(up.http(0) + "/status", headers={"Origin": "https://evil.example"})
    assert code == 403 and "access-control-allow-origin" not in headers
    code, _, _ = http_json(up.http(0) + "/status", headers={"Host": "rebound.example"})
    assert code == 403


def test_a_real_node_serves_status_and_the_page_beside_slow_and_idle_clients(up):
    """Goal (issue 17): slowloris and event readers that never read do not lock a real node's
    HTTP out. Setup: `zmqzab up`, node 4. Faults: 200 connections that send half a request head
    and stop; 100 readers of /events?status=1 (what the page opens) that never read. Expected:
    /status and the page answer, and a new event stream opens (the oldest idle one is ended)."""
    import socket

    host, port = "127.0.0.1", up.config.node(4).http_port
    held = []
    try:
        for _ in range(200):
            s = socket.create_connection((host, port), timeout=10)
            s.sendall(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            held.append(s)
        for _ in range(100):
            s = socket.create_connection((host, port), timeout=10)
            s.sendall(b"GET /events?status=1&backlog=2000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            held.append(s)
        wait_for(lambda: up.status(4, timeout=5) is not None, 30, "/status beside 300 hostile connections")
        wait_for(lambda: http_json(up.http(4) + "/", timeout=5)[0] == 200, 30, "the page beside them")
        got = wait_for(lambda: _stream_hello(up.http(4)), 60, "a new event stream beside 100 idle readers")
        assert got["node"] == 4
    finally:
        for s in held:
            s.close()


def _stream_hello(url: str) -> dict | None:
    host, port = url.split("//")[1].split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", "/events?status=1&backlog=0")
        resp = conn.getresponse()
        if resp.status != 200:
            return None
        for _ in range(4):
            line = resp.fp.readline()
            if line.startswith(b"data: "):
                return json.loads(line[6:])
        return None
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        conn.close()
