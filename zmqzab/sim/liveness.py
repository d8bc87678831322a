"""The liveness phase: after the faults, everything is healed and the cluster must serve again
within a bound the protocol's own timers give (``liveness_bound``).

``check_liveness`` heals everything (``heal_everything``: no partition, every node restarted
but one refused for a damaged disk, which waits for the operator's resync; no more faults; no
new client requests), then requires, tick by tick, convergence (``converged``: one established
leader followed by every node in BROADCAST, the same committed zxid everywhere, the leader's
last, every request answered), and then a fresh write, sent through a follower, applied on
every node. Convergence alone would pass a leader that can no longer commit; only a new commit
shows the broadcast phase works.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from zmqzab.core.roles import Phase, Role
from zmqzab.core.settings import CoreConfig
from zmqzab.sim.checkers import Violation
from zmqzab.sim.options import CLIENT_TIMEOUT_TICKS
from zmqzab.sim.trace import describe_op
from zmqzab.sim.workload import Request
from zmqzab.zxid import fmt_zxid

if TYPE_CHECKING:
    from zmqzab.sim.simulation import Simulation


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


def heal_everything(sim: Simulation) -> None:
    """Start of the liveness phase: no partition, every node up, no more faults."""
    sim.liveness = True
    sim.trace.add(sim.now, "phase", "liveness phase: heal everything, restart every node, "
                  "no new requests; waiting for one leader, equal commits, every answer")
    sim.profile = sim.profile.calm()
    sim.workload.new_requests = False
    if sim.zk is not None:
        sim.zk.new_requests = False
    sim.net.heal()
    for i in sim.ids:
        sim.nodes[i].paused_until = min(sim.nodes[i].paused_until, sim.now)
        if not sim.nodes[i].up and not sim.nodes[i].refused:
            sim.restart(i)  # a refused node waits for the operator's resync
    sim.net.release_held()


def converged(sim: Simulation) -> str | None:
    """None when the cluster is live and quiet; else what is still missing."""
    leaders = []
    for node in sim.up_nodes():
        p = node.peer
        if p is not None and p.role == Role.LEADING and p.phase == Phase.BROADCAST:
            leaders.append(node.id)
    if len(sim.up_nodes()) != len(sim.ids):
        return "not every node is up"
    if len(leaders) != 1:
        return f"{len(leaders)} established leaders"
    lp = sim.nodes[leaders[0]].peer
    assert lp is not None
    for node in sim.up_nodes():
        p = node.peer
        assert p is not None
        if node.id != lp.id and not (p.role == Role.FOLLOWING and p.phase == Phase.BROADCAST
                                     and p.leader_id == lp.id and p.epoch == lp.epoch):
            return f"n{node.id} is not following n{lp.id} in BROADCAST"
        if p.zxid_committed != lp.zxid_last:
            return (f"n{node.id} committed {fmt_zxid(p.zxid_committed)}, leader's last is "
                    f"{fmt_zxid(lp.zxid_last)}")
    pending = sim.workload.pending()
    if pending:
        r = pending[0]
        copy = " (a stale copy, sent again after its client moved on)" if r.copy_of is not None else ""
        return f"{len(pending)} request(s) unanswered, e.g. {r.client}#{r.seq} {describe_op(r.op)}{copy}"
    return None


def check_liveness(sim: Simulation, max_ticks: int | None = None) -> int:
    """Heal everything, then require within ``max_ticks`` (default: ``liveness_bound``):
    convergence (``converged``), then a fresh write, sent to a follower after the heal,
    committed and applied on every node. Convergence alone would pass a leader that can no
    longer commit (its PROPOSALs or ACKs lost for good): only a new commit shows the
    broadcast phase works. Returns the ticks taken."""
    if max_ticks is None:
        max_ticks = liveness_bound(sim.core)
    heal_everything(sim)
    start = sim.tick
    missing = converged(sim)
    while missing is not None:
        if sim.tick - start >= max_ticks:
            raise Violation("liveness", f"{max_ticks} ticks after healing everything (t={start}), "
                            f"{missing}; {sim.roles()}")
        sim.run_ticks(1)
        missing = converged(sim)
    took = sim.tick - start
    sim.trace.add(sim.now, "phase", f"converged after {took} ticks: {sim.roles()}")
    leader = sim.established_leader()
    assert leader is not None
    via = sim.rng_sched.choice([i for i in sim.ids if i != leader] or [leader])
    fresh = sim.workload.request(sim.tick, "fresh", via, sim.rng_sched.randint(0, 100))
    sim.trace.add(sim.now, "phase", f"a fresh write after the heal, through n{via}: "
                  f"{describe_op(fresh.op)}")
    while True:
        missing = _fresh_missing(sim, fresh)
        if missing is None:
            break
        if sim.tick - start >= max_ticks:
            raise Violation("liveness", f"{max_ticks} ticks after healing everything (t={start}), "
                            f"converged after {took}, but the fresh write {describe_op(fresh.op)} "
                            f"sent through n{via}: {missing}; {sim.roles()}")
        sim.run_ticks(1)
    took = sim.tick - start
    sim.trace.add(sim.now, "phase", f"the fresh write committed on every node, {took} ticks "
                  "after the heal")
    return took


def _fresh_missing(sim: Simulation, request: Request) -> str | None:
    if request.answer is None:
        return "it is not answered"
    zxid = request.answer[2]
    for i in sim.ids:
        p = sim.nodes[i].peer
        if p is None or p.zxid_applied < zxid:
            return (f"n{i} has not applied it ({fmt_zxid(zxid)}; n{i} applied "
                    f"{fmt_zxid(p.zxid_applied) if p else 'nothing, down'})")
    return None
