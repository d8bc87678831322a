"""The host: everything a ``Peer`` driver needs besides sockets and real threads.

One ``Replica`` per running node (a new one at every restart), used unchanged by the node
process (server/node.py), the simulator (sim/simulation.py) and the core tests' harness
(tests/core/harness.py). Like etcd-io/raft's RawNode with its Ready loop, the driver feeds
the core (``replica.peer.step(...)``, ``replica.tick()``, ``replica.submit(...)``) and hands
every Output to ``replica.execute(out)``, which carries it out in the durability order
(effects.py) and does the host's bookkeeping around it:

* clients: a request taken here is answered when its txn is applied here, by (client id, seq)
  (clients.py); a retry of an applied request gets its original answer (``known_answer``);
* snapshots: every ``snapshot_every`` applied txns, one snapshot of the game at that exact
  applied zxid (snapshots.py); when the writer reports it saved, the core learns where the log
  on disk now starts (``snapshot_saved``);
* DIFF from disk: a ``ReadLog`` becomes a ``DiskStream`` (reads.py) that the driver fills with
  what it reads and ends with ``disk_read_done``;
* durable reports: the driver tells ``handed_over`` what it gives its writer and ``durable``
  what the writer reports; only a report that is new and covers the last Truncate or
  InstallSnapshot becomes ``Peer.persisted`` (durable.py).

The driver implements ``HostIO``, the I/O only it can do: files, sockets or their simulation.
As TigerBeetle's simulator runs the real replica, the simulator runs this class: the paths
production takes (a DIFF from disk after a restart, a retried request, the snapshot policy)
are the paths it explores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, Protocol, TypeVar

from zmqzab.core.output import InstallSnapshot, LogOp, Output, ReadLog, Trace
from zmqzab.core.peer import Peer
from zmqzab.host.clients import ClientTable
from zmqzab.host.durable import DurableReports
from zmqzab.host.effects import execute
from zmqzab.host.reads import DiskStream
from zmqzab.host.snapshots import SnapshotPolicy
from zmqzab.messages import GameResult, Op, PeerMessage, Txn
from zmqzab.state import ReplicatedState, Result, is_game_op

W = TypeVar("W")

#: Unanswered requests are forgotten after this many ticks (a minute at the default 100 ms).
WAITING_EXPIRY_TICKS = 600


class HostIO(Protocol[W]):
    """What a driver does for its Replica (see effects.py for the order)."""

    def write_epochs(self, accepted: int | None, current: int | None) -> None:
        """Atomically and durably, before returning (an ACKEPOCH may follow at once)."""

    def submit_log(self, op: LogOp) -> None:
        """Hand a log op to the writer (counted by ``Replica.handed_over`` when the driver gives
        it over); each writer report then goes to ``Replica.durable``."""

    def durable_zxid(self) -> int: ...

    def send(self, to: int, msg: PeerMessage) -> None: ...

    def publish(self, msg: PeerMessage) -> None: ...

    def read_log(self, stream: DiskStream) -> None:
        """Start reading ``stream.read``'s range from the log on disk (see reads.py)."""

    def applied(self, txn: Txn, result: Result) -> None:
        """Every applied txn, before its waiting clients are answered. The hook of ZooKeeper's
        client port: a tree or session txn's result is a ``ZkResult`` (zmqzab/state.py) that
        carries the tree's TxnResult (error code, stat, path, watch triggers) or the session
        table's SessionResult."""

    def answer(self, waiters: list[W], txn: Txn, result: GameResult) -> None:
        """Tell each waiter its request committed as ``txn`` with ``result``."""

    def trace(self, trace: Trace) -> None: ...

    def take_snapshot(self, zxid: int, state: ReplicatedState) -> bool:
        """Snapshot ``state`` (game, tree and sessions at applied ``zxid``) and save it after the appends it
        covers. True: it is in flight, and the driver calls ``Replica.snapshot_saved`` (or
        ``snapshot_failed``) when it is done; no other snapshot starts meanwhile."""


class Replica(Generic[W]):
    """One node's Peer and its host bookkeeping; also the ``Effects`` of execute()."""

    def __init__(self, peer: Peer, io: HostIO[W], snapshot_every: int = 0,
                 waiting_expiry_ticks: int = WAITING_EXPIRY_TICKS,
                 test_faults: frozenset[str] = frozenset()) -> None:
        self.peer = peer
        self.io = io
        self.clients: ClientTable[W] = ClientTable(waiting_expiry_ticks)
        self.snapshots = SnapshotPolicy(snapshot_every)
        #: The writer's reports that may become ``Peer.persisted`` (``test_faults``: durable.py's
        #: HOST_TEST_FAULTS, simulator tests only).
        self.reports = DurableReports(peer.zxid_durable, test_faults)
        self._takes_stale = "takes_stale_requests" in test_faults  # TEST FAULT (durable.py's list)
        #: Ticks since this replica started: the clock of the client table.
        self.ticks = 0
        # execute() calls these once per message or txn: bound straight to the driver's.
        self.write_epochs = io.write_epochs
        self.durable_zxid = io.durable_zxid
        self.send = io.send
        self.publish = io.publish
        self.trace = io.trace

    # ---------------------------------------------------------------- the driver's entries

    def execute(self, out: Output) -> None:
        """Carry out ``out`` (effects.py's order), then take a snapshot if one is due."""
        if not out:
            return
        execute(out, self)
        if out.applied and self.snapshots.applied(len(out.applied)):
            peer = self.peer
            self.snapshots.started(self.io.take_snapshot(peer.zxid_applied, peer.state))

    def tick(self) -> Output:
        self.ticks += 1
        self.clients.expire(self.ticks)
        return self.peer.tick()

    def known_answer(self, op: Op) -> tuple[int, GameResult] | None:
        """(zxid, result) of ``op`` if this node has applied it: a retry gets its original answer."""
        if not is_game_op(op):
            return None  # only the game's ops are exactly-once by (client id, seq)
        return self.peer.state.answer_of(op.client_id, op.seq)

    def refusal(self, op: Op) -> GameResult | None:
        """The game's answer to ``op`` if this node must refuse it at once rather than propose
        it: too old to be logged (``Game.refusal_at_once``)."""
        if not is_game_op(op) or self._takes_stale:  # (TEST FAULT: takes it all the same)
            return None
        return self.peer.state.game.refusal_at_once(op)  # type: ignore[arg-type]

    def submit(self, ops: list[Op], waiters: Sequence[W], ts_ms: int) -> Output:
        """Propose (or forward) ``ops``; ``waiters[k]`` is answered when ``ops[k]`` is applied
        here. Raises the core's NotReady (nothing waits then; carry out its ``output``)."""
        out = self.peer.submit(ops, ts_ms=ts_ms)
        # Before the Output is carried out: a single-node cluster applies within it.
        self.clients.wait(ops, waiters, self.ticks)
        return out

    def handed_over(self, ops: Sequence[object]) -> None:
        """The driver gives ``ops`` to its writer now, in this order: the log ops of Outputs,
        and a snapshot's save or commit."""
        self.reports.handed_over(ops)

    def durable(self, zxid: int, covered: int) -> Output:
        """The writer reported the disk's log ending at ``zxid``, synced with the first
        ``covered`` ops handed over. Taken once, and only if it covers the last cut (durable.py);
        else nothing happens (the report of the cut's batch is to come)."""
        if not self.reports.take(zxid, covered):
            return Output()
        return self.peer.persisted(zxid)

    def snapshot_saved(self, log_start: int) -> None:
        """The writer saved a snapshot (or skipped or failed it) and purged: the log on disk
        now holds every txn after ``log_start``."""
        self.snapshots.finished()
        self.peer.log_purged(log_start)

    def snapshot_failed(self) -> None:
        """The snapshot in flight never reached the writer; the next one is due as usual."""
        self.snapshots.finished()

    # ---------------------------------------------------------------- Effects (effects.py)

    def submit_log(self, op: LogOp) -> None:
        if type(op) is InstallSnapshot:
            self.snapshots.installed()
        self.io.submit_log(op)

    def read_log(self, read: ReadLog) -> None:
        self.io.read_log(DiskStream(read))

    def applied(self, txn: Txn, result: Result) -> None:
        self.io.applied(txn, result)
        if self.clients.waiting:
            waiters = self.clients.pop(txn.op)
            if waiters:
                self.io.answer(waiters, txn, result)
