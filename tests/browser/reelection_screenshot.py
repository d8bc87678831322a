"""Make docs/view-reelection.png: the live view during a re-election, in classroom timing.

    python -m tests.browser.reelection_screenshot [docs/view-reelection.png]

Starts `zmqzab up` with config/classroom.toml's timing on free ports (data in a temp dir),
opens the page in headless Chromium (Debian's) at 1920x1080, plays a round of the game from
the page, crashes the leader from the page and takes the picture when every surviving node is
LOOKING and their votes have converged: the moment a class should look at.
Not a test (pytest does not collect it); the browser tests cover the same steps.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tests.browser.conftest import CHROMIUM_ARGS, chromium_path
from tests.processes.upcluster import UpCluster
from zmqzab.config import load_config

ROOT = Path(__file__).resolve().parents[2]


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    timing = load_config(ROOT / "config" / "classroom.toml").timing
    with tempfile.TemporaryDirectory() as tmp:
        up = UpCluster(Path(tmp), timing=timing)
        up.start()
        try:
            up.wait_leader(timeout=30)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1920, "height": 1080})
                page.goto(up.page)
                page.wait_for_function("document.querySelectorAll('.node-row[data-phase=\"BROADCAST\"]').length === 5",
                                       timeout=30_000)
                for value in (61, 40, 47, 55, 52):
                    page.fill("#guess-value", str(value))
                    page.click("#guess-btn")
                    page.wait_for_function(
                        f"document.getElementById('control-msg').textContent.includes('committed') && "
                        f"document.querySelectorAll('.node-row .entry.committed').length >= 5 * {1 + [61, 40, 47, 55, 52].index(value)}",
                        timeout=30_000)
                leader = page.get_attribute('.node-row[data-role="LEADING"]', "data-node")
                page.click(f'#nodes button[data-action="crash"][data-node="{leader}"]')
                page.wait_for_function(
                    """(() => {
                        const rows = [...document.querySelectorAll('.node-row')];
                        const looking = rows.filter(r => r.dataset.role === 'LOOKING');
                        if (looking.length !== 4) return false;
                        const votes = looking.map(r => (r.querySelector('.node-facts').textContent.match(/votes n(\\d)/) || [])[1]);
                        return votes.every(v => v && v === votes[0]);
                    })()""", timeout=30_000, polling=50)
                page.screenshot(path=str(out))
                browser.close()
        finally:
            up.stop()
    print(f"saved {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "view-reelection.png")
