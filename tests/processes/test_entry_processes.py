"""The entry point's fast path for ``zmqzab node`` in a fresh Python process (the parsing is
tested in tests/unit/test_entry.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_client import free_port, make_config

pytestmark = [pytest.mark.cli]


@pytest.fixture
def config(tmp_path) -> Path:
    make_config(tmp_path, {i: free_port() for i in range(3)})
    return tmp_path / "cluster.toml"


def test_fast_path_does_not_import_typer(config):
    """Goal: `zmqzab node` starts without the command-line library (start-up time). The child
    exits at the unknown id, after the point where the full app would have been built."""
    script = ("import sys\nfrom zmqzab.entry import main\ntry:\n    main(sys.argv[1:])\n"
              "except SystemExit as exc:\n    print(exc.code, 'typer' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", script, "node", "--id", "9", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["2", "False"], result.stderr
