"""Outside attack on the page's replay mode (issue 15): a recording is a file from anywhere (a
mail, a web site, a student), and the page writes fields of the nodes' statuses into its HTML
(some unescaped, as the live view does: ``zxid_last``, ``round``, the epochs ...; see
test_page_xss_controls_attack.py). So a crafted recording dropped on the page `zmqzab up`
serves, whose tab holds the run's secret in sessionStorage, would run its script there and
read the secret (then POST /control/crash with it). The same with ``?replay=`` naming another
site's recording, which that site serves with CORS.

Property: a recording's text never runs as script, a replay never holds the run's secret, and
never fetches a recording from another origin. Fixed: every string of a recording (keys too)
loses the characters that open a tag or end an attribute as it is parsed; entering replay mode drops the secret (sessionStorage and
the page's own copy; the controls come back from the printed address), ``?replay=`` must be
same-origin, and frames whose node ids are not integers are skipped (node ids are written into
the HTML as they are).
"""

from __future__ import annotations

import base64

import pytest

from tests.browser import recordings as rc

pytestmark = [pytest.mark.web, pytest.mark.security]

SECRET = "s3cret-of-this-run"
# Runs wherever the page writes the field as HTML; says what it could read.
PAYLOAD = "<img src=x onerror=\"window.__seen = (window.__seen || []).concat([sessionStorage.getItem('zmqzab-secret') || 'none'])\">"


def hostile_recording() -> bytes:
    header, frames, trailer = rc.election_and_crash(start_paused=True)
    for f in frames:
        if f["kind"] == "status":
            f["data"] = dict(f["data"], zxid_last=PAYLOAD, round=PAYLOAD, current_epoch=PAYLOAD)
    # A node id that is HTML: skipped, never written into the page.
    frames.append({"t": 0.0, "node": PAYLOAD, "kind": "status", "data": dict(frames[1]["data"], id=PAYLOAD)})
    frames.append({"t": 0.0, "node": 9, "kind": "hello", "data": {"node": PAYLOAD, "boot": "x"}})
    frames.sort(key=lambda f: f["t"])
    return rc.lines(header, frames, trailer)


def test_replay_recording_xss_cannot_read_the_run_secret_attack(tmp_path, page):
    """Goal: a hostile recording dropped on a page holding the run's secret cannot read it.
    Setup: the page on a replay server, the run's secret in sessionStorage as the printed
    address leaves it; a recording whose statuses carry an <img onerror> in fields the page
    writes as HTML, and frames whose node id is HTML. Expected: the payload shows as text and
    never runs (each string of a recording loses < " ' ` on the way in); the secret is gone from sessionStorage; the
    frames with an HTML node id are skipped (five nodes shown)."""
    s = rc.ReplayServer(rc.write_recording(tmp_path / "ok.jsonl", *rc.election_and_crash()))
    try:
        page.goto(s.url + "/")
        page.evaluate(f"sessionStorage.setItem('zmqzab-secret', '{SECRET}')")
        data = base64.b64encode(hostile_recording()).decode()
        page.evaluate("""b64 => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], 'lesson.jsonl'));
            document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
        }""", data)
        page.wait_for_function("R.header !== null && !S.dirty", timeout=10_000)
        # The fields are shown, as text: every string of a recording is made inert on the way in.
        page.wait_for_function("document.body.innerText.includes('‹img src=x onerror=”')", timeout=10_000)
        assert page.evaluate("window.__seen === undefined"), "the recording's script ran"
        assert page.evaluate("sessionStorage.getItem('zmqzab-secret')") is None
        assert page.evaluate("S.secret") is None
        assert page.evaluate("R.skipped") == 2
        assert page.locator(".node-row").count() == 5
    finally:
        s.close()


def test_replay_query_from_another_origin_is_refused_attack(tmp_path, page):
    """Goal: ?replay= naming another site's recording is not fetched. Setup: two replay servers
    (two origins); the page of the first asked to replay the second's recording. Expected: the
    page says why and fetches nothing from the other origin."""
    a = rc.ReplayServer(rc.write_recording(tmp_path / "a.jsonl", *rc.election_and_crash()))
    b = rc.ReplayServer(rc.write_recording(tmp_path / "b.jsonl", *rc.election_and_crash()))
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    try:
        page.goto(f"{a.url}/?replay={b.url}/recording")
        page.wait_for_function("document.getElementById('nodes').textContent.includes('its own server')", timeout=10_000)
        assert not [u for u in asked if u.startswith(b.url)]
        assert page.evaluate("R.header") is None
    finally:
        a.close()
        b.close()
