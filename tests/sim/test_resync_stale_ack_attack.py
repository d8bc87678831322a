"""Attack on the simulated operator's resync condition (sim/faults.py resync_allowed, branch f):
"a quorum of the others holds every committed txn" is checked against what is committed *now*;
an ACK the resynced node sent before it died can still be counted afterwards, by a leader that
was paused with it in its socket, and commit a txn that only a minority of the others holds.
"""

from __future__ import annotations

import random

import pytest

from zmqzab.messages import Proposal
from zmqzab.sim import faults
from zmqzab.sim.checkers import Violation

from tests.sim.helpers import LIVENESS_TICKS, answered, calm, wait_serving

pytestmark = pytest.mark.election


def test_a_resync_never_loses_a_txn_its_old_ack_commits_later():
    """Goal: a resync loses no committed txn, also one committed after the resync by an ACK the
    node sent before it. Setup: 5 nodes, calm, three guesses committed in epoch E under leader
    L. Faults: a fourth guess t goes to L, whose PROPOSAL reaches only x and y (dropped to z, w);
    L is paused at once (a GC pause, a frozen VM) for longer than the rest takes, so x's and
    y's ACKs of t wait in its socket. x loses power and a bit of its log rots: its restart is
    refused. The operator resyncs x: t is not committed (L has counted nothing), and the
    others L, y, z, w hold every committed txn under currentEpoch E, so the condition holds.
    y is cut off; z, w and the empty x elect z (votes E/last-1 beat x's 0/0) and establish
    epoch E+1 without t; a guess commits there. Then L resumes: its socket gives it y's and
    x's old ACKs before anything else, a quorum {L, x, y} for t, and it commits t.
    Expected: the operator waits (t is on x's disk, uncommitted, and neither held by a quorum
    of the others nor of an epoch a quorum of them moved past); L resumes and commits t with
    x's and y's ACKs, the cluster heals, then x is resynced and every node converges; no
    violation. Before the fix the operator resynced x at once, z established epoch E+1 with w
    and the empty x, committed a guess there, and L, resumed, committed t in epoch E ("committed
    prefixes agree": n5 applied 1:4 guess 40 as committed txn #4, but #4 is 2:1 guess 50)."""
    with calm(seed=11) as sim:
        ld = wait_serving(sim)
        for value in (10, 20, 30):
            answered(sim, sim.request(ld, value))
        sim.run_ticks(3)
        x, y, z, w = sorted(i for i in sim.ids if i != ld)
        epoch = sim.nodes[ld].peer.epoch
        print(f"leader n{ld} (epoch {epoch}); x=n{x} y=n{y} z=n{z} w=n{w}")
        def proposal_out(src, dst, msg):
            if src != ld or not isinstance(msg, Proposal):
                return None
            if sim.nodes[ld].paused_until <= sim.now:
                sim.pause(ld, 400)  # right after it sends t: the ACKs will wait in its socket
            return "drop" if dst in (z, w) else None

        sim.rules.append(proposal_out)
        t = sim.request(ld, 40)
        sim.run_until(lambda: all(len(sim.nodes[i].disk.durable_zxids) > len(sim.nodes[z].disk.durable_zxids)
                                  for i in (x, y)), 20)
        sim.run_ticks(2)  # their ACKs reach L's socket
        print("t on x and y, durably; committed so far:", len(sim.checkers.gz))

        sim.crash(x)
        what = sim.nodes[x].disk.rot(random.Random(7))
        assert what, "nothing to rot on x's disk"
        sim.restart(x)
        assert sim.nodes[x].refused, "x's restart should have been refused for the rot"
        print("the operator's condition now:", faults.resync_allowed(sim, sim.nodes[x]) or "allowed")
        faults.resync(sim, x)  # at once if allowed, else retried every 5 ticks until it is
        resynced_at_once = sim.counters["resync"] == 1

        sim.rules.clear()
        # y is cut off from the others (not from L, whose socket holds the ACKs already).
        sim.rules.append(lambda src, dst, msg: "drop" if {src, dst} & {y} and {src, dst} & {x, z, w}
                         else None)
        try:
            if resynced_at_once:
                sim.run_until(lambda: sim.established_leader() not in (None, ld), 200)
                new = sim.established_leader()
                print(f"n{new} leads epoch {sim.nodes[new].peer.epoch} with x, z, w")
                answered(sim, sim.request(new, 50, client="s2"))
            sim.run_until(lambda: sim.nodes[ld].paused_until <= sim.now, 450)
            sim.run_ticks(20)
            sim.rules.clear()
            sim.heal()
            sim.run_until(lambda: sim.counters["resync"] == 1, 300)
            sim.check_liveness(LIVENESS_TICKS)
        except Violation as v:
            print("VIOLATION:", v)
            pytest.fail(f"a commit lost through the resync: {v}")
        print("t answered:", t.answer)
