"""Outside attack on ``Peer.peer_connected`` (helper C's change): "a notification is only our
current state, so an extra one is harmless".

The simulator does not model connections yet, so this drives the core harness (tests/core/
harness.py: real Peers, FIFO links, crashes that lose unsynced writes, partitions) and calls
``peer_connected`` where the transport could: at any moment, for any pair of up nodes, any
number of times (a flapping link, an EVENT_HANDSHAKE_SUCCEEDED read late, two in one read), in
every role and phase (LOOKING, discovery, SYNC, BROADCAST, a leader of an older epoch cut off
in a minority). Checked after every step: no two nodes hold different txns at one committed
zxid, at most one leader in BROADCAST per epoch; at the end, healed, the cluster serves again
and every write taken is applied on every node.
"""

from __future__ import annotations

import random

import pytest

from tests.core.harness import Cluster
from zmqzab.core.errors import NotReady
from zmqzab.core.roles import Phase, Role

pytestmark = [pytest.mark.election]

SEEDS = range(40)


def check_safety(c: Cluster, seen_leaders: dict[int, int], committed: dict[int, object]) -> None:
    for i in sorted(c.up):
        p = c.peers[i]
        for txn in p.log.txns:
            if txn.zxid > p.zxid_committed:
                break
            prev = committed.setdefault(txn.zxid, txn.op)
            assert prev == txn.op, f"node {i} committed {txn.op} at {txn.zxid:#x}, another node {prev}"
        if p.role == Role.LEADING and p.phase == Phase.BROADCAST:
            prev = seen_leaders.setdefault(p.epoch, i)
            assert prev == i, f"epoch {p.epoch} has two established leaders: {prev} and {i}"


def run(seed: int, noise: bool) -> tuple[int, int]:
    """One random schedule; returns (writes taken, peer_connected calls)."""
    rng = random.Random(seed)
    c = Cluster(n=5, seed=seed)
    seen_leaders: dict[int, int] = {}
    committed: dict[int, object] = {}
    writes = connects = 0
    value = 0
    for step in range(600):
        r = rng.random()
        if r < 0.02 and len(c.up) > 3:
            victim = rng.choice(sorted(c.up))
            c.crash(victim)
        elif r < 0.05:
            down = sorted(set(c.ids) - c.up)
            if down:
                c.start(rng.choice(down))
        elif r < 0.07:
            ids = c.ids[:]
            rng.shuffle(ids)
            k = rng.choice((1, 2))
            c.partition(set(ids[:k]), set(ids[k:]))
        elif r < 0.09:
            c.heal()
        elif r < 0.35:
            c.tick()
        elif r < 0.55:
            i = rng.choice(sorted(c.up))
            value += 1
            try:
                c.submit(i, value % 10, client=f"c{i}", seq=value)
                writes += 1
            except NotReady:
                pass
        elif noise:
            # A connection event, read whenever: deliver only part of what is queued first, so
            # the notification lands between any two messages of a stream (sync, broadcast).
            for _ in range(rng.randrange(4)):
                c.deliver_one()
            a, b = rng.sample(sorted(c.up), 2) if len(c.up) > 1 else (None, None)
            if a is not None and frozenset((a, b)) not in c.cut:
                for _ in range(rng.choice((1, 1, 2, 3))):
                    c.execute(a, c.peers[a].peer_connected(b))
                    connects += 1
        check_safety(c, seen_leaders, committed)
    c.heal()
    for down in sorted(set(c.ids) - c.up):
        c.start(down)
    c.run_until(c.serving, 400)
    check_safety(c, seen_leaders, committed)
    ld = c.leader()
    c.submit(ld, 7, client="final", seq=1)
    c.run_until(lambda: len({c.peers[i].zxid_applied for i in c.ids}) == 1, 100)
    return writes, connects


@pytest.mark.parametrize("seed", SEEDS)
def test_peer_connected_at_any_moment_keeps_zab_safe_and_live(seed):
    """Goal: extra notifications on (re)made connections never break agreement or stop the
    cluster from serving. Setup: 5 nodes of the core harness. Fault: a random schedule (seed
    printed) of crashes, restarts, partitions, ticks, writes, and peer_connected between random
    up pairs at random points of the message streams, 1-3 at a time. Expected: the safety checks
    hold after every step; healed and restarted, the cluster serves and applies one more write
    everywhere."""
    print(f"seed {seed}")
    writes, connects = run(seed, noise=True)
    assert connects > 0
