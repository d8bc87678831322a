"""What a node imports before its first election message (issue 14: start-up is on the clock of
every restart, a follower's catch-up included).

Goal: the modules only the ZooKeeper port, CURVE, the four-letter words or the command line need
are not imported by a node that does not use them, nor what the node puts off until it has voted
(its HTTP view) or never needs (asyncio, which loguru and zmq.utils.monitor would import; hashlib).
Setup: a fresh interpreter (this process has imported everything already) builds what ``zmqzab
node`` builds before the loop's first step: the config, the Node, its HTTP port bound; it prints
``sys.modules``. And a real ``zmqzab node`` run with ``-X importtime``, whose stderr lists each
import as it completes, in order with the node's own log lines. Faults: none. Expected: without a
zk_port and with CURVE off, none of the lazy modules is loaded; with a zk_port, the ZooKeeper
port's are (so the check can see an import when there is one); the real node imports none of the
deferred modules before its first election message, and its view then answers /status.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

from zmqzab.config import NodeAddress, StorageConfig, render_config
from zmqzab.up.localcluster import free_ports

from tests.polling import wait_for

ROOT = Path(__file__).resolve().parents[2]

#: Loaded only where used: the ZooKeeper port (a config with zk_port), pyzmq's ZAP handler
#: (CURVE on), importlib.metadata (the `srvr` word's version), the typer command line.
ZK_PORT_ONLY = ("zmqzab.server.zkport", "zmqzab.host.zk", "importlib.metadata")
NEVER_WITHOUT_CURVE = ("zmqzab.security.authenticator", "zmq.auth")
NEVER_IN_A_NODE = ("typer", "click", "zmqzab.cli.app", "asyncio", "hashlib")
#: Imported once the node has sent its first election message (server/httpbind.py).
AFTER_THE_VOTE = ("zmqzab.server.web", "zmqzab.server.httpserver", "http.server", "ssl")

START_UP = """
import json, os, sys
from pathlib import Path
from zmqzab.cli.common import load
from zmqzab.server.loguru_startup import before_import

before_import()  # as cli/node.py does before loguru is imported
from zmqzab.server.httpbind import DeferredView
from zmqzab.server.logs import setup_logging
from zmqzab.server.node import Node

config = load(Path(sys.argv[1]))
setup_logging(0, config.storage.log_dir)
node = Node(config, 0, config.storage.data_dir / "node-0")
http = DeferredView(node, None)  # bound, not served: run_node serves it after the first vote
print(json.dumps(sorted(sys.modules)))
sys.stdout.flush()
os._exit(0)  # the modules are what is asked; the node's threads need no orderly stop here
"""


def write_config(tmp_path: Path, zk_port: bool) -> tuple[Path, NodeAddress]:
    ports = free_ports(6)
    node = NodeAddress(0, "127.0.0.1", *ports[:4], zk_port=ports[4] if zk_port else 0)
    storage = StorageConfig(data_dir=tmp_path / "data", log_dir=tmp_path / "logs", fsync=True)
    path = tmp_path / "cluster.toml"
    path.write_text(render_config([node], storage=storage))
    return path, node


def modules_at_start(tmp_path: Path, zk_port: bool) -> set[str]:
    path, _ = write_config(tmp_path, zk_port)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", START_UP, str(path)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_processes_a_node_without_zk_port_or_curve_leaves_their_modules_unloaded(tmp_path):
    loaded = modules_at_start(tmp_path, zk_port=False)
    assert "zmqzab.server.node" in loaded  # the start-up did run
    unwanted = [m for m in (*ZK_PORT_ONLY, *NEVER_WITHOUT_CURVE, *NEVER_IN_A_NODE, *AFTER_THE_VOTE)
                if m in loaded]
    assert not unwanted, f"imported at start-up though this node does not use them: {unwanted}"


def test_processes_a_node_with_a_zk_port_loads_the_port_but_not_curve_or_the_cli(tmp_path):
    loaded = modules_at_start(tmp_path, zk_port=True)
    assert {"zmqzab.server.zkport", "zmqzab.host.zk"} <= loaded
    unwanted = [m for m in (*NEVER_WITHOUT_CURVE, *NEVER_IN_A_NODE) if m in loaded]
    assert not unwanted, f"imported at start-up though this node does not use them: {unwanted}"


COROUTINE_SINK = """
import sys
from zmqzab.server.loguru_startup import before_import

assert before_import(), "the stand-in was not installed"
from loguru import logger

assert "asyncio" not in sys.modules, "loguru imported asyncio"
import asyncio

got = []

async def sink(message):
    got.append(str(message).strip())

async def main():
    logger.remove()
    logger.add(sink, format="{message}")
    logger.info("through a coroutine sink")
    await logger.complete()

asyncio.run(main())
assert got == ["through a coroutine sink"], got
print("ok")
"""


def test_processes_loguru_imports_no_asyncio_and_a_coroutine_sink_still_works():
    env = dict(os.environ, PYTHONPATH=str(ROOT), LOGURU_AUTOINIT="false")
    done = subprocess.run([sys.executable, "-c", COROUTINE_SINK], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def imports_before_the_vote(stderr: str) -> tuple[list[str], bool]:
    """The modules ``-X importtime`` reported before the node's first election message, and
    whether that message came."""
    before: list[str] = []
    for line in stderr.splitlines():
        if line.startswith("import time:"):
            before.append(line.rsplit("|", 1)[-1].strip())
        elif "| election round 1 started" in line:
            return before, True
    return before, False


def test_processes_a_real_node_votes_before_it_imports_its_view_asyncio_or_hashlib(tmp_path):
    path, node = write_config(tmp_path, zk_port=False)
    err_path = tmp_path / "node.err"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with open(err_path, "w") as err:
        proc = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "zmqzab", "node", "--id", "0",
                                 "--config", str(path)], stdout=subprocess.DEVNULL, stderr=err, env=env,
                                cwd=tmp_path)
    try:
        def status() -> dict | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{node.http_port}/status", timeout=2) as answer:
                    return json.loads(answer.read())
            except OSError:
                assert proc.poll() is None, f"the node exited: {err_path.read_text()[-2000:]}"
                return None

        # A lone node of a one-node config leads at once; its view serves after its vote.
        assert wait_for(status, 60, "the node's /status")["role"] in ("LOOKING", "LEADING")
    finally:
        proc.kill()
        proc.wait()
    before, voted = imports_before_the_vote(err_path.read_text(errors="replace"))
    assert voted, "no election message in the node's stderr"
    assert "zmqzab.server.node" in before  # the importtime lines are there
    unwanted = [m for m in (*NEVER_IN_A_NODE, *AFTER_THE_VOTE) if m in before]
    assert not unwanted, f"imported before the node's first election message: {unwanted}"
