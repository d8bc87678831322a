"""Proof that the simulator catches the two durable-report bugs node.py had (issue 14's write
path): each host switch (host/durable.py HOST_TEST_FAULTS) puts one back into the rule both
drivers share, and the simulator, with its report schedules (sim/reports.py) and its ACK checker
(an ACK leaves only after an fsync that covers every log op it vouches for), finds a violation
with the switch on and none with it off, for the seeds it prints.

The schedule is the one of the node attacks (tests/unit/test_node_stale_durable_report_attack.py,
test_node_snapshot_batch_report_attack.py), played on the simulated cluster: a follower V logs
two txns no quorum holds; its disk stalls; another leader TRUNCates them away (the Truncate
waits behind the stalled fsync); then the first leader comes back and sends the same two txns
again (ABA) and NEWLEADER. A report from before the Truncate now describes V's log in memory
zxid for zxid, and nothing of the Truncate or the refill is synced.

Random sweeps rarely reach that ABA (a follower truncated by one leader and refilled by the
next, within one stalled fsync): seeds 1..1300 with --report-schedules and
durable_report_replayed, and 1..300 with durable_report_ignores_cut, found nothing; hence a
scripted schedule, varied by the seed's draws.
"""

from __future__ import annotations

import pytest

from zmqzab.core.roles import FollowerStep, Role
from zmqzab.host.durable import HOST_TEST_FAULTS
from zmqzab.messages import NewLeader
from zmqzab.sim import SimOptions, Simulation, sweep
from zmqzab.sim.checkers import Violation

from tests.sim.helpers import answered, wait_serving

pytestmark = pytest.mark.storage

SEEDS = range(1, 6)
#: V's fsyncs hang this long: past the whole schedule (the refill comes within ~40 ticks).
STALL_TICKS = 90
ACK_PROP = "ACK only after an fsync that covers what it vouches for"

#: Which schedule shows each switch, as the tests below play it.
EXPECTED = {
    "durable_report_replayed": "a wake-up hands the last report over again after the Truncate",
    "durable_report_ignores_cut": "a snapshot batch taken before the Truncate reports after it",
    # Not a durable report's: played by tests/sim/test_stale_copies.py.
    "takes_stale_requests": "a stale copy too old to answer is taken and never answered",
}


def test_every_host_switch_has_a_scenario():
    assert set(EXPECTED) == set(HOST_TEST_FAULTS)


def _sim(seed: int, fault: str | None, schedules: bool = True) -> Simulation:
    print(f"seed {seed}, switch {fault}, report schedules {'on' if schedules else 'off'}")
    return Simulation(SimOptions(seed=seed, nodes=5, faults=False, workload=False, trace_keep=None,
                                 report_schedules=schedules,
                                 test_faults=frozenset({fault}) if fault else frozenset()))


def _no_retry(sim: Simulation, client: str) -> None:
    """The scripted client waits for its answer where it sent the request (no retry elsewhere,
    which would commit the txn in another epoch and spoil the schedule)."""
    for c in sim.workload.clients:
        if c.id == client:
            c.next_tick = 10**9


def _play_aba(sim: Simulation, snapshot_batch: bool) -> int:
    """Play the schedule up to V holding the refilled log with NEWLEADER received and the
    Truncate unsynced; returns V."""
    ld = wait_serving(sim)
    for value in (10, 20, 30):
        answered(sim, sim.request(ld, value))
    sim.run_ticks(3)
    v, *others = sorted(i for i in sim.ids if i != ld)
    base = sim.nodes[ld].peer.zxid_last
    # 1. two txns reach V only; V's writer reports them and V ACKs; no quorum
    sim.partition([[v, ld], others])
    for client, value in (("s4", 40), ("s5", 50)):
        sim.request(ld, value, client=client)
        _no_retry(sim, client)
    top = base + 2
    sim.run_until(lambda: sim.nodes[v].peer.zxid_durable == top, 20)
    sim.run_until(lambda: sim.nodes[ld].peer.zxid_durable == top, 20)
    sim.crash(ld, "scripted", page_cache=True)
    # 2. V's disk stalls; with ``snapshot_batch`` its writer is in a snapshot batch alone
    sim.stall_disk(v, STALL_TICKS)
    if snapshot_batch:
        node = sim.nodes[v]
        peer = node.peer
        node.replica.snapshots.started(node.io.take_snapshot(peer.zxid_applied, peer.state))
        sim._start_writer(node)
        assert node.disk.inflight and not node.disk.queue
    # 3. the others elect M; its NEWLEADERs are lost (epoch never established); V is TRUNCated
    sim.partition([[v], others])
    sim.rules.append(lambda src, dst, msg: "drop" if type(msg) is NewLeader else None)
    # (every one of them decided: one still LOOKING at the heal would take V's better vote)
    sim.run_until(lambda: any(sim.nodes[i].peer.role == Role.LEADING for i in others)
                  and all(sim.nodes[i].peer.role != Role.LOOKING for i in others), 60)
    m = next(i for i in others if sim.nodes[i].peer.role == Role.LEADING)
    sim.heal()
    sim.run_until(lambda: sim.nodes[v].peer.zxid_last == base, 40)
    sim.crash(m, "scripted", page_cache=True)
    sim.rules.clear()
    # 4. the first leader returns and sends V the same two txns again, and NEWLEADER
    sim.restart(ld)

    def refilled() -> bool:
        p = sim.nodes[v].peer
        return (p.leader_id == ld and p.zxid_last == top
                and getattr(p.role_state, "step", None) == FollowerStep.NEWLEADER_RECEIVED)

    sim.run_until(refilled, 60)
    disk = sim.nodes[v].disk
    assert disk.stalled_until > sim.now, "the schedule outran the stall"
    assert any(type(op).__name__ == "Truncate" for op in disk.inflight + disk.queue)
    print(f"leader n{ld}, V n{v}, M n{m}: V's log refilled to {top:#x}, the Truncate unsynced "
          f"(t={sim.tick})")
    return v


def _run(seed: int, fault: str | None, snapshot_batch: bool, schedules: bool = True) -> Violation | None:
    with _sim(seed, fault, schedules) as sim:
        try:
            _play_aba(sim, snapshot_batch)
            sim.run_ticks(STALL_TICKS + 10)  # the stall ends, its batches report
            for c in sim.workload.clients:  # the scripted clients retry again
                c.next_tick = min(c.next_tick, sim.tick)
            taken = sim.check_liveness()
        except Violation as exc:
            print(f"  seed {seed}: {exc}")
            return exc
        print(f"  seed {seed}: no violation; converged {taken} ticks after healing")
        return None


@pytest.mark.parametrize("fault,snapshot_batch", [("durable_report_replayed", False),
                                                  ("durable_report_ignores_cut", True)])
def test_the_simulator_catches_each_durable_report_bug(fault, snapshot_batch):
    """Goal: the report schedules and the ACK checker are not vacuous. Setup: 5 nodes, calm
    network, report schedules on, the schedule above (with ``snapshot_batch``: V's writer holds
    a snapshot batch alone when the Truncate comes). Faults: a partition, lost NEWLEADERs, two
    crashes, a stalled disk, and the host switch. Expected: with the switch, a seed's run
    violates "ACK only after an fsync that covers what it vouches for" (V ACKs NEWLEADER over
    the unsynced Truncate); without it, no seed violates anything and the cluster converges."""
    caught = [s for s in SEEDS if _run(s, fault, snapshot_batch) is not None]
    for s in caught:
        assert _run(s, fault, snapshot_batch).prop == ACK_PROP
    print(f"{fault}: caught by seeds {caught} of {list(SEEDS)}")
    assert caught, f"{fault}: no violation for seeds {list(SEEDS)}"
    clean = [s for s in SEEDS if _run(s, None, snapshot_batch) is None]
    assert clean == list(SEEDS)


def test_a_snapshot_batch_report_after_the_truncate_is_dropped_without_schedules():
    """Goal: the simulator's own delivery goes through the host's rule (it called
    ``Peer.persisted`` with every report before, so a snapshot batch taken before a Truncate
    acked NEWLEADER over it). Setup: the snapshot-batch schedule, report schedules OFF (each
    report at its fsync's completion). Expected: no violation, the cluster converges; with the
    cut ignored (the switch), the ACK checker catches it."""
    assert _run(1, None, True, schedules=False) is None
    caught = _run(1, "durable_report_ignores_cut", True, schedules=False)
    assert caught is not None and caught.prop == ACK_PROP


def test_random_runs_with_report_schedules_hold():
    """Goal: late, coalesced and re-delivered reports are safe with the host's rule (no false
    alarm from the ACK checker either). Setup: seeds 1..20, 5 nodes, random faults, report
    schedules on. Expected: no violation, and the schedules did happen."""
    found = sweep(range(1, 21), SimOptions(nodes=5, report_schedules=True))
    assert not found.failures, found.failures[0].violation
    print(f"20 seeds: {dict((k, v) for k, v in found.faults.items() if k.startswith('report_'))}")
    for kind in ("report_late", "report_coalesced", "report_replayed"):
        assert found.faults[kind] > 0, kind
