"""A node whose http_port is taken stops before it votes (its view is served only after its first
election message, server/httpbind.py, but bound before it).

Goal: putting the HTTP view off does not let a node join a cluster it cannot be seen in. Setup:
a one-node config; a plain socket holds the node's http_port. Faults: the port in use. Expected:
``zmqzab node`` exits 2, its error names http_port and the way out, and it sent no election
message.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from zmqzab.config import NodeAddress, StorageConfig, render_config
from zmqzab.up.localcluster import free_ports

ROOT = Path(__file__).resolve().parents[2]


def test_processes_a_node_whose_http_port_is_taken_exits_2_before_voting(tmp_path):
    ports = free_ports(4)
    node = NodeAddress(0, "127.0.0.1", *ports)
    storage = StorageConfig(data_dir=tmp_path / "data", log_dir=tmp_path / "logs")
    path = tmp_path / "cluster.toml"
    path.write_text(render_config([node], storage=storage))
    with socket.socket() as other:
        other.bind(("127.0.0.1", node.http_port))
        other.listen()
        done = subprocess.run([sys.executable, "-m", "zmqzab", "node", "--id", "0", "--config", str(path)],
                              capture_output=True, text=True, cwd=tmp_path, timeout=60,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert done.returncode == 2, done.stderr
    assert f"http_port {node.http_port}" in done.stderr and "already in use" in done.stderr
    assert "change http_port in" in done.stderr
    assert "election round" not in done.stderr, "the node voted though it could not serve its view"
