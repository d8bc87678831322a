"""The page's replay mode (issue 15) in real headless Chromium, over recordings written by the
tests (tests/browser/recordings.py, the format of record-format.md) and served the way
`zmqzab replay` serves them. No node runs: the page must open no EventSource at all.

Every wait is Playwright's polling of a condition with a deadline; no fixed sleeps.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.browser import recordings as rc
from zmqzab.server.web import INDEX_HTML

pytestmark = [pytest.mark.web]

# Counts the EventSources the page opens (a replay must open none).
COUNT_EVENTSOURCES = """
window.__eventSources = 0;
const RealEventSource = window.EventSource;
window.EventSource = function (...args) { window.__eventSources += 1; return new RealEventSource(...args); };
"""

ROLE = "document.querySelector('.node-row[data-node=\"{}\"]').dataset.role"
STATE = "document.querySelector('.node-row[data-node=\"{}\"]').dataset.state"
# The page's state (S.nodes) in full, to compare two ways of reaching one instant.
FINGERPRINT = """JSON.stringify(ids().map(i => { const r = S.nodes.get(i);
  return [i, r.down, r.status, r.events.map(e => [e.t, e.kind, e.text]), r.lastSeen, r.boot, r.lastSyncAt]; }))"""


@pytest.fixture
def served(tmp_path):
    """Start a ReplayServer over a recording; closed at the end of the test."""
    servers = []

    def serve(header, frames, trailer, name="run.zrec", as_is=False):
        path = rc.write_recording(tmp_path / name, header, frames, trailer)
        s = rc.ReplayServer(path, as_is)
        servers.append(s)
        return s

    yield serve
    for s in servers:
        s.close()


def roles(page) -> dict[str, str]:
    return page.evaluate("Object.fromEntries([...document.querySelectorAll('.node-row')].map(r => [r.dataset.node, r.dataset.role]))")


def wait_rendered(page, cursor: float) -> None:
    """Wait until the page stands at `cursor` and has drawn that state (S.dirty is cleared by a render)."""
    page.wait_for_function(f"R.header !== null && Math.abs(R.cursor - {cursor}) < 1e-6 && !S.dirty", timeout=10_000)


def scrub_to(page, t: float) -> None:
    """Press on the timeline where instant t is and drag a little to it, as a person does."""
    box = page.locator("#rp-track").bounding_box()
    end = page.evaluate("R.end")
    x = box["x"] + box["width"] * t / end
    y = box["y"] + box["height"] / 2
    page.mouse.move(x - 30 if x - 30 > box["x"] else x + 30, y)  # press on the track, 30 px away
    page.mouse.down()
    page.mouse.move(x, y, steps=4)
    page.mouse.up()
    # Within a few pixels of it (mouse positions are whole pixels); the instants tested lie in
    # wide stretches of the recording.
    page.wait_for_function(f"Math.abs(R.cursor - {t}) <= 2 * R.end / document.getElementById('rp-track').clientWidth && !S.dirty",
                           timeout=10_000)


def test_replay_plays_a_recording_to_its_end_without_a_cluster(served, page):
    """Goal: a recording plays in the page and the page never talks to a cluster.
    Setup: the hand-made run (election, one write, n3 crashes, n5 leads, n3 comes back), served
    as `zmqzab replay` serves it; opened with ?replay=/recording&speed=8.
    Faults: n3's crash (a down frame), a fault band, a failing verdict mark.
    Expected: it plays to the end by itself: n5 LEADING, n3 FOLLOWING again, the guess committed
    everywhere, the verdict shown red with its text; the REPLAY badge names the recording; no
    EventSource, no controls."""
    page.add_init_script(COUNT_EVENTSOURCES)
    s = served(*rc.election_and_crash())
    page.goto(s.url + "/?replay=/recording&speed=8")
    page.wait_for_function("document.body.dataset.replay === 'paused' && R.cursor === R.end", timeout=15_000)
    wait_rendered(page, rc.T_END)
    assert roles(page) == {"1": "FOLLOWING", "2": "FOLLOWING", "3": "FOLLOWING", "4": "FOLLOWING", "5": "LEADING"}
    assert page.evaluate(STATE.format(3)) == "up"
    assert page.locator('.target[data-target="33"]').count() == 5
    assert page.locator("#replay-badge").inner_text() == "REPLAY: election, one write, the leader crashes"
    verdict = page.locator("#rp-verdict")
    assert verdict.is_visible() and "bad" in verdict.get_attribute("class")
    assert "logs differ at 1:1" in verdict.inner_text()
    # The restart shows as the live view shows one: a DOWN gap, then a new boot.
    n3 = page.evaluate("S.nodes.get(3).events.map(e => e.text)")
    assert "DOWN: no word from the node" in n3 and "process restarted (new boot)" in n3
    assert page.evaluate("window.__eventSources") == 0
    assert not page.locator("#controls").is_visible() and not page.locator(".guessbox").is_visible()
    assert page.locator('#nodes button[data-action="crash"]').count() == 0
    page.keyboard.press("k")  # a cluster key: explained, not acted on
    assert "replay" in page.locator("#control-msg").inner_text()
    assert page.errors == []  # type: ignore[attr-defined]


def test_replay_scrubber_moves_the_state_back(served, page):
    """Goal: dragging the timeline shows the state at any instant, backwards too.
    Setup: the hand-made run, served gzip as it is on disk (the page decompresses it), opened
    paused at t=0 (paused=1). Steps: scrub to after the second election, then back to the first
    leader's term, into and out of a partition, then to the election. Expected: n5 is LEADING at
    t2 and FOLLOWING again at t1 (n3 LEADING and up again, not DOWN); the partition is named
    while it lasts; at the start every node is LOOKING; the timeline shows the fault bands (the
    partition's end taken from its heal mark), the two leader changes and the verdict. Three drags in a row: the text a drag
    could select would turn the next drag into a drag and drop (lost pointer capture)."""
    s = served(*rc.election_and_crash(), as_is=True)
    page.goto(s.url + "/?replay=/recording&paused=1")
    wait_rendered(page, 0)
    assert set(roles(page).values()) == {"LOOKING"}
    # The crash (until given) and the partition (until null: ended by the heal mark); the heal an instant.
    bands = page.evaluate("[...document.querySelectorAll('#rp-marks .rp-band')].map(b => [parseFloat(b.style.left), parseFloat(b.style.width)])")
    assert [[round(x, 2) for x in b] for b in bands] == [[round(100 * rc.T_CRASH / rc.T_END, 2), round(100 * (rc.T_ELECTED_2 - rc.T_CRASH) / rc.T_END, 2)],
                                                          [round(100 * rc.T_SPLIT / rc.T_END, 2), round(100 * (rc.T_HEAL - rc.T_SPLIT) / rc.T_END, 2)]]
    assert page.locator("#rp-marks .rp-tick.instant").count() == 1
    assert page.locator("#rp-marks .rp-tick.leader").count() == 2
    assert page.locator("#rp-marks .rp-tick.verdict.bad").count() == 1

    t2 = (rc.T_ELECTED_2 + rc.T_BACK) / 2
    scrub_to(page, t2)
    assert page.evaluate(ROLE.format(5)) == "LEADING"
    assert page.evaluate(STATE.format(3)) == "down"
    t1 = (rc.T_COMMIT + rc.T_CRASH) / 2
    scrub_to(page, t1)
    assert page.evaluate(ROLE.format(5)) == "FOLLOWING"
    assert page.evaluate(ROLE.format(3)) == "LEADING" and page.evaluate(STATE.format(3)) == "up"
    scrub_to(page, (rc.T_SPLIT + rc.T_HEAL) / 2)
    assert "partition {n1} | {n2,n3,n4,n5}" in page.inner_text("#rp-now")
    scrub_to(page, (rc.T_HEAL + rc.T_END) / 2)
    assert "partition" not in page.inner_text("#rp-now")
    scrub_to(page, 50)
    assert set(roles(page).values()) == {"LOOKING"}
    assert page.errors == []  # type: ignore[attr-defined]


def test_replay_checkpoints_rebuild_the_same_state_as_playing_forward(served, page):
    """Goal: going back (restore a checkpoint, feed forward) gives exactly the state that
    feeding from the start gives. Setup: 400 writes and a crash of n4 (about 5000 frames: ten
    checkpoints). Steps: for instants on, near and between checkpoints, the state reached
    forward from the start is compared with the state reached after going to the end and back.
    Expected: identical (every status, event, DOWN flag and clock)."""
    header, frames, trailer = rc.many_writes(400)
    s = served(header, frames, trailer)
    page.goto(s.url + "/?replay=/recording&paused=1")
    wait_rendered(page, 0)
    every = page.evaluate("CHECKPOINT_EVERY")
    assert len(frames) > 8 * every
    instants = sorted({frames[i]["t"] for i in (every - 1, every, 3 * every + 7, 5 * every, len(frames) // 2, len(frames) - 3)})
    forward = {}
    for t in instants:
        page.evaluate(f"seekTime({t})")
        forward[t] = page.evaluate(FINGERPRINT)
    page.evaluate("seekTime(R.end)")
    assert page.evaluate("R.checkpoints.length") >= 8
    for t in reversed(instants):
        page.evaluate(f"seekTime({t})")
        assert page.evaluate(FINGERPRINT) == forward[t], f"state at t={t} differs after going back"
    # n4 is DOWN in the middle third, and only there.
    page.evaluate(f"seekTime({frames[len(frames) // 2]['t']})")
    assert page.evaluate("S.nodes.get(4).down") is True
    page.evaluate("seekTime(R.end)")
    assert page.evaluate("S.nodes.get(4).down") is False
    assert page.errors == []  # type: ignore[attr-defined]


def test_replay_steps_one_message_at_a_time(served, page):
    """Goal: → shows the next message sent, alone, with its dots on the ring; ← goes back.
    Setup: the hand-made run opened paused at t=0 (its five VOTEs share no instant with
    anything else; the four ACKs follow the PROPOSAL). Steps: →, →, ←, then → up to the PROPOSAL.
    Expected: each step shows one message (its text, dots all of that one frame, one highlighted
    event), the state just after it (n2's VOTE is not in n2's events before its own step, and
    is gone again after ←)."""
    s = served(*rc.election_and_crash())
    page.goto(s.url + "/?replay=/recording&paused=1")
    wait_rendered(page, 0)

    def shown():
        page.wait_for_function("!S.dirty && document.getElementById('rp-msg') !== null")
        frame = page.get_attribute("#rp-msg", "data-frame")
        dots = page.evaluate("[...document.querySelectorAll('#dots circle.msg-dot')].map(c => [c.dataset.frame, c.dataset.msg, c.dataset.from, c.dataset.to])")
        assert dots and {d[0] for d in dots} == {frame}, dots  # one message at a time
        assert page.locator(".ev.focus").count() == 1
        return page.inner_text("#rp-msg"), dots

    def n2_votes():
        return page.evaluate("S.nodes.get(2).events.filter(e => e.msg === 'VOTE').length")

    page.keyboard.press("ArrowRight")
    text, dots = shown()
    assert "n1 → all VOTE n1" in text and len(dots) == 4 and {d[2] for d in dots} == {"1"}
    assert n2_votes() == 0
    page.keyboard.press("ArrowRight")
    text, dots = shown()
    assert "n2 → all VOTE n2" in text and {d[2] for d in dots} == {"2"}
    assert n2_votes() == 1
    page.keyboard.press("ArrowLeft")
    text, _ = shown()
    assert "n1 → all VOTE n1" in text
    assert n2_votes() == 0
    for _ in range(5):
        page.click("#rp-next")
    text, dots = shown()
    assert "n3 → all PROPOSAL 1:1" in text
    assert sorted(d[3] for d in dots) == ["1", "2", "4", "5"] and {d[1] for d in dots} == {"PROPOSAL"}
    page.click("#rp-next")
    text, dots = shown()
    assert "n1 → n3 ACK 1:1" in text and [d[3] for d in dots] == ["3"]
    assert page.locator('.node-row[data-node="3"] .entry.proposed[data-zxid="1:1"]').count() == 1  # not yet committed
    assert page.errors == []  # type: ignore[attr-defined]


def test_replay_captions_advance_one_by_one_and_pause(served, page):
    """Goal: a lesson's captions show one at a time; playing stops at a caption that pauses.
    Setup: the hand-made run with five captions (t=0 pauses; "votes" and "elected", at one
    instant, do not; "proposal" pauses with a question; "crash" pauses), played at 8x.
    Expected: it stops at once on the first caption; shift+→ goes to "votes", then to "elected"
    ("votes", of the same instant, still in view, smaller); play stops at "proposal" (at its
    instant, its question shown); the caption button goes to "crash", shift+← back to
    "proposal" (n3 up again) and shift+→ to "crash"; play then runs to the end and the last
    caption stays; Home shows the first again."""
    header, frames, trailer = rc.election_and_crash(captions=True)
    s = served(header, frames, trailer)
    page.goto(s.url + "/?replay=/recording&speed=8")

    def at_caption(cid: str, t: float) -> None:
        page.wait_for_function(f"document.getElementById('caption').dataset.id === '{cid}' && "
                               f"document.body.dataset.replay === 'paused'", timeout=15_000)
        wait_rendered(page, t)
        assert page.locator("#caption").is_visible()

    at_caption("start", 0)
    assert "Five nodes start" in page.inner_text("#caption")
    page.keyboard.press("Shift+ArrowRight")
    at_caption("votes", rc.T_ELECTED_1)
    assert page.locator("#caption .cap-prev").count() == 0
    page.keyboard.press("Shift+ArrowRight")
    at_caption("elected", rc.T_ELECTED_1)
    assert page.inner_text("#caption .cap-prev") == "Every node votes for the one with the newest history."
    page.keyboard.press(" ")
    at_caption("proposal", rc.T_PROPOSAL)
    assert "How many ACKs does it need to commit?" in page.inner_text("#caption")
    page.click("#rp-caption")
    at_caption("crash", rc.T_CRASH)
    assert page.evaluate(STATE.format(3)) == "down"
    page.keyboard.press("Shift+ArrowLeft")
    at_caption("proposal", rc.T_PROPOSAL)
    assert page.evaluate(STATE.format(3)) == "up"
    page.keyboard.press("Shift+ArrowRight")
    at_caption("crash", rc.T_CRASH)
    page.keyboard.press(" ")
    page.wait_for_function("R.cursor === R.end && document.body.dataset.replay === 'paused'", timeout=15_000)
    assert page.get_attribute("#caption", "data-id") == "crash"
    page.keyboard.press("Home")
    wait_rendered(page, 0)
    assert page.get_attribute("#caption", "data-id") == "start"
    assert page.errors == []  # type: ignore[attr-defined]


def test_replay_a_chosen_or_dropped_file_replaces_the_live_view(tmp_path, page):
    """Goal: a recording opened from the header's file input, or dropped on the page, replays
    in a page that was live. Setup: index.html opened as a file, trying a cluster that does not
    answer. Steps: choose a .zrec (gzip) in the file input; then drop a plain .jsonl; then drop
    a file that is no recording. Expected: replay mode (badge, five nodes, paused at t=0 when
    the header says start_paused), every EventSource closed and none reopened; the dropped file
    replaces the first; the bad file is refused with the reason and the replay stays."""
    header, frames, trailer = rc.election_and_crash(start_paused=True)
    zrec = rc.write_recording(tmp_path / "chosen.zrec", header, frames, trailer)
    page.goto(f"{INDEX_HTML.as_uri()}?node=http://127.0.0.1:9")
    # Live first: it tries the cluster (the stream to the closed port fails within ms and is
    # retried every 1.5 s, so S.seedEs is set only for moments: wait for what the page says).
    page.wait_for_function("document.getElementById('conn').textContent.includes('127.0.0.1:9')")
    page.set_input_files("#rec-file", str(zrec))
    page.wait_for_function("document.querySelectorAll('.node-row').length === 5", timeout=10_000)
    wait_rendered(page, 0)
    assert page.evaluate("document.body.dataset.replay") == "paused"
    assert page.inner_text("#replay-badge").startswith("REPLAY: election")
    assert page.evaluate("S.seedEs === null && [...S.nodes.values()].every(r => !r.es && !r.retryTimer)")
    assert set(roles(page).values()) == {"LOOKING"}

    def drop(name: str, data: bytes) -> None:
        page.evaluate("""([name, b64]) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name));
            document.body.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
            document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
        }""", [name, base64.b64encode(data).decode()])

    other = dict(header, title="the dropped one")
    del other["start_paused"]
    drop("dropped.jsonl", rc.lines(other, frames, trailer))
    page.wait_for_function("document.getElementById('replay-badge').textContent === 'REPLAY: the dropped one'", timeout=10_000)
    page.wait_for_function("R.cursor === R.end", timeout=15_000)  # not start_paused: it plays
    drop("notes.txt", json.dumps({"hello": "world"}).encode() + b"\n")
    page.wait_for_function("document.getElementById('control-msg').textContent.includes('is not a zmqzab recording')")
    assert page.inner_text("#replay-badge") == "REPLAY: the dropped one"
    assert page.evaluate("S.seedEs === null && [...S.nodes.values()].every(r => !r.es && !r.retryTimer)")
    assert page.errors == []  # type: ignore[attr-defined]


def test_replay_a_missing_recording_says_why(tmp_path, page):
    """Goal: ?replay= with a recording that cannot be fetched says so in the page (and opens no
    stream to a cluster). Setup: a served page whose /recording is a 404. Expected: the reason
    (HTTP 404) in the nodes panel; no EventSource."""
    page.add_init_script(COUNT_EVENTSOURCES)
    s = rc.ReplayServer(rc.write_recording(tmp_path / "x.jsonl", *rc.election_and_crash()))
    try:
        page.goto(s.url + "/?replay=/nothing-here")
        page.wait_for_function("document.getElementById('nodes').textContent.includes('HTTP 404')", timeout=10_000)
        assert page.evaluate("window.__eventSources") == 0
    finally:
        s.close()


def test_replay_a_zrec_cut_short_replays_what_it_holds(tmp_path, page):
    """Goal: a .zrec whose recorder was killed (gzip cut short, no trailer) still replays up to
    where it ends. Setup: a recording of 300 writes, gzip, its last 40% of bytes cut off, opened
    with the file input. Expected: replay mode with the frames before the cut (some, not all),
    the reason said (the compressed data ends early), five nodes."""
    header, frames, trailer = rc.many_writes(300, title="cut short")
    path = rc.write_recording(tmp_path / "whole.zrec", header, frames, trailer)
    data = path.read_bytes()
    cut = tmp_path / "cut.zrec"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    page.goto(f"{INDEX_HTML.as_uri()}?node=http://127.0.0.1:9")
    page.set_input_files("#rec-file", str(cut))
    page.wait_for_function("R.header !== null && !S.dirty", timeout=10_000)
    held = page.evaluate("R.frames.length")
    assert 0 < held < len(frames)
    assert page.evaluate("R.trailer") is None
    assert "ends early" in page.inner_text("#control-msg")
    assert page.inner_text("#replay-badge") == "REPLAY: cut short"
    assert page.locator(".node-row").count() == 5
    assert page.errors == []  # type: ignore[attr-defined]


def test_replay_fits_a_projector_at_1280x720(served, browser):
    """Goal: readable on a projector (issue 15, item 5). Setup: the captioned run at 1280x720,
    stopped at the caption with a question. Expected: every replay control inside the window,
    a scrubber wide enough to aim at (at least 300 px), the caption and its question shown
    whole, and the ring and the nodes' logs still with room (at least 250 px high)."""
    s = served(*rc.election_and_crash(captions=True))
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = context.new_page()
        page.goto(s.url + "/?replay=/recording&paused=1")
        wait_rendered(page, 0)
        for _ in range(3):  # votes, elected, proposal (the first is shown at t=0)
            page.keyboard.press("Shift+ArrowRight")
        page.wait_for_function("document.getElementById('caption').dataset.id === 'proposal' && !S.dirty")
        for sel in ("#rp-start", "#rp-back", "#rp-play", "#rp-next", "#rp-caption", "#rp-speed", "#rp-clock", "#replay-badge", "#open-rec"):
            box = page.locator(sel).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 1280 and box["y"] + box["height"] <= 720, (sel, box)
        assert page.locator("#rp-track").bounding_box()["width"] >= 300
        caption = page.locator("#caption")
        assert caption.is_visible() and "How many ACKs" in caption.inner_text()
        assert page.evaluate("(() => { const c = document.getElementById('caption'); return c.scrollHeight <= c.clientHeight + 1; })()")
        for sel in ("#ring-panel", "#nodes-panel"):
            assert page.locator(sel).bounding_box()["height"] >= 250, sel
    finally:
        context.close()
