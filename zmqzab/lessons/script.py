"""What every lesson script stands on: a calm simulated cluster, anchors found while it runs,
captions placed at them, and the lesson's own claims checked.

Theory of operation
-------------------
A lesson is a deterministic script over the simulator (zmqzab/sim/): a fixed seed, a calm
network a little slower than the tests' (so that messages are seen flying), client writes and
faults at fixed points of the script. Its captions are not placed at hard-coded times: the
script runs the simulation one event time at a time (``Simulation.run_until_time``, one unit
further each step) and stops at an *anchor*, a thing that happens: a message sent or
delivered, a node's trace ("role: LEADING / BROADCAST ..."), a fault, or a condition on the
nodes' state. The caption gets the anchor's simulated time, so a change of timing elsewhere
(a slower election, one more message) moves the caption with what it describes.

Two sources feed the anchors, both seen as ``Seen`` records in the order they happen:

* every send, through a network rule that never gives a verdict (``Network.rules`` is asked
  on every send, before any scripted drop);
* every trace entry (deliveries, the nodes' core traces, faults, clients), through a thin
  wrapper around the simulation's ``Trace.add`` on this one Simulation instance.

A lesson also checks what its captions say (``expect``): a TRUNC lesson whose follower is no
longer truncated fails with the claim that no longer holds, and an anchor not found within its
bound fails with what was awaited and where every node stood. The simulator's checkers run
after every step as in every simulated run; a violation stops the lesson.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from zmqzab.core.roles import Phase, Role
from zmqzab.core.settings import CoreConfig
from zmqzab.messages import PeerMessage, wire_name
from zmqzab.sim import FaultProfile, SimOptions, Simulation
from zmqzab.sim.trace import TICK, format_entry
from zmqzab.sim.zkclients import TICK_MS

#: The lessons' network: messages take up to half a tick (the tests' calm network: a tenth), so
#: a PROPOSAL is still on its way when the next one leaves and the ring shows them flying.
LESSON_PROFILE = FaultProfile(latency_max=50, fsync_max=20)


class LessonError(Exception):
    """A lesson's anchor was not found, or what its captions claim did not happen."""


@dataclass(frozen=True, slots=True)
class Seen:
    """One thing that happened, at simulated time ``time`` (units; ``TICK`` per tick).

    ``kind``: "send" (``src`` sends ``msg`` to ``dst``), "msg" (delivered), "lost", "node" (a
    node's trace: ``node``, ``text`` such as "role: LEADING / BROADCAST: ..."), "fault",
    "client", "disk", "phase"."""

    time: int
    kind: str
    node: int | None = None
    src: int | None = None
    dst: int | None = None
    msg: PeerMessage | None = None
    text: str = ""

    @property
    def wire(self) -> str:
        return wire_name(self.msg) if self.msg is not None else ""


@dataclass(frozen=True, slots=True)
class Caption:
    """A caption frame's data (record-format.md). ``t_ms``: when it shows, the simulated time the
    script placed it, just after every frame of its anchor's instant (at most one unit of time
    later: the page shows the anchor's event with the caption); ``anchor_ms``: when the anchor
    happened."""

    id: str
    t_ms: float
    anchor_ms: float
    text: str
    pause: bool = False
    question: str | None = None

    def data(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "pause": self.pause, "question": self.question}

    def frame(self) -> dict[str, Any]:
        return {"t": self.t_ms, "kind": "caption", "data": self.data()}


@dataclass
class Script:
    """One lesson's run: the simulation, what it has seen, the captions placed so far."""

    sim: Simulation
    name: str
    seen: list[Seen] = field(default_factory=list)
    captions: list[Caption] = field(default_factory=list)
    #: Claims checked (``expect``), in order: the test reads them.
    claims: list[str] = field(default_factory=list)
    #: Called with each caption as it is placed (the recorder writing frames as the run goes:
    #: the caption's frame time is the simulation's now, ``Caption.t_ms``).
    on_caption: Callable[[Caption], None] | None = None
    #: Called before every step the script takes (a lesson's standing orders, e.g. a client
    #: that may only reconnect to one node).
    every_step: list[Callable[[], None]] = field(default_factory=list)
    #: ``seen`` up to here is behind the last anchor found.
    _cursor: int = 0
    #: When the last anchor happened (units): where the next caption goes.
    _time: int = 0
    #: The simulated time the last step started at: what it handled happened then.
    _stepped: int = 0

    def __post_init__(self) -> None:
        sim = self.sim
        sim.rules.append(self._on_send)
        add = sim.trace.add

        def traced(*entry: Any) -> None:
            add(*entry)
            self._on_trace(entry)

        sim.trace.add = traced  # type: ignore[method-assign]  # this instance only

    # ------------------------------------------------------------------ what happens

    def _on_send(self, src: int, dst: int, msg: PeerMessage) -> None:
        self.seen.append(Seen(self.sim.now, "send", src=src, dst=dst, msg=msg))
        return None  # no verdict: the message goes on as it would

    def _on_trace(self, entry: tuple[Any, ...]) -> None:
        time, kind = entry[0], entry[1]
        if kind in ("msg", "lost"):
            self.seen.append(Seen(time, kind, src=entry[2], dst=entry[3], msg=entry[4], text=str(entry[5])))
        elif kind == "node":
            self.seen.append(Seen(time, kind, node=entry[2], text=str(entry[3])))
        elif kind == "disk":
            self.seen.append(Seen(time, kind, node=entry[2], text=format_entry(entry)))
        else:
            self.seen.append(Seen(time, kind, text=str(entry[2]) if len(entry) > 2 else ""))

    # ------------------------------------------------------------------ anchors

    def step(self) -> None:
        """Handle every event of the next unit of simulated time."""
        for call in self.every_step:
            call()
        self._stepped = self.sim.now
        self.sim.run_until_time(self.sim.now + 1)

    def when(self, what: str, match: Callable[[Seen], bool], max_ticks: int = 60) -> Seen:
        """Run until something happens that ``match`` accepts (from now on); returns it.
        ``what`` names the anchor in the error when it is not found within ``max_ticks``.
        The search starts right after the previous anchor: what happened later in the same
        unit of time counts."""
        start = self._cursor
        end = self.sim.now + max_ticks * TICK
        while True:
            for i in range(start, len(self.seen)):
                if match(self.seen[i]):
                    self._cursor = i + 1
                    self._time = self.seen[i].time
                    return self.seen[i]
            start = len(self.seen)
            if self.sim.now >= end:
                self.fail(f"anchor '{what}' not found within {max_ticks} ticks")
            self.step()

    def until(self, what: str, cond: Callable[[], bool], max_ticks: int = 60) -> None:
        """Run until ``cond()`` holds (checked after every unit of time); the anchor's time is
        that of the step that made it hold (now, if it held at once)."""
        end = self.sim.now + max_ticks * TICK
        self._time = self.sim.now
        while not cond():
            if self.sim.now >= end:
                self.fail(f"anchor '{what}' not reached within {max_ticks} ticks")
            self.step()
            self._time = self._stepped
        self._cursor = len(self.seen)

    def ticks(self, n: int) -> None:
        end = self.sim.now + n * TICK
        while self.sim.now < end:
            self.step()
        self._cursor = len(self.seen)
        self._time = self.sim.now

    def fail(self, why: str) -> None:
        raise LessonError(f"lesson {self.name}: {why} (t={self.sim.tick}); nodes: {self.sim.roles()}")

    def expect(self, cond: bool, claim: str) -> None:
        """What a caption says must have happened: the lesson fails when it did not."""
        if not cond:
            self.fail(f"the lesson says '{claim}', but it did not happen")
        self.claims.append(claim)

    # ------------------------------------------------------------------ captions

    def say(self, id: str, text: str, pause: bool = False, question: str | None = None) -> Caption:
        """A caption at the time of the anchor just found (or of the script's last action)."""
        if any(c.id == id for c in self.captions):
            raise ValueError(f"lesson {self.name}: caption id {id!r} used twice")
        caption = Caption(id, self.sim.now * TICK_MS / TICK, self._time * TICK_MS / TICK, text, pause, question)
        self.captions.append(caption)
        if self.on_caption is not None:
            self.on_caption(caption)
        return caption

    # ------------------------------------------------------------------ the cluster's state

    def peer(self, i: int):
        return self.sim.nodes[i].peer

    def leader(self) -> int | None:
        return self.sim.established_leader()

    def serving(self) -> bool:
        """One established leader, followed (BROADCAST) by every node that is up."""
        ld = self.sim.established_leader()
        if ld is None:
            return False
        for node in self.sim.up_nodes():
            p = node.peer
            if node.id != ld and not (p is not None and p.role == Role.FOLLOWING
                                      and p.phase == Phase.BROADCAST and p.leader_id == ld):
                return False
        return True

    def wait_serving(self, what: str = "a leader serves", max_ticks: int = 100) -> int:
        self.until(what, self.serving, max_ticks)
        ld = self.sim.established_leader()
        assert ld is not None
        return ld

    def followers(self, ld: int) -> list[int]:
        return [i for i in self.sim.ids if i != ld and self.sim.nodes[i].up]

    def answered(self, request, what: str, max_ticks: int = 60) -> None:
        self.until(what, lambda: request.answer is not None, max_ticks)

    def sync_modes(self, node: int) -> list[str]:
        """The sync modes ``node`` received ("sync: TRUNC from node ..."), oldest first."""
        return [s.text.split()[1] for s in self.seen
                if s.kind == "node" and s.node == node and s.text.startswith("sync: ")
                and " from node " in s.text and s.text.split()[1] in ("DIFF", "TRUNC", "SNAP")]


# ---------------------------------------------------------------------- anchors people name

def sent(kind: str, src: int | None = None, dst: int | None = None) -> Callable[[Seen], bool]:
    """A message of ``kind`` (wire name, e.g. "PROPOSAL") sent (from ``src``, to ``dst``)."""
    return lambda s: (s.kind == "send" and s.wire == kind and (src is None or s.src == src)
                      and (dst is None or s.dst == dst))


def delivered(kind: str, src: int | None = None, dst: int | None = None) -> Callable[[Seen], bool]:
    return lambda s: (s.kind == "msg" and s.wire == kind and (src is None or s.src == src)
                      and (dst is None or s.dst == dst))


def traced(prefix: str, node: int | None = None) -> Callable[[Seen], bool]:
    """A node's trace line starting with ``prefix`` ("role: LEADING / BROADCAST")."""
    return lambda s: s.kind == "node" and s.text.startswith(prefix) and (node is None or s.node == node)


def fault(contains: str) -> Callable[[Seen], bool]:
    return lambda s: s.kind == "fault" and contains in s.text


def new_simulation(seed: int, core: CoreConfig | None = None, zk_clients: int = 0,
                   profile: FaultProfile | None = None, recorder: Any = None) -> Simulation:
    """A calm cluster of five at the lessons' pace; the script brings the writes and faults.
    ``recorder``: a ``SimRecorder`` (zmqzab/record/sim.py) riding along."""
    return Simulation(SimOptions(seed=seed, nodes=5, faults=False, workload=False, clients=0,
                                 core=core, profile=profile or LESSON_PROFILE, trace_keep=None,
                                 zk_clients=zk_clients, recorder=recorder))
