"""The live cluster view in real headless Chromium, against real node processes.

Every wait is Playwright's polling of a condition with a deadline; no fixed sleeps.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.processes.procs import ProcCluster
from tests.processes.upcluster import UpCluster
from zmqzab.server.web import INDEX_HTML

pytestmark = [pytest.mark.web]


ROWS = ".node-row"


def leader_row(page) -> str | None:
    rows = page.locator(f'{ROWS}[data-role="LEADING"][data-phase="BROADCAST"]')
    return rows.first.get_attribute("data-node") if rows.count() == 1 else None


@pytest.fixture
def up(tmp_path):
    c = UpCluster(tmp_path)
    c.start()
    yield c
    c.stop()


def test_browser_guess_crash_leader_and_reelection(up, page, tmp_path):
    """Goal: the page shows the cluster and drives it. Setup: `zmqzab up` with 5 nodes on free
    ports; the page served by node 0. Steps: see five nodes and exactly one LEADING; guess 33
    from the page and see 33 as the target on every node; crash the leader from the page and
    see another node LEADING while the old one is greyed DOWN; save a screenshot."""
    up.wait_leader()
    page.goto(up.page)
    page.wait_for_function("document.querySelectorAll('.node-row').length === 5")
    page.wait_for_function(
        "document.querySelectorAll('.node-row[data-role=\"LEADING\"]').length === 1 && "
        "document.querySelectorAll('.node-row[data-phase=\"BROADCAST\"]').length === 5",
        timeout=15_000)
    assert page.locator(f'{ROWS}[data-role="LEADING"]').count() == 1
    assert page.locator("svg#ring g[data-node]").count() == 5
    assert page.locator("#controls").is_visible()  # served under zmqzab up: controls shown

    page.fill("#guess-value", "33")
    page.click("#guess-btn")
    page.wait_for_function("document.querySelectorAll('.target[data-target=\"33\"]').length === 5",
                           timeout=15_000)
    page.wait_for_function("document.getElementById('control-msg').textContent.includes('committed')")

    old = leader_row(page)
    assert old is not None
    page.click(f'#nodes button[data-action="crash"][data-node="{old}"]')
    page.wait_for_function(
        f"""(() => {{
            const rows = [...document.querySelectorAll('.node-row')];
            const leaders = rows.filter(r => r.dataset.role === 'LEADING' && r.dataset.phase === 'BROADCAST');
            const old = rows.find(r => r.dataset.node === '{old}');
            return leaders.length === 1 && leaders[0].dataset.node !== '{old}' && old.dataset.state === 'down';
        }})()""", timeout=20_000)
    new = leader_row(page)
    assert new is not None and new != old
    # Pause (SIGSTOP) a follower: its stream goes silent and the page greys it within two
    # heartbeat intervals (250 ms at least); resume brings it back.
    follower = next(str(i) for i in up.ids if str(i) not in (old, new))
    page.click(f'#nodes button[data-action="pause"][data-node="{follower}"]')
    page.wait_for_function(f"document.querySelector('.node-row[data-node=\"{follower}\"]').dataset.state === 'down'",
                           timeout=10_000)
    page.wait_for_function(f"document.querySelector('.node-row[data-node=\"{follower}\"]').dataset.role === 'PAUSED'")
    page.click(f'#nodes button[data-action="resume"][data-node="{follower}"]')
    page.wait_for_function(f"document.querySelector('.node-row[data-node=\"{follower}\"]').dataset.state === 'up'",
                           timeout=10_000)
    assert page.locator(f'svg#ring g[data-node="{old}"]').get_attribute("data-role") in ("DOWN", "PAUSED")
    shot = tmp_path / "view-after-reelection.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    if os.environ.get("ZMQZAB_SCREENSHOT_DIR"):
        Path(os.environ["ZMQZAB_SCREENSHOT_DIR"]).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(os.environ["ZMQZAB_SCREENSHOT_DIR"]) / "view-after-reelection.png"))
    assert page.errors == []  # type: ignore[attr-defined]


def test_browser_controls_only_from_the_address_zmqzab_up_printed(up, page):
    """Goal (issue 17): only the browser that opened the address `zmqzab up` printed (it holds
    the run's secret) gets the controls. Setup: `zmqzab up`. Steps: the page served by a node,
    and the controls' page opened without the secret, are read-only; then the printed address
    gives the controls, and the secret is gone from the address bar."""
    up.wait_leader()
    for url in (up.node_page, up.control + "/"):
        page.goto(url)
        page.wait_for_function("document.querySelectorAll('.node-row[data-state=\"up\"]').length === 5",
                               timeout=15_000)
        assert page.locator("#readonly").is_visible() and not page.locator("#controls").is_visible(), url
        assert page.locator('#nodes button[data-action="crash"]').count() == 0, url
    page.goto(up.page)
    page.wait_for_function("!document.getElementById('controls').hidden", timeout=15_000)
    assert up.secret not in page.url
    assert page.errors == []  # type: ignore[attr-defined]


def test_browser_page_opened_as_a_file_is_read_only_without_up(tmp_path, page):
    """Goal: index.html opened from the file reads a cluster whose nodes were started one by
    one (no `zmqzab up`): five nodes, one leader, the game, no controls."""
    c = ProcCluster(tmp_path)
    try:
        c.start_all()
        c.wait_leader()
        r = c.guess(c.wait_leader(), 12, "file-page", 1)
        assert r is not None and r.ok
        seed = c.config.node(2).http_url
        page.goto(f"{INDEX_HTML.as_uri()}?node={seed}")
        page.wait_for_function("document.querySelectorAll('.node-row[data-state=\"up\"]').length === 5",
                               timeout=15_000)
        page.wait_for_function("document.querySelectorAll('.node-row[data-role=\"LEADING\"]').length === 1")
        page.wait_for_function("document.querySelectorAll('.target[data-target=\"12\"]').length === 5")
        assert not page.locator("#controls").is_visible()
        assert not page.locator(".guessbox").is_visible()
        assert page.locator("#readonly").is_visible()
        assert page.locator('#nodes button[data-action="crash"]').count() == 0
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        c.close()
