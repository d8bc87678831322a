"""The power-loss witness is turned on by its environment variable in a fresh Python process,
and by nothing else (the model itself is tested in tests/unit/test_powerloss.py)."""

import os
import subprocess
import sys

import pytest
from zmqzab.chaos import powerloss

pytestmark = [pytest.mark.chaos, pytest.mark.storage]


def test_the_environment_variable_turns_the_witness_on_and_nothing_else_does(tmp_path):
    code = ("import sys; from pathlib import Path; from zmqzab.storage import durable; "
            "from zmqzab.chaos.powerloss import install_from_env; install_from_env(); "
            "durable.fsync_dir(Path(sys.argv[1]), True); print(durable._witness is not None)")
    log = tmp_path / "w.durable"
    env = {**os.environ, powerloss.ENV: str(log)}
    on = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True)
    assert on.stdout.strip() == "True" and '"dir"' in log.read_text()
    env.pop(powerloss.ENV)
    off = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True)
    assert off.stdout.strip() == "False"
