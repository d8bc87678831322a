"""Attack on issue 14's write path: the node re-reports an OLD durable zxid at every wake-up.

``Node._woken`` kept the writer's last report in ``_durable_latest`` and handed it to
``Peer.persisted`` again at *every* wake-up of the loop (a control command, a snapshot child, a
disk read), not once. The core's contract (``Peer.truncate``): after a Truncate "the next report
comes after the Truncate". A re-played report from before the Truncate breaks it when the log
later holds the same zxid again (ABA): the truncated txns come back from another leader.

The schedule (5 nodes: 0 is a real ``Node`` with its real writer thread and real files, the
others are the core harness's peers; the test thread plays node 0's loop passes with the node's
own ``execute`` / ``_write_log`` / ``_woken``):

1. leader 4 (epoch 1) commits 3 txns everywhere;
2. {0, 4} cut off from {1, 2, 3}: leader 4 proposes (1,4), (1,5); only node 0 logs them
   (its writer reports (1,5) durable; node 0 ACKs; no quorum, nothing commits); 4 crashes;
3. node 0's disk stalls (fsync blocks: a slow disk, the case ARCHITECTURE §3 keeps the fsync
   off the loop for);
4. {1, 2, 3} elect 3 (epoch 2); its NEWLEADERs are lost, so epoch 2 is never established
   (nobody's currentEpoch moves); node 0 joins 3 and is TRUNCated to (1,3): its Truncate goes
   to the stalled writer; 3 crashes;
5. 4 restarts and wins epoch 3 (it holds (1,5), every currentEpoch is still 1); it DIFFs node 0
   (1,4), (1,5) and sends NEWLEADER: node 0 appends them (queued behind the stalled Truncate);
6. a control command reaches node 0 (the chaos nemesis heals a partition this way): the
   wake-up re-plays the stale report (1,5), the core takes it as durable, writes currentEpoch 3
   and ACKs NEWLEADER; no fsync has returned since the Truncate, the appends are not even
   written. A power loss now leaves node 0 with (1,3) under currentEpoch 3 while leader 4
   counted it for (1,4), (1,5).

Expected (ZAB_CHECKLIST #14): no ACK (NEWLEADER's included) leaves before an fsync returned
that covers every log op it vouches for.
"""

from __future__ import annotations

import select
import threading

import pytest

from zmqzab.config import load_config
from zmqzab.core.output import Append, Truncate
from zmqzab.core.roles import FollowerStep, Role
from zmqzab.messages import Ack, NewLeader, SyncStart
from zmqzab.server.node import Node
from zmqzab.up.localcluster import make_config
from zmqzab.zxid import make_zxid, zxid_counter
from tests.core.harness import Cluster

pytestmark = [pytest.mark.storage]

V = 0  # the real node


class WithRealNode(Cluster):
    """The harness, with node ``V`` replaced by a real ``Node`` driven pass by pass."""

    node: Node | None = None
    drop = staticmethod(lambda src, dst, msg: False)

    def attach(self, node: Node) -> None:
        self.node = node
        self.peers[V] = node.peer
        self.replicas[V] = node.replica
        self.queue = type(self.queue)(m for m in self.queue if m[0] != V)  # the harness peer's votes
        node.transport.send = lambda to, msg: self.queue.append((V, to, msg))
        node.transport.publish = lambda msg: self.queue.extend((V, p, msg) for p in self.ids if p != V)
        self.execute(V, node.peer.start())

    def execute(self, i, out) -> None:
        if i == V and self.node is not None:
            self.node.execute(out)  # one loop pass: its Outputs, then its log ops to the writer
            self.node._write_log()
        else:
            super().execute(i, out)

    def deliver_one(self) -> bool:
        if self.queue and self.drop(*self.queue[0]):
            self.queue.popleft()
            return True
        return super().deliver_one()

    def settle(self, limit: int = 100_000) -> None:
        node = self.node
        for _ in range(1000):
            super().settle(limit)
            if node is None:
                return
            if not self.stalled:
                node.writer.flush_sync(10.0)
            readable, _, _ = select.select([node.wake.r], [], [], 0)
            if not readable:
                return
            node._woken()  # the loop pass that sees the wake pipe
            node._write_log()
        raise AssertionError("node 0 kept waking up")

    stalled = False


def test_a_stale_durable_report_acks_newleader_over_an_unsynced_truncate(tmp_path, monkeypatch):
    config = load_config(make_config(tmp_path, 5))
    node = Node(config, V, tmp_path / "data" / "node-0")
    c = WithRealNode(5)
    c.attach(node)

    # What returned fsyncs of node 0 cover: ops are counted as the loop hands them over
    # (submit_log, in order) and as the writer applies them.
    ops: list = []
    applied = {"n": 0}
    synced = {"ops": 0}
    gate = threading.Event()
    gate.set()
    real_apply, real_sync, real_submit = node.storage.apply, node.storage.sync, node.submit_log

    def submit_log(op) -> None:
        ops.append(op)
        real_submit(op)

    def apply(op) -> None:
        real_apply(op)
        applied["n"] += 1

    def sync() -> None:
        covered = applied["n"]
        gate.wait()
        real_sync()
        synced["ops"] = covered

    violations: list[str] = []
    real_send = node.transport.send

    def vouched_ops(zxid: int) -> int:
        """How many of the ops handed over so far an ACK for the log up to ``zxid`` vouches for."""
        need = 0
        for k, op in enumerate(ops):
            if type(op) is Truncate or (type(op) is Append and op.txns[0].zxid <= zxid):
                need = k + 1
        return need

    def send(to, msg) -> None:
        if type(msg) is Ack:
            covers = msg.zxid if zxid_counter(msg.zxid) else node.peer.zxid_last
            need = vouched_ops(covers)
            if need > synced["ops"]:
                violations.append(f"ACK {msg.zxid:#x} (vouching for the log up to {covers:#x}) left with "
                                  f"{synced['ops']} of the {need} log ops it covers synced; ops: {ops}")
        real_send(to, msg)

    monkeypatch.setattr(node, "submit_log", submit_log)
    monkeypatch.setattr(node.storage, "apply", apply)
    monkeypatch.setattr(node.storage, "sync", sync)
    node.transport.send = send
    try:
        # 1. leader 4, epoch 1, three txns everywhere
        c.run_until(c.serving, 300)
        x = c.leader()
        assert x == 4, c.roles()
        for s in range(1, 4):
            c.submit(x, s, "a", s)
        c.tick(2)
        assert node.peer.zxid_committed == make_zxid(1, 3)

        # 2. two more txns reach node 0 only; no quorum; the leader crashes
        c.partition({V, x}, {1, 2, 3})
        c.submit(x, 4, "a", 4)
        c.submit(x, 5, "a", 5)
        assert node.peer.zxid_last == make_zxid(1, 5) and node.durable_reported == make_zxid(1, 5)
        assert c.peers[1].zxid_last == make_zxid(1, 3)
        c.crash(x)

        # 3. node 0's disk stalls
        c.stalled = True
        gate.clear()

        # 4. {1, 2, 3} elect 3 (epoch 2); its NEWLEADERs never arrive; node 0 is TRUNCated
        c.partition({V}, {1, 2, 3})
        c.drop = staticmethod(lambda src, dst, msg: type(msg) is NewLeader and src == 3)
        c.run_until(lambda: c.peers[3].role == Role.LEADING, 300)
        c.heal()
        c.run_until(lambda: any(type(op) is Truncate for op in ops), 300)
        assert node.peer.zxid_last == make_zxid(1, 3)
        c.crash(3)
        c.drop = staticmethod(lambda src, dst, msg: False)

        # 5. 4 comes back and leads epoch 3; node 0 gets (1,4), (1,5) again and NEWLEADER
        c.start(x)
        c.run_until(lambda: getattr(node.peer.role_state, "step", None) == FollowerStep.NEWLEADER_RECEIVED
                    and node.peer.leader_id == x, 300)
        assert node.peer.zxid_last == make_zxid(1, 5)
        assert c.peers[x].epoch == 3
        assert not violations, violations

        # 6. a control command wakes node 0's loop (the nemesis healing a partition)
        done = threading.Event()
        threading.Thread(target=lambda: (node.command("faults", {"blocked": []}, 10.0), done.set()),
                         daemon=True).start()
        while not done.is_set():
            c.settle()
            done.wait(0.01)
        c.settle()
    finally:
        gate.set()
        node.running = False
        node.close()
    assert violations == []
