"""SNAP instead of a DIFF that outweighs the snapshot (ZooKeeper's snapshotSizeFactor).

A follower that holds only committed txns and lacks more than ``snapshot_size_factor`` times the
snapshot's size in txns (and at least ``snapshot_size_min_diff_bytes``) is sent the game at the
leader's committed zxid instead of the txns one by one. No sockets, files or clock: the core
harness (tests/core/harness.py) with FIFO delivery.
"""

import random

from tests.core.harness import Cluster, make_state
from zmqzab.core.leader import choose_sync
from zmqzab.core.peer import Peer, Recovered
from zmqzab.core.roles import Phase
from zmqzab.core.settings import CoreConfig
from zmqzab.messages import Guess, Txn
from zmqzab.zxid import make_zxid


def lagging(cfg: CoreConfig, behind: int) -> tuple[Cluster, int, int]:
    """3 nodes; a follower down (not restarted yet) while ``behind`` guesses commit."""
    c = Cluster(3, cfg=cfg)
    c.run_until(c.serving, 200)
    ld = c.leader()
    lagger = next(i for i in c.ids if i != ld)
    c.submit(ld, 50, "a", 1)  # something both hold, so the lagger is not empty
    c.tick(2)
    c.crash(lagger)
    for s in range(2, behind + 2):
        c.submit(ld, s % 101, f"client-{s % 7}", s)
    c.tick(1)
    return c, ld, lagger


def _catch_up(cfg: CoreConfig, behind: int) -> tuple[Cluster, int, int]:
    """A follower down while ``behind`` guesses commit, then restarted and synced."""
    c, ld, lagger = lagging(cfg, behind)
    c.start(lagger)
    c.run_until(lambda: c.peers[lagger].phase == Phase.BROADCAST, 200)
    c.tick(2)
    return c, ld, lagger


def test_a_follower_far_behind_gets_the_smaller_snap_and_ends_equal():
    """Goal: a follower missing more txn bytes than factor x the snapshot gets SNAP.
    Setup: 3 nodes, no byte floor, factor 0.33; the follower misses 300 guesses (~12 KB of
    txns against a snapshot of a few hundred bytes). Expected: SNAP at the leader's committed
    zxid, the reason names the sizes, and the follower's game equals the leader's."""
    c, ld, lagger = _catch_up(CoreConfig(snapshot_size_min_diff_bytes=0), 300)
    sync = c.peers[lagger].last_sync
    assert sync["mode"] == "SNAP", sync
    assert "x the" in sync["reason"] and "-byte snapshot" in sync["reason"], sync
    assert c.peers[lagger].zxid_committed == c.peers[ld].zxid_committed
    assert c.peers[lagger].state.snapshot() == c.peers[ld].state.snapshot()


def test_a_negative_factor_keeps_diff():
    """Goal: snapshot_size_factor < 0 turns the rule off (ZooKeeper's meaning).
    Setup: as above with factor -1. Expected: DIFF, and the same end state."""
    c, ld, lagger = _catch_up(CoreConfig(snapshot_size_factor=-1.0, snapshot_size_min_diff_bytes=0), 300)
    assert c.peers[lagger].last_sync["mode"] == "DIFF"
    assert c.peers[lagger].state.snapshot() == c.peers[ld].state.snapshot()


def test_a_diff_below_the_byte_floor_stays_diff():
    """Goal: the default floor (64 KiB) keeps a short absence a DIFF, the txns visibly flowing.
    Setup: default config, the follower misses 300 guesses (~12 KB). Expected: DIFF."""
    c, ld, lagger = _catch_up(CoreConfig(), 300)
    assert c.peers[lagger].last_sync["mode"] == "DIFF"
    assert c.peers[lagger].zxid_committed == c.peers[ld].zxid_committed


def test_a_small_diff_against_a_big_snapshot_stays_diff():
    """Goal: the rule weighs sizes, it does not SNAP everything past the floor.
    Setup: factor 1000 (the snapshot counts 1000 times its size), no floor. Expected: DIFF."""
    c, ld, lagger = _catch_up(CoreConfig(snapshot_size_factor=1000.0, snapshot_size_min_diff_bytes=0), 300)
    assert c.peers[lagger].last_sync["mode"] == "DIFF"


def _leader_with_log(cfg: CoreConfig, n: int) -> Peer:
    """A peer recovered with n txns in its log, none committed yet (as after a restart)."""
    txns = [Txn(make_zxid(1, k), Guess(f"c{k % 5}", k, k % 101)) for k in range(1, n + 1)]
    return Peer(0, [0, 1, 2], cfg, random.Random(0), make_state, Recovered(1, 1, 0, None, txns))


def test_never_snap_for_size_over_txns_the_follower_may_have_acked_uncommitted():
    """Goal: the snapshot sits at the leader's committed zxid; a follower holding anything above
    it (a txn it may have ACKed that is not committed yet) must keep its history: DIFF.
    Setup: a leader whose log holds 1:1..1:400 with nothing committed (committed 0), factor 0,
    no floor. Expected: DIFF for a follower at 1:1 (above committed), and DIFF for one at 0:0
    too: it lacks no committed txn, and SNAP at 0:0 would send the same 400 txns after an empty
    snapshot (tests/core/test_sync_size_attack.py has the SNAP below the committed zxid)."""
    p = _leader_with_log(CoreConfig(snapshot_size_factor=0.0, snapshot_size_min_diff_bytes=0), 400)
    assert p.zxid_committed == 0
    assert choose_sync(p, make_zxid(1, 1), 0)[:2] == ("DIFF", make_zxid(1, 1))
    mode, zxid, reason = choose_sync(p, 0, 0)
    assert (mode, zxid) == ("DIFF", 0) and "400 txns behind" in reason


def test_the_switch_point_moves_with_the_gap():
    """Goal: the DIFF's size is estimated from the txns missing, so with one config a short gap
    is a DIFF and a long one a SNAP. Setup: factor 0.33, no floor; the follower misses 10, then
    (a fresh cluster) 300 guesses. Expected: DIFF, then SNAP."""
    cfg = CoreConfig(snapshot_size_min_diff_bytes=0)
    c, _, lagger = _catch_up(cfg, 10)
    assert c.peers[lagger].last_sync["mode"] == "DIFF"
    c, _, lagger = _catch_up(cfg, 300)
    assert c.peers[lagger].last_sync["mode"] == "SNAP"
