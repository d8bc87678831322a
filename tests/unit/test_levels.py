"""The test levels hold (tests/conftest.py): every test file lives in a level's directory, and
no file outside tests/processes and tests/browser starts a process, so that
``python -m pytest -m "not processes"`` stays in one process. Read from the files' text; the
conftest's guard catches at run time what the text hides (a command that starts processes)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import LEVELS, PROCESS_LEVELS, TESTS, level_of

#: What starts a process: subprocess, os.exec*/spawn*, multiprocessing, the package's clusters
#: and the tests' harnesses on them.
STARTS_PROCESSES = re.compile(
    r"\bsubprocess\b|\bos\.(exec|spawn|posix_spawn)|\bmultiprocessing\b|\bLocalCluster\b|\bNetnsCluster\b"
    r"|\bProcCluster\b|\bSecureCluster\b|\bUpCluster\b|tests\.processes\.(procs|securecluster|upcluster)")


def test_every_test_file_lives_in_a_level():
    stray = [str(p.relative_to(TESTS)) for p in TESTS.rglob("test_*.py") if level_of(p) is None]
    assert not stray, f"test files outside the levels {LEVELS}: {stray}"


def _code_only(path: Path) -> str:
    """The file's code without its strings and comments: a test that names a module in a
    string (tests/unit/test_imports.py lists impure modules) starts nothing."""
    import io
    import tokenize

    toks = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    return " ".join(t.string for t in toks if t.type not in (tokenize.STRING, tokenize.COMMENT))


def test_no_file_outside_the_process_levels_starts_a_process():
    offenders = []
    for path in TESTS.rglob("*.py"):
        if level_of(path) in PROCESS_LEVELS or path.name == "conftest.py":
            continue
        text = _code_only(path)
        # This file names what it looks for; the words are in the pattern, not in use.
        if path == Path(__file__).resolve():
            continue
        match = STARTS_PROCESSES.search(text)
        if match:
            offenders.append(f"{path.relative_to(TESTS)}: {match.group(0)}")
    assert not offenders, ("these files start processes (or use a harness that does): move them to "
                           f"tests/processes/: {offenders}")


def test_the_guard_refuses_a_process_here():
    import subprocess as sp  # noqa: the guard's own test

    try:
        sp.run(["true"])
    except AssertionError as exc:
        assert "tests/processes/" in str(exc)
    else:
        raise AssertionError("a unit test started a process and nothing refused it")
