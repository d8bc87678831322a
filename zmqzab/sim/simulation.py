"""One simulated cluster run: N production Peers, a simulated network, disk and clock, one seed.

Theory of operation
-------------------
Everything happens in one thread, in one loop over a heap of events keyed by
``(time, sequence number)``: nothing else decides the order, so a seed fixes the whole run.
Time is an integer in units, ``TICK`` (100) units per protocol tick. Events (events.py, one
type per kind):

* a node's tick: ``Peer.tick()``, once per tick per node, at an offset inside the tick drawn
  per incarnation (node clocks are not in lock step);
* a message delivery: ``Peer.step(src, msg)``;
* an fsync completing: the simulated writer's batch is applied to the node's real ``Storage``
  and its report (``storage.last_zxid``, the ops it covers) goes to the host, whose rule
  (host/durable.py, the one node.py runs) makes it ``Peer.persisted``; with report schedules
  (reports.py) it waits for a wake-up of the node's loop, as in node.py, and may come late,
  coalesced or again;
* a peer's connection closing (it crashed, or the connection flapped):
  ``Peer.peer_unreachable(peer)``, and one being made (a node started, a flap reopened it, a
  heal let it through): ``Peer.peer_connected(peer)``, as node.py feeds its socket monitors'
  reports;
* a disk read (DIFF from disk, ``ReadLog``) completing: the range is read from the node's real
  ``Storage`` with production ``read_range``, sent, and ``Peer.disk_read_done`` follows;
* the tick boundary ("control"): the fault scheduler (crashes, partitions), restarts, heals,
  and the clients.

Every node runs production's host (zmqzab/host/: a ``Replica`` per incarnation, the same
class node.py runs): every Output goes through it, with a ``NodeIO`` as its ``HostIO``: epochs
are written synchronously to the real epoch files, log ops go to the simulated writer, sends
become network events, applied txns answer clients (the host's client table), snapshots are
taken by the host's policy, and a DIFF from disk is the host's ``DiskStream``. After every
event the checkers (checkers.py) look at the node it touched.

Network (network.py). Latency with FIFO per connection, drops, duplicates, reordering, delay
spikes, partitions (both ways, one way, a bridge), DEALER queues that deliver late, connection
flaps with stale deliveries.

Faults (faults.py). Random crashes (often the leader's), crash points inside a discovery/sync
Output (after its persist, before or between its sends), partitions, pauses, forced elections,
flaps and bridges, power losses, bit rot, refused starts and the operator's resync. A node may
also die just before an fsync inside a SNAP install, a snapshot's save and purge or a TRUNC
(disk.py, ``_died_in_file_op``). A crash here is a process crash (kill -9: the page cache
keeps what the writer wrote) unless it is a power loss. A restart opens the data dir with
production recovery and starts a new ``Peer`` with a ``random.Random`` of its own, derived from
the seed, node and incarnation.

Phases (liveness.py). ``run()`` injects faults for ``ticks`` ticks, then heals everything (partitions gone,
every node restarted, no more drops, duplicates, reordering or crashes, clients stop starting
new requests) and requires, within ``liveness_ticks`` (by default ``liveness_bound``, derived
from initLimit and the election's timers): one established leader followed by every node, the
same committed zxid everywhere (the leader's last), an answer to every request, and then a
fresh write, sent through a follower, applied on every node.

No wall clock, no global ``random``, and no iteration over a set or over a dict whose order
depends on hashing (PYTHONHASHSEED): nodes are visited in sorted order.
"""

from __future__ import annotations

import heapq
import shutil
import tempfile
import traceback
from collections import Counter
from pathlib import Path
from typing import Callable

from zmqzab.core.output import Append, InstallSnapshot, LogOp, Output, Trace as CoreTrace
from zmqzab.core.errors import InvariantError, NotReady
from zmqzab.core.follower import FollowerState
from zmqzab.core.peer import Peer
from zmqzab.core.roles import Phase, Role
from zmqzab.host.effects import DurabilityError
from zmqzab.host.reads import DiskStream
from zmqzab.host.recovery import new_peer
from zmqzab.host.replica import Replica
from zmqzab.messages import NOT_COUNTED, Ack, AckEpoch, GameResult, PeerMessage, Ping, Txn, wire_name
from zmqzab.sim import faults, liveness
from zmqzab.sim.checkers import Checkers, Violation
from zmqzab.sim.disk import DiskDied, SimDisk
from zmqzab.sim.events import (Control, ConnectionClosed, ConnectionMade, Deliver, Event, FsyncDone, Heal,
                               NodeEvent, ReadDone, ReportWake, Restart, Resync, Tick, ZkToClient, ZkToServer)
from zmqzab.sim.network import Network, Rule
from zmqzab.sim.reports import ReportSchedules
from zmqzab.sim.options import (CLIENT_TIMEOUT_TICKS, NODES_MAX, NODES_MIN, SimOptions, SimResult,
                                derive_rng, draw_settings)
from zmqzab.sim.trace import TICK, Trace, describe_op
from zmqzab.sim.workload import Request, Workload
from zmqzab.sim.zkclients import ZkWorld
from zmqzab.state import ReplicatedState, Result
from zmqzab.storage.compaction import SaveSnapshot
from zmqzab.storage.errors import StorageError
from zmqzab.storage.reader import read_range
from zmqzab.zxid import fmt_zxid, zxid_counter



class _Crash(Exception):
    """The node dies while it carries out an Output (a crash point, faults.crash_point). Raised
    inside execute() by a NodeIO armed to crash mid-Output; ``_execute`` raises it again with
    the ``note`` for the trace, and ``partly_done`` when part of the Output happened."""

    def __init__(self, note: str = "", partly_done: bool = False) -> None:
        super().__init__(note)
        self.note = note
        self.partly_done = partly_done


class SimNode:
    __slots__ = ("id", "disk", "peer", "replica", "up", "incarnation", "io", "paused_until", "refused")

    def __init__(self, node_id: int, disk: SimDisk) -> None:
        self.id = node_id
        self.disk = disk
        self.peer: Peer | None = None
        #: The host (zmqzab/host/) of this incarnation: its Peer, the requests it took, its
        #: snapshot policy. None while the node is down.
        self.replica: Replica[Request] | None = None
        self.up = False
        self.incarnation = 0
        self.io = NodeIO(self)
        #: While ``now`` is below this, the process is stopped (see ``Simulation.pause``).
        self.paused_until = 0
        #: Recovery refused its data dir for bit rot: down until the operator resyncs it.
        self.refused = False


class NodeIO:
    """The simulator's ``HostIO`` (zmqzab/host/replica.py) for one node."""

    __slots__ = ("node", "sim", "crash_after", "sends_done")

    def __init__(self, node: SimNode) -> None:
        self.node = node
        self.sim: Simulation | None = None
        #: Crash after this many sends of the current Output (None: do not crash).
        self.crash_after: int | None = None
        self.sends_done = 0

    def write_epochs(self, accepted: int | None, current: int | None) -> None:
        disk = self.node.disk
        disk.write_epochs(accepted, current)
        if current is not None:
            assert self.sim is not None
            self.sim.checkers.check_durable(self.node.id, disk.current_epoch, disk.durable_base,
                                            disk.durable_zxids, "just written")

    def _hand_over(self, op: LogOp | SaveSnapshot) -> None:
        # To the writer's queue: as node.py's _write_log, counted by the host (durable.py).
        replica = self.node.replica
        assert replica is not None
        replica.handed_over((op,))
        self.node.disk.submit(op)

    def submit_log(self, op: LogOp) -> None:
        self._hand_over(op)
        if type(op) is InstallSnapshot:
            # The core replaced its game before returning this Output: from here on the node
            # re-applies history from the snapshot's zxid.
            assert self.sim is not None and self.node.peer is not None
            self.sim.checkers.reset_position(self.node.id, op.zxid, "installed a SNAP")

    def durable_zxid(self) -> int:
        replica = self.node.replica
        assert replica is not None
        return replica.reports.zxid

    def _before_send(self) -> None:
        if self.crash_after is not None:
            if self.sends_done >= self.crash_after:
                raise _Crash()
            self.sends_done += 1

    def send(self, to: int, msg: PeerMessage) -> None:
        self._before_send()
        assert self.sim is not None
        if self.sim.recorder is not None:
            self.sim.recorder.sent(self.node.id, to, msg)
        if type(msg) is AckEpoch and msg.current_epoch != NOT_COUNTED:
            self.sim.checkers.on_promise(self.node.id, to, msg.epoch)
        elif type(msg) is Ack:
            peer, disk = self.node.peer, self.node.disk
            assert peer is not None
            # NEWLEADER's ACK (counter 0) vouches for the log NEWLEADER left (follower.py).
            covers = msg.zxid if zxid_counter(msg.zxid) else getattr(peer.role_state, "newleader_zxid",
                                                                        peer.zxid_last)
            self.sim.checkers.check_ack_synced(self.node.id, msg.zxid, covers, disk.inflight + disk.queue)
        elif type(msg) is Ping and msg.zxid_last > 0:
            peer, disk = self.node.peer, self.node.disk
            assert peer is not None
            # A follower's PING repeats its last ACK (zxid_last): the leader counts it as one
            # (leader.on_ping), so it vouches as an ACK does. A leader's PING counts nothing.
            if type(peer.role_state) is FollowerState:
                self.sim.checkers.check_ack_synced(self.node.id, msg.zxid_last, msg.zxid_last,
                                                   disk.inflight + disk.queue, "PINGs as an ACK")
        self.sim.net_send(self.node.id, to, msg, False)

    def publish(self, msg: PeerMessage) -> None:
        self._before_send()
        assert self.sim is not None
        src = self.node.id
        if self.sim.recorder is not None:
            self.sim.recorder.published(src, msg)
        for dst in self.sim.ids:
            if dst != src:
                self.sim.net_send(src, dst, msg, True)

    def read_log(self, stream: DiskStream) -> None:
        if self.crash_after is not None:
            raise _Crash()  # died after its sends, before starting the read
        assert self.sim is not None
        self.sim.schedule_read(self.node, stream)

    def applied(self, txn: Txn, result: Result) -> None:
        if self.crash_after is not None:
            raise _Crash()  # died after its sends, before answering anyone
        sim = self.sim
        assert sim is not None
        node = self.node
        assert node.peer is not None
        grown = len(sim.checkers.gz)
        sim.checkers.on_applied(node.id, txn, result, node.peer.epoch)
        if sim.zk is not None:
            sim.zk.applied(node, txn, result, len(sim.checkers.gz) != grown)

    def answer(self, waiters: list[Request], txn: Txn, result: GameResult) -> None:
        assert self.sim is not None
        if self.sim.recorder is not None:
            self.sim.recorder.answered(self.node.id, txn, result, len(waiters))
        for request in waiters:
            self.sim.answer(self.node.id, request, txn.zxid, result)

    def take_snapshot(self, zxid: int, state: ReplicatedState) -> bool:
        # As node.py: the game at its applied zxid, queued after the appends it covers; in
        # flight until the writer's report (_fsync_done), so no second one starts meanwhile.
        self._hand_over(SaveSnapshot(zxid, state.snapshot()))
        return True

    def trace(self, trace: CoreTrace) -> None:
        assert self.sim is not None
        self.sim.trace.add(self.sim.now, "node", self.node.id, f"{trace.event}: {trace.text}")
        if self.sim.recorder is not None:
            self.sim.recorder.traced(self.node.id, trace)


class Simulation:
    """One run: the nodes, the event queue, time, and the nodes' lifecycle (start, crash,
    restart, pause). The network (``net``, network.py), the random faults (faults.py) and the
    liveness phase (liveness.py) act on it; the scenario scripts drive it by hand."""

    def __init__(self, options: SimOptions) -> None:
        if not NODES_MIN <= options.nodes <= NODES_MAX:
            raise ValueError(f"nodes must be {NODES_MIN}..{NODES_MAX}, got {options.nodes}")
        self.options = options
        seed = options.seed
        self.ids = list(range(1, options.nodes + 1))
        self.rng_disk = derive_rng(seed, "disk")
        self.rng_fault = derive_rng(seed, "fault")
        self.rng_sched = derive_rng(seed, "sched")
        drawn = draw_settings(options)
        self.profile, self.core, storage_faults = drawn.profile, drawn.core, drawn.storage_faults
        #: host/durable.py's test faults, for every Replica.
        self.host_faults = drawn.host_faults
        every, kept = drawn.snapshot_every_txns, drawn.snapshots_kept
        self.snapshot_every, self.snapshots_kept = every, kept
        self.rng_disk_fault = derive_rng(seed, "disk-faults")
        self.round_size = drawn.round_size
        #: The fault phase's profile (the liveness phase calms it).
        self.profile_text = self.profile.describe() + (
            f" stale_copies={drawn.stale_copies:g}" if drawn.stale_copies else "")
        self.faults_on = options.faults
        self.trace = Trace(keep=options.trace_keep, echo=options.echo)
        self.checkers = Checkers(self.ids)
        self.counters: Counter = Counter()
        self.now = 0
        #: The event queue: (time, seq, event), see events.py.
        self._heap: list[tuple[int, int, Event]] = []
        self._seq = 0
        self.nodes: dict[int, SimNode] = {}
        #: Latency and message faults draw from one stream, connection faults (flaps, stale
        #: deliveries, bridges) from another.
        self.net = Network(self, derive_rng(seed, "net"), derive_rng(seed, "conn"), derive_rng(seed, "link"))
        #: Scripted scenarios: a rule choosing crash points (see faults.crash_point).
        self.crash_rule: Callable[[int, Output], int | None] | None = None
        #: Restart crashed nodes by themselves (the fault phase); scripts restart by hand.
        self.auto_restart = options.faults
        self.liveness = False
        self._tmp = Path(tempfile.mkdtemp(prefix="zmqzab-sim-"))
        for i in self.ids:
            node = SimNode(i, SimDisk(self._tmp / f"n{i}", kept, storage_faults))
            node.io.sim = self
            self.nodes[i] = node
        self.workload = Workload(derive_rng(seed, "clients"), options.clients, self.ids,
                                 CLIENT_TIMEOUT_TICKS, self.round_size, self.attempt,
                                 drawn.stale_copies, derive_rng(seed, "stale-copies"))
        self.workload.new_requests = options.workload
        #: ZooKeeper's client port on every node and its simulated clients (zkclients.py);
        #: None without them, so that a run without them draws and traces what it did before.
        self.zk: ZkWorld | None = None
        if options.zk_clients:
            self.zk = ZkWorld(self, options.zk_clients, derive_rng(seed, "zk-clients"),
                              derive_rng(seed, "zk-net"))
        bugs = self.core.test_faults | storage_faults | self.host_faults
        self.trace.add(0, "phase", f"seed {seed}: {options.nodes} nodes; profile: "
                       f"{self.profile_text}; window {self.core.log_window_txns}, sync batch "
                       f"{self.core.sync_batch_txns}, counter max {self.core.zxid_counter_max}"
                       + (f"; snapshot every {every} txns, {kept} kept" if every else "")
                       + (f"; injected bugs: {', '.join(sorted(bugs))}" if bugs else "")
                       + ("; report schedules" if options.report_schedules else ""))
        self._handlers: dict[type, Callable[[Event], None]] = {
            Deliver: self.net.arrive, Tick: self._on_tick, FsyncDone: self._on_fsync_done,
            Control: self._on_control, Restart: self._on_restart, Heal: self._on_heal,
            ConnectionClosed: self._on_connection_closed, ConnectionMade: self._on_connection_made,
            ReadDone: self._on_read_done,
            Resync: self._on_resync, ReportWake: self._on_report_wake}
        #: Durable reports delivered as node.py's loop takes them (reports.py), or None: each
        #: at its fsync's completion.
        self.reports: ReportSchedules | None = None
        if options.report_schedules:
            self.reports = ReportSchedules(self, derive_rng(seed, "reports"))
        if self.zk is not None:
            self._handlers[ZkToServer] = self.zk.on_to_server
            self._handlers[ZkToClient] = self.zk.on_to_client
        #: Sees what each node would stream to the page (zmqzab/record/sim.py), or None.
        self.recorder = options.recorder
        if self.recorder is not None:
            self.recorder.attach(self)
        self.push(0, Control())
        for i in self.ids:
            self.restart(i)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        for node in self.nodes.values():
            node.disk.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Simulation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def tick(self) -> int:
        return self.now // TICK

    def push(self, time: int, event: Event) -> None:
        """``event`` happens at ``time``, after every event pushed before it for that time."""
        self._seq += 1
        heapq.heappush(self._heap, (time, self._seq, event))

    def _sanitize(self, text: str) -> str:
        return text.replace(str(self._tmp) + "/", "")

    def restart(self, i: int) -> None:
        """Start node ``i`` from its data dir through production recovery."""
        node = self.nodes[i]
        if node.up:
            return
        node.incarnation += 1
        try:
            rec = node.disk.open()
        except StorageError as exc:
            if faults.refused_for_rot(self, node, exc):
                return
            raise Violation("restart recovers the data dir",
                            f"n{i} cannot start: {self._sanitize(str(exc))}") from None
        self._check_recovered_durable(node, rec)
        self.checkers.check_durable(i, rec.current_epoch, rec.snapshot_zxid, node.disk.durable_zxids,
                                    "at restart")
        for note in rec.notes:
            if "fsync is OFF" not in note:
                self.trace.add(self.now, "node", i, f"recovery: {self._sanitize(note)}")
        peer = new_peer(i, self.ids, self.core, derive_rng(self.options.seed, "peer", i, node.incarnation), rec)
        node.replica = Replica(peer, node.io, self.snapshot_every, test_faults=self.host_faults)
        node.peer, node.up = peer, True
        if self.recorder is not None:
            self.recorder.started(i)
        if self.zk is not None:
            self.zk.node_started(node)
        if node.incarnation > 1:
            self.counters["restart"] += 1
            self.trace.add(self.now, "fault", f"restart n{i} (incarnation {node.incarnation}): "
                           f"acceptedEpoch {rec.accepted_epoch}, currentEpoch {rec.current_epoch}, "
                           f"last {fmt_zxid(peer.zxid_last)}")
        self.checkers.reset_position(i, peer.zxid_applied, "restarted")
        offset = self.rng_sched.randint(1, TICK - 1)
        self.push(self.tick * TICK + TICK + offset, Tick(i, node.incarnation))
        self._run_step(node, peer.start)
        self.net.release_held(dst=i)
        self.net.node_started(i)

    def crash(self, i: int, why: str = "", kind: str = "crash", page_cache: bool = False) -> None:
        """Node ``i`` dies (``kind`` names the fault in the counters). ``page_cache``: a process
        crash (kill -9), whose written but unsynced data the kernel keeps; else the power goes
        too and only what was fsynced survives (disk.py). Scripts get the latter by default."""
        node = self.nodes[i]
        if not node.up:
            return
        node.up, node.peer, node.replica, node.paused_until = False, None, None, 0
        if self.recorder is not None:
            self.recorder.stopped(i)
        power = not page_cache
        if self.reports is not None:
            self.reports.forget(i)
        lost, landed = node.disk.crash(self.rng_disk, self.profile.torn, power)
        self.counters[kind] += 1
        if lost:
            self.counters["lost_write"] += lost
        if "torn" in landed:
            self.counters["torn_write"] += 1
        self.net.node_died(i)
        if self.zk is not None:
            self.zk.node_died(i)
        detail = ", ".join(x for x in (f"{lost} unsynced log op(s) lost" if lost else "", landed) if x)
        self.trace.add(self.now, "fault", f"crash n{i}{f' ({why})' if why else ''}"
                       + (f": {detail}" if detail else ""))
        faults.maybe_bit_rot(self, node)
        if self.auto_restart and not self.liveness:
            down = self.rng_fault.randint(1, self.profile.downtime_max)
            self.push(self.now + down * TICK, Restart(i, node.incarnation))

    def _check_recovered_durable(self, node: SimNode, rec) -> None:
        """What recovery returns, the node reports durable at once: nothing of it may be what a
        power loss would take (issue 11 defect 3); and after a power loss, nothing the node had
        reported durable before it may be missing."""
        disk = node.disk
        lost = disk.lost_claims(rec)
        if lost:
            raise Violation("what a node reports durable survives a power loss",
                            f"n{node.id} reported durable, then lost in a power loss: {lost}")
        undurable = disk.cache.undurable()
        if undurable:
            raise Violation("what a node reports durable survives a power loss",
                            f"n{node.id} recovered its data dir and reports its last zxid "
                            f"{fmt_zxid(rec.last_zxid)} durable, but a power loss now would change "
                            f"{', '.join(undurable[:3])}")

    def compact(self, i: int, kept: int = 1) -> None:
        """Scripted: node ``i`` does what node.py does every ``snapshot_every_txns``: snapshot
        its game at the applied zxid, save it and purge the log down to the ``kept`` newest
        snapshots; its core learns where the log on disk now starts (followers further behind
        get SNAP, not a DIFF from disk). Random runs take periodic snapshots instead (the
        seed's snapshot_every, through the writer)."""
        node = self.nodes[i]
        peer, storage = node.peer, node.disk.storage
        assert peer is not None and storage is not None
        if storage.last_zxid < peer.zxid_applied:
            raise AssertionError(f"n{i}'s disk ends at {fmt_zxid(storage.last_zxid)}, before its applied "
                                 f"{fmt_zxid(peer.zxid_applied)}: run a few ticks first")
        storage.snapshots_kept = kept
        report = storage.save_snapshot(SaveSnapshot(peer.zxid_applied, peer.state.snapshot()))
        peer.log_purged(storage.log_start)
        self.trace.add(self.now, "node", i, f"snapshot at {fmt_zxid(report.zxid)}; log purged, it starts "
                       f"after {fmt_zxid(storage.log_start)}")

    def pause(self, i: int, ticks: int) -> None:
        """Stop node ``i``'s process for ``ticks`` ticks: its timers do not fire (missed ticks are
        not replayed, as in node.py), and what arrives for it waits until it resumes."""
        node = self.nodes[i]
        if not node.up:
            return
        node.paused_until = max(node.paused_until, self.now + ticks * TICK)
        self.trace.add(self.now, "fault", f"pause n{i} for {ticks} ticks")

    def stall_disk(self, i: int, ticks: int) -> None:
        """Scripted: node ``i``'s fsyncs hang for ``ticks`` ticks (the process runs on)."""
        self.nodes[i].disk.stalled_until = self.now + ticks * TICK
        self.trace.add(self.now, "fault", f"n{i}'s disk stalls for {ticks} ticks")

    # ------------------------------------------------------------------ network (network.py)

    def partition(self, groups: list[list[int]] | list[set[int]], one_way: bool = False) -> None:
        """Scripted: cut every link between different groups (``one_way``: only from earlier to
        later)."""
        self.net.partition(groups, one_way)

    def heal(self) -> None:
        self.net.heal()

    def flap(self, a: int, b: int, why: str = "") -> None:
        self.net.flap(a, b, why)

    def inject(self, src: int, dst: int, msg: PeerMessage) -> None:
        """Scripted: deliver ``msg`` from ``src`` to ``dst`` now, as if it had just arrived."""
        self.net.inject(src, dst, msg)

    @property
    def rules(self) -> list[Rule]:
        """Scripted: rules the network asks on every send (network.Rule)."""
        return self.net.rules

    def net_send(self, src: int, dst: int, msg: PeerMessage, pub: bool) -> None:
        self.net.send(src, dst, msg, pub)

    # ------------------------------------------------------------------ one step

    def _run_step(self, node: SimNode, call: Callable[[], Output]) -> None:
        """Call into node's Peer, carry out the Output, run the checkers."""
        peer = node.peer
        assert peer is not None
        grown = len(self.checkers.gz)
        try:
            out = call()
            self._execute(node, out)
            if self.recorder is not None and out and out.applied:
                self.recorder.committed(node.id, out.applied)
        except _Crash as died:
            if died.partly_done:
                # Part of the Output happened (epochs written, some sends left): what the node
                # had become is visible to others, so it is checked before it dies.
                self.checkers.after_step(node.id, peer, node.incarnation, node.disk.epochs)
            self.crash(node.id, "mid-Output, " + died.note, "crash_mid_output", page_cache=True)
            return
        except (InvariantError, DurabilityError, StorageError, AssertionError) as exc:
            where = traceback.extract_tb(exc.__traceback__)[-1]
            raise Violation(_LOCAL_CHECKS.get(type(exc), "local invariant"),
                            f"n{node.id} stopped: {type(exc).__name__}: {self._sanitize(str(exc))} "
                            f"({Path(where.filename).name}:{where.lineno})") from None
        self.checkers.after_step(node.id, peer, node.incarnation, node.disk.epochs)
        if len(self.checkers.gz) != grown:
            fresh = self.checkers.gz[grown:]
            for other in self.nodes.values():  # down nodes too: their disks vote when they return
                disk = other.disk
                self.checkers.check_durable(other.id, disk.current_epoch, disk.durable_base,
                                            disk.durable_zxids, "when a txn committed", fresh)
            self.checkers.on_new_commit_seen(
                [(n.id, n.peer) for n in self.up_nodes() if n.peer is not None and n.peer.leading is not None
                 and n.peer.leading.established])
        self._start_writer(node)

    def _execute(self, node: SimNode, out: Output) -> None:
        if not out:
            return
        io, replica = node.io, node.replica
        assert replica is not None
        point = faults.crash_point(self, node, out)
        if point is None:
            replica.execute(out)
            return
        if point < 0:
            # Nothing of it happened: the core's new state in memory dies unseen.
            raise _Crash("before carrying out an Output")
        kinds = ", ".join(wire_name(s.msg) for s in out.sends[:4]) or "no sends"
        note = (f"after its persist and {point} of {len(out.sends)} send(s) "
                f"({kinds}{'...' if len(out.sends) > 4 else ''})")
        io.crash_after, io.sends_done = point, 0
        try:
            replica.execute(out)
        except _Crash:
            pass  # io stopped it at the crash point
        finally:
            io.crash_after = None
        raise _Crash(note, partly_done=True)

    def _start_writer(self, node: SimNode) -> None:
        if not node.up:
            return
        prof = self.profile
        rate = prof.file_op_crash if self.faults_on and not self.liveness else 0.0
        try:
            started = node.disk.take_batch(self.rng_disk_fault, rate)
        except DiskDied as died:
            self._died_in_file_op(node, died)
            return
        except StorageError as exc:
            raise Violation("local invariant", f"n{node.id}'s storage refused a log op the core asked "
                            f"for: {self._sanitize(str(exc))}") from None
        if started:
            rng = self.rng_disk
            delay = rng.randint(1, prof.fsync_max)
            if self.faults_on and not self.liveness and prof.slow_fsync and rng.random() < prof.slow_fsync:
                self.counters["slow_fsync"] += 1
                delay += rng.randint(TICK, 5 * TICK)
            self.push(self.now + delay, FsyncDone(node.id, node.incarnation))

    def _died_in_file_op(self, node: SimNode, died: DiskDied) -> None:
        ops = ", ".join(sorted({type(op).__name__ for op in node.disk.inflight}))
        self.crash(node.id, f"{'power loss' if died.power else 'kill -9'} just before {died.where}, "
                   f"inside a batch of {ops}", "crash_in_file_op", page_cache=not died.power)

    def schedule_read(self, node: SimNode, stream: DiskStream) -> None:
        delay = self.rng_disk.randint(1, self.profile.fsync_max)
        self.push(self.now + delay, ReadDone(node.id, node.incarnation, stream))

    def _read_done(self, node: SimNode, stream: DiskStream) -> None:
        """What node.py's reader thread does, at once: read, send the header and the TXNS
        (the host's DiskStream), report."""
        storage = node.disk.storage
        read = stream.read
        assert storage is not None
        # As the reader thread and DiskReads: each batch is sent as it is read, so a read that
        # fails midway has sent its header and the batches before the failure.
        error = ""
        try:
            for txns in read_range(storage.log.dir, storage.gen, storage.log_start, read.after,
                                   read.upto, self.core.sync_batch_txns):
                header = stream.header()
                if header is not None:
                    self.net_send(node.id, read.to, header, False)
                self.net_send(node.id, read.to, stream.txns(txns), False)
        except StorageError as exc:
            error = self._sanitize(str(exc))
        if not error:
            header = stream.header()  # an empty range still opens its stream
            if header is not None:
                self.net_send(node.id, read.to, header, False)
        self.trace.add(self.now, "node", node.id, f"disk read for n{read.to} after {fmt_zxid(read.after)} "
                       f"up to {fmt_zxid(read.upto)}: " + (error or f"{stream.sent} txns sent"))
        peer = node.peer
        assert peer is not None
        self._run_step(node, lambda: stream.done(peer, error))

    def _fsync_done(self, node: SimNode) -> None:
        disk = node.disk
        cuts = any(type(op) is not Append for op in disk.inflight)
        early, disk.early_reports = disk.early_reports, []
        try:
            zxid = disk.complete()
            reports, disk.reports = disk.reports, []
        except StorageError as exc:
            raise Violation("local invariant", f"n{node.id}'s storage refused a log op the core asked "
                            f"for: {self._sanitize(str(exc))}") from None
        self.trace.add(self.now, "disk", node.id, zxid)
        if cuts:
            self.checkers.check_durable(node.id, disk.current_epoch, disk.durable_base,
                                        disk.durable_zxids, "after a TRUNC or SNAP reached its disk")
        peer, replica = node.peer, node.replica
        assert peer is not None and replica is not None
        for report in reports:
            if not report.skipped:
                self.trace.add(self.now, "node", node.id, f"snapshot at {fmt_zxid(report.zxid)} saved; the log "
                               f"starts after {fmt_zxid(report.log_start)}")
            replica.snapshot_saved(report.log_start)
        covered = disk.synced_ops
        if self.reports is None:
            self._run_step(node, lambda: self.durable_report(node, zxid, covered))
            return
        for z, c in early:  # made before each save, after syncing the ops before it
            self.reports.post(node, z, c)
        self.reports.post(node, zxid, covered)
        self._start_writer(node)  # the writer goes on; the loop takes the report when it wakes

    def durable_report(self, node: SimNode, zxid: int, covered: int) -> Output:
        """The node's host takes a writer report (host/durable.py). If the core now believes its
        log durable up to ``zxid``, the disk must have synced it: that belief is a leader's own
        vote in every commit and a leader's licence to write currentEpoch, which no message shows
        the ACK checker; a follower's ACKs and PINGs follow from it."""
        replica, peer, disk = node.replica, node.peer, node.disk
        assert replica is not None and peer is not None
        out = replica.durable(zxid, covered)
        believed = peer.zxid_durable
        if believed > 0:
            self.checkers.check_ack_synced(node.id, believed, believed, disk.inflight + disk.queue,
                                           f"as {peer.role}, believes durable")
        return out

    # ------------------------------------------------------------------ clients

    def attempt(self, i: int, request: Request) -> str:
        node = self.nodes[i]
        self.checkers.on_submitted(request.client, request.seq, request.op)
        what = f"{request.client} -> n{i} {describe_op(request.op)}"
        if not node.up or node.peer is None:
            self.trace.add(self.now, "client", f"{what}: node down")
            return "down"
        if node.paused_until > self.now:
            self.trace.add(self.now, "client", f"{what}: no answer (node paused)")
            return "paused"
        self.trace.add(self.now, "client", what)
        replica = node.replica
        assert replica is not None
        known = replica.known_answer(request.op)
        if known is not None:
            # As node.py: a retry of a request this node has applied gets its original answer.
            self.answer(i, request, known[0], known[1])
            return "answered"
        refusal = replica.refusal(request.op)
        if refusal is not None:
            self.checkers.on_refused_at_once(i, request.op, refusal, replica.peer.state.game)
            # As node.py: a request that can never be logged (too old, too far ahead) is
            # refused at once, for good.
            self.trace.add(self.now, "client", f"{request.client} <= n{i} #{request.seq} refused "
                           f"for good: {refusal.message}")
            return f"final: {refusal.message}"
        def submit() -> Output:
            out = replica.submit([request.op], [request], ts_ms=self.tick)
            if self.recorder is not None:
                self.recorder.client(i, [request.op])
            return out

        try:
            self._run_step(node, submit)
        except NotReady as exc:
            if exc.output is not None:
                # What the core did before refusing (ZK-1277's step-down): carried out as node.py does.
                self._run_step(node, lambda: exc.output)
            if self.recorder is not None:
                self.recorder.refused(i, 1, str(exc))
            self.trace.add(self.now, "client", f"{request.client} <= n{i} #{request.seq} refused: {exc}")
            return f"refused: {exc}"
        return "taken"

    def answer(self, i: int, request: Request, zxid: int, result: GameResult) -> None:
        self.checkers.on_answer(request.client, request.seq, i, zxid, result)
        if self.workload.answered(request, self.tick, i, zxid, result):
            self.trace.add(self.now, "client", f"{request.client} <= n{i} #{request.seq} committed "
                           f"{fmt_zxid(zxid)}: {result.message}")

    def request(self, node: int, value: int | None = None, client: str = "s1") -> Request:
        """Scripted: ``client`` sends a guess (or, with no value, a new game) to ``node`` now.
        Like every client it retries elsewhere after a timeout until it has an answer."""
        return self.workload.request(self.tick, client, node, value)

    # ------------------------------------------------------------------ who is up, who leads

    def up_nodes(self) -> list[SimNode]:
        return [self.nodes[i] for i in self.ids if self.nodes[i].up]

    def established_leader(self) -> int | None:
        for node in self.up_nodes():
            p = node.peer
            if p is not None and p.role == Role.LEADING and p.phase == Phase.BROADCAST:
                return node.id
        return None

    # ------------------------------------------------------------------ running

    def run_until_time(self, end: int) -> None:
        """Handle every event before ``end`` (simulated units)."""
        heap = self._heap
        handlers = self._handlers
        zk = self.zk
        while heap and heap[0][0] < end:
            time, _, event = heapq.heappop(heap)
            self.now = time
            handlers[type(event)](event)
            if zk is not None:
                zk.flush()  # as node.py flushes its zk port after every pass of its loop
        self.now = max(self.now, end)

    def _on_tick(self, ev: Tick) -> None:
        node = self.nodes[ev.node]
        if node.up and node.incarnation == ev.incarnation:
            self.push(self.now + TICK, ev)
            if node.paused_until <= self.now:
                self._run_step(node, node.replica.tick)  # type: ignore[union-attr]
                if self.zk is not None:
                    self.zk.ticked(node)

    def _on_fsync_done(self, ev: FsyncDone) -> None:
        node = self.nodes[ev.node]
        if node.up and node.incarnation == ev.incarnation:
            later = max(node.paused_until, node.disk.stalled_until)
            if later > self.now:
                self.push(later, ev)
            else:
                self._fsync_done(node)

    def _on_control(self, ev: Control) -> None:
        """Tick boundary: faults, then clients."""
        self.push(self.now + TICK, ev)
        if self.recorder is not None:
            self.recorder.tick()
        if self.faults_on and not self.liveness:
            faults.inject(self)
        if self.reports is not None:
            self.reports.other_wakes()
        self.workload.tick(self.tick)
        if self.zk is not None:
            self.zk.tick(self.tick)

    def _on_restart(self, ev: Restart) -> None:
        node = self.nodes[ev.node]
        if not node.up and node.incarnation == ev.incarnation and not self.liveness:
            self.restart(ev.node)

    def _on_heal(self, ev: Heal) -> None:
        if not self.liveness:
            self.net.heal()

    def _on_connection_closed(self, ev: ConnectionClosed) -> None:
        node = self._due(ev)
        if node is not None:
            peer = node.peer
            assert peer is not None
            self.trace.add(self.now, "node", ev.node, f"connection to n{ev.peer} closed")
            self._run_step(node, lambda: peer.peer_unreachable(ev.peer))

    def _on_connection_made(self, ev: ConnectionMade) -> None:
        if self.net.made(ev):
            node = self.nodes[ev.node]
            peer = node.peer
            assert peer is not None
            self.trace.add(self.now, "node", ev.node, f"connection to n{ev.peer} made")
            self._run_step(node, lambda: peer.peer_connected(ev.peer))

    def _on_report_wake(self, ev: ReportWake) -> None:
        node = self._due(ev)
        if node is not None and self.reports is not None:
            self.reports.woken(node)

    def _on_read_done(self, ev: ReadDone) -> None:
        node = self._due(ev)
        if node is not None:
            self._read_done(node, ev.stream)

    def _due(self, ev: NodeEvent) -> SimNode | None:
        """The node ``ev`` is for, if the event happens now: not if that incarnation has died
        (what it had started died with it), nor while its process is paused (then ``ev`` is
        pushed again for the moment it resumes)."""
        node = self.nodes[ev.node]
        if not node.up or node.incarnation != ev.incarnation:
            return None
        if node.paused_until > self.now:
            self.push(node.paused_until, ev)
            return None
        return node

    def _on_resync(self, ev: Resync) -> None:
        faults.resync(self, ev.node)

    def run_ticks(self, n: int) -> None:
        self.run_until_time((self.tick + n) * TICK)

    def run_until(self, cond: Callable[[], bool], max_ticks: int) -> int:
        """Run tick by tick until ``cond()``; returns the ticks it took. Raises on the limit."""
        for t in range(max_ticks + 1):
            if cond():
                return t
            self.run_ticks(1)
        raise AssertionError(f"condition not reached within {max_ticks} ticks (t={self.tick}); "
                             f"roles: {self.roles()}")

    def roles(self) -> str:
        parts = []
        for i in self.ids:
            p = self.nodes[i].peer
            if p is None:
                parts.append(f"n{i} DOWN")
            else:
                parts.append(f"n{i} {p.role}/{p.phase} e{p.epoch} leader {p.leader_id} "
                             f"last {fmt_zxid(p.zxid_last)} committed {fmt_zxid(p.zxid_committed)}")
        return "; ".join(parts)

    def converged(self) -> str | None:
        """None when the cluster is live and quiet; else what is still missing (liveness.py)."""
        return liveness.converged(self)

    def check_liveness(self, max_ticks: int | None = None) -> int:
        """The liveness phase (liveness.py): heal everything, then require convergence and a
        fresh write committed everywhere within ``max_ticks``. Returns the ticks taken."""
        return liveness.check_liveness(self, max_ticks)

    def run(self) -> SimResult:
        violation = None
        taken = None
        try:
            self.run_ticks(self.options.ticks)
            taken = self.check_liveness(self.options.liveness_ticks)
            if self.zk is not None:
                self.zk.check_abandoned_sessions_expire()
        except Violation as exc:
            violation = exc
            self.trace.add(self.now, "phase", f"VIOLATION {exc.prop}: {exc.detail}")
        return self.result(violation, taken)

    def result(self, violation: Violation | None, liveness_ticks: int | None) -> SimResult:
        requests = self.workload.requests
        return SimResult(
            options=self.options,
            violation=violation,
            faults=Counter(self.counters),
            ticks=self.tick,
            steps=self.checkers.steps,
            messages=self.net.messages,
            commits=len(self.checkers.gz),
            requests=len(requests),
            # A refusal for good (a stale copy too old to answer) is the client's answer too.
            answered=sum(1 for r in requests if r.answer is not None or r.refused is not None),
            liveness_ticks=liveness_ticks,
            profile=self.profile_text,
            trace_tail=self.trace.lines(60) if violation is not None else [],
        )


#: What a node's own safety net catching a problem means, by the exception it raised.
_LOCAL_CHECKS = {
    DurabilityError: "ACK only after fsync (execute's check)",
    InvariantError: "local invariant (core)",
}


def run_seed(seed: int, nodes: int = 5, ticks: int = 300, **kwargs) -> SimResult:
    """Run one seed with random faults and return its result (the trace tail on a violation)."""
    with Simulation(SimOptions(seed=seed, nodes=nodes, ticks=ticks, **kwargs)) as sim:
        return sim.run()
