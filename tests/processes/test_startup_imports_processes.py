"""What a node imports before its first election message (issue 14: start-up is on the clock of
every restart, a follower's catch-up included).

Goal: the modules only the ZooKeeper port, CURVE, the four-letter words or the command line need
are not imported by a node that does not use them. Setup: a fresh interpreter (this process has
imported everything already) builds what ``zmqzab node`` builds before the loop's first step:
the config, the Node, its HTTP view; it prints ``sys.modules``. Faults: none. Expected: without a
zk_port and with CURVE off, none of the lazy modules is loaded; with a zk_port, the ZooKeeper
port's are (so the check can see an import when there is one).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from zmqzab.config import NodeAddress, StorageConfig, render_config
from zmqzab.up.localcluster import free_ports

ROOT = Path(__file__).resolve().parents[2]

#: Loaded only where used: the ZooKeeper port (a config with zk_port), pyzmq's ZAP handler
#: (CURVE on), importlib.metadata (the `srvr` word's version), the typer command line.
ZK_PORT_ONLY = ("zmqzab.server.zkport", "zmqzab.host.zk", "importlib.metadata")
NEVER_WITHOUT_CURVE = ("zmqzab.security.authenticator", "zmq.auth")
NEVER_IN_A_NODE = ("typer", "click", "zmqzab.cli.app")

START_UP = """
import json, os, sys
from pathlib import Path
from zmqzab.cli.common import load
from zmqzab.server.logs import setup_logging
from zmqzab.server.node import Node
from zmqzab.server.web import start_http

config = load(Path(sys.argv[1]))
setup_logging(0, config.storage.log_dir)
node = Node(config, 0, config.storage.data_dir / "node-0")
http = start_http(node)
print(json.dumps(sorted(sys.modules)))
sys.stdout.flush()
os._exit(0)  # the modules are what is asked; the node's threads need no orderly stop here
"""


def modules_at_start(tmp_path: Path, zk_port: bool) -> set[str]:
    ports = free_ports(6)
    node = NodeAddress(0, "127.0.0.1", *ports[:4], zk_port=ports[4] if zk_port else 0)
    storage = StorageConfig(data_dir=tmp_path / "data", log_dir=tmp_path / "logs", fsync=True)
    path = tmp_path / "cluster.toml"
    path.write_text(render_config([node], storage=storage))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", START_UP, str(path)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_processes_a_node_without_zk_port_or_curve_leaves_their_modules_unloaded(tmp_path):
    loaded = modules_at_start(tmp_path, zk_port=False)
    assert "zmqzab.server.node" in loaded  # the start-up did run
    unwanted = [m for m in (*ZK_PORT_ONLY, *NEVER_WITHOUT_CURVE, *NEVER_IN_A_NODE) if m in loaded]
    assert not unwanted, f"imported at start-up though this node does not use them: {unwanted}"


def test_processes_a_node_with_a_zk_port_loads_the_port_but_not_curve_or_the_cli(tmp_path):
    loaded = modules_at_start(tmp_path, zk_port=True)
    assert {"zmqzab.server.zkport", "zmqzab.host.zk"} <= loaded
    unwanted = [m for m in (*NEVER_WITHOUT_CURVE, *NEVER_IN_A_NODE) if m in loaded]
    assert not unwanted, f"imported at start-up though this node does not use them: {unwanted}"
