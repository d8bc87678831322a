"""The simulator's recorder: what each simulated node would have streamed to the page.

Theory of operation
-------------------
A ``SimRecorder`` rides along a ``Simulation`` (``SimOptions.recorder``; the run attaches it at
its start). Each node incarnation gets the node's own ``EventLog`` (server/events.py) with the
run's virtual clock, fed from the simulation's hooks exactly as node.py feeds it (``sent`` for
every send and publish, ``received`` for every delivery, ``add("trace", ...)`` for the core's
traces, ``committed`` per Output); every record is rendered at once with the same ``render``
the nodes' ``/events`` uses, and written as a ``zab`` frame. At each tick boundary every running
node's status (``sim_status``: the same shape as server/status.py's ``node_status``) is written
if it changed (writer.py's ``StatusFilter``). A start writes ``up`` and ``hello``, a crash ``down``. The simulation's trace
lines of kind "fault" become fault marks; lost messages ("dropped") one loss mark per tick;
changes of the established leader leader marks; ``finish`` writes the checker's verdict.

It only reads: it draws no random numbers and changes nothing the run looks at, so a recorded
run is the same run (its trace byte for byte), and two recordings of one seed are identical but
for the header's "created". Frame times are virtual ms: ``now`` x ``TICK_MS`` / ``TICK``.

A fault mark's ``until`` (its end: a heal, the node's restart) is not known when it starts;
frames from an open mark on are held back until it closes (a partition lasts at most tens of
ticks; a crash until the restart), so the file is still written in time order.
"""

from __future__ import annotations

import dataclasses
import re
from collections import deque
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from zmqzab.core.output import BROADCAST
from zmqzab.core.roles import Role
from zmqzab.record.format import DEFAULT_CAP_BYTES
from zmqzab.record.writer import RecordingWriter, StatusFilter, make_header
from zmqzab.server.events import EventLog, render
from zmqzab.server.light import Ends, light
from zmqzab.server.status import core_view, zk_view
from zmqzab.server.web import MAX_EVENTS_PER_S, flush_interval_s
from zmqzab.sim.trace import TICK, describe

if TYPE_CHECKING:
    from zmqzab.messages import PeerMessage
    from zmqzab.sim.options import SimOptions, SimResult
    from zmqzab.sim.simulation import Simulation

#: How long a simulated tick is, in the recording's virtual ms (the default [timing] tick_ms).
TICK_MS = 50
_NODE = re.compile(r"\bn(\d+)\b")
#: (prefix of a fault trace line, the mark's "fault" name), first match wins.
_FAULT_KINDS = (("crash ", "crash"), ("restart ", "restart"), ("partition ", "partition"),
                ("bridge partition", "partition"), ("heal", "heal"), ("pause ", "pause"),
                ("connection ", "flap"), ("force an election", "election"),
                ("power loss", "power"), ("operator:", "resync"))
_FOR_TICKS = re.compile(r"for (\d+) ticks")


def _fault_kind(text: str) -> str:
    for prefix, kind in _FAULT_KINDS:
        if text.startswith(prefix):
            return kind
    return "disk"  # bit rot, a refused start, a stalled disk


def _groups(text: str) -> list[list[int]]:
    return [[int(x) for x in _NODE.findall(part)] for part in re.findall(r"\{([^}]*)\}", text)]


class SimRecorder:
    """Records one simulated run into ``target`` (a path or a binary file object).

    ``captions``: ``[(tick, {"id", "text", "pause", "question"}), ...]`` written at those tick
    boundaries; a script driving the run by hand calls ``caption`` instead. ``finish`` (or
    ``record_run``) writes the verdict and the trailer.
    """

    def __init__(self, target: str | Path | IO[bytes], command: str = "", title: str | None = None,
                 cap_bytes: int = DEFAULT_CAP_BYTES, start_paused: bool = False,
                 captions: list[tuple[int, dict[str, Any]]] | None = None,
                 source: str = "sim", compress: bool | None = None) -> None:
        self.target = target
        self.compress = compress
        self.command = command
        self.title = title
        self.cap_bytes = cap_bytes
        self.start_paused = start_paused
        self.source = source
        self._captions = deque(sorted(captions or (), key=lambda c: c[0]))
        self.sim: Simulation | None = None
        self.writer: RecordingWriter | None = None
        self.logs: dict[int, EventLog] = {}
        self._done: dict[int, int] = {}
        self._statuses = StatusFilter()
        self._started_ms: dict[int, float] = {}
        #: The established leader and its epoch, as last marked.
        self._leader: tuple[int | None, int] = (None, 0)
        #: Frames waiting for an open fault mark to close (module docstring).
        self._held: deque[dict[str, Any]] = deque()
        self._open: dict[tuple, dict[str, Any]] = {}
        self._loss: dict[str, Any] | None = None
        #: Clients answered by the Output being carried out, by node.
        self._answered: dict[int, list] = {}
        #: Nodes whose process is stopped (a pause): their stream is down until it resumes.
        self._paused: set[int] = set()
        self.trailer: dict[str, Any] | None = None

    # ------------------------------------------------------------------ the run's hooks

    def attach(self, sim: Simulation) -> None:
        """Called by the Simulation before its nodes start."""
        self.sim = sim
        core = sim.core
        self.heartbeat_ms = TICK_MS * core.heartbeat_ticks
        knobs = {k: (sorted(v) if isinstance(v, (set, frozenset)) else v)
                 for k, v in dataclasses.asdict(core).items()}
        config = {"ids": list(sim.ids), "timing": {"tick_ms": TICK_MS, "heartbeat_ms": self.heartbeat_ms},
                  "core": knobs, "profile": sim.profile_text,
                  "snapshot_every_txns": sim.snapshot_every, "snapshots_kept": sim.snapshots_kept}
        header = make_header(self.source, self.command, sim.ids, "virtual", TICK_MS, self.heartbeat_ms,
                             config, seed=sim.options.seed, title=self.title,
                             start_paused=True if self.start_paused else None)
        self.writer = RecordingWriter(self.target, header, self.cap_bytes, self.compress)
        trace_add = sim.trace.add

        def add(*entry: Any) -> None:  # the trace's lines, as they are added
            trace_add(*entry)
            self._traced_line(entry)

        sim.trace.add = add  # type: ignore[method-assign]

    def ms(self) -> float:
        assert self.sim is not None
        return self.sim.now * TICK_MS / TICK

    def _clock(self) -> float:
        return self.ms() / 1000.0

    def started(self, i: int) -> None:
        """Node ``i``'s new incarnation is up (before its Peer starts)."""
        sim = self.sim
        assert sim is not None
        log = EventLog(i, clock=self._clock)
        log.boot = f"{i:02x}{sim.nodes[i].incarnation:06x}"  # os.urandom in a node: not here
        self.logs[i], self._done[i] = log, 0
        self._started_ms[i] = self.ms()
        self._statuses.forget(i)
        self._close(("crash", i))
        self._up(i)

    def _up(self, i: int) -> None:
        """Node ``i``'s stream opens: ``up``, then its ``hello`` (as web.py's _stream sends it)."""
        log = self.logs[i]
        hb = self.heartbeat_ms
        self._emit({"t": self.ms(), "node": i, "kind": "up"})
        self._emit({"t": self.ms(), "node": i, "kind": "hello", "data": {
            "node": i, "boot": log.boot, "seq": log.seq, "heartbeat_ms": hb,
            "flush_ms": round(flush_interval_s(hb) * 1000), "down_after_ms": max(2 * hb, 250),
            "max_events_per_s": MAX_EVENTS_PER_S}})

    def stopped(self, i: int) -> None:
        """Node ``i`` died."""
        self.logs.pop(i, None)
        self._answered.pop(i, None)
        if i in self._paused:
            self._paused.discard(i)  # its stream was down already
        else:
            self._emit({"t": self.ms(), "node": i, "kind": "down"})
        self._check_leader()

    def sent(self, i: int, to: int, msg: PeerMessage) -> None:
        log = self.logs.get(i)
        if log is not None:
            log.sent(to, light(msg))
            self._drain(i)

    def published(self, i: int, msg: PeerMessage) -> None:
        self.sent(i, BROADCAST, msg)

    def traced(self, i: int, trace: Any) -> None:
        log = self.logs.get(i)
        if log is not None:
            log.add("trace", trace)
            self._drain(i)
            self._check_leader()

    def committed(self, i: int, applied: list) -> None:
        """After an Output: its commits, then the clients it answered (as node.py records them)."""
        log = self.logs.get(i)
        answered = self._answered.pop(i, None)
        if log is not None:
            log.committed(applied)
            if answered:
                log.add("answer", Ends.of(answered))
            self._drain(i)

    def answered(self, i: int, txn: Any, result: Any, waiters: int) -> None:
        self._answered.setdefault(i, []).extend([(txn, result)] * waiters)

    def client(self, i: int, ops: list) -> None:
        """A node took client requests (server/clients.py's event)."""
        log = self.logs.get(i)
        peer = self.sim.nodes[i].peer if self.sim is not None else None
        if log is not None and peer is not None:
            path = "proposing" if peer.role == Role.LEADING else f"forwarding to leader n{peer.leader_id}"
            log.add("client", (len(ops), ops[:3], path))
            self._drain(i)

    def refused(self, i: int, n: int, reason: str) -> None:
        log = self.logs.get(i)
        if log is not None:
            log.add("refused", (n, reason))
            self._drain(i)

    def tick(self) -> None:
        """A tick boundary: captions due, then every running node's status if it changed."""
        sim = self.sim
        assert sim is not None
        self._close(("loss",))
        self._loss = None
        while self._captions and self._captions[0][0] <= sim.tick:
            self.caption(**self._captions.popleft()[1])
        for i in sorted(self._paused):
            if sim.nodes[i].paused_until <= sim.now:  # it resumed: its stream answers again
                self._paused.discard(i)
                self._statuses.forget(i)
                self._up(i)
        self.statuses()

    def statuses(self) -> None:
        """Every running node's status now, where it changed (a script calls it before a
        caption, so that the page's ring and logs agree with the caption's instant)."""
        for i in sorted(set(self.logs) - self._paused):
            self._write_status(i)

    # ------------------------------------------------------------------ what a script adds

    def caption(self, id: str, text: str, pause: bool = False, question: str | None = None) -> None:  # noqa: A002
        self._emit({"t": self.ms(), "kind": "caption",
                    "data": {"id": id, "text": text, "pause": pause, "question": question}})

    def mark(self, data: dict[str, Any]) -> None:
        self._emit({"t": self.ms(), "kind": "mark", "data": data})

    def finish(self, violation: Any = None, text: str | None = None) -> dict[str, Any]:
        """The verdict (a ``Violation``, or None: every property held) and the trailer."""
        assert self.writer is not None, "the recorder was never attached to a Simulation"
        if violation is not None:
            verdict = {"ok": False, "text": violation.detail, "prop": violation.prop}
        else:
            verdict = {"ok": True, "text": text or "every checked property held"}
        self.statuses()
        self.mark({"mark": "verdict", **verdict})
        for key in list(self._open):
            self._close(key)
        self.trailer = self.writer.close(verdict, self.ms())
        return self.trailer

    def finish_run(self, result: SimResult) -> dict[str, Any]:
        """``finish`` with what ``Simulation.run`` returned."""
        text = None
        if result.violation is None and result.liveness_ticks is not None:
            text = f"every checked property held; after healing, converged in {result.liveness_ticks} ticks"
        return self.finish(result.violation, text)

    # ------------------------------------------------------------------ internals

    def _drain(self, i: int) -> None:
        log = self.logs[i]
        done = self._done[i]
        if done == log.seq:
            return
        ring = log.ring
        for item in list(ring)[done - log.seq:] if log.seq - done > 1 else (ring[-1],):
            ev = render(item, i)
            self._emit({"t": ev["t"], "node": i, "kind": "zab", "data": ev})
        self._done[i] = log.seq

    def _write_status(self, i: int) -> None:
        sim = self.sim
        assert sim is not None
        node = sim.nodes[i]
        if node.peer is None:
            return
        status = sim_status(sim, i, self.logs[i], self.ms(), self._started_ms[i], self.heartbeat_ms)
        if not self._statuses.due(i, status, self.ms()):
            return
        self._emit({"t": self.ms(), "node": i, "kind": "status", "data": status})

    def _check_leader(self) -> None:
        sim = self.sim
        assert sim is not None
        leader = sim.established_leader()
        peer = sim.nodes[leader].peer if leader is not None else None
        now = (leader, peer.epoch if peer is not None else self._leader[1])
        if now != self._leader:
            self._leader = now
            self.mark({"mark": "leader", "leader": leader, "epoch": now[1]})

    def _traced_line(self, entry: tuple) -> None:
        kind = entry[1]
        if kind == "msg":
            _, _, src, dst, msg, _note = entry
            log = self.logs.get(dst)
            if log is not None:
                log.received(src, light(msg))
                self._drain(dst)
        elif kind == "fault":
            self._fault(entry[2])
        elif kind == "lost" and str(entry[5]).startswith("dropped"):
            _, _, src, dst, msg, why = entry
            self._lost(src, dst, msg, why)

    def _fault(self, text: str) -> None:
        fault = _fault_kind(text)
        nodes = sorted({int(x) for x in _NODE.findall(text)})
        data: dict[str, Any] = {"mark": "fault", "fault": fault, "text": text, "nodes": nodes, "until": None}
        key: tuple | None = None
        if fault == "partition":
            groups = _groups(text)
            data["nodes"], data["groups"] = (groups[0] if groups else nodes), groups
            key = ("partition",)
        elif fault == "crash" and nodes:
            key = ("crash", nodes[0])
        elif fault == "heal":
            self._close(("partition",))
        ticks = _FOR_TICKS.search(text)
        if ticks:
            data["until"] = self.ms() + int(ticks.group(1)) * TICK_MS
        frame = {"t": self.ms(), "kind": "mark", "data": data}
        if key is not None:
            self._close(key)  # a second partition replaces the first
            self._open[key] = frame
        self._emit(frame)
        if fault == "pause" and nodes and nodes[0] in self.logs and nodes[0] not in self._paused:
            # A stopped process sends nothing: the page sees its stream go quiet.
            self._paused.add(nodes[0])
            self._emit({"t": self.ms(), "node": nodes[0], "kind": "down"})

    def _lost(self, src: int, dst: int, msg: Any, why: str) -> None:
        loss = self._loss
        if loss is not None:
            d = loss["data"]
            d["count"] += 1
            d["nodes"] = sorted(set(d["nodes"]) | {src, dst})
            d["text"] = f"{d['count']} messages lost (first: {d['first']})"
            return
        first = f"n{src}->n{dst} {describe(msg)}: {why}"
        self._loss = {"t": self.ms(), "kind": "mark", "data": {
            "mark": "fault", "fault": "loss", "text": f"message lost: {first}", "nodes": sorted({src, dst}),
            "until": None, "count": 1, "first": first}}
        # Held until the tick ends, so that the tick's losses add up in one mark.
        self._open[("loss",)] = self._loss
        self._emit(self._loss)

    def _close(self, key: tuple) -> None:
        frame = self._open.pop(key, None)
        if frame is None:
            return
        if frame["data"]["fault"] != "loss":
            frame["data"]["until"] = self.ms()
        self._release()

    def _emit(self, frame: dict[str, Any]) -> None:
        if self._open:
            self._held.append(frame)
        else:
            assert self.writer is not None
            self.writer.write(frame)

    def _release(self) -> None:
        """Write the held frames up to the first mark still open."""
        held, writer = self._held, self.writer
        assert writer is not None
        opened = {id(f) for f in self._open.values()}
        while held and id(held[0]) not in opened:
            writer.write(held.popleft())


def sim_status(sim: Simulation, i: int, log: EventLog, now_ms: float, started_ms: float,
               heartbeat_ms: int) -> dict[str, Any]:
    """Node ``i``'s status as a live node's /status gives it (server/status.py ``node_status``):
    the Peer's part is built by the same ``core_view``; what only a process has (pid, ports,
    CURVE, its control URL) is absent or null."""
    node = sim.nodes[i]
    peer = node.peer
    assert peer is not None
    s = core_view(peer)
    cut = sim.net.cut
    blocked = sorted({b for a, b in cut if a == i} | {a for a, b in cut if b == i})
    s.update(
        counters={"incarnation": node.incarnation},
        curve=False,
        uptime_s=round((now_ms - started_ms) / 1000, 3),
        tick_ms=TICK_MS,
        fsync=True,
        snapshots={},
        pid=None,
        cluster=[{"id": j, "http": None} for j in sim.ids],
        http=None,
        faults={"blocked": blocked, "message_delay_ms": 0},
        heartbeat_ms=heartbeat_ms,
        down_after_ms=max(2 * heartbeat_ms, 250),
        control=None,
        events_seq=log.seq,
        events_boot=log.boot,
        time_ms=round(now_ms),
    )
    if sim.zk is not None and i in sim.zk.servers:
        s["zk"] = zk_view(sim.zk.servers[i], peer.state, None)
    if node.paused_until > sim.now:
        s["paused"] = True
    return s


def record_run(options: SimOptions, target: str | Path | IO[bytes], command: str = "",
               captions: list[tuple[int, dict[str, Any]]] | None = None, title: str | None = None,
               cap_bytes: int = DEFAULT_CAP_BYTES, start_paused: bool = False) -> tuple[SimResult, dict[str, Any]]:
    """Run ``options`` (as ``Simulation.run``) and record it into ``target``; returns the
    run's result and the recording's trailer."""
    from zmqzab.sim.simulation import Simulation

    recorder = SimRecorder(target, command or options.reproduce(), title, cap_bytes, start_paused, captions)
    with Simulation(dataclasses.replace(options, recorder=recorder)) as sim:
        result = sim.run()
        trailer = recorder.finish_run(result)
    return result, trailer
