"""Attack on the simulator's view of a resync (sim/faults.py resync, branch f): the operator's
resync resets everything the checkers remember of the node, its highest acceptedEpoch too, so a
resync that forgets the node's promise (the bug of seed 71181) is caught only once a second
would-be leader of that epoch counts it (one seed in 1,000), never when the node starts.
"""

from __future__ import annotations

import random

import pytest

from zmqzab.sim import faults
from zmqzab.sim.checkers import Violation
from zmqzab.sim.disk import SimDisk
from zmqzab.storage.epochs import ACCEPTED_EPOCH

from tests.sim.helpers import answered, calm, wait_serving

pytestmark = pytest.mark.election


def test_a_resync_that_forgets_the_promise_is_caught_when_the_node_starts(monkeypatch):
    """Goal: "epochs never go back" holds across the operator's resync for acceptedEpoch (the
    one number --resync keeps), so a resync that loses it is a violation at once. Setup: 5
    nodes, calm, three guesses committed; a follower f crashes, a bit of its log rots, its
    restart is refused. Faults: the resync is made to forget the promise (f's new dir gets
    acceptedEpoch 0: the behaviour before branch f). Expected: Violation "epochs never go
    back" when f starts. Before the fix: no violation (the checkers' view of f was reset to
    acceptedEpoch 0 as well)."""
    wipe = SimDisk.wipe

    def forgetful_wipe(disk: SimDisk) -> None:
        wipe(disk)
        (disk.dir / ACCEPTED_EPOCH).unlink()  # as the resync before branch f: a new, empty dir
        disk.accepted_epoch = 0

    monkeypatch.setattr(SimDisk, "wipe", forgetful_wipe)
    with calm(seed=7) as sim:
        ld = wait_serving(sim)
        for value in (10, 20, 30):
            answered(sim, sim.request(ld, value))
        sim.run_ticks(3)
        f = min(i for i in sim.ids if i != ld)
        promised = sim.nodes[f].disk.accepted_epoch
        sim.crash(f)
        assert sim.nodes[f].disk.rot(random.Random(7)), "nothing to rot"
        sim.restart(f)
        assert sim.nodes[f].refused
        print(f"n{f} promised epoch {promised}; the resync forgets it")
        with pytest.raises(Violation) as caught:
            faults.resync(sim, f)
            sim.run_ticks(5)
        print("caught:", caught.value)
        assert caught.value.prop == "epochs never go back"
