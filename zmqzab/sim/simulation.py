"""One simulated cluster run: N production Peers, a simulated network, disk and clock, one seed.

Theory of operation
-------------------
Everything happens in one thread, in one loop over a heap of events keyed by
``(time, sequence number)``: nothing else decides the order, so a seed fixes the whole run.
Time is an integer in units, ``TICK`` (100) units per protocol tick. Events:

* a node's tick: ``Peer.tick()``, once per tick per node, at an offset inside the tick drawn
  per incarnation (node clocks are not in lock step);
* a message delivery: ``Peer.step(src, msg)``;
* an fsync completing: the simulated writer's batch is applied to the node's real ``Storage``
  and ``Peer.persisted(storage.last_zxid)`` follows, exactly as node.py feeds it;
* a peer's connection closing (it crashed, or the connection flapped):
  ``Peer.peer_unreachable(peer)``, as node.py feeds its socket monitors' reports;
* a disk read (DIFF from disk, ``ReadLog``) completing: the range is read from the node's real
  ``Storage`` with production ``read_range``, sent, and ``Peer.disk_read_done`` follows;
* the tick boundary ("control"): the fault scheduler (crashes, partitions), restarts, heals,
  and the clients.

Every Output goes through production ``execute()`` with a ``NodeIO`` as its ``Effects``: epochs
are written synchronously to the real epoch files, log ops go to the simulated writer, sends
become network events, applied txns answer clients. After every event the checkers
(checkers.py) look at the node it touched.

Network. A message gets a latency of 1..latency_max units and, per link and socket kind
(DEALER or PUB), keeps FIFO order, like one TCP connection. Faults (from the seed's profile):
drop, duplicate, reorder (the message ignores FIFO and is overtaken or overtakes), delay spikes,
partitions (both ways, one way, or a bridge: two halves cut from each other and one node that
reaches both) that heal after a while. A point-to-point message that finds its peer down or cut
off either is lost or waits in the sender's DEALER queue and arrives after the heal or restart
(ZAB_CHECKLIST #6); PUB messages are simply lost, as on a real PUB socket. Connection flaps: the
connections between two running nodes close and reopen (``flap``); both ends are told, as by
their socket monitors, and a message sent before the flap belongs to the old connection: it is
lost, or arrives late, after the new connection's messages (each message carries the pair's
connection generation). Flaps, stale deliveries and bridges draw from their own random stream.

Crashes. A random node (often the leader) dies between events; or, at a discovery/sync Output,
in the middle of carrying it out: after its epoch write and log hand-off but before its sends,
or after some of them (the crash points between every persist and send of the sync phase).
These are process crashes: what the writer wrote stays in the page cache, synced or not. A
power loss (disk faults, ``_inject_disk_faults``) also drops what was never fsynced, sometimes
leaving a torn last record (disk.py); a node may also die just before an fsync inside a SNAP
install, a snapshot's save and purge or a TRUNC. Bit rot on a crashed node's disk must make
recovery refuse it; the operator then resyncs it when the quorum allows (``_resync``). A
restart opens the data dir with production recovery and starts a new ``Peer`` with a
``random.Random`` of its own, derived from the seed, node and incarnation.
A node may also be paused (its process stopped: no ticks, no messages, no fsyncs, then a
backlog) or told to start an election (the demo's control, ``Peer.force_election``).

Phases. ``run()`` injects faults for ``ticks`` ticks, then heals everything (partitions gone,
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
import random
import shutil
import tempfile
import traceback
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from zmqzab.core.output import Append, InstallSnapshot, LogOp, Output, ReadLog, Trace as CoreTrace
from zmqzab.core.errors import InvariantError, NotReady
from zmqzab.core.peer import Peer, Recovered
from zmqzab.core.roles import Phase, Role
from zmqzab.core.settings import CoreConfig
from zmqzab.host.effects import DurabilityError, execute
from zmqzab.game.rules import Game
from zmqzab.messages import (
    NOT_COUNTED,
    Ack,
    AckEpoch,
    GameResult,
    LeaderInfo,
    NewLeader,
    PeerMessage,
    SnapAck,
    SnapChunk,
    SyncStart,
    SyncTxns,
    Txn,
    UpToDate,
    wire_name,
)
from zmqzab.sim.checkers import Checkers, NodeView, Violation
from zmqzab.sim.disk import DiskDied, SimDisk
from zmqzab.sim.profile import (FaultProfile, swarm_core_config, swarm_disk_faults, swarm_network,
                                swarm_profile)
from zmqzab.sim.trace import TICK, Trace, describe_op
from zmqzab.sim.workload import Request, Workload
from zmqzab.storage.compaction import SaveSnapshot
from zmqzab.storage.errors import CorruptLogError, CorruptSnapshotError, StorageError
from zmqzab.storage.faults import STORAGE_TEST_FAULTS
from zmqzab.storage.reader import read_range
from zmqzab.zxid import fmt_zxid, zxid_counter, zxid_epoch

NODES_MIN, NODES_MAX = 1, 9
#: A DEALER queue for an unreachable peer holds at most this many messages (ZeroMQ's HWM).
HELD_MAX = 1000
#: Client requests time out (and are retried elsewhere) after this many ticks.
CLIENT_TIMEOUT_TICKS = 12

# Event kinds, in the heap as (time, seq, kind, a, b, c).
_DELIVER, _FSYNC, _TICK, _CONTROL, _RESTART, _HEAL, _GONE, _READ = range(8)
#: The operator's resync of a node refused for a damaged disk (disk faults, see restart()).
_RESYNC = 100

#: Messages of the discovery and sync phases: an Output sending one is a crash point.
_SYNC_KINDS = (LeaderInfo, AckEpoch, SyncStart, SyncTxns, SnapChunk, SnapAck, NewLeader, UpToDate)


def liveness_bound(core: CoreConfig) -> int:
    """Ticks from "heal everything" until a fresh write is committed on every node, on a calm
    network with every node up: what the protocol's own timers allow, not a generous guess.

    * initLimit: a node caught at the heal in an attempt that cannot finish (its leader or its
      quorum was lost during the faults, a sync stream was cut) gives it up within initLimit
      (syncLimit in BROADCAST, which is shorter), however chatty the others are (#27).
    * An election: votes cross in under a tick and are re-sent every ``vote_resend_ticks``;
      a quorum waits ``election_wait_ticks`` (finalizeWait); allow two rounds, since nodes
      come out of the attempt above at different ticks and a later higher round restarts it.
    * initLimit again: one attempt may still be spoiled by leftovers of the fault phase
      (messages that were delayed or held arrive after the heal) and is given up like the
      first; the next one finishes discovery + sync in a few ticks on a calm network.
    * The clients: a request a lost node had taken is retried after CLIENT_TIMEOUT_TICKS.
    * The fresh write: FORWARD, PROPOSAL, fsync, ACK, COMMIT, each under a tick: 3 ticks.
    """
    election = 2 * (core.election_wait_ticks + 2 * core.vote_resend_ticks + 1)
    return 2 * core.init_limit_ticks + election + CLIENT_TIMEOUT_TICKS + 3


def make_state(data: bytes | None) -> Game:
    return Game.restore(data) if data else Game()


def derive_rng(seed: int, *parts: object) -> random.Random:
    """An independent stream per purpose: seeding with a str hashes it with SHA-512 (not
    PYTHONHASHSEED), so the stream depends on the seed and the parts only."""
    return random.Random("zmqzab-sim:" + ":".join(str(p) for p in (seed, *parts)))


@dataclass(frozen=True)
class SimOptions:
    seed: int = 1
    nodes: int = 5
    #: Ticks with faults; then the liveness phase.
    ticks: int = 300
    #: The liveness phase must converge, and a fresh write commit everywhere, within this many
    #: ticks (None: ``liveness_bound`` of the run's core timing).
    liveness_ticks: int | None = None
    #: Inject random faults (swarm profile from the seed). False: a calm network, for scripts.
    faults: bool = True
    clients: int = 3
    #: Deliberate bugs, to show the checkers catch them: CoreConfig.test_faults names go to
    #: every Peer, storage/faults.py names to every open_storage.
    test_faults: frozenset[str] = frozenset()
    #: Override the seed's profile / core knobs (scripted scenarios).
    profile: FaultProfile | None = None
    core: CoreConfig | None = None
    #: Trace entries kept (None: all, for --trace and the determinism test).
    trace_keep: int | None = 400
    #: Receives each trace line as it happens (``zmqzab sim --trace``).
    echo: Callable[[str], None] | None = None
    #: Start the client workload at once (scripted scenarios drive their own requests).
    workload: bool = True
    #: Periodic snapshots as node.py takes them ([storage] snapshot_every_txns), saved and
    #: purged by the simulated writer keeping ``snapshots_kept``. 0: never. None: drawn from
    #: the seed in random runs (small intervals, or none), never in calm and scripted ones.
    snapshot_every_txns: int | None = None
    #: None: drawn from the seed in random runs (1..3), 2 in calm and scripted ones.
    snapshots_kept: int | None = None

    def reproduce(self) -> str:
        line = f"zmqzab sim --seed {self.seed} --nodes {self.nodes} --ticks {self.ticks}"
        if self.snapshot_every_txns is not None:
            line += f" --snapshot-every {self.snapshot_every_txns}"
        if self.snapshots_kept is not None:
            line += f" --snapshots-kept {self.snapshots_kept}"
        for name in sorted(self.test_faults):
            line += f" --inject-bug {name}"
        return line


@dataclass
class SimResult:
    options: SimOptions
    violation: Violation | None
    faults: Counter
    ticks: int
    steps: int
    messages: int
    commits: int
    requests: int
    answered: int
    liveness_ticks: int | None
    profile: str
    trace_tail: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.violation is None


class _Crash(Exception):
    """Raised inside execute() by a NodeIO armed to crash mid-Output."""


class SimNode:
    __slots__ = ("id", "disk", "peer", "up", "incarnation", "waiting", "io", "paused_until",
                 "applied_since_snapshot", "refused")

    def __init__(self, node_id: int, disk: SimDisk) -> None:
        self.id = node_id
        self.disk = disk
        self.peer: Peer | None = None
        self.up = False
        self.incarnation = 0
        #: (client, seq) -> the request this node took and answers when it applies the txn.
        self.waiting: dict[tuple[str, int], Request] = {}
        self.io = NodeIO(self)
        #: While ``now`` is below this, the process is stopped (see ``Simulation.pause``).
        self.paused_until = 0
        #: Txns applied since the last periodic snapshot (SimOptions.snapshot_every_txns).
        self.applied_since_snapshot = 0
        #: Recovery refused its data dir for bit rot: down until the operator resyncs it.
        self.refused = False


class NodeIO:
    """The simulator's ``Effects`` (zmqzab/host/effects.py) for one node."""

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

    def submit_log(self, op: LogOp) -> None:
        self.node.disk.submit(op)
        if type(op) is InstallSnapshot:
            self.node.applied_since_snapshot = 0
        if type(op) is InstallSnapshot:
            # The core replaced its game before returning this Output: from here on the node
            # re-applies history from the snapshot's zxid.
            assert self.sim is not None and self.node.peer is not None
            self.sim.checkers.reset_position(self.node.id, op.zxid, "installed a SNAP")

    def durable_zxid(self) -> int:
        return self.node.disk.reported

    def _before_send(self) -> None:
        if self.crash_after is not None:
            if self.sends_done >= self.crash_after:
                raise _Crash()
            self.sends_done += 1

    def send(self, to: int, msg: PeerMessage) -> None:
        self._before_send()
        assert self.sim is not None
        if type(msg) is AckEpoch and msg.current_epoch != NOT_COUNTED:
            self.sim.checkers.on_promise(self.node.id, to, msg.epoch)
        self.sim.net_send(self.node.id, to, msg, False)

    def publish(self, msg: PeerMessage) -> None:
        self._before_send()
        assert self.sim is not None
        src = self.node.id
        for dst in self.sim.ids:
            if dst != src:
                self.sim.net_send(src, dst, msg, True)

    def read_log(self, read: ReadLog) -> None:
        if self.crash_after is not None:
            raise _Crash()  # died after its sends, before starting the read
        assert self.sim is not None
        self.sim.schedule_read(self.node, read)

    def applied(self, txn: Txn, result: GameResult) -> None:
        if self.crash_after is not None:
            raise _Crash()  # died after its sends, before answering anyone
        sim = self.sim
        assert sim is not None
        node = self.node
        assert node.peer is not None
        sim.checkers.on_applied(node.id, txn, result, node.peer.epoch)
        node.applied_since_snapshot += 1
        request = node.waiting.pop((txn.op.client_id, txn.op.seq), None) if node.waiting else None
        if request is not None:
            sim.answer(node.id, request, txn.zxid, result)

    def trace(self, trace: CoreTrace) -> None:
        assert self.sim is not None
        self.sim.trace.add(self.sim.now, "node", self.node.id, f"{trace.event}: {trace.text}")


class Simulation:
    def __init__(self, options: SimOptions) -> None:
        if not NODES_MIN <= options.nodes <= NODES_MAX:
            raise ValueError(f"nodes must be {NODES_MIN}..{NODES_MAX}, got {options.nodes}")
        self.options = options
        seed = options.seed
        self.ids = list(range(1, options.nodes + 1))
        self.rng_net = derive_rng(seed, "net")
        self.rng_disk = derive_rng(seed, "disk")
        self.rng_fault = derive_rng(seed, "fault")
        self.rng_sched = derive_rng(seed, "sched")
        #: Connection faults (flaps, stale deliveries, bridges) draw from their own stream.
        self.rng_conn = derive_rng(seed, "conn")
        knobs = derive_rng(seed, "profile")
        if options.profile is not None:
            self.profile = options.profile
        elif options.faults:
            self.profile = swarm_network(derive_rng(seed, "net-profile"), swarm_profile(knobs))
        else:
            self.profile = FaultProfile()
        base = options.core if options.core is not None else (
            swarm_core_config(knobs, CoreConfig()) if options.faults else CoreConfig())
        core_faults = frozenset(options.test_faults) - frozenset(STORAGE_TEST_FAULTS)
        self.core = replace(base, test_faults=core_faults | base.test_faults)
        storage_faults = frozenset(options.test_faults) & frozenset(STORAGE_TEST_FAULTS)
        # Disk faults and snapshot settings come from a stream of their own, so that every draw
        # above (network, crashes, protocol knobs) is what it was before the disk model.
        disk_knobs = derive_rng(seed, "disk-profile")
        random_disk = options.faults and options.profile is None
        if random_disk:
            self.profile = swarm_disk_faults(self.profile, disk_knobs)
        every = options.snapshot_every_txns
        if every is None:
            every = disk_knobs.choice((0, 8, 20, 50)) if random_disk else 0
        kept = options.snapshots_kept
        if kept is None:
            kept = disk_knobs.choice((1, 2, 3)) if random_disk else 2
        self.snapshot_every, self.snapshots_kept = every, kept
        self.rng_disk_fault = derive_rng(seed, "disk-faults")
        self.round_size = knobs.choice((2, 3))
        #: The fault phase's profile (the liveness phase calms it).
        self.profile_text = self.profile.describe()
        self.faults_on = options.faults
        self.trace = Trace(keep=options.trace_keep, echo=options.echo)
        self.checkers = Checkers(self.ids)
        self.counters: Counter = Counter()
        self.now = 0
        self._heap: list[tuple] = []
        self._seq = 0
        self.messages = 0
        self._link_last: dict[tuple[int, int, bool], int] = {}
        #: Directed (src, dst) pairs that are cut.
        self.cut: set[tuple[int, int]] = set()
        self.partitioned = False
        #: (src, dst) -> messages waiting in src's DEALER queue for dst.
        self.held: dict[tuple[int, int], list[PeerMessage]] = {}
        #: (low id, high id) -> how many times the connections between the two flapped; a
        #: message carries the count of its sending time, so one from an older connection is
        #: recognised when it arrives.
        self.conn_gen: dict[tuple[int, int], int] = {}
        #: Scripted scenarios: rules on every send; return "drop", "dup", an int (extra delay in
        #: units, FIFO ignored) or None. And a rule choosing crash points (see _crash_point).
        self.rules: list[Callable[[int, int, PeerMessage], str | int | None]] = []
        self.crash_rule: Callable[[int, Output], int | None] | None = None
        #: Restart crashed nodes by themselves (the fault phase); scripts restart by hand.
        self.auto_restart = options.faults
        self.liveness = False
        self._tmp = Path(tempfile.mkdtemp(prefix="zmqzab-sim-"))
        self.nodes: dict[int, SimNode] = {}
        for i in self.ids:
            node = SimNode(i, SimDisk(self._tmp / f"n{i}", kept, storage_faults))
            node.io.sim = self
            self.nodes[i] = node
        self.workload = Workload(derive_rng(seed, "clients"), options.clients, self.ids,
                                 CLIENT_TIMEOUT_TICKS, self.round_size, self.attempt)
        self.workload.new_requests = options.workload
        self.trace.add(0, "phase", f"seed {seed}: {options.nodes} nodes; profile: "
                       f"{self.profile.describe()}; window {self.core.log_window_txns}, sync batch "
                       f"{self.core.sync_batch_txns}, counter max {self.core.zxid_counter_max}"
                       + (f"; snapshot every {every} txns, {kept} kept" if every else "")
                       + (f"; injected bugs: {', '.join(sorted(self.core.test_faults | storage_faults))}"
                          if self.core.test_faults or storage_faults else ""))
        self._push(0, _CONTROL, 0, 0, None)
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

    def _push(self, time: int, kind: int, a: object, b: object, c: object) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (time, self._seq, kind, a, b, c))

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
            if self._refused_for_rot(node, exc):
                return
            raise Violation("restart recovers the data dir",
                            f"n{i} cannot start: {self._sanitize(str(exc))}") from None
        self._check_recovered_durable(node, rec)
        self.checkers.check_durable(i, rec.current_epoch, rec.snapshot_zxid, node.disk.durable_zxids,
                                    "at restart")
        for note in rec.notes:
            if "fsync is OFF" not in note:
                self.trace.add(self.now, "node", i, f"recovery: {self._sanitize(note)}")
        peer = Peer(i, self.ids, self.core, derive_rng(self.options.seed, "peer", i, node.incarnation),
                    make_state,
                    Recovered(rec.accepted_epoch, rec.current_epoch, rec.snapshot_zxid, rec.snapshot,
                              rec.txns))
        node.peer, node.up, node.waiting = peer, True, {}
        if node.incarnation > 1:
            self.counters["restart"] += 1
            self.trace.add(self.now, "fault", f"restart n{i} (incarnation {node.incarnation}): "
                           f"acceptedEpoch {rec.accepted_epoch}, currentEpoch {rec.current_epoch}, "
                           f"last {fmt_zxid(peer.zxid_last)}")
        self.checkers.reset_position(i, peer.zxid_applied, "restarted")
        offset = self.rng_sched.randint(1, TICK - 1)
        self._push(self.tick * TICK + TICK + offset, _TICK, i, node.incarnation, None)
        self._run_step(node, peer.start)
        self._release_held(dst=i)

    def crash(self, i: int, why: str = "", kind: str = "crash", page_cache: bool = False) -> None:
        """Node ``i`` dies (``kind`` names the fault in the counters). ``page_cache``: a process
        crash (kill -9), whose written but unsynced data the kernel keeps; else the power goes
        too and only what was fsynced survives (disk.py). Scripts get the latter by default."""
        node = self.nodes[i]
        if not node.up:
            return
        node.up, node.peer, node.waiting, node.paused_until = False, None, {}, 0
        power = not page_cache
        lost, landed = node.disk.crash(self.rng_disk, self.profile.torn, power)
        self.counters[kind] += 1
        if lost:
            self.counters["lost_write"] += lost
        if "torn" in landed:
            self.counters["torn_write"] += 1
        for key in [k for k in sorted(self.held) if k[0] == i]:
            del self.held[key]  # its DEALER queues died with it
        # Its TCP connections close: each peer's socket monitor reports it soon after (node.py
        # feeds that to Peer.peer_unreachable). A pause or a partition closes nothing.
        for other in self._up():
            delay = self.rng_net.randint(1, self.profile.latency_max)
            self._push(self.now + delay, _GONE, other.id, other.incarnation, i)
        detail = ", ".join(x for x in (f"{lost} unsynced log op(s) lost" if lost else "", landed) if x)
        self.trace.add(self.now, "fault", f"crash n{i}{f' ({why})' if why else ''}"
                       + (f": {detail}" if detail else ""))
        if (self.faults_on and not self.liveness and self.profile.bit_rot
                and self.rng_disk_fault.random() < self.profile.bit_rot):
            self._bit_rot(node)
        if self.auto_restart and not self.liveness:
            down = self.rng_fault.randint(1, self.profile.downtime_max)
            self._push(self.now + down * TICK, _RESTART, i, node.incarnation, None)

    # ------------------------------------------------------------------ disk faults

    def _inject_disk_faults(self) -> None:
        """Tick boundary: a power loss (one node's machine, now and then every node's host)."""
        prof, rng = self.profile, self.rng_disk_fault
        if not (prof.power_loss and rng.random() < prof.power_loss):
            return
        victims = list(self.ids) if rng.random() < 0.1 else [rng.choice(self.ids)]
        for i in victims:
            node = self.nodes[i]
            if node.up:
                self.crash(i, "power loss", "power_loss", page_cache=False)
            else:
                self.counters["power_loss"] += 1
                note = node.disk.power_loss(self.rng_disk, prof.torn)
                if "torn" in note:
                    self.counters["torn_write"] += 1
                self.trace.add(self.now, "fault", f"power loss at n{i}, which is down: {note}")

    def _bit_rot(self, node: SimNode) -> None:
        """A bit flips on the crashed node's disk, if no other node's disk is damaged and the
        others could take over its history at once (the operator's resync needs a healthy
        quorum: without one, or in a cluster too small to have a quorum without this node, the
        damage is data loss, not a fault to recover from)."""
        if len(self.ids) - 1 < len(self.ids) // 2 + 1:
            return
        if any(n.disk.rotted or n.refused for n in self.nodes.values()):
            return
        if self._resync_allowed(node):
            return  # the others could not take over its history: losing it would be data loss
        what = node.disk.rot(self.rng_disk_fault)
        if what:
            self.counters["bit_rot"] += 1
            self.trace.add(self.now, "fault", f"n{node.id}: {what}")

    def _refused_for_rot(self, node: SimNode, exc: StorageError) -> bool:
        """Recovery refused the data dir. Right if it is for a file the simulation damaged: the
        node stays down until the operator resyncs it. Else the caller reports a violation."""
        disk = node.disk
        path = getattr(exc, "path", None)
        if not disk.rotted or not isinstance(exc, (CorruptLogError, CorruptSnapshotError)) or path is None:
            return False
        rel = str(Path(path).relative_to(disk.dir)) if Path(path).is_relative_to(disk.dir) else ""
        if not any(r == rel or r.startswith(rel + "/") for r in disk.rotted) and rel != "snap":
            return False
        node.refused = True
        disk.close()
        self.counters["refused_start"] += 1
        self.trace.add(self.now, "fault", f"n{node.id} refuses to start: {self._sanitize(str(exc))}")
        self._push(self.now + self.rng_disk_fault.randint(5, 30) * TICK, _RESYNC, node.id, None, None)
        return True

    def _resync_allowed(self, node: SimNode) -> str:
        """The operator wipes a refused node only when no committed txn and no epoch promise
        rests on its disk alone: a quorum of the others holds acceptedEpoch >= its own (or the
        others all follow one established leader), and a quorum of the others holds every
        committed txn durably under a currentEpoch that vouches for it in elections. Returns
        what is still missing ("" when allowed)."""
        others = [self.nodes[i] for i in self.ids if i != node.id]
        quorum = len(self.ids) // 2 + 1
        accepted = node.disk.accepted_epoch
        if sum(1 for n in others if n.disk.accepted_epoch >= accepted) < quorum:
            # Its promise of that epoch is moot once the would-be leader it went to has given
            # up: every other node follows one established leader (of an older epoch).
            ld = self.established_leader()
            settled = ld is not None and all(
                n.up and n.peer is not None and (n.id == ld or (
                    n.peer.role == Role.FOLLOWING and n.peer.phase == Phase.BROADCAST
                    and n.peer.leader_id == ld)) for n in others)
            if not settled:
                return (f"fewer than {quorum} other nodes have accepted epoch {accepted}, and the "
                        "others do not all follow one established leader")
        # A quorum of the others must vouch for the whole committed history in an election:
        # hold every committed txn durably, with a currentEpoch at least the newest one's epoch
        # (a node holding the txns under a lower currentEpoch, say one resynced a moment ago
        # and not yet past NEWLEADER, loses elections to nodes that lack them).
        gz = self.checkers.gz
        need = zxid_epoch(gz[-1]) if gz else 0
        vouch = [n for n in others if n.disk.current_epoch >= need and all(
            z <= n.disk.durable_base or z in n.disk.durable_zxids for z in gz)]
        if len(vouch) < quorum:
            return (f"{len(vouch)} other node(s) hold every committed txn with currentEpoch >= {need}, "
                    f"fewer than {quorum}")
        return ""

    def _resync(self, i: int) -> None:
        """The operator: `zmqzab node --resync` on a node refused for a damaged disk."""
        node = self.nodes[i]
        if not node.refused:
            return
        missing = self._resync_allowed(node)
        if missing:
            self._push(self.now + 5 * TICK, _RESYNC, i, None, None)
            return
        self.counters["resync"] += 1
        self.trace.add(self.now, "fault", f"operator: n{i} --resync (its data dir set aside; "
                       "it starts empty and the leader syncs it)")
        node.disk.wipe()
        node.refused = False
        self.checkers.view[i] = NodeView()
        self.restart(i)

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

    # ------------------------------------------------------------------ network

    def partition(self, groups: list[list[int]] | list[set[int]], one_way: bool = False) -> None:
        """Cut every link between different groups (``one_way``: only from earlier to later)."""
        cut = set()
        for gi, g in enumerate(groups):
            for hi, h in enumerate(groups):
                if gi == hi or (one_way and hi < gi):
                    continue
                for a in sorted(g):
                    for b in sorted(h):
                        cut.add((a, b))
        self.cut = cut
        self.partitioned = bool(cut)
        shown = " | ".join("{" + ",".join(f"n{x}" for x in sorted(g)) + "}" for g in groups)
        self.trace.add(self.now, "fault", f"partition {shown}{' (one way, left to right)' if one_way else ''}")

    def heal(self) -> None:
        if self.partitioned:
            self.trace.add(self.now, "fault", "heal: every link works again")
        self.cut = set()
        self.partitioned = False
        self._release_held()

    def _release_held(self, dst: int | None = None) -> None:
        """Reconnected: DEALER queues flush, in order."""
        for key in sorted(self.held):
            src, to = key
            if (dst is not None and to != dst) or key in self.cut or not self.nodes[to].up:
                continue
            msgs = self.held.pop(key)
            for msg in msgs:
                self._schedule(src, to, msg, False, " [held, now delivered]")

    def flap(self, a: int, b: int, why: str = "") -> None:
        """The connections between ``a`` and ``b`` close and reopen at once (a network blip):
        each end's socket monitor reports the close (``Peer.peer_unreachable``) after a
        latency, and what was in flight between them belongs to the old connection: lost, or
        (``stale_delivery``) arriving late, after what the new connection carries."""
        key = (a, b) if a < b else (b, a)
        self.conn_gen[key] = self.conn_gen.get(key, 0) + 1
        self.counters["flap"] += 1
        self.trace.add(self.now, "fault", f"connection n{a}-n{b} flaps{f' ({why})' if why else ''}")
        for me, other in ((a, b), (b, a)):
            node = self.nodes[me]
            if node.up:
                delay = self.rng_conn.randint(1, self.profile.latency_max)
                self._push(self.now + delay, _GONE, me, node.incarnation, other)

    def _old_connection(self, a: tuple, msg: PeerMessage, note: str) -> None:
        """A message sent on a connection that has flapped since: lost, or late."""
        src, dst, pub, _ = a
        if self.profile.stale_delivery and self.rng_conn.random() < self.profile.stale_delivery:
            self.counters["stale_delivery"] += 1
            key = (src, dst) if src < dst else (dst, src)
            late = (src, dst, pub, self.conn_gen.get(key, 0))
            self._push(self.now + self.rng_conn.randint(1, 2 * TICK), _DELIVER, late, msg,
                       note + " [old connection, late]")
            return
        self.trace.add(self.now, "lost", src, dst, msg, "its connection flapped")

    def inject(self, src: int, dst: int, msg: PeerMessage) -> None:
        """Scripted: deliver ``msg`` from ``src`` to ``dst`` now, as if it had just arrived."""
        self._deliver(src, dst, False, msg, " [injected by the scenario]")

    def net_send(self, src: int, dst: int, msg: PeerMessage, pub: bool) -> None:
        self.messages += 1
        prof = self.profile
        rng = self.rng_net
        extra: int | None = None
        dup = False
        for rule in self.rules:
            verdict = rule(src, dst, msg)
            if verdict == "drop":
                self.trace.add(self.now, "lost", src, dst, msg, "dropped by the scenario")
                return
            if verdict == "dup":
                dup = True
            elif isinstance(verdict, int):
                extra = verdict
        if self.faults_on and not self.liveness:
            if prof.drop and rng.random() < prof.drop:
                self.counters["drop"] += 1
                self.trace.add(self.now, "lost", src, dst, msg, "dropped")
                return
            if prof.reorder and rng.random() < prof.reorder:
                self.counters["reorder"] += 1
                extra = rng.randint(1, prof.latency_max + 2 * TICK)
            if prof.delay_spike and rng.random() < prof.delay_spike:
                self.counters["delay_spike"] += 1
                extra = (extra or 0) + rng.randint(TICK, 8 * TICK)
            if prof.duplicate and rng.random() < prof.duplicate:
                self.counters["duplicate"] += 1
                dup = True
        self._schedule(src, dst, msg, pub, "", extra)
        if dup:
            self._schedule(src, dst, msg, pub, " [duplicate]", rng.randint(1, 3 * prof.latency_max + TICK))

    def _schedule(self, src: int, dst: int, msg: PeerMessage, pub: bool, note: str,
                  extra: int | None = None) -> None:
        t = self.now + self.rng_net.randint(1, self.profile.latency_max)
        if extra is None:
            key = (src, dst, pub)
            last = self._link_last.get(key, 0)
            if t < last:
                t = last  # one connection: FIFO
            self._link_last[key] = t
        else:
            t += extra  # reordered / held up: outside the link's FIFO order
        gen = self.conn_gen.get((src, dst) if src < dst else (dst, src), 0)
        self._push(t, _DELIVER, (src, dst, pub, gen), msg, note)

    def _deliver(self, src: int, dst: int, pub: bool, msg: PeerMessage, note: str) -> None:
        node = self.nodes[dst]
        why = ("partition" if (src, dst) in self.cut else
               f"n{dst} is down" if not node.up else "")
        if why:
            if not pub and self.profile.hold and self.rng_net.random() < self.profile.hold:
                queue = self.held.setdefault((src, dst), [])
                if len(queue) < HELD_MAX:
                    queue.append(msg)
                    self.counters["held"] += 1
                    self.trace.add(self.now, "lost", src, dst, msg, f"{why}; held in the DEALER queue")
                    return
            self.trace.add(self.now, "lost", src, dst, msg, why)
            return
        peer = node.peer
        assert peer is not None
        self.trace.add(self.now, "msg", src, dst, msg, note)
        self._run_step(node, lambda: peer.step(src, msg))

    # ------------------------------------------------------------------ one step

    def _run_step(self, node: SimNode, call: Callable[[], Output]) -> None:
        """Call into node's Peer, carry out the Output, run the checkers."""
        peer = node.peer
        assert peer is not None
        grown = len(self.checkers.gz)
        try:
            out = call()
            self._execute(node, out)
        except _Crash:
            if self._crash_checks:
                # Part of the Output happened (epochs written, some sends left): what the node
                # had become is visible to others, so it is checked before it dies.
                self.checkers.after_step(node.id, peer, node.incarnation, node.disk.epochs)
            self.crash(node.id, "mid-Output, " + self._crash_note, "crash_mid_output", page_cache=True)
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
                [(n.id, n.peer) for n in self._up() if n.peer is not None and n.peer.leading is not None
                 and n.peer.leading.established])
        every = self.snapshot_every
        if every and node.up and node.applied_since_snapshot >= every:
            # As node.py: the game at its applied zxid, queued after the appends it covers.
            node.applied_since_snapshot = 0
            node.disk.submit(SaveSnapshot(peer.zxid_applied, peer.state.snapshot()))
        self._start_writer(node)

    _crash_note = ""
    _crash_checks = False

    def _execute(self, node: SimNode, out: Output) -> None:
        if not out:
            return
        io = node.io
        point = self._crash_point(node, out)
        if point is None:
            execute(out, io)
            return
        if point < 0:
            # Nothing of it happened: the core's new state in memory dies unseen.
            self._crash_note, self._crash_checks = "before carrying out an Output", False
            raise _Crash()
        self._crash_checks = True
        kinds = ", ".join(wire_name(s.msg) for s in out.sends[:4]) or "no sends"
        self._crash_note = (f"after its persist and {point} of {len(out.sends)} send(s) "
                            f"({kinds}{'...' if len(out.sends) > 4 else ''})")
        io.crash_after, io.sends_done = point, 0
        try:
            execute(out, io)
        finally:
            io.crash_after = None
        raise _Crash()

    def _crash_point(self, node: SimNode, out: Output) -> int | None:
        """None, or where to crash in this Output: -1 before it, k after k of its sends."""
        if self.crash_rule is not None:
            point = self.crash_rule(node.id, out)
            if point is not None:
                return point
        if not self.faults_on or self.liveness:
            return None
        rate = self.profile.sync_crash if _is_sync_output(node, out) else self.profile.crash / 20
        if rate and self.rng_fault.random() < rate:
            return self.rng_fault.randint(-1, len(out.sends))
        return None

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
            self._push(self.now + delay, _FSYNC, node.id, node.incarnation, None)

    def _died_in_file_op(self, node: SimNode, died: DiskDied) -> None:
        ops = ", ".join(sorted({type(op).__name__ for op in node.disk.inflight}))
        self.crash(node.id, f"{'power loss' if died.power else 'kill -9'} just before {died.where}, "
                   f"inside a batch of {ops}", "crash_in_file_op", page_cache=not died.power)

    def schedule_read(self, node: SimNode, read: ReadLog) -> None:
        delay = self.rng_disk.randint(1, self.profile.fsync_max)
        self._push(self.now + delay, _READ, node.id, node.incarnation, read)

    def _read_done(self, node: SimNode, read: ReadLog) -> None:
        """What node.py's reader thread does: read, send the header and the TXNS, report."""
        storage = node.disk.storage
        assert storage is not None
        try:
            batches = list(read_range(storage.log.dir, storage.gen, storage.log_start, read.after,
                                      read.upto, self.core.sync_batch_txns))
            error = ""
        except StorageError as exc:
            batches, error = [], self._sanitize(str(exc))
        prev = read.after
        started = read.header is None  # a continuation: the stream began with an earlier read
        if not error:
            if read.header is not None:
                self.net_send(node.id, read.to, read.header, False)
                started = True
            for txns in batches:
                self.net_send(node.id, read.to, SyncTxns(read.session, read.epoch, txns, read.zxid_committed,
                                                         prev), False)
                prev = txns[-1].zxid
        self.trace.add(self.now, "node", node.id, f"disk read for n{read.to} after {fmt_zxid(read.after)} "
                       f"up to {fmt_zxid(read.upto)}: " + (error or f"{sum(map(len, batches))} txns sent"))
        peer = node.peer
        assert peer is not None
        self._run_step(node, lambda: peer.disk_read_done(read.to, read.session, not error, started, prev, error))

    def _fsync_done(self, node: SimNode) -> None:
        disk = node.disk
        cuts = any(type(op) is not Append for op in disk.inflight)
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
        peer = node.peer
        assert peer is not None
        for report in reports:
            if not report.skipped:
                self.trace.add(self.now, "node", node.id, f"snapshot at {fmt_zxid(report.zxid)} saved; the log "
                               f"starts after {fmt_zxid(report.log_start)}")
            peer.log_purged(report.log_start)
        self._run_step(node, lambda: peer.persisted(zxid))

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
        peer = node.peer
        known = peer.state.answer_of(request.client, request.seq)
        if known is not None:
            # As node.py: a retry of a request this node has applied gets its original answer.
            self.answer(i, request, known[0], known[1])
            return "answered"
        # Registered first: a single-node cluster commits and applies within this very step.
        key = (request.client, request.seq)
        node.waiting[key] = request
        try:
            self._run_step(node, lambda: peer.submit([request.op], ts_ms=self.tick))
        except NotReady as exc:
            node.waiting.pop(key, None)
            if exc.output is not None:
                # What the core did before refusing (ZK-1277's step-down): carried out as node.py does.
                self._run_step(node, lambda: exc.output)
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

    # ------------------------------------------------------------------ faults

    def _control(self) -> None:
        """Tick boundary: faults, then clients."""
        if self.faults_on and not self.liveness:
            self._inject_faults()
            self._inject_disk_faults()
        self.workload.tick(self.tick)

    def _up(self) -> list[SimNode]:
        return [self.nodes[i] for i in self.ids if self.nodes[i].up]

    def established_leader(self) -> int | None:
        for node in self._up():
            p = node.peer
            if p is not None and p.role == Role.LEADING and p.phase == Phase.BROADCAST:
                return node.id
        return None

    def _inject_faults(self) -> None:
        prof, rng = self.profile, self.rng_fault
        if prof.crash and rng.random() < prof.crash:
            up = [n.id for n in self._up()]
            if up:
                leader = self.established_leader()
                victim = leader if leader is not None and rng.random() < 0.4 else rng.choice(up)
                self.crash(victim, "random crash" + (" of the leader" if victim == leader else ""),
                           page_cache=True)  # kill -9; power losses: _inject_disk_faults
        if prof.partition and not self.partitioned and len(self.ids) > 1 and rng.random() < prof.partition:
            self._random_partition()
        if prof.pause and rng.random() < prof.pause:
            up = [n.id for n in self._up() if n.paused_until <= self.now]
            if up:
                leader = self.established_leader()
                victim = leader if leader in up and rng.random() < 0.5 else rng.choice(up)
                self.counters["pause"] += 1
                self.pause(victim, rng.randint(1, 3 * self.core.sync_limit_ticks))
        if prof.force_election and rng.random() < prof.force_election:
            up = [n for n in self._up() if n.paused_until <= self.now]
            if up:
                node = rng.choice(up)
                peer = node.peer
                assert peer is not None
                self.counters["force_election"] += 1
                self.trace.add(self.now, "fault", f"force an election on n{node.id}")
                self._run_step(node, lambda: peer.force_election("forced by the simulation"))
        self._connection_faults()

    def _connection_faults(self) -> None:
        """Flaps and bridge partitions (their own random stream: see profile.swarm_network)."""
        prof, rng = self.profile, self.rng_conn
        if prof.flap and rng.random() < prof.flap:
            up = [n.id for n in self._up()]
            if len(up) >= 2:
                # A would-be leader (discovery or sync) and one of its learners: the follower
                # goes LOOKING at once and may end up with another would-be leader.
                peers = {i: self.nodes[i].peer for i in up}
                hopeful = [i for i, p in peers.items()
                           if p is not None and p.role == Role.LEADING and p.phase != Phase.BROADCAST]
                if hopeful and rng.random() < prof.flap_leader:
                    a = rng.choice(hopeful)
                    st = peers[a].leading  # type: ignore[union-attr]
                    others = [i for i in sorted(st.learners) if i in up] if st is not None else []
                    b = rng.choice(others or [i for i in up if i != a])
                    self.flap(a, b, "a would-be leader and its learner")
                else:
                    a, b = rng.sample(up, 2)
                    self.flap(a, b)
        if prof.bridge and not self.partitioned and len(self.ids) >= 3 and rng.random() < prof.bridge:
            ids = list(self.ids)
            rng.shuffle(ids)
            middle, rest = ids[0], ids[1:]
            half = len(rest) // 2
            left, right = sorted(rest[:half]), sorted(rest[half:])
            self.cut = {(x, y) for x in left for y in right} | {(y, x) for x in left for y in right}
            self.partitioned = True
            self.counters["bridge"] += 1
            self.trace.add(self.now, "fault", "bridge partition {" + ",".join(f"n{x}" for x in left)
                           + "} | {" + ",".join(f"n{x}" for x in right) + f"}}, n{middle} reaches both")
            self._push(self.now + rng.randint(3, 40) * TICK, _HEAL, None, None, None)

    def _random_partition(self) -> None:
        rng = self.rng_fault
        ids = list(self.ids)
        kind = rng.choice(("split", "split", "isolate-leader", "isolate-one", "one-way"))
        leader = self.established_leader()
        if kind == "isolate-leader" and leader is not None:
            side = [leader]
            if len(ids) > 3 and rng.random() < 0.5:
                side.append(rng.choice([i for i in ids if i != leader]))
            groups = [sorted(side), [i for i in ids if i not in side]]
        elif kind == "isolate-one":
            lone = rng.choice(ids)
            groups = [[lone], [i for i in ids if i != lone]]
        else:
            rng.shuffle(ids)
            k = rng.randint(1, len(ids) - 1)
            groups = [sorted(ids[:k]), sorted(ids[k:])]
        one_way = kind == "one-way"
        self.counters["one_way_partition" if one_way else "partition"] += 1
        self.partition(groups, one_way=one_way)
        self._push(self.now + rng.randint(3, 40) * TICK, _HEAL, None, None, None)

    # ------------------------------------------------------------------ running

    def run_until_time(self, end: int) -> None:
        """Handle every event before ``end`` (simulated units)."""
        heap = self._heap
        nodes = self.nodes
        while heap and heap[0][0] < end:
            time, _, kind, a, b, c = heapq.heappop(heap)
            self.now = time
            if kind == _DELIVER:
                resume = nodes[a[1]].paused_until
                if resume > time:
                    self._push(resume, kind, a, b, c)  # waits in its socket, order kept
                elif a[3] != self.conn_gen.get((a[0], a[1]) if a[0] < a[1] else (a[1], a[0]), 0):
                    self._old_connection(a, b, c)
                else:
                    self._deliver(a[0], a[1], a[2], b, c)
            elif kind == _TICK:
                node = nodes[a]
                if node.up and node.incarnation == b:
                    self._push(time + TICK, _TICK, a, b, None)
                    if node.paused_until <= time:
                        peer = node.peer
                        self._run_step(node, peer.tick)  # type: ignore[union-attr]
            elif kind == _FSYNC:
                node = nodes[a]
                if node.up and node.incarnation == b:
                    later = max(node.paused_until, node.disk.stalled_until)
                    if later > time:
                        self._push(later, kind, a, b, c)
                    else:
                        self._fsync_done(node)
            elif kind == _CONTROL:
                self._push(time + TICK, _CONTROL, 0, 0, None)
                self._control()
            elif kind == _RESTART:
                if not self.nodes[a].up and self.nodes[a].incarnation == b and not self.liveness:
                    self.restart(a)
            elif kind == _HEAL:
                if not self.liveness:
                    self.heal()
            elif kind == _GONE:
                node = nodes[a]
                if node.up and node.incarnation == b:
                    if node.paused_until > time:
                        self._push(node.paused_until, kind, a, b, c)
                    else:
                        peer = node.peer
                        assert peer is not None
                        self.trace.add(time, "node", a, f"connection to n{c} closed")
                        self._run_step(node, lambda: peer.peer_unreachable(c))
            elif kind == _READ:
                node = nodes[a]
                if node.up and node.incarnation == b:
                    if node.paused_until > time:
                        self._push(node.paused_until, kind, a, b, c)
                    else:
                        self._read_done(node, c)
            elif kind == _RESYNC:
                self._resync(a)
        self.now = max(self.now, end)

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

    def heal_everything(self) -> None:
        """Start of the liveness phase: no partition, every node up, no more faults."""
        self.liveness = True
        self.trace.add(self.now, "phase", "liveness phase: heal everything, restart every node, "
                       "no new requests; waiting for one leader, equal commits, every answer")
        self.profile = self.profile.calm()
        self.workload.new_requests = False
        self.heal()
        for i in self.ids:
            self.nodes[i].paused_until = min(self.nodes[i].paused_until, self.now)
            if not self.nodes[i].up and not self.nodes[i].refused:
                self.restart(i)  # a refused node waits for the operator's resync
        self._release_held()

    def converged(self) -> str | None:
        """None when the cluster is live and quiet; else what is still missing."""
        leaders = []
        for node in self._up():
            p = node.peer
            if p is not None and p.role == Role.LEADING and p.phase == Phase.BROADCAST:
                leaders.append(node.id)
        if len(self._up()) != len(self.ids):
            return "not every node is up"
        if len(leaders) != 1:
            return f"{len(leaders)} established leaders"
        lp = self.nodes[leaders[0]].peer
        assert lp is not None
        for node in self._up():
            p = node.peer
            assert p is not None
            if node.id != lp.id and not (p.role == Role.FOLLOWING and p.phase == Phase.BROADCAST
                                         and p.leader_id == lp.id and p.epoch == lp.epoch):
                return f"n{node.id} is not following n{lp.id} in BROADCAST"
            if p.zxid_committed != lp.zxid_last:
                return (f"n{node.id} committed {fmt_zxid(p.zxid_committed)}, leader's last is "
                        f"{fmt_zxid(lp.zxid_last)}")
        pending = self.workload.pending()
        if pending:
            r = pending[0]
            return f"{len(pending)} request(s) unanswered, e.g. {r.client}#{r.seq} {describe_op(r.op)}"
        return None

    def check_liveness(self, max_ticks: int | None = None) -> int:
        """Heal everything, then require within ``max_ticks`` (default: ``liveness_bound``):
        convergence (``converged``), then a fresh write, sent to a follower after the heal,
        committed and applied on every node. Convergence alone would pass a leader that can no
        longer commit (its PROPOSALs or ACKs lost for good): only a new commit shows the
        broadcast phase works. Returns the ticks taken."""
        if max_ticks is None:
            max_ticks = liveness_bound(self.core)
        self.heal_everything()
        start = self.tick
        missing = self.converged()
        while missing is not None:
            if self.tick - start >= max_ticks:
                raise Violation("liveness", f"{max_ticks} ticks after healing everything (t={start}), "
                                f"{missing}; {self.roles()}")
            self.run_ticks(1)
            missing = self.converged()
        took = self.tick - start
        self.trace.add(self.now, "phase", f"converged after {took} ticks: {self.roles()}")
        leader = self.established_leader()
        assert leader is not None
        via = self.rng_sched.choice([i for i in self.ids if i != leader] or [leader])
        fresh = self.workload.request(self.tick, "fresh", via, self.rng_sched.randint(0, 100))
        self.trace.add(self.now, "phase", f"a fresh write after the heal, through n{via}: "
                       f"{describe_op(fresh.op)}")
        while True:
            missing = self._fresh_missing(fresh)
            if missing is None:
                break
            if self.tick - start >= max_ticks:
                raise Violation("liveness", f"{max_ticks} ticks after healing everything (t={start}), "
                                f"converged after {took}, but the fresh write {describe_op(fresh.op)} "
                                f"sent through n{via}: {missing}; {self.roles()}")
            self.run_ticks(1)
        took = self.tick - start
        self.trace.add(self.now, "phase", f"the fresh write committed on every node, {took} ticks "
                       "after the heal")
        return took

    def _fresh_missing(self, request: Request) -> str | None:
        if request.answer is None:
            return "it is not answered"
        zxid = request.answer[2]
        for i in self.ids:
            p = self.nodes[i].peer
            if p is None or p.zxid_applied < zxid:
                return (f"n{i} has not applied it ({fmt_zxid(zxid)}; n{i} applied "
                        f"{fmt_zxid(p.zxid_applied) if p else 'nothing, down'})")
        return None

    def run(self) -> SimResult:
        violation = None
        taken = None
        try:
            self.run_ticks(self.options.ticks)
            taken = self.check_liveness(self.options.liveness_ticks)
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
            messages=self.messages,
            commits=len(self.checkers.gz),
            requests=len(requests),
            answered=sum(1 for r in requests if r.answer is not None),
            liveness_ticks=liveness_ticks,
            profile=self.profile_text,
            trace_tail=self.trace.lines(60) if violation is not None else [],
        )


#: What a node's own safety net catching a problem means, by the exception it raised.
_LOCAL_CHECKS = {
    DurabilityError: "ACK only after fsync (execute's check)",
    InvariantError: "local invariant (core)",
}


def _is_sync_output(node: SimNode, out: Output) -> bool:
    """True for an Output of discovery or sync: epochs written, sync messages, or log changes
    while the node is not yet broadcasting (ZAB_CHECKLIST: crash between persist and send)."""
    if out.epochs is not None:
        return True
    for send in out.sends:
        msg = send.msg
        if isinstance(msg, _SYNC_KINDS) or (isinstance(msg, Ack) and zxid_counter(msg.zxid) == 0):
            return True
    peer = node.peer
    return bool(out.log) and peer is not None and peer.phase != Phase.BROADCAST


def run_seed(seed: int, nodes: int = 5, ticks: int = 300, **kwargs) -> SimResult:
    """Run one seed with random faults and return its result (the trace tail on a violation)."""
    with Simulation(SimOptions(seed=seed, nodes=nodes, ticks=ticks, **kwargs)) as sim:
        return sim.run()
