"""zmqzab installed from its wheel, outside any checkout, runs a cluster and serves its page.

Goal: what a new user gets from `pip install .` (not -e) works: the page and the config presets
ship inside the package. Setup: the wheel is built (pip wheel --no-deps --no-build-isolation) from
a copy of the sources, installed into a fresh venv made outside the repository (with the system
site for the dependencies, so nothing is downloaded); every zmqzab command runs in an empty
temporary directory without PYTHONPATH. Faults: none. Expected: the venv imports the wheel's
copy, not a checkout nor the system's editable install; `zmqzab init` writes the presets; with
their ports changed to free ones, `zmqzab up` elects a leader and takes `zmqzab guess`; a node
serves index.html (the checkout's bytes); Ctrl+C stops `zmqzab up` with exit 0.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.polling import wait_for
from zmqzab.up.localcluster import free_ports

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "index.html", "config", "zmqzab")
PORT_KEYS = re.compile(r"^(peer_port|pub_port|client_port|http_port|zk_port)( *= *)\d+", re.M)

pytestmark = [pytest.mark.processes, pytest.mark.cli]


def run(args: list, cwd: Path, env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> tuple[Path, dict]:
    """A fresh venv outside the repository with zmqzab installed from its wheel, and the
    environment to run it in (no PYTHONPATH: it would import a checkout instead)."""
    root = tmp_path_factory.mktemp("wheel")
    assert REPO not in root.parents
    src = root / "src"
    src.mkdir()
    for name in SOURCES:  # pip builds in the source tree: build/ and *.egg-info go to the copy
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "keys"))
        else:
            shutil.copy2(path, src / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["NO_COLOR"] = "1"
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                 "-w", root / "dist", src], root, env)
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (root / "dist").glob("zmqzab-*.whl")
    made = run([sys.executable, "-m", "venv", "--system-site-packages", root / "venv"], root, env)
    assert made.returncode == 0, made.stderr
    pip = run([root / "venv" / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index",
               wheel], root, env)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    return root / "venv", env


def test_the_installed_wheel_runs_a_cluster_takes_a_guess_and_serves_its_page(venv, tmp_path):
    venv_dir, env = venv
    zmqzab = venv_dir / "bin" / "zmqzab"
    work = tmp_path / "empty"
    work.mkdir()

    where = run([venv_dir / "bin" / "python", "-c", "import zmqzab, zmqzab.resources as r; "
                 "print(zmqzab.__file__); print(r.index_html()); print(r.default_config()[0])"], work, env)
    assert where.returncode == 0, where.stderr
    module, page, default = (Path(line) for line in where.stdout.split())
    assert venv_dir in module.parents, f"the venv imported {module}, not the wheel's copy"
    assert venv_dir in page.parents and page.read_bytes() == (REPO / "index.html").read_bytes()
    assert venv_dir in default.parents  # plain `zmqzab up` here would run the shipped preset

    init = run([zmqzab, "init"], work, env, timeout=60)
    assert init.returncode == 0, init.stderr
    assert "config/cluster.toml" in init.stdout
    config = work / "config" / "cluster.toml"
    text = config.read_text()
    ports = iter(free_ports(len(PORT_KEYS.findall(text))))
    config.write_text(PORT_KEYS.sub(lambda m: f"{m[1]}{m[2]}{next(ports)}", text))
    http_port = int(re.search(r"^http_port *= *(\d+)", config.read_text(), re.M)[1])

    console = open(tmp_path / "up.console", "wb")
    up = subprocess.Popen([str(zmqzab), "up", "--control-port", "0"], cwd=work, env=env, stdout=console,
                          stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def guessed():
            result = run([zmqzab, "guess", "42", "--timeout", "5"], work, env, timeout=60)
            assert up.poll() is None, (tmp_path / "up.console").read_text()
            return result if result.returncode == 0 else None

        result = wait_for(guessed, 180, "zmqzab guess to commit", interval=0.5)
        assert result.stdout.startswith("committed ") and "set the target to 42" in result.stdout

        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/", timeout=10) as resp:
            assert resp.status == 200
            assert resp.read() == (REPO / "index.html").read_bytes()

        up.send_signal(signal.SIGINT)  # Ctrl+C: the supervisor stops every node
        assert up.wait(timeout=60) == 0, (tmp_path / "up.console").read_text()
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
        console.close()
    assert (work / "data" / "node-0").is_dir() and (work / "logs" / "node-0.log").is_file()
