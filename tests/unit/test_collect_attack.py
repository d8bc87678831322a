"""Outside attack on chaos collection (runner.collect): what it hands the checker from each node's
disk. Real storage dirs written with the production storage code; a stand-in for the cluster
that reports each node's live state as node.py's "digest" read does."""

from dataclasses import dataclass
from pathlib import Path


import pytest
from zmqzab.chaos.checker import check, state_digest
from zmqzab.chaos.history import OK, Request
from zmqzab.chaos.runner import collect
from zmqzab.game.rules import Game
from zmqzab.messages import Guess, Txn
from zmqzab.storage.compaction import SaveSnapshot
from zmqzab.storage.store import open_storage
from zmqzab.zxid import make_zxid

import msgspec

pytestmark = [pytest.mark.chaos]


@dataclass
class _Storage:
    data_dir: Path


@dataclass
class _Cfg:
    storage: _Storage


class _Cluster:
    def __init__(self, live):
        self.ids = sorted(live)
        self.live = live

    def status(self, i, timeout=5.0, what="status"):
        assert what == "digest"
        return self.live[i]

    def stop_all(self):
        pass

    # the final stop (runner.stop_keeping_logs): these nodes are files only
    paused: set = set()

    def alive(self, i):
        return False

    def kill(self, i):
        pass


def _node_dir(path: Path, txns, snapshots: dict[int, bytes]):
    """A node's dir: ``txns`` appended in order, a snapshot saved (and the log purged) right
    after each txn whose index is in ``snapshots`` (index -> the bytes saved), 3 kept."""
    storage, _ = open_storage(path, snapshots_kept=3)
    try:
        storage.write_epochs(accepted=1, current=1)
        for k, t in enumerate(txns):
            storage.append([t])
            if k in snapshots:
                storage.sync()
                report = storage.save_snapshot(SaveSnapshot(t.zxid, snapshots[k]))
                assert not report.error and not report.skipped, report
        storage.sync()
    finally:
        storage.close()


def _game_at(txns, k) -> Game:
    g = Game()
    for t in txns[:k + 1]:
        g.apply(t)
    return g


def test_latest_snapshot_that_disagrees_with_the_nodes_own_older_log(tmp_path):
    """Three nodes, each taking the same snapshots (every node counts the same applied txns)
    at txn 3 and txn 6, keeping 3, so the log from txn 3 on is still on disk. The snapshot at
    txn 6 is wrong on every node (target 77, from a state bug the live game shares: a fork of
    the same memory writes it), and every node's live state at txn 8 follows from it. The
    checker was handed only the snapshot at txn 6 and the log after it; the log 4..6 that
    disagrees with it, still on disk, was never read: both the state check and the snapshot
    check compared the wrong state with itself."""
    txns = [Txn(make_zxid(1, k + 1), Guess("c", k + 1, 10 + k)) for k in range(9)]
    history, g, t = [], Game(), 0.0
    for tx in txns:
        res = msgspec.to_builtins(g.apply(tx))
        history.append(Request(0, "c", tx.op.seq, "guess", tx.op.value, invoked=t, completed=t + 0.5,
                               outcome=OK, zxid=tx.zxid, node=0, result=res))
        t += 1
    wrong = _game_at(txns, 6)
    wrong.target = 77
    live = wrong.snapshot()
    live_game = Game.restore(live)
    for tx in txns[7:]:
        live_game.apply(tx)
    # what the cluster answered after the bad state: as the (wrong) live game gave
    g2 = Game.restore(live)
    for r, tx in zip(history[7:], txns[7:]):
        r.result = msgspec.to_builtins(g2.apply(tx))
    reports = {}
    for i in range(3):
        _node_dir(tmp_path / f"node-{i}", txns, {3: _game_at(txns, 3).snapshot(), 6: live})
        reports[i] = {"zxid_applied": live_game.zxid_applied, "digest": state_digest(live_game.snapshot()),
                      "game": live_game.view()}
    nodes = collect(_Cluster(reports), _Cfg(_Storage(tmp_path)))
    v = check(history, nodes)
    assert {x.prop for x in v.violations} & {"state_matches_log", "snapshot_matches_replay"}, v.violations
