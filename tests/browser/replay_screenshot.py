"""Make docs/view-replay.png: the page replaying a simulator run with an injected bug, at the
checker's verdict, at 1280x720 (a projector).

    python -m tests.browser.replay_screenshot [docs/view-replay.png]

Records `zmqzab sim --seed 3 --inject-bug commit_without_quorum --record FILE` (in a temp dir),
serves it as `zmqzab replay` does, opens it in headless Chromium (Debian's), goes to the end
(End) and takes the picture once the verdict is shown: n4, an old leader, committed 3:6 with
one ACK of five. Not a test (pytest does not collect it); tests/browser/test_replay*.py are.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.browser.conftest import CHROMIUM_ARGS, chromium_path
from zmqzab.record.server import serve_recording

ROOT = Path(__file__).resolve().parents[2]
COMMAND = ["sim", "--seed", "3", "--inject-bug", "commit_without_quorum"]


def shoot(body: bytes, out: Path, steer, width: int = 1280, height: int = 720, query: str = "") -> None:
    """Serve a recording's frames as `zmqzab replay` does, open them in headless Chromium,
    let ``steer(page)`` bring the page to the instant, and take the picture."""
    from playwright.sync_api import sync_playwright

    server, url = serve_recording(body)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(url + query)
            steer(page)
            page.screenshot(path=str(out))
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    print(f"saved {out}")


def at_the_verdict(page) -> None:
    page.wait_for_function("R.header !== null", timeout=30_000)
    page.keyboard.press("End")
    page.wait_for_function("!document.getElementById('rp-verdict').hidden && !S.dirty", timeout=30_000)


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "seed3.zrec"
        # Exit 1: the checker finds the injected bug (what the picture shows).
        subprocess.run([sys.executable, "-m", "zmqzab", *COMMAND, "--record", str(path)],
                       stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
        from zmqzab.record.reader import read_recording
        shoot(read_recording(path, keep_frames=False).ndjson(), out, at_the_verdict, query="&paused=1")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "view-replay.png")
