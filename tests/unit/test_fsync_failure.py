"""A failed fsync, in one process: the node stops without acknowledging (ZAB_CHECKLIST #25)."""

from __future__ import annotations

import errno
import threading

import pytest
from loguru import logger

from zmqzab.client import Client, ClientError
from zmqzab.config import load_config
from zmqzab.server.node import Node
from zmqzab.up.localcluster import make_config

pytestmark = [pytest.mark.security, pytest.mark.storage]


def test_a_failed_fsync_stops_the_node_without_acknowledging(tmp_path, monkeypatch):
    """In one process: a single-node cluster whose fsync fails (EIO). Expected: no write is
    acknowledged (nothing was made durable), the node's loop stops with exit code 1 and the
    disk message, and nothing was applied from memory."""
    config = load_config(make_config(tmp_path, 1))
    node = Node(config, 0, tmp_path / "data" / "node-0")
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="CRITICAL")

    def failing_sync() -> None:
        raise OSError(errno.EIO, "Input/output error (injected)")

    monkeypatch.setattr(node.storage, "sync", failing_sync)
    runner = threading.Thread(target=node.run, daemon=True)
    runner.start()
    with Client(config, timeout=3.0) as client:
        with pytest.raises(ClientError):
            client.guess(42)
    runner.join(timeout=10)
    logger.remove(sink)
    assert not runner.is_alive() and node.exit_code == 1
    assert node.peer.zxid_committed == 0 and node.counters["applied"] == 0
    assert any("the disk failed" in ln and "Input/output error" in ln for ln in lines), lines
