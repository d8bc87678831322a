"""A real lesson (zmqzab/lessons/) in the page, in headless Chromium (Debian's): recorded as
`zmqzab lesson` records it (lessons/record.py) and served by the replay server
(zmqzab/record/server.py), as `zmqzab lesson NAME` serves it. Issue 15: "a lesson advances
caption by caption", and "everything readable on a projector at 1280x720 and on a laptop at
1920x1080". The ring-labels test is a strict xfail: what the lesson's screenshot
(docs/view-lesson.png, tests/browser/lesson_screenshot.py) still shows wrong on the ring (its
centre box covers a node's badges), until fixed.

Every wait is Playwright's polling of a condition with a deadline; no fixed sleeps.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.browser.test_replay import wait_rendered
from zmqzab.lessons import find
from zmqzab.lessons.record import recording_bytes
from zmqzab.record.server import serve_recording

pytestmark = [pytest.mark.web]

LESSON = "one-commit"
#: A node's row's log entry for a zxid, and whether it is committed (solid) or proposed (dashed).
ENTRY = """(() => {{ const e = document.querySelector('.node-row[data-node="{}"] .entry[data-zxid="{}"]');
  return e === null ? null : [e.classList.contains('committed') ? 'committed' : 'proposed',
                              (e.querySelector('.acks') || {{}}).textContent || null]; }})()"""


def shown(text: str) -> str:
    """A recording's text as the page shows it: every string of a recording loses the
    characters that open a tag or end an attribute (index.html, INERT: ' becomes ’)."""
    return text.translate(str.maketrans({"<": "‹", '"': "”", "'": "’", "`": "‘"}))


def caption_frames(body: bytes) -> list[dict]:
    frames = [json.loads(line) for line in body.decode().splitlines()]
    return [f for f in frames if f.get("kind") == "caption"]


def leader_of(body: bytes) -> int:
    """The last leader mark of the recording (one-commit has one election)."""
    marks = [json.loads(line) for line in body.decode().splitlines()]
    return [m["data"]["leader"] for m in marks if m.get("kind") == "mark" and m["data"].get("mark") == "leader"][-1]


@pytest.fixture(scope="module")
def lesson():
    """(the lesson's Script, its recording's lines), made once: the lesson runs in about 0.3 s."""
    return recording_bytes(find(LESSON))


@pytest.fixture
def served(lesson):
    server, url = serve_recording(lesson[1])
    yield url
    server.shutdown()
    server.server_close()


def test_lesson_in_the_browser_steps_caption_by_caption(lesson, served, page):
    """Goal: a real lesson advances caption by caption in the page, and what a caption says is
    what the page shows at it. Setup: the lesson one-commit (seven captions: three at one
    instant, the third pausing with a question; "commit" pausing with a question; "everywhere"
    with a question) recorded with recording_bytes and served as `zmqzab lesson` serves it,
    opened without &paused=1 (the recording asks to start paused). Faults: none.
    Expected: paused at t=0, no caption yet; shift+→ (and every other step the caption button)
    shows each caption of the lesson's own list in order: its text, its question when it has
    one, the captions of its instant before it (smaller), "caption k of 7", the cursor at its
    instant, the play paused; past the last one the page says there is none. At "proposal" the
    leader's row shows the txn dashed (proposed, 0 of 5 ACKs) and no follower has it; at
    "commit" the leader's row shows it solid with the ACK count the caption names, the
    followers' still dashed (the COMMIT is on its way); at "everywhere" every row shows it
    solid. Then from the start, play stops at each caption with pause: true and only there
    ("proposal", then "commit", passing "first-ack"), and then runs to the end."""
    script, body = lesson
    caps = script.captions
    frames = caption_frames(body)
    # The recording carries the lesson's captions as they were placed: same order, text, time.
    assert [(f["data"]["id"], f["data"]["text"], f["data"]["question"], f["data"]["pause"], f["t"]) for f in frames] == \
        [(c.id, c.text, c.question, c.pause, c.t_ms) for c in caps]
    ids = [c.id for c in caps]
    assert {"proposal", "commit", "everywhere"} <= set(ids)
    assert any(c.pause for c in caps) and any(c.question for c in caps) and any(not c.pause for c in caps)
    ld = leader_of(body)
    followers = [i for i in range(1, 6) if i != ld]
    zxid = re.search(r"PROPOSAL (\d+:\d+)", next(c.text for c in caps if c.id == "proposal")).group(1)

    page.goto(served)
    wait_rendered(page, 0)
    assert page.evaluate("document.body.dataset.replay") == "paused"
    assert not page.locator("#caption").is_visible()
    assert page.inner_text("#replay-badge") == f"REPLAY: {find(LESSON).title}"

    for k, c in enumerate(caps):
        if k % 2:
            page.click("#rp-caption")
        else:
            page.keyboard.press("Shift+ArrowRight")
        page.wait_for_function(f"document.getElementById('caption').dataset.id === {json.dumps(c.id)}", timeout=10_000)
        wait_rendered(page, c.t_ms)
        assert page.evaluate("document.body.dataset.replay") == "paused", c.id
        assert page.inner_text("#caption .cap-text") == shown(c.text)
        if c.question:
            assert page.inner_text("#caption .cap-q") == f"Question: {shown(c.question)}"
        else:
            assert page.locator("#caption .cap-q").count() == 0, c.id
        same_instant = [shown(p.text) for p in caps[max(0, k - 2):k] if p.t_ms == c.t_ms]
        assert page.locator("#caption .cap-prev").all_inner_texts() == same_instant[-2:], c.id
        assert page.inner_text("#caption .cap-n").startswith(f"caption {k + 1} of {len(caps)}")
        if c.id == "proposal":
            assert page.evaluate(ENTRY.format(ld, zxid)) == ["proposed", "0/5 acked"]
            assert all(page.evaluate(ENTRY.format(i, zxid)) is None for i in followers)
        elif c.id == "commit":
            held = re.search(r"(\d) of 5 nodes hold", c.text).group(1)
            assert page.evaluate(ENTRY.format(ld, zxid)) == ["committed", f"✓ {held}/5 acked"]
            # Committed on the leader only: a follower shows the txn proposed once its PROPOSAL
            # arrived (at least the ones whose ACKs made the quorum), or not yet at all.
            entries = [page.evaluate(ENTRY.format(i, zxid)) for i in followers]
            assert all(e in (["proposed", None], None) for e in entries), entries
            assert entries.count(["proposed", None]) >= int(held) - 1, entries
        elif c.id == "everywhere":
            assert all(page.evaluate(ENTRY.format(i, zxid))[0] == "committed" for i in range(1, 6))
    page.keyboard.press("Shift+ArrowRight")
    page.wait_for_function("document.getElementById('control-msg').textContent === 'no caption after this point'")
    assert page.get_attribute("#caption", "data-id") == caps[-1].id

    # Playing stops at every caption that pauses, and at no other. A lesson opens at 1/50 speed
    # (for a class); at 1x the test does not wait 14 s for it.
    assert page.input_value("#rp-speed") == "0.02"
    page.select_option("#rp-speed", "1")
    page.keyboard.press("Home")
    wait_rendered(page, 0)
    for c in [c for c in caps if c.pause]:
        page.keyboard.press(" ")
        page.wait_for_function(f"document.body.dataset.replay === 'paused' && "
                               f"document.getElementById('caption').dataset.id === {json.dumps(c.id)}", timeout=10_000)
        wait_rendered(page, c.t_ms)
    page.keyboard.press(" ")
    page.wait_for_function("R.cursor === R.end && document.body.dataset.replay === 'paused' && !S.dirty", timeout=10_000)
    assert page.get_attribute("#caption", "data-id") == caps[-1].id
    assert page.errors == []  # type: ignore[attr-defined]


def open_at_caption(browser, url: str, caps, cid: str, width: int, height: int):
    """A new window of width x height on the lesson, stepped with shift+→ up to caption ``cid``."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto(url)
    wait_rendered(page, 0)
    for c in caps[:[c.id for c in caps].index(cid) + 1]:
        page.keyboard.press("Shift+ArrowRight")
        page.wait_for_function(f"document.getElementById('caption').dataset.id === {json.dumps(c.id)} && !S.dirty", timeout=10_000)
    return context, page


@pytest.mark.parametrize("width,height", [(1280, 720), (1920, 1080)])
def test_lesson_in_the_browser_is_whole_on_a_projector_and_a_laptop(lesson, served, browser, width, height):
    """Goal: a lesson's caption and the quorum count on the logs read whole (issue 15, item 5).
    Setup: one-commit at its caption "commit" (the longest text, with a question), in a window
    of 1280x720 (a projector) and 1920x1080 (a laptop). Expected: the caption box inside the
    window and not cut (its question too); every log entry's zxid and ACK count ("✓ 3/5 acked")
    whole, not clipped by the entry (they were at both sizes before .entry .acks could wrap)."""
    script, _ = lesson
    context, page = open_at_caption(browser, served, script.captions, "commit", width, height)
    try:
        box = page.locator("#caption").bounding_box()
        assert box["y"] + box["height"] <= height and box["width"] <= width
        assert page.evaluate("(() => { const c = document.getElementById('caption'); return c.scrollHeight <= c.clientHeight + 1; })()")
        assert page.locator("#caption .cap-q").is_visible()
        cut = page.evaluate("""[...document.querySelectorAll('.entry .acks, .entry .zx')]
            .filter(e => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > e.closest('.entry').getBoundingClientRect().right
                         || e.getBoundingClientRect().bottom > e.closest('.entry').getBoundingClientRect().bottom + 1)
            .map(e => e.textContent)""")
        assert page.locator(".entry .acks").count() >= 1
        assert cut == []
    finally:
        context.close()


def test_lesson_in_the_browser_ring_shows_only_messages_in_flight_attack(lesson, served, browser):
    """Goal: the ring at a caption shows the messages in flight at that instant, not messages
    delivered long before (issue 15: "everything the live view shows ... from the recording's
    state at the scrubbed instant"). Setup: one-commit at its caption "commit" (t=251 ms, the
    election over since 177 ms), 1280x720. Expected: every dot on the ring is a message sent
    from its node to its target and not yet received there by the caption's instant, counted
    from the recording's send and recv frames (no message is lost in this lesson). It failed
    while the replay flew every message for the live view's 380 ms minimum (53 of 81 dots at
    this caption were delivered messages, the election's VOTEs among them); a dot now flies
    from its send to its recorded arrival."""
    script, body = lesson
    cap = next(c for c in script.captions if c.id == "commit")
    frames = [json.loads(line) for line in body.decode().splitlines()[1:-1]]
    ids = [1, 2, 3, 4, 5]
    in_flight: dict[tuple[str, int, int], int] = {}
    for f in frames:
        d = f.get("data") or {}
        if f["kind"] != "zab" or f["t"] > cap.t_ms or d.get("kind") not in ("send", "recv"):
            continue
        if d["kind"] == "send":
            for to in (ids if d["to"] == "all" else [d["to"]]):
                if to != f["node"]:
                    key = (d["msg"], f["node"], to)
                    in_flight[key] = in_flight.get(key, 0) + 1
        else:
            key = (d["msg"], d["from"], f["node"])
            in_flight[key] = in_flight.get(key, 0) - 1
    context, page = open_at_caption(browser, served, script.captions, "commit", 1280, 720)
    try:
        dots = page.evaluate("[...document.querySelectorAll('#dots circle.msg-dot')].map(c => [c.dataset.msg, +c.dataset.from, +c.dataset.to])")
        shown: dict[tuple[str, int, int], int] = {}
        for m, a, b in dots:
            shown[(m, a, b)] = shown.get((m, a, b), 0) + 1
        stale = {k: v for k, v in shown.items() if v > max(0, in_flight.get(k, 0))}
        assert not stale, f"{sum(stale.values())} of {len(dots)} dots are messages already delivered: {sorted(stale)[:8]}"
    finally:
        context.close()


@pytest.mark.parametrize("width,height", [(1280, 720), (1920, 1080)])
def test_lesson_in_the_browser_ring_labels_do_not_overlap_attack(lesson, served, browser, width, height):
    """Goal: on the ring, the quorum arithmetic in the centre and each node's labels (role
    badge, phase, acked) do not cover each other. Setup: one-commit at its caption "commit"
    (centre: "1:1 guess 42 (alice#1)", "3 of 5 acked", "committed (quorum 3)"), at 1280x720
    and 1920x1080. Expected: the centre box meets no node's circle, badge or text (it was as
    wide as its longest line and covered n2's badge and phase, n5's phase: a strict xfail until
    session 9, when its lines shrink to the room beside the nodes' labels)."""
    script, _ = lesson
    context, page = open_at_caption(browser, served, script.captions, "commit", width, height)
    try:
        hits = page.evaluate("""(() => {
          const svg = document.getElementById('ring');
          const centre = [...svg.children].filter(e => e.tagName === 'rect').pop().getBoundingClientRect();
          const meets = b => b.width > 0 && b.left < centre.right && centre.left < b.right && b.top < centre.bottom && centre.top < b.bottom;
          return [...svg.querySelectorAll('g[data-node] > *')].filter(e => e.tagName !== 'circle' || e.getAttribute('fill') !== 'none')
            .filter(e => meets(e.getBoundingClientRect())).map(e => 'n' + e.parentNode.dataset.node + ' ' + (e.textContent || e.tagName)); })()""")
        assert hits == [], f"the ring's centre box covers {hits}"
    finally:
        context.close()
