"""The node's loop, in one process (issue 14): how it waits, and where its log is made durable.

Real nodes (zmq sockets on ports from the OS, real files) run on threads of the test process;
nothing here is timed: conditions are polled with a deadline, and counts are compared.
"""

from __future__ import annotations

import errno
import threading

import pytest
from loguru import logger

from tests import polling
from zmqzab.client import Client, ClientError
from zmqzab.config import load_config
from zmqzab.core.roles import Role
from zmqzab.messages import Ack
from zmqzab.server.node import Node
from zmqzab.up.localcluster import make_config
from zmqzab.zxid import zxid_counter

pytestmark = [pytest.mark.storage]

WAIT = 30.0  # a bound for a stuck test, never a pause


def wait_for(condition, what: str, deadline_s: float = WAIT) -> None:
    polling.wait_for(condition, deadline_s, what, interval=0.005)


def start(node: Node) -> threading.Thread:
    runner = threading.Thread(target=node.run, daemon=True)
    runner.start()
    return runner


def stop(nodes: list[Node], runners: list[threading.Thread]) -> None:
    for node in nodes:
        node.running = False
    for runner in runners:
        runner.join(timeout=10)


def test_an_idle_node_waits_for_its_tick_instead_of_spinning(tmp_path):
    """Goal: the loop sleeps until its next tick. Setup: a one-node cluster, idle. Expected:
    about one loop pass per tick. Before the fix a timeout under 1 ms was truncated to 0 by
    pyzmq and the last millisecond of every tick was a busy loop (tens of passes per tick)."""
    config = load_config(make_config(tmp_path, 1))
    node = Node(config, 0, tmp_path / "data" / "node-0")
    runner = start(node)
    try:
        wait_for(lambda: node.peer.role == Role.LEADING, "node 0 leads")
        ticks0, passes0 = node.replica.ticks, node.loop_passes
        wait_for(lambda: node.replica.ticks >= ticks0 + 40, "40 more ticks")
        ticks, passes = node.replica.ticks - ticks0, node.loop_passes - passes0
    finally:
        stop([node], [runner])
    print(f"{passes} loop passes in {ticks} ticks")
    assert passes <= 3 * ticks, f"{passes} loop passes in {ticks} idle ticks: the loop spins"


def two_of_three(tmp_path) -> tuple[list[Node], list[threading.Thread]]:
    """Nodes 0 and 1 of a 3-node cluster, on threads: a quorum of two, so every write needs
    the follower's ACK."""
    config = load_config(make_config(tmp_path, 3))
    nodes = [Node(config, i, tmp_path / "data" / f"node-{i}") for i in (0, 1)]
    runners = [start(n) for n in nodes]
    wait_for(lambda: {n.peer.role for n in nodes} == {Role.LEADING, Role.FOLLOWING}
             and all(n.peer.phase == nodes[0].peer.phase for n in nodes), "a leader and a follower")
    return nodes, runners


def test_no_ack_leaves_before_the_fsync_that_covers_it(tmp_path, monkeypatch):
    """Goal: the durability order with the log ops of a loop pass handed over at its end
    (ZAB_CHECKLIST: nothing ACKed before it is durable). Setup: two nodes of three; the follower's storage records how far
    each returned fsync reached, and its transport every ACK it sends. Faults: none.
    Expected: 30 writes committed; every ACK names a zxid a returned fsync covered; no fsync
    ran on the loop's thread (a stalled disk must not stop its PINGs: storage/writer.py)."""
    nodes, runners = two_of_three(tmp_path)
    try:
        follower = next(n for n in nodes if n.peer.role == Role.FOLLOWING)
        synced = {"to": 0, "threads": []}
        violations: list[str] = []
        acks: list[int] = []
        real_sync, real_send = follower.storage.sync, follower.transport.send

        def sync() -> None:
            last = follower.storage.last_zxid  # what this fsync covers
            real_sync()
            synced["to"] = last
            synced["threads"].append(threading.current_thread() is runners[nodes.index(follower)])

        def send(to: int, msg) -> None:
            if type(msg) is Ack and zxid_counter(msg.zxid):
                acks.append(msg.zxid)
                if msg.zxid > synced["to"]:
                    violations.append(f"ACK {msg.zxid:#x} left with the disk synced to {synced['to']:#x}")
            real_send(to, msg)

        monkeypatch.setattr(follower.storage, "sync", sync)
        monkeypatch.setattr(follower.transport, "send", send)
        with Client(nodes[0].config, node=follower.id, timeout=10.0) as client:
            for value in range(30):
                assert client.guess(value % 100).zxid > 0
    finally:
        stop(nodes, runners)
    assert violations == []
    assert len(acks) >= 30
    on_loop = sum(synced["threads"])
    print(f"{len(acks)} ACKs; {on_loop} of {len(synced['threads'])} fsyncs on the loop's thread")
    assert synced["threads"] and on_loop == 0


def test_a_failed_fsync_stops_the_follower_without_acknowledging(tmp_path, monkeypatch):
    """Goal: ZAB_CHECKLIST #25 with the log ops of a pass handed over at its end. Setup: two nodes of three (the
    follower's ACK is needed for a quorum). Faults: the follower's fsync fails with EIO.
    Expected: the write is not acknowledged to the client, the follower sends no ACK for it,
    and its loop stops with exit code 1 and the disk message."""
    nodes, runners = two_of_three(tmp_path)
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="CRITICAL")
    try:
        follower = next(n for n in nodes if n.peer.role == Role.FOLLOWING)
        runner = runners[nodes.index(follower)]
        acks: list[int] = []
        real_send = follower.transport.send

        def failing_sync() -> None:
            raise OSError(errno.EIO, "Input/output error (injected)")

        def send(to: int, msg) -> None:
            if type(msg) is Ack and zxid_counter(msg.zxid):
                acks.append(msg.zxid)
            real_send(to, msg)

        monkeypatch.setattr(follower.storage, "sync", failing_sync)
        monkeypatch.setattr(follower.transport, "send", send)
        with Client(nodes[0].config, node=follower.id, timeout=3.0) as client:
            with pytest.raises(ClientError):
                client.guess(42)
        runner.join(timeout=10)
        assert not runner.is_alive() and follower.exit_code == 1
    finally:
        stop(nodes, runners)
        logger.remove(sink)
    assert acks == []
    assert any("the disk failed" in ln and "Input/output error" in ln for ln in lines), lines


def test_the_status_is_built_per_tick_only_while_someone_reads_it(tmp_path, monkeypatch):
    """Goal: an unwatched node does not rebuild its status view every tick (~0.25 ms each on
    this machine, issue 14), and a reader after a quiet spell still gets a current one.
    Setup: a one-node cluster; the status builder counted. Faults: none. Expected: no build
    in 20 unwatched ticks; a write, then a read: the status shows that write (not the stale
    view); while reads continue, a build per tick again."""
    config = load_config(make_config(tmp_path, 1))
    node = Node(config, 0, tmp_path / "data" / "node-0")
    builds = [0]
    real_status = node.status

    def counted() -> dict:
        builds[0] += 1
        return real_status()

    monkeypatch.setattr(node, "status", counted)
    runner = start(node)
    try:
        wait_for(lambda: node.peer.role == Role.LEADING and node.peer.zxid_committed == node.peer.zxid_last,
                 "node 0 leads")
        ticks0 = node.replica.ticks
        wait_for(lambda: node.replica.ticks >= ticks0 + 1, "a tick")
        built = builds[0]
        wait_for(lambda: node.replica.ticks >= ticks0 + 21, "20 more ticks")
        assert builds[0] == built, f"{builds[0] - built} status builds in 20 unwatched ticks"
        with Client(config, timeout=10.0) as client:
            written = client.guess(7)
        assert node.status_snapshot["zxid_committed"] == written.zxid_text
        built, ticks1 = builds[0], node.replica.ticks
        wait_for(lambda: node.status_snapshot is not None and node.replica.ticks >= ticks1 + 10, "10 read ticks")
        assert builds[0] - built >= 5
    finally:
        stop([node], [runner])
