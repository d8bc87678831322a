"""A3 attack on the replicated state (issue 13 wiring): adversarial mixed logs.

Goal: a log that mixes game ops (with retries) and tree/session txns, including hostile ones a
buggy leader could write (bad paths, children of ephemerals, closes that list persistent nodes,
odd session ids and owners, over-size data), applies without raising, gives the same results
and bytes on a replica restored from a snapshot taken at ANY zxid (then fed the whole log
again, replays included), and a snapshot restores to the zxid it was taken at.
"""

from __future__ import annotations

import random

import pytest

from zmqzab.messages import Guess, NewGame, Txn
from zmqzab.state import ReplicatedState
from zmqzab.tree.acl import OPEN_ACL_UNSAFE
from zmqzab.tree.errors import Code
from zmqzab.tree.limits import DATA_MAX_BYTES
from zmqzab.tree.sessions import CloseSessionTxn, CreateSessionTxn
from zmqzab.tree.stat import CONTAINER_OWNER
from zmqzab.tree.txns import (CheckVersionTxn, CreateTxn, DeleteTxn, ErrorTxn, MultiTxn, SetACLTxn,
                              SetDataTxn)
from zmqzab.zxid import make_zxid

pytestmark = [pytest.mark.unit, pytest.mark.zk]

PATHS = ["/", "/a", "/a/b", "/a/b/c", "/e", "/e/x", "/zookeeper", "/zookeeper/config",
         "/zookeeper/quota", "//bad", "/a/", "/bad\x00", "/."]
OWNERS = [0, 1, 7, -3, CONTAINER_OWNER, (1 << 63) - 1]


def _hostile_txns(rng: random.Random, n: int) -> list[Txn]:
    out: list[Txn] = []
    sent: list[Guess | NewGame] = []
    seqs: dict[str, int] = {}
    for k in range(1, n + 1):
        roll = rng.random()
        path = rng.choice(PATHS)
        if roll < 0.25:
            if sent and rng.random() < 0.3:
                op = rng.choice(sent)  # a retry of a game request, committed again
            else:
                c = rng.choice("xyz")
                seqs[c] = seqs.get(c, 0) + 1
                op = (Guess(c, seqs[c], rng.randrange(0, 101), 3) if rng.random() < 0.85
                      else NewGame(c, seqs[c], 3))
                sent.append(op)
        elif roll < 0.45:
            op = CreateTxn(path, bytes(rng.randrange(3)), OPEN_ACL_UNSAFE, rng.choice(OWNERS),
                           rng.choice([-1, 0, 1, 5, 2**31]))
        elif roll < 0.53:
            op = DeleteTxn(path)
        elif roll < 0.6:
            op = SetDataTxn(path, b"d" * rng.choice([0, 3, DATA_MAX_BYTES + 1]), rng.choice([1, -1, 2**40]))
        elif roll < 0.64:
            op = SetACLTxn(path, OPEN_ACL_UNSAFE, rng.choice([1, 2**33]))
        elif roll < 0.72:
            p2 = rng.choice(PATHS)
            op = MultiTxn(tuple(rng.choice([CreateTxn(path, b"", OPEN_ACL_UNSAFE, rng.choice(OWNERS), -1),
                                            DeleteTxn(p2), DeleteTxn(path), CheckVersionTxn(p2, 3),
                                            SetDataTxn(p2, b"q", 4), ErrorTxn(Code.BADVERSION),
                                            ErrorTxn(12345)])
                                for _ in range(rng.randrange(0, 4))))
        elif roll < 0.74:
            op = ErrorTxn(rng.choice([0, -101, 99999]))
        elif roll < 0.85:
            op = CreateSessionTxn(rng.choice(OWNERS), rng.choice([1, 30_000, 0, -5]))
        else:
            op = CloseSessionTxn(rng.choice(OWNERS), rng.choice([None, (path,), tuple(PATHS)]))
        out.append(Txn(make_zxid(1 + k // 40, k), op, 1_700_000_000_000 + k))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_hostile_mixed_log_restores_alike_from_a_snapshot_at_every_zxid(seed: int) -> None:
    print(f"seed {seed}")
    rng = random.Random(seed)
    txns = _hostile_txns(rng, 90)
    a = ReplicatedState()
    snaps: list[bytes] = []
    results = []
    for t in txns:
        results.append(a.apply(t))
        snaps.append(a.snapshot())
        assert a.zxid_applied == t.zxid
    first: dict = {}
    for t, r in zip(txns, results):  # the game's exactly-once, tree txns interleaved
        if isinstance(t.op, (Guess, NewGame)):
            key = (t.op.client_id, t.op.seq)
            assert first.setdefault(key, r) == r, f"seed {seed}: {key} answered twice differently"
            assert a.answer_of(*key)[1] == first[key]
    for i, snap in enumerate(snaps):
        b = ReplicatedState.restore(snap)
        assert b.zxid_applied == txns[i].zxid, f"seed {seed}: snapshot at {i} restores elsewhere"
        assert b.snapshot() == snap, f"seed {seed}: snapshot at {i} does not round-trip"
        got = [b.apply(t) for t in txns]  # the whole log again: replays, then the rest
        assert got[i + 1:] == results[i + 1:], f"seed {seed}: cut {i}"
        assert b.snapshot() == a.snapshot(), f"seed {seed}: cut {i}"


def test_a_create_whose_parent_cversion_overflows_msgpack_does_not_stop_every_snapshot() -> None:
    """Break (A3): the state's gate (_tree_txn_problem) checks paths and data sizes but not
    the ints a tree txn carries. A buggy or hostile proposer commits
    create /p1 with parent_cversion 2**64-1 (msgpack's largest int: it decodes), then
    create /p2 with parent_cversion -1 ("the parent's + 1": 2**64 on every replica).
    Both apply on every node; from then on snapshot() raises OverflowError on every node: no
    node can write a snapshot or SNAP a follower, and a restart replays into the same state.
    Expected: a txn no correct leader writes (prepare's cversions are jute ints, int32) is
    rejected alike everywhere, like a bad path, and snapshots keep working."""
    s = ReplicatedState()
    txns = [Txn(make_zxid(1, 1), CreateTxn("/p1", b"", OPEN_ACL_UNSAFE, 0, 2**64 - 1), 1),
            Txn(make_zxid(1, 2), CreateTxn("/p2", b"", OPEN_ACL_UNSAFE, 0, -1), 2)]
    import msgspec
    for t in txns:  # they travel: a Proposal / log segment holding them decodes
        assert msgspec.msgpack.decode(msgspec.msgpack.encode(t), type=Txn) == t
        s.apply(t)
    snap = s.snapshot()
    assert ReplicatedState.restore(snap).snapshot() == snap
    assert "/p1" not in s.tree.nodes  # rejected alike everywhere; /p2 is an ordinary create
    multi = MultiTxn((CreateTxn("/m", b"", OPEN_ACL_UNSAFE, 0, 1), SetDataTxn("/m", b"", 2**40)))
    assert s.apply(Txn(make_zxid(1, 3), multi, 3)).kind == "rejected"
