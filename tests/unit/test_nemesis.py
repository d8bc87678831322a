"""The nemesis' choices, without processes: quorum arithmetic, honest labels, overlap within budget.

Goal: the nemesis never takes more than a quorum can spare, records each fault under what it
really did, and composes faults (they overlap). Setup: a stand-in cluster that keeps the state a
real one would have (dead, paused, partition, one-way cuts) and answers status like nodes do;
the nemesis' clock is driven by the test. Faults: every move of the deck, many seeds, 1-9 nodes.
Expected: after every step a quorum of live, unpaused nodes that all reach each other exists.
"""

from __future__ import annotations

import itertools
import random
import threading

import pytest

from zmqzab.chaos.nemesis import (
    KINDS,
    MOVES,
    Nemesis,
    bridge_groups,
    quorum,
    quorum_survives,
    split_groups,
    tolerated,
)

pytestmark = [pytest.mark.chaos]


class StandIn:
    """What the nemesis sees of a cluster; ``leader_id`` None: no stable leader anywhere."""

    def __init__(self, n: int, leader: int | None = 0) -> None:
        self.ids = list(range(n))
        self.dead: set[int] = set()
        self.paused: set[int] = set()
        self.groups: list[set[int]] | None = None
        self.links: dict[int, dict] = {}
        self.leader_id = leader
        self.witness = True
        self.log: list[tuple] = []

    # the faults
    def kill(self, i):
        self.dead.add(i)
        self.paused.discard(i)
        self.log.append(("kill", i))

    def stop(self, i):
        self.kill(i)
        return 0

    def power_loss(self, i):
        self.kill(i)
        return [f"cut node-{i}/log"]

    def start(self, i):
        self.dead.discard(i)
        self.log.append(("start", i))

    def pause(self, i):
        if i not in self.dead:
            self.paused.add(i)

    def resume(self, i):
        self.paused.discard(i)

    def partition(self, groups):
        self.groups = [set(g) for g in groups]

    def heal(self):
        self.groups = None

    def set_links(self, i, rules):
        self.links[i] = {k: v for k, v in rules.items() if v}

    def alive(self, i):
        return i not in self.dead

    # what nodes answer
    def status(self, i, timeout=0.3):
        if i in self.dead or i in self.paused:
            return None
        ld = self.leader_id
        if ld is None or ld in self.dead or ld in self.paused:
            return {"role": "LOOKING", "phase": "ELECTION", "leader": None, "epoch": 1}
        return {"role": "LEADING" if i == ld else "FOLLOWING", "phase": "BROADCAST", "leader": ld, "epoch": 1}

    def leader(self):
        return self.leader_id

    # the truth the test checks
    def connected(self, a: int, b: int) -> bool:
        if self.groups is not None and not any(a in g and b in g for g in self.groups):
            return False
        for x, y in ((a, b), (b, a)):
            if y in self.links.get(x, {}).get("blocked_out", []) or x in self.links.get(y, {}).get("blocked_in", []):
                return False
        return True

    def healthy_quorum(self) -> bool:
        up = [i for i in self.ids if i not in self.dead and i not in self.paused]
        q = quorum(len(self.ids))
        return any(all(self.connected(a, b) for a, b in itertools.combinations(c, 2))
                   for c in itertools.combinations(up, q))


class Clocked(Nemesis):
    clock = 0.0

    def now(self) -> float:
        return self.clock

    def wait_leader(self, timeout: float, other_than: int | None = None) -> int | None:
        ld = self.leader()  # the stand-in's leader changes only between steps: no waiting
        return ld if ld != other_than else None


def make(cluster: StandIn, seed: int, until: float = 1e9) -> Clocked:
    return Clocked(cluster, seed, 0.0, until, 1.0, threading.Event())


@pytest.mark.parametrize("n", range(1, 10))
def test_quorum_arithmetic_for_every_cluster_size(n):
    q = quorum(n)
    assert 2 * q > n and 2 * (q - 1) <= n  # a majority, the smallest one
    assert tolerated(n) == n - q
    rng = random.Random(n)
    groups = split_groups(list(range(n)), rng)
    if n <= 2:
        assert groups is None  # no node to spare: a split would leave no quorum
    else:
        big, small = groups
        assert len(big) == q and small and big | small == set(range(n)) and not big & small
        assert quorum_survives(range(n), set(), groups)
    bridge = bridge_groups(list(range(n)), rng)
    if n >= 3 and n % 2 == 1:
        (a, b), x = bridge
        assert a & b == {x} and a | b == set(range(n)) and len(a) >= q and len(b) >= q
    else:
        assert bridge is None  # with an even size two quorums share two nodes or more


def test_quorum_survives_counts_only_live_connected_nodes():
    ids = range(5)
    assert quorum_survives(ids, {0, 1}, None)
    assert not quorum_survives(ids, {0, 1, 2}, None)
    assert quorum_survives(ids, set(), [{0, 1, 2}, {3, 4}])
    assert not quorum_survives(ids, {2}, [{0, 1, 2}, {3, 4}])  # a kill on the majority side
    assert not quorum_survives(range(4), set(), [{0, 1}, {2, 3}])  # 2 | 2: no quorum anywhere


def test_a_leader_fault_without_a_leader_is_recorded_as_what_happened():
    c = StandIn(5, leader=None)
    n = make(c, seed=1)
    for move in ("kill_leader", "pause_leader", "isolate_leader"):
        assert n.begin_move(move)
        f = n.faults[-1]
        assert f.kind == move.replace("_leader", "") and f.intended == move, f
        n.heal_all()
    c.leader_id = 3
    assert n.begin_move("kill_leader")
    f = n.faults[-1]
    assert f.kind == "kill_leader" and f.nodes == [3] and f.intended is None and c.dead == {3}


def test_kill_leader_done_as_kill_when_the_leader_cannot_be_spared():
    c = StandIn(3, leader=0)
    n = make(c, seed=2)
    assert n.begin_move("pause")  # one of three out: nothing more can go
    assert not n.begin_move("kill_leader") and not n.begin_move("kill") and not n.begin_move("pause")
    assert n.begin_move("delay")  # links only slow down: no node out
    assert len(n.faults) == 2 and {f.kind for f in n.faults} == {"pause", "delay"}


@pytest.mark.parametrize("n_nodes", range(1, 10))
def test_overlapping_faults_never_take_more_than_a_quorum_can_spare(n_nodes):
    for seed in range(6):
        print("seed", seed, "nodes", n_nodes)
        rng = random.Random(seed)
        c = StandIn(n_nodes, leader=0)
        n = make(c, seed)
        overlaps = 0
        for _ in range(150):
            n.clock += rng.uniform(0.8, 2.0)
            if rng.random() < 0.2:  # a new leader now and then, or none for a while
                c.leader_id = rng.choice([None, *c.ids])
            n.step()
            before = len(n._active)
            n.one_move()
            overlaps += before > 0 and len(n._active) > before
            assert c.healthy_quorum(), (seed, n._active)
            assert all(f.kind in KINDS for f in n.faults)
        n.heal_all()
        assert not c.dead and not c.paused and c.groups is None and not any(c.links.values())
        assert all(f.end is not None for f in n.faults)
        if n_nodes >= 3:
            assert overlaps > 0


def test_every_move_happens_and_faults_overlap_with_five_nodes():
    c = StandIn(5, leader=0)
    n = make(c, seed=7)
    for _ in range(600):
        n.clock += 1.0
        if c.leader_id in c.dead | c.paused:  # the others elect one of themselves
            c.leader_id = min(set(c.ids) - c.dead - c.paused)
        n.step()
        n.one_move()
        assert c.healthy_quorum()
    n.heal_all()
    seen = {f.kind for f in n.faults}
    assert seen == set(KINDS) - {"power_loss_all"}, set(KINDS) - seen  # opt-in only
    assert set(n.moves_done) == set(MOVES)
    long_pauses = [f for f in n.faults if f.move == "pause_across_restarts"]
    assert any(f.kind == "long_pause" for f in long_pauses)
    for p in (f for f in long_pauses if f.kind == "long_pause"):
        # the leader was killed while this node slept: epochs went by during the pause
        assert any(f.kind == "kill_leader" and p.start < f.start < p.end for f in n.faults), p


def test_power_loss_is_left_out_without_the_fsync_witness():
    c = StandIn(5)
    c.witness = False
    n = make(c, seed=3)
    assert "power_loss" not in n.moves


def test_power_loss_of_every_node_only_from_a_quiet_cluster_and_only_when_asked():
    c = StandIn(3)
    n = make(c, seed=4)
    assert "power_loss_all" not in n.moves
    n = Clocked(c, 4, 0.0, 1e9, 1.0, threading.Event(), moves=("power_loss_all", "kill"))
    assert n.begin_move("kill") and not n.begin_move("power_loss_all")
    n.heal_all()
    assert n.begin_move("power_loss_all")
    assert c.dead == {0, 1, 2} and n.faults[-1].kind == "power_loss_all" and n.faults[-1].nodes == [0, 1, 2]
    n.clock += 10
    n.step()
    assert not c.dead
