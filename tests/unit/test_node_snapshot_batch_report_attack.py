"""Attack on 68912f1 (each durable report taken once): a report that LEAVES the writer after a
Truncate was submitted, from a batch that was taken before it, still describes the old log.

``Peer.truncate`` counts on "callers truncate only a log whose appends were all reported, so
the next report comes after the Truncate"; ``follower._log_written`` checks the first half
(``zxid_durable >= zxid_last``). But the writer reports at the end of EVERY batch, not only of
batches with appends: a snapshot batch (``SaveSnapshot``, the fork-failure fallback, or
``CommitSnapshot`` after a forked child) reports ``storage.last_zxid`` once before its save and
once after. Such a batch, taken before the Truncate and slow (a snapshot of megabytes, a stalled
disk), reports the OLD log's last zxid after the Truncate was submitted. The deque of one only
keeps a report from being taken twice; it cannot tell this report from a newer one.

The schedule (the harness of test_node_stale_durable_report_attack; node 0 real, with its real
writer thread and files):

1. leader 4 (epoch 1) commits 3 txns everywhere;
2. {0, 4} cut off: leader 4 proposes (1,4), (1,5); only node 0 logs them (reported durable);
   4 crashes;
3. node 0 takes a snapshot at (1,3); the fork fails, so a ``SaveSnapshot`` goes to the writer,
   which takes it alone and stalls in its first fsync (a slow disk);
4. {1, 2, 3} elect 3 (epoch 2), its NEWLEADERs are lost; node 0 is TRUNCated to (1,3): its
   durable zxid is its last one, so ``_log_written`` lets the Truncate go, queued behind the
   snapshot batch; 3 crashes;
5. 4 leads epoch 3, DIFFs node 0 (1,4), (1,5) and sends NEWLEADER: appended, queued too;
6. the snapshot batch's fsync returns; it reports (1,5) (the log before the Truncate) and saves
   the snapshot; the next batch (Truncate, appends) stalls in its fsync. The loop takes (1,5):
   the log holds (1,5) again, so the core takes it as durable and ACKs NEWLEADER with no fsync
   since the Truncate.

Expected (ZAB_CHECKLIST #14): no ACK leaves before an fsync that covers every log op it vouches
for.
"""

from __future__ import annotations

import threading

import pytest

from zmqzab.config import load_config
from zmqzab.core.output import Append, Truncate
from zmqzab.core.roles import FollowerStep, Role
from zmqzab.messages import Ack, NewLeader
from zmqzab.server import snapshots as snapshots_module
from zmqzab.server.node import Node
from zmqzab.up.localcluster import make_config
from zmqzab.zxid import make_zxid, zxid_counter
from tests.unit.test_node_stale_durable_report_attack import V, WithRealNode
from tests.polling import wait_for

pytestmark = [pytest.mark.storage]

def test_a_snapshot_batch_report_acks_newleader_over_an_unsynced_truncate(tmp_path, monkeypatch):
    config = load_config(make_config(tmp_path, 5))
    node = Node(config, V, tmp_path / "data" / "node-0")
    c = WithRealNode(5)
    c.attach(node)

    ops: list = []
    applied = {"n": 0}
    synced = {"ops": 0}
    # A sync blocks while the disk stalls, unless it covers no more than stall["after"] ops.
    stall = {"on": False, "after": -1}
    cond = threading.Condition()
    real_apply, real_sync, real_submit = node.storage.apply, node.storage.sync, node.submit_log

    def submit_log(op) -> None:
        ops.append(op)
        real_submit(op)

    def apply(op) -> None:
        real_apply(op)
        applied["n"] += 1

    def sync() -> None:
        covered = applied["n"]
        with cond:
            cond.wait_for(lambda: not stall["on"] or covered <= stall["after"])
        real_sync()
        synced["ops"] = covered

    violations: list[str] = []
    acks: list[int] = []
    real_send = node.transport.send

    def vouched_ops(zxid: int) -> int:
        need = 0
        for k, op in enumerate(ops):
            if type(op) is Truncate or (type(op) is Append and op.txns[0].zxid <= zxid):
                need = k + 1
        return need

    def send(to, msg) -> None:
        if type(msg) is Ack:
            acks.append(msg.zxid)
            covers = msg.zxid if zxid_counter(msg.zxid) else node.peer.zxid_last
            need = vouched_ops(covers)
            if need > synced["ops"]:
                violations.append(f"ACK {msg.zxid:#x} (vouching for the log up to {covers:#x}) left with "
                                  f"{synced['ops']} of the {need} log ops it covers synced; ops: {ops}")
        real_send(to, msg)

    def no_fork():
        raise OSError("fork refused (the test: ENOMEM)")

    monkeypatch.setattr(node, "submit_log", submit_log)
    monkeypatch.setattr(node.storage, "apply", apply)
    monkeypatch.setattr(node.storage, "sync", sync)
    monkeypatch.setattr(snapshots_module.os, "fork", no_fork)
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

        # 2. two more txns reach node 0 only; the leader crashes
        c.partition({V, x}, {1, 2, 3})
        c.submit(x, 4, "a", 4)
        c.submit(x, 5, "a", 5)
        assert node.peer.zxid_last == make_zxid(1, 5) and node.durable_reported == make_zxid(1, 5)
        c.crash(x)

        # 3. a snapshot at (1,3) (the fork fails: SaveSnapshot on the writer), its fsync stalls
        c.stalled = True
        with cond:
            stall["on"] = True
        assert node.peer.zxid_applied == make_zxid(1, 3)
        completed = node.writer._completed
        completed_ops = applied["n"]
        node.take_snapshot(node.peer.zxid_applied, node.peer.state)
        node._write_log()

        # 4. epoch 2 never established; node 0 TRUNCated to (1,3) behind the snapshot batch
        c.partition({V}, {1, 2, 3})
        c.drop = staticmethod(lambda src, dst, msg: type(msg) is NewLeader and src == 3)
        c.run_until(lambda: c.peers[3].role == Role.LEADING, 300)
        c.heal()
        c.run_until(lambda: any(type(op) is Truncate for op in ops), 300)
        assert node.peer.zxid_last == make_zxid(1, 3)
        c.crash(3)
        c.drop = staticmethod(lambda src, dst, msg: False)

        # 5. 4 leads epoch 3; node 0 gets (1,4), (1,5) again and NEWLEADER
        c.start(x)
        c.run_until(lambda: getattr(node.peer.role_state, "step", None) == FollowerStep.NEWLEADER_RECEIVED
                    and node.peer.leader_id == x, 300)
        assert node.peer.zxid_last == make_zxid(1, 5)
        assert not violations, violations

        # 6. the snapshot batch's fsync returns (only it: the Truncate's batch still stalls)
        with cond:
            stall["after"] = completed_ops
            cond.notify_all()
        wait_for(lambda: node.writer._completed > completed, 10.0, "the snapshot batch")
        c.settle()
        assert not violations, violations

        # 7. the disk catches up: the Truncate's batch reports, and NEWLEADER is ACKed then
        with cond:
            stall["on"] = False
            cond.notify_all()
        c.stalled = False
        c.settle()
        assert make_zxid(3, 0) in acks, [hex(a) for a in acks]
    finally:
        with cond:
            stall["on"] = False
            cond.notify_all()
        node.running = False
        node.close()
    assert violations == []
