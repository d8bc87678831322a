"""Stale copies in the simulated workload (sim/workload.py): a client leaps ``SEQ_WINDOW`` seqs
ahead and re-sends copies of requests it sent long ago, as a pipelining client retrying a whole
BATCH after a leader change does. CI found a node taking such a request, too old for the game
to know its outcome, and never answering it (the leader never logs it): the client retried for
ever. The host switch ``takes_stale_requests`` puts that back; the simulator must see it."""

from __future__ import annotations

from zmqzab.sim import SimOptions, Simulation, sweep
from zmqzab.sim.options import draw_settings

#: Seeds whose drawn profile has stale copies on (about half of all seeds).
SEEDS = [s for s in range(1, 80) if draw_settings(SimOptions(seed=s, nodes=5)).stale_copies][:24]


def test_the_simulator_catches_a_node_that_takes_a_request_too_old_to_answer():
    """Goal: the stale copies are not vacuous. Setup: 5 nodes, random faults, the seeds above.
    Faults: the profile's, and the switch ``takes_stale_requests``. Expected: with it, some
    seed's liveness phase finds a copy never answered; without it, no seed violates anything."""
    print(f"seeds {SEEDS}")
    bad = sweep(SEEDS, SimOptions(nodes=5, test_faults=frozenset({"takes_stale_requests"})))
    caught = [r.options.seed for r in bad.failures]
    print(f"with the switch: caught by seeds {caught}")
    assert caught, "no seed caught a node taking a too-old request"
    for r in bad.failures:
        assert r.violation.prop == "liveness" and "stale copy" in r.violation.detail, r.violation
    good = sweep(SEEDS, SimOptions(nodes=5))
    assert not good.failures, good.failures[0].violation


def test_a_stale_copy_gets_its_original_answer_or_is_refused_for_good_as_too_old():
    """Goal: what a client is told about a copy is true. Setup: the seeds above, run whole.
    Expected: copies happened of both kinds over the seeds; every copy answered got its
    original's zxid and result (the exactly-once checker also holds it to that); every copy
    refused for good was refused as too old, and no copy is left pending."""
    answered = refused = 0
    for seed in SEEDS[:8]:
        with Simulation(SimOptions(seed=seed, nodes=5)) as sim:
            result = sim.run()
            assert result.ok, (seed, result.violation)
            for r in sim.workload.requests:
                if r.copy_of is None:
                    continue
                if r.answer is not None:
                    answered += 1
                    assert r.copy_of.answer is not None
                    assert r.answer[2:] == r.copy_of.answer[2:], (seed, r, r.copy_of)
                elif r.refused is not None:
                    refused += 1
                    assert "too old" in r.refused[2], (seed, r.refused)
                else:
                    assert r not in sim.workload.pending(), (seed, r)
    print(f"copies over seeds {SEEDS[:8]}: {answered} answered as their original, {refused} refused as too old")
    assert answered and refused
