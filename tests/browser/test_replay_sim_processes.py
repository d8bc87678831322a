"""The page replays a real simulator recording, served by `zmqzab sim --view` (a process), in
headless Chromium. Every wait is a poll of a condition with a deadline; no fixed sleeps."""

from __future__ import annotations

import pytest

from tests.browser.test_replay import ROLE, wait_rendered
from tests.processes.test_replay_processes import _serve, _stop

pytestmark = [pytest.mark.web]

#: A seed whose run has the violation after a change of leader (the simulator's schedules move
#: with its model: seed 3 stopped changing leaders when it began to make connections, seed 8
#: stopped showing the bug when followers began to look as soon as their leader does).
SEED = 5
BUG = "commit_without_quorum"


def test_replay_of_a_sim_run_with_a_bug_served_by_sim_view_processes(tmp_path, page):
    """Goal: a student opens `zmqzab sim --seed N --inject-bug B --view`, steps through the run
    and sees the violation with the checker's message (issue 15, item 3).
    Setup: seed 5 with commit_without_quorum, served by `zmqzab sim --view` on a port from the OS.
    Expected: the page opens paused at t=0 with every frame of the recording loaded; → shows one
    message at a time; between two leader marks the state moves back (the later leader is not
    LEADING at the earlier mark); at the end the verdict is shown red with the checker's text."""
    print(f"seed {SEED} --inject-bug {BUG}")
    proc, url = _serve(["sim", "--seed", str(SEED), "--inject-bug", BUG, "--view", "--port", "0"],
                       tmp_path / "view.log")
    try:
        page.goto(url)
        page.wait_for_function("R.header !== null", timeout=30_000)
        wait_rendered(page, 0)
        assert page.evaluate("document.body.dataset.replay") == "paused"  # start_paused
        assert page.evaluate("R.trailer !== null && R.frames.length === R.trailer.frames")
        assert page.inner_text("#replay-badge").startswith("REPLAY: ") and f"seed {SEED}" in page.inner_text("#replay-badge")

        for _ in range(3):
            page.keyboard.press("ArrowRight")
            page.wait_for_function("!S.dirty && document.getElementById('rp-msg') !== null")
            frames = page.evaluate("[...new Set([...document.querySelectorAll('#dots circle.msg-dot')].map(c => c.dataset.frame))]")
            assert frames == [page.get_attribute("#rp-msg", "data-frame")]

        leaders = page.evaluate("R.leaders.filter(f => f.data.leader !== null).map(f => [f.t, f.data.leader])")
        later = next(((t1, t2, b) for (t1, a), (t2, b) in zip(leaders, leaders[1:]) if a != b), None)
        assert later is not None, f"seed {SEED} was expected to have two different leaders: {leaders}"
        t1, t2, b = later
        page.evaluate(f"seekTime({t2})")
        wait_rendered(page, t2)
        assert page.evaluate(ROLE.format(b)) == "LEADING"
        page.evaluate(f"seekTime({t1})")
        wait_rendered(page, t1)
        assert page.evaluate(ROLE.format(b)) != "LEADING"

        page.keyboard.press("End")
        page.wait_for_function("!document.getElementById('rp-verdict').hidden", timeout=10_000)
        verdict = page.locator("#rp-verdict")
        assert "bad" in verdict.get_attribute("class") and "VIOLATION" in verdict.inner_text()
        assert page.evaluate("R.verdicts.length") == 1
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        _stop(proc)
