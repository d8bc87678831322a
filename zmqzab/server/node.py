"""The node driver: poll sockets and the clock, feed the host, carry out its I/O.

One thread owns the sockets and the host (the "socket thread"): a ``Replica`` (host/replica.py)
holding the pure ``Peer`` and the bookkeeping every driver shares with the simulator (waiting
clients, the snapshot policy, DIFF streams from disk). This loop feeds it what arrives and
implements its ``HostIO``:

* log ops of one loop pass are collected and, at the end of the pass, handed to the writer
  thread at once (storage/writer.py; one wake-up per pass, issue 14), which fsyncs once per
  drained batch and reports the disk's last zxid through the wake pipe (wake.py); the host
  decides whether that report becomes ``Peer.persisted(zxid)``, the only way an ACK can be
  produced (host/durable.py: taken once, and only if it covers the last cut). The fsync is never
  made on this thread: a stalled disk must not stop this loop's PINGs (writer.py says why);
* epoch files are written here, synchronously, because the core orders them before any send
  of the same Output (core/output.py);
* snapshots are forked (snapshots.py); a DIFF from disk is read by the reader thread
  (reads.py); clients come and go through the client port (clients.py); the HTTP thread's
  commands wait in a queue (commands.py). Each reports back through the wake pipe.

The view (web.py) reads only what this loop publishes: ``status_snapshot`` (a whole dict,
swapped every tick while someone reads it), the ``events`` ring (events.py) and ``metrics``
(plain counters).
"""

from __future__ import annotations

import gc
import json
import math
import os
import random
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import zmq
from loguru import logger

from zmqzab.config import ClusterConfig
from zmqzab.core.output import BROADCAST, LogOp, Output, Trace
from zmqzab.core.errors import InvariantError
from zmqzab.core.roles import Role
from zmqzab.core.settings import CoreConfig
from zmqzab.host.effects import DurabilityError
from zmqzab.host.reads import DiskStream
from zmqzab.host.recovery import new_peer
from zmqzab.host.replica import Replica
from zmqzab.messages import GameResult, PeerMessage, Proposal, Txn
from zmqzab.security.curve import node_keys
from zmqzab.security.keys import KeyFileError
from zmqzab.server.clients import ClientPort, Waiter
from zmqzab.server.commands import Command, CommandQueue, carry_out
from zmqzab.server.events import EventLog
from zmqzab.server.light import Ends, light
from zmqzab.server.logs import setup_logging
from zmqzab.server.metrics import NodeMetrics, TimedSync
from zmqzab.server.poller import Poller
from zmqzab.server.reads import DiskReads
from zmqzab.server.snapshots import ForkedSnapshots
from zmqzab.server.status import node_status
from zmqzab.server.transport import DRAIN_LIMIT, PortInUseError, Transport, check_rules
from zmqzab.server.wake import WakePipe
from zmqzab.state import ReplicatedState, Result
from zmqzab.storage.errors import StorageError
from zmqzab.storage.resync import set_aside
from zmqzab.storage.store import open_storage
from zmqzab.storage.verify import dir_bytes
from zmqzab.storage.writer import LogWriter
from zmqzab.zxid import fmt_zxid

if TYPE_CHECKING:  # imported in Node() when the config gives a zk_port (start-up time)
    from zmqzab.server.zkport import ZkPort

__all__ = ["Command", "Node", "core_config", "run_node", "set_aside", "parse_blocked", "security_summary"]

#: A client request not answered within this long is forgotten (the client has retried).
WAITING_EXPIRY_S = 60.0

#: Why a node stops on a write or fsync error, and the way out.
DISK_FAILED = ("the disk failed ({exc}); this node no longer acknowledges anything and leaves the quorum "
               "rather than serve from memory (ZAB_CHECKLIST #25). Free space or fix the disk, then restart "
               "the node; if it then refuses its log, start it with `zmqzab node --resync`")

#: A clean stop waits at most this long for its snapshot at exit (``zmqzab up`` sends SIGKILL
#: 5 s after SIGTERM; a node must stop well before that).
EXIT_SNAPSHOT_S = 2.5

#: The status is rebuilt every tick while it was read this recently, else not at all.
STATUS_WATCHED_S = 5.0
#: How long a reader after a quiet spell waits for a fresh status (ticks are 50 ms by default;
#: a node whose loop is stuck returns the last one it built).
STATUS_CATCH_UP_S = 1.0

INFO_EVENTS = {"role", "elected", "election", "epoch", "sync", "discovery", "follower"}

#: TEST ONLY: deliberate core bugs (core/settings.py TEST_FAULTS, comma-separated) for the chaos
#: mutation runs (`zmqzab chaos --inject-bug NAME`), which prove the chaos checker can fail.
#: Read here and nowhere else; no config file key can set it.
INJECT_BUGS_ENV = "ZMQZAB_TEST_ONLY_INJECT_BUGS"


def core_config(config: ClusterConfig) -> CoreConfig:
    t = config.timing
    bugs = frozenset(b for b in os.environ.get(INJECT_BUGS_ENV, "").split(",") if b)
    return CoreConfig(
        heartbeat_ticks=t.heartbeat_ticks,
        init_limit_ticks=t.init_limit_ticks,
        sync_limit_ticks=t.sync_limit_ticks,
        election_wait_ticks=t.election_wait_ticks,
        log_window_txns=config.storage.log_window_txns,
        snapshot_size_factor=config.storage.snapshot_size_factor,
        test_faults=bugs,
    )


class Node:
    def __init__(self, config: ClusterConfig, node_id: int, data_dir: Path) -> None:
        self.config = config
        self.id = node_id
        self.addr = config.node(node_id)
        self.tick_s = config.timing.tick_ms / 1000.0
        self.log = logger.bind(node=node_id)
        self.debug = os.environ.get("ZMQZAB_LOG_LEVEL", "INFO").upper() in ("DEBUG", "TRACE")

        keys = node_keys(config, node_id)  # KeyFileError (one line naming the file), before any I/O
        self.storage, rec = open_storage(data_dir, fsync=config.storage.fsync,
                                         snapshots_kept=config.storage.snapshots_kept)
        for note in rec.notes:
            self.log.warning(note)
        if not config.storage.fsync:
            self.log.warning("fsync is OFF (unsafe benchmark switch): a crash can lose acknowledged txns")
        self.peer = new_peer(node_id, config.ids, core_config(config),
                             random.Random(int.from_bytes(os.urandom(8), "big")), rec)
        self.replica: Replica[Waiter] = Replica(
            self.peer, self, config.storage.snapshot_every_txns,
            waiting_expiry_ticks=max(1, round(WAITING_EXPIRY_S / self.tick_s)))
        self.log.info(
            f"recovered from {data_dir}: acceptedEpoch {rec.accepted_epoch}, currentEpoch {rec.current_epoch}, "
            f"{len(rec.txns)} txns after snapshot {fmt_zxid(rec.snapshot_zxid)}, last {fmt_zxid(self.peer.zxid_last)}; "
            f"the log holds every txn after {fmt_zxid(rec.log_start)}"
        )
        if self.peer.cfg.test_faults:
            self.log.warning(f"TEST ONLY: deliberate bugs injected ({INJECT_BUGS_ENV}): "
                             f"{', '.join(sorted(self.peer.cfg.test_faults))}; this node is NOT correct")

        self.ctx = zmq.Context()
        #: The ZAP handler must run before any CURVE socket binds (security/zap.py).
        self.auth = None
        if keys is not None:  # imported with CURVE only (start-up time)
            from zmqzab.security.authenticator import start_authenticator

            self.auth = start_authenticator(self.ctx, keys.keyring)
        try:
            self.transport = Transport(self.ctx, config, node_id, keys, warn=self.log.warning)
        except BaseException:
            self._stop_auth()
            raise
        self.wake = WakePipe()
        #: The writer's latest report (zxid, ops it covers): replaced by the writer thread (one
        #: assignment, atomic), read by the loop at each wake-up (_woken) and given to the host.
        #: The host takes each report once and drops one from before the last Truncate or
        #: InstallSnapshot (host/durable.py): a report seen again at a later wake-up, or one
        #: replaced before the loop saw it, is no concern of this hand-off.
        self._writer_report: tuple[int, int] | None = None
        #: Log ops of this loop pass, written at its end (_write_log); a snapshot's save or commit
        #: joins them, so it still follows the appends it covers.
        self._log_pending: list = []
        self._disk_error: BaseException | None = None
        self.events = EventLog(node_id)
        self.metrics = NodeMetrics()
        self.snapshot_info: dict[str, Any] = {"zxid": fmt_zxid(rec.snapshot_zxid), "log_start": fmt_zxid(rec.log_start),
                                              "every_txns": config.storage.snapshot_every_txns,
                                              "kept": config.storage.snapshots_kept,
                                              "disk_bytes": dir_bytes(data_dir)}
        self.snapshots = ForkedSnapshots(self.storage, self._log_pending.append, self.wake, self.log,
                                         self.events, self.snapshot_info)
        self.writer = LogWriter(TimedSync(self.storage, self.metrics.fsync), self._on_durable,
                                self._on_disk_error, on_snapshot=self.snapshots.on_saved)
        self.reads = DiskReads(self.storage, self.peer.cfg.sync_batch_txns, self.wake, lambda: not self.running)
        self.commands = CommandQueue(self.wake)
        #: Set by `zmqzab up` (supervisor.py): where its controls are, and the token it uses.
        self.control_url = os.environ.get("ZMQZAB_CONTROL_URL") or None
        self.control_token = os.environ.get("ZMQZAB_CONTROL_TOKEN") or None
        blocked = parse_blocked(os.environ.get("ZMQZAB_BLOCKED", ""), config.ids, node_id)
        if blocked:
            self.transport.faults.block(blocked)
            self.log.warning(f"partition: dropping traffic to and from nodes {sorted(blocked)}")
        if os.environ.get("ZMQZAB_FAULT_RULES"):  # the chaos nemesis restarted us mid-fault
            self.transport.faults.set({"blocked": blocked, **check_rules(
                json.loads(os.environ["ZMQZAB_FAULT_RULES"]), config.ids)})
            self.log.warning(f"link faults: {self.transport.faults.to_json()}")

        self.running = True
        self.exit_code = 0
        #: The loop ended because it was told to stop (SIGTERM/SIGINT), not on an error: only
        #: then does close() take a snapshot at exit.
        self._stopped_cleanly = False
        self.counters: dict[str, int] = {"elections": 0, "proposals_submitted": 0, "applied": 0,
                                         "client_requests": 0, "client_bad_frames": 0}
        self.clients = ClientPort(self)
        #: ZooKeeper's client protocol, when the config gives this node a zk_port.
        self.zk: ZkPort | None = None
        #: (what it was built from, tick, the ZooKeeper part of /status): status.py's cache.
        self._zk_status: tuple | None = None
        if self.addr.zk_port:
            from zmqzab.server import zkport

            try:
                self.zk = zkport.ZkPort(self, int(time.time() * 1000))
            except BaseException:
                self.transport.close()
                self._stop_auth()
                raise
        self.started_at = time.monotonic()
        #: Passes of the loop (each one poll): a node that waits well makes few per write.
        self.loop_passes = 0
        self._status: dict[str, Any] = {}
        #: When an HTTP thread last read the status (monotonic; written there, read here).
        self._status_read_at = 0.0
        #: Set while the published status is current (the loop skips it when nobody reads).
        self._status_current = threading.Event()
        self._role_seen = (self.peer.role, self.peer.phase)

    # ------------------------------------------------------------------ writer thread -> loop

    def _on_durable(self, zxid: int) -> None:  # called on the writer thread
        self._writer_report = (zxid, self.writer.reported_ops)
        self.wake.poke(b"d")

    def _on_disk_error(self, exc: BaseException) -> None:  # called on the writer thread
        self._disk_error = exc
        self.wake.poke(b"e")

    # ------------------------------------------------------------------ HostIO (host/replica.py)

    def write_epochs(self, accepted: int | None, current: int | None) -> None:
        self.storage.write_epochs(accepted, current)

    def submit_log(self, op: LogOp) -> None:
        self._log_pending.append(op)  # written at the end of the pass: one fsync for all of it

    def read_log(self, stream: DiskStream) -> None:
        self.reads.start(stream)

    def durable_zxid(self) -> int:
        return self.replica.reports.zxid

    @property
    def durable_reported(self) -> int:
        """The last durable report the host passed to the core."""
        return self.replica.reports.zxid

    def send(self, to: int, msg: PeerMessage) -> None:
        self.events.sent(to, light(msg))
        self.transport.send(to, msg)

    def publish(self, msg: PeerMessage) -> None:
        self.events.sent(BROADCAST, light(msg))
        if type(msg) is Proposal and msg.txns:
            self.metrics.proposed(msg.txns[-1].zxid, len(msg.txns))
        self.transport.publish(msg)

    def applied(self, txn: Txn, result: Result) -> None:
        # Counted per Output in execute(): a DIFF applies tens of thousands of txns in one.
        if self.zk is not None:
            self.zk.server.applied(txn, result)
        if self.debug:  # formatting a line per txn costs more than applying it
            self.log.debug(f"applied {fmt_zxid(txn.zxid)}: {result.message}")

    def answer(self, waiters: list[Waiter], txn: Txn, result: GameResult) -> None:
        self.clients.answer(waiters, txn, result)

    def take_snapshot(self, zxid: int, state: ReplicatedState) -> bool:
        return self.snapshots.take(zxid, state)

    def trace(self, trace: Trace) -> None:
        self.events.add("trace", trace)
        event = trace.event
        if event == "elected":
            self.counters["elections"] += 1
            self.metrics.elected(trace.fields.get("leader"))
        elif event == "election":
            self.metrics.elections_started += 1
        elif event == "sync" and "mode" in trace.fields:
            self.metrics.synced(trace.fields["mode"], sent="follower" in trace.fields)
        elif event == "role":
            self.metrics.inflight.clear()  # proposals of a past term are never timed
        if trace.event in INFO_EVENTS:
            self.log.info(trace.text)
        else:
            self.log.debug(trace.text)

    # ------------------------------------------------------------------ the loop

    def run(self, started: Callable[[], None] | None = None) -> int:
        """The loop, until stopped; ``started``: called once the first election message is out."""
        self.execute(self.peer.start())
        self._write_log()
        if started is not None:
            started()
        poller = Poller()
        t = self.transport
        for sock in (t.router, *t.subs, t.client):
            poller.register(sock)
        zk = self.zk
        zk_reading = True
        if zk is not None:
            poller.register(zk.sock)
        poller.register(self.wake.r)
        for monitor in t.monitors:
            poller.register(monitor)
        next_tick = time.monotonic() + self.tick_s
        events_received = self.events.received
        clients = self.clients
        wake_r, router, subs, monitors = self.wake.r, t.router, t.subs, t.monitors
        #: Sockets that may hold input their ZMQ_FD will not announce (poller.py): read only up
        #: to a limit (the transport adds those), read once (a monitor), or sent on this pass.
        settle = t.unfinished

        def received(sender: int, msg: PeerMessage) -> None:
            events_received(sender, light(msg))

        try:
            while self.running:
                wake_at = next_tick
                due = t.next_due()
                if due is not None and due < wake_at:
                    wake_at = due
                # Rounded up: pyzmq truncated a float timeout to whole ms, so the last
                # millisecond before each tick was a busy loop of zero timeouts (issue 14: about
                # 2.5 empty passes per sequential write on every node).
                # Client requests left over from the last pass (clients.PASS_S): no sleeping.
                ready = poller.wait(0 if clients.backlog else
                                    max(0, math.ceil((wake_at - time.monotonic()) * 1000.0)))
                self.loop_passes += 1
                if wake_r in ready:
                    self._woken()
                if router in ready:
                    for sender, msg in t.recv_router(DRAIN_LIMIT):
                        received(sender, msg)
                        self.execute(self.peer.step(sender, msg))
                for sub in subs:
                    if sub in ready:
                        for sender, msg in t.recv_sub(sub, DRAIN_LIMIT):
                            received(sender, msg)
                            self.execute(self.peer.step(sender, msg))
                if t.client in ready or clients.backlog:
                    clients.serve()
                    settle.append(t.client)
                if zk is not None and zk_reading and zk.sock in ready:
                    zk.serve()
                    zk.sent = True  # may have stopped at its limit: look again
                for monitor in monitors:
                    if monitor in ready:
                        settle.append(monitor)
                        event = t.connection_event(monitor)
                        if event is not None:
                            peer, up = event
                            self.execute(self.peer.peer_connected(peer) if up else self.peer.peer_unreachable(peer))
                now = time.monotonic()
                if due is not None:
                    t.flush_delayed(now)
                if now >= next_tick:
                    self.peer.wall_ms = int(time.time() * 1000)
                    self.execute(self.replica.tick())
                    if zk is not None:
                        zk.server.wall_ms = self.peer.wall_ms
                        zk.server.tick(self.replica.ticks)
                    # If the loop fell far behind (a paused process), do not replay missed ticks.
                    next_tick = max(next_tick + self.tick_s, now)
                    if now - self._status_read_at < STATUS_WATCHED_S:
                        self._publish_status()
                    else:  # nobody is looking: ~0.25 ms a tick saved (issue 14)
                        self._status_current.clear()
                if clients.outbox:
                    clients.flush()
                    settle.append(t.client)
                if zk is not None:
                    zk.server.flush()
                    if zk.server.should_read != zk_reading:
                        # At its outstanding limit the node stops reading its clients
                        # (ZooKeeper's throttling): libzmq's high-water mark and TCP push back.
                        zk_reading = zk.server.should_read
                        if zk_reading:
                            poller.register(zk.sock)
                        else:
                            poller.unregister(zk.sock)
                    if zk.sent:
                        zk.sent = False
                        if zk_reading:
                            settle.append(zk.sock)
                # Last of the pass's work that can carry out an Output: the zk flush above submits
                # writes too (requests held behind a ConnectResponse, writes released after a
                # read, throttled connections), and their log ops must not wait for another pass.
                if self._log_pending:
                    self._write_log()
                if settle:
                    poller.settle(settle)
                    settle.clear()
            self._stopped_cleanly = self.exit_code == 0  # a signal, not a failure
        except (InvariantError, DurabilityError) as exc:
            self.log.critical(f"stopping: broken local invariant: {exc}")
            self.exit_code = 1
        except (StorageError, OSError) as exc:  # an epoch file write (synchronous, on this thread)
            self.log.critical(f"stopping: {DISK_FAILED.format(exc=exc)}")
            self.exit_code = 1
        finally:
            poller.close()
            self.close()
        return self.exit_code

    def execute(self, out: Output | None) -> None:
        """Carry out an Output through the host; then what only the node keeps (counters,
        events, metrics, the status view)."""
        if not out:
            return
        self.replica.execute(out)
        if out.applied:
            self.counters["applied"] += len(out.applied)
            self.events.committed(out.applied)
            self.metrics.commits_txns += len(out.applied)
            if self.peer.role == Role.LEADING:
                self.metrics.committed_to(self.peer.zxid_committed)
            answered = self.clients.answered
            if answered:
                self.events.add("answer", Ends.of(answered))
                self.clients.answered = []
        if (self.peer.role, self.peer.phase) != self._role_seen:
            if self.peer.role != Role.LEADING:
                self.reads.cancel_all()  # their follower sessions are over
            self._role_seen = (self.peer.role, self.peer.phase)
            self._publish_status()

    def _write_log(self) -> None:
        """The log ops of this pass, to the writer thread in one hand-off; it reports them
        durable through the wake pipe."""
        pending = self._log_pending
        if pending:
            ops = pending[:]
            pending.clear()  # the same list: ForkedSnapshots appends to it
            self.replica.handed_over(ops)  # counted as the writer counts them (reported_ops)
            self.writer.submit_all(ops)

    def _woken(self) -> None:
        """Another thread reported something (wake.py): carry it out in a fixed order."""
        self.wake.drain()
        if self.commands:
            self.commands.run(lambda cmd: carry_out(self, cmd))
            self._publish_status()
        if self.snapshots:
            self.snapshots.carry_out(self.replica)
        if self.reads:
            self.reads.carry_out(self.send, self.transport.send, lambda text: self.events.add("note", text),
                                 lambda stream, error: self.execute(stream.done(self.peer, error)))
        if self._disk_error is not None:
            self.log.critical(f"stopping: {DISK_FAILED.format(exc=self._disk_error)}")
            self.exit_code = 1
            self.running = False
            return
        latest = self._writer_report
        if latest is not None:
            self.execute(self.replica.durable(*latest))
        if not self._status_current.is_set() and time.monotonic() - self._status_read_at < STATUS_WATCHED_S:
            self._publish_status()  # a reader after a quiet spell woke us (status_snapshot)

    # ------------------------------------------------------------------ control and views

    def command(self, name: str, args: dict[str, Any], timeout: float = 2.0) -> Command:
        """From the HTTP thread: queue a command for the loop and wait for it (or time out)."""
        return self.commands.put(name, args, timeout)

    def status(self) -> dict[str, Any]:
        return node_status(self)

    def _publish_status(self) -> None:
        # Swapped as a whole: the HTTP thread only ever reads a complete dict.
        self._status = self.status()
        self._status_current.set()

    @property
    def status_snapshot(self) -> dict[str, Any]:
        """The status as of the last tick (HTTP threads). Built each tick only while someone
        reads it: after a quiet spell the first reader wakes the loop and waits for it."""
        self._status_read_at = time.monotonic()
        if not self._status_current.is_set():
            # Wake the loop: it builds the status at once, not at its next tick, which may be
            # further away than this wait (tick_ms has no upper bound).
            self.wake.poke_quietly(b"v")
            self._status_current.wait(STATUS_CATCH_UP_S)
        return self._status

    def _stop_auth(self) -> None:
        if self.auth is not None:
            self.auth.stop()
            self.auth = None

    def _snapshot_at_exit(self) -> None:
        """A clean stop: if txns were applied since the last snapshot, save one at the applied
        zxid, so that a restart starts from it instead of reading and applying those txns again
        (ClickHouse Keeper's create_snapshot_on_exit). The periodic path's files, checks and
        order (compaction.py), after every append already handed over; at most
        ``EXIT_SNAPSHOT_S``; any failure is logged and the node stops as it would without it."""
        if self._disk_error is not None or self.writer.failed is not None:
            return
        policy, peer = self.replica.snapshots, self.peer
        zxid = peer.zxid_applied
        if not policy.since and not policy.pending:
            self.log.info(f"no snapshot at exit: nothing applied since the snapshot at {fmt_zxid(zxid)}")
            return
        t0 = time.monotonic()
        # Nothing applied since the last snapshot started, but it is still in flight: only its
        # child, if the loop has not handed its file to the writer yet (else the writer has it).
        state = peer.state if policy.since else None
        try:
            commit = self.snapshots.take_at_exit(zxid, state, EXIT_SNAPSHOT_S)
            if commit is None:
                return  # take_at_exit said why (the writer has it, or none was saved)
            self.writer.submit(commit)
            self.writer.flush_sync(max(0.0, EXIT_SNAPSHOT_S - (time.monotonic() - t0)))
        except TimeoutError:
            self.log.warning(f"the snapshot at exit at {fmt_zxid(zxid)} is still being committed after "
                             f"{EXIT_SNAPSHOT_S} s; the stop waits for the log writer, as it always does")
            return
        except (StorageError, OSError) as exc:
            self.log.warning(f"no snapshot at exit at {fmt_zxid(zxid)}: {exc}; a restart starts from the last "
                             "snapshot and the log")
            return
        report = self.snapshots.saved_at_exit(zxid)
        if report is None or report.skipped or report.error:
            why = report.skipped or report.error if report is not None else "the writer did not report it"
            self.log.warning(f"no snapshot at exit at {fmt_zxid(zxid)}: {why}")
            return
        what = f"{policy.since} txns applied since the last snapshot" if policy.since else \
            "the periodic snapshot that was in flight"
        self.log.info(f"snapshot at exit: {fmt_zxid(zxid)}, {report.size_bytes} bytes, saved in "
                      f"{(time.monotonic() - t0) * 1000:.0f} ms ({what}); a restart starts from it, not "
                      "from the log after the last one")

    def close(self) -> None:
        self.running = False
        self.reads.close(2.0)
        self._write_log()  # a pass cut short: written as the writer's queue is (dropped if it failed)
        if self._stopped_cleanly and self.config.storage.snapshot_on_exit:
            self._snapshot_at_exit()
        self.writer.close()
        if self.zk is not None:
            self.zk.close()
        self.transport.close()
        self._stop_auth()
        self.ctx.term()
        self.wake.close()


def security_summary(config: ClusterConfig) -> str:
    """What start-up says about authentication: the keyless demo must say it is keyless."""
    sec = config.security
    if sec.curve:
        return f"CURVE on: peers and clients authenticated with the keys in {sec.keys_dir}"
    hosts = sorted({n.host for n in config.nodes})
    where = "loopback demo config" if all(h in ("127.0.0.1", "localhost", "::1") for h in hosts) \
        else f"ANY process that reaches {', '.join(hosts)} can join as a node or a client"
    return f"no authentication: {where}; set [security] curve = true (README, Security)"


def parse_blocked(text: str, ids: tuple[int, ...], me: int) -> set[int]:
    """ZMQZAB_BLOCKED ("0,1"): the peers a supervised node starts partitioned from."""
    blocked: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if part.isdigit() and int(part) in ids and int(part) != me:
            blocked.add(int(part))
    return blocked


def run_node(config: ClusterConfig, node_id: int, data_dir: Path | None, log_dir: Path | None,
             resync: bool = False) -> int:
    """Run one node in the foreground until SIGINT/SIGTERM; returns the process exit code."""
    from zmqzab.server.affinity import pin

    placed = pin(config, node_id)  # before any thread exists: the ones started later inherit it
    data_dir = data_dir or (config.storage.data_dir / f"node-{node_id}")
    log_dir = log_dir or config.storage.log_dir
    setup_logging(node_id, log_dir)
    log = logger.bind(node=node_id)
    if placed:
        log.info(placed)
    if resync:
        try:
            moved = set_aside(data_dir)
        except StorageError as exc:
            log.error(str(exc))
            return 2
        log.warning(f"--resync: {data_dir} moved to {moved.aside}; starting empty with the epoch it promised "
                    f"(acceptedEpoch {moved.accepted_epoch}), the leader will sync this node")
    try:
        node = Node(config, node_id, data_dir)
    except PortInUseError as exc:
        log.error(str(exc))
        return 2
    except StorageError as exc:
        log.error(str(exc))
        return 2
    except KeyFileError as exc:
        log.error(f"[security] curve = true, but {exc}")
        return 2

    def stop(signum, _frame) -> None:
        node.running = False

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    from zmqzab.server.httpbind import DeferredView

    def serve_view(listener) -> Any:
        from zmqzab.server.web import start_http  # after the first election message (httpbind.py)

        return start_http(node, listener)

    try:
        http = DeferredView(node, serve_view)  # bound now, served once the node has voted
    except PortInUseError as exc:
        log.error(str(exc))
        node.close()
        return 2
    me = config.node(node_id)
    zk_note = f", ZooKeeper clients {me.host}:{me.zk_port}" if me.zk_port else ""
    log.info(f"node {node_id} up: peers {me.peer_endpoint}, clients {me.client_endpoint}{zk_note}, view {http.url}/ "
             f"(pid {os.getpid()}, data {data_dir}; {security_summary(config)})")
    # What start-up made (modules, config, the recovered state) lives as long as the process:
    # moved to the GC's permanent generation, it is not walked again by every full collection,
    # which a big DIFF (tens of thousands of applied txns) triggers. Measured: GC during a
    # 50,000-txn catch-up went from ~20 ms to ~4 ms.
    gc.freeze()
    code = node.run(started=http.start)
    http.shutdown()
    log.info(f"node {node_id} stopped")
    return code
