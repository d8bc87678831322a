"""Make docs/view-lesson.png: the page in a lesson, at a caption with a question for the class, at
1280x720 (a projector).

    python -m tests.browser.lesson_screenshot [docs/view-lesson.png] [--lesson trunc]
        [--caption trunc] [--size 1280x720]

Records the lesson as `zmqzab lesson NAME` does (lessons/record.py, in memory), serves it with
the replay server, opens it in headless Chromium (Debian's) paused at t=0, presses shift+→ up to
the caption and takes the picture once the page has drawn that instant. The default: the lesson
trunc at its caption "trunc": n4, leader of epoch 2, sends TRUNC 1:1 to n1, whose 1:2 and 1:3
(dashed, outlined red: not in the leader's history) were never committed, and the class is asked
why deleting them is safe. `--size 1920x1080` shows the same moment on a laptop. Not a test (pytest
does not collect it); tests/browser/test_lesson_in_browser.py is.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tests.browser.replay_screenshot import shoot
from zmqzab.lessons import find
from zmqzab.lessons.record import recording_bytes

ROOT = Path(__file__).resolve().parents[2]


def main(out: Path, lesson: str, caption: str, width: int, height: int) -> None:
    script, body = recording_bytes(find(lesson))
    ids = [c.id for c in script.captions]
    if caption not in ids:
        raise SystemExit(f"lesson {lesson} has no caption {caption!r}; its captions: {', '.join(ids)}")

    def at_the_caption(page) -> None:
        page.wait_for_function("R.header !== null && !S.dirty", timeout=30_000)
        for cid in ids[:ids.index(caption) + 1]:
            page.keyboard.press("Shift+ArrowRight")
            page.wait_for_function(f"document.getElementById('caption').dataset.id === {json.dumps(cid)} && !S.dirty",
                                   timeout=30_000)

    shoot(body, out, at_the_caption, width, height)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", nargs="?", type=Path, default=ROOT / "docs" / "view-lesson.png")
    ap.add_argument("--lesson", default="trunc")
    ap.add_argument("--caption", default="trunc")
    ap.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT of the window")
    a = ap.parse_args()
    w, h = (int(x) for x in a.size.split("x"))
    main(a.out, a.lesson, a.caption, w, h)
