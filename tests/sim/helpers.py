"""Shared pieces of the scripted scenarios: a calm simulated cluster and small waits on it."""

from __future__ import annotations

from zmqzab.core.output import Output
from zmqzab.core.roles import Phase, Role
from zmqzab.core.settings import CoreConfig
from zmqzab.messages import PeerMessage, wire_name
from zmqzab.sim import SimOptions, Simulation
from zmqzab.sim.liveness import liveness_bound

#: Ticks the liveness phase may take in a scenario (the sweep's bound, from the default timing).
LIVENESS_TICKS = liveness_bound(CoreConfig())


def calm(seed: int = 1, nodes: int = 5, core: CoreConfig | None = None, workload: bool = False,
         clients: int = 3) -> Simulation:
    """A cluster on a healthy network: the scenario injects its faults by hand."""
    print(f"scenario seed {seed}, {nodes} nodes")
    return Simulation(SimOptions(seed=seed, nodes=nodes, faults=False, workload=workload,
                                 clients=clients, core=core, trace_keep=None))


def leader(sim: Simulation) -> int | None:
    return sim.established_leader()


def wait_serving(sim: Simulation, max_ticks: int = 100) -> int:
    """Run until one established leader is followed by every node that is up; returns it."""

    def serving() -> bool:
        ld = sim.established_leader()
        if ld is None:
            return False
        for node in sim.nodes.values():
            p = node.peer
            if p is not None and node.id != ld and not (
                    p.role == Role.FOLLOWING and p.phase == Phase.BROADCAST and p.leader_id == ld):
                return False
        return True

    sim.run_until(serving, max_ticks)
    ld = sim.established_leader()
    assert ld is not None
    return ld


def followers(sim: Simulation, ld: int) -> list[int]:
    return [i for i in sim.ids if i != ld and sim.nodes[i].up]


def answered(sim: Simulation, request, max_ticks: int = 60) -> None:
    sim.run_until(lambda: request.answer is not None, max_ticks)


def sync_modes(sim: Simulation, node: int) -> list[str]:
    """The sync modes node received, from its trace ("sync: DIFF from node ...")."""
    modes = []
    for entry in sim.trace.entries:
        if entry[1] == "node" and entry[2] == node and entry[3].startswith("sync: "):
            word = entry[3].split()[1]
            if word in ("DIFF", "TRUNC", "SNAP") and " from node " in entry[3]:
                modes.append(word)
    return modes


def once(predicate, point: int):
    """A crash rule that fires the first time ``predicate(node, out)`` holds."""
    fired: list[int] = []

    def rule(node: int, out: Output) -> int | None:
        if fired or not predicate(node, out):
            return None
        fired.append(node)
        return point

    rule.fired = fired  # type: ignore[attr-defined]
    return rule


def sends_kind(out: Output, kind: str) -> bool:
    return any(wire_name(s.msg) == kind for s in out.sends)


def kind_rule(kind: str, verdict, counter: list[int]):
    """A network rule giving ``verdict`` (or verdict()) to every message of ``kind``."""

    def rule(src: int, dst: int, msg: PeerMessage):
        if wire_name(msg) != kind:
            return None
        counter[0] += 1
        return verdict() if callable(verdict) else verdict

    return rule
