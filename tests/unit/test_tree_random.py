"""Random op sequences through the leader's prepare and two replicas' apply.

Goal: the tree is a deterministic state machine, and prepare and apply agree. Setup: one
Preparer (the leader) over replica A's tree; every txn it prepares is applied to A and to B,
and a third replica C is restored from A's snapshot at a random point and applies the rest.
Proposals run ahead of applies by a random number of txns (the pending-changes overlay at
work). Faults: none; the ops are random creates of every kind (persistent, ephemeral,
sequential, containers), deletes, setData, setACL, check, multi, closeSession and container
cleanup, with random versions, ACLs and auth, on a small set of paths so they collide.
Expected: A, B and C give the same snapshot bytes at the end; apply refuses nothing prepare
let through (a refusal there would mean the leader's view and the tree disagree); a
sequential name is never given twice under a parent; data versions only grow.

hypothesis prints the falsifying example and a ``@reproduce_failure`` line; ``pytest
--hypothesis-seed=N`` replays a whole run.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.tree_harness import Multi
from zmqzab.tree import snapshot
from zmqzab.tree.acl import ACL, CREATOR_ALL_ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, Id, digest_auth_id
from zmqzab.tree.errors import Code
from zmqzab.tree.prepare import Preparer
from zmqzab.tree.requests import (CheckVersionRequest, CreateMode, CreateRequest, DeleteRequest,
                                  OpCode, SetACLRequest, SetDataRequest)
from zmqzab.tree.tree import DataTree
from zmqzab.tree.txns import CreateTxn, ErrorTxn, MultiTxn

pytestmark = [pytest.mark.zk]

ALICE = digest_auth_id("alice:secret")
AUTHS = ((ALICE,), (ALICE,), (), (Id("ip", "10.0.0.1"),))
# Mostly open ACLs, so that most requests go through and collide; the others refuse some.
ACLS = (OPEN_ACL_UNSAFE,) * 6 + (READ_ACL_UNSAFE, CREATOR_ALL_ACL, (ACL(31, ALICE), ACL(1, Id("world", "anyone"))), ())
PATHS = ("/a", "/b", "/a", "/b", "/a/x", "/a/y", "/b/x", "/a/x/z", "/a/", "/b/")
FLAGS = (0, 0, CreateMode.EPHEMERAL, CreateMode.PERSISTENT_SEQUENTIAL, CreateMode.EPHEMERAL_SEQUENTIAL,
         CreateMode.CONTAINER)


def requests():
    path = st.sampled_from(PATHS)
    version = st.sampled_from((-1, -1, -1, 0, 1, 2))
    create = st.builds(lambda p, d, a, f: (OpCode.createContainer if f == CreateMode.CONTAINER else OpCode.create,
                                           CreateRequest(p, d, a, f)),
                       path, st.binary(max_size=4), st.sampled_from(ACLS), st.sampled_from(FLAGS))
    delete = st.builds(lambda p, v: (OpCode.delete, DeleteRequest(p.rstrip("/") or "/", v)), path, version)
    set_data = st.builds(lambda p, d, v: (OpCode.setData, SetDataRequest(p.rstrip("/"), d, v)),
                         path, st.binary(max_size=4), version)
    set_acl = st.builds(lambda p, a, v: (OpCode.setACL, SetACLRequest(p.rstrip("/"), a, v)),
                        path, st.sampled_from(ACLS), version)
    check = st.builds(lambda p, v: (OpCode.check, CheckVersionRequest(p.rstrip("/"), v)), path, version)
    single = st.one_of(create, create, create, delete, delete, set_data, set_acl, check)
    multi = st.builds(lambda ops: (OpCode.multi, Multi(*ops)), st.lists(single, max_size=3))
    close = st.builds(lambda s: ("close", s), st.integers(1, 3))
    containers = st.just(("containers", None))
    return st.one_of(single, single, multi, close, containers)


ops_strategy = st.lists(st.tuples(requests(), st.integers(1, 3), st.sampled_from(AUTHS), st.integers(0, 4)),
                        min_size=10, max_size=80)


#: Every run starts with /a and /b, so that the random ops find nodes to act on.
PREAMBLE = [((OpCode.create, CreateRequest(p, b"", OPEN_ACL_UNSAFE, 0)), 1, (), 0) for p in ("/a", "/b")]


def proposed_ok(txn) -> bool:
    if isinstance(txn, ErrorTxn):
        return False
    if isinstance(txn, MultiTxn):
        return not any(isinstance(t, ErrorTxn) for t in txn.txns)
    return True


@settings(max_examples=150, deadline=None)
@given(ops=ops_strategy, restore_at=st.integers(0, 80))
def test_replicas_that_apply_the_same_txns_hold_the_same_tree(ops, restore_at):
    a, b = DataTree(), DataTree()
    c: DataTree | None = None
    leader = Preparer(a)
    queue: list[tuple[int, object]] = []  # proposed, not yet applied: (zxid, txn)
    zxid = 0
    accepted = 0
    versions: dict[tuple[str, int], int] = {}  # (path, czxid) -> last data version seen

    def apply_one() -> None:
        nonlocal c
        z, txn = queue.pop(0)
        time_ms = 1000 + z
        results = []
        for tree in (a, b) + ((c,) if c is not None else ()):
            if isinstance(txn, tuple):  # closeSession: (session, paths)
                r = tree.delete_ephemerals(txn[0], z, txn[1])
            else:
                r = tree.apply(txn, z, time_ms)
            results.append(r)
        leader.applied(z)
        assert len({snapshot.dump(t) for t in (a, b)}) == 1, f"A and B differ after zxid {z}"
        r = results[0]
        if not isinstance(txn, tuple) and proposed_ok(txn):
            assert r.err == 0, f"apply refused {txn!r} that prepare let through: {Code(r.err).name}"
        if isinstance(txn, tuple):
            assert r.deleted == tuple(txn[1]), "the close deleted other paths than the leader listed"
        if c is None and z >= restore_at:
            c = snapshot.load(snapshot.dump(a))

    for (req, session, auth, lag) in PREAMBLE + ops:
        zxid += 1
        if req[0] == "close":
            queue.append((zxid, (req[1], leader.close_session(req[1], zxid))))
        elif req[0] == "containers":
            for path in a.container_candidates(now_ms=10**12):
                queue.append((zxid, leader.delete_container(path, zxid)))
                zxid += 1
            zxid -= 1
        else:
            txn = leader.prepare(req[0], req[1], session, list(auth), zxid)
            queue.append((zxid, txn))
            accepted += proposed_ok(txn)
        while len(queue) > lag:
            apply_one()
        for path, node in a.nodes.items():
            key = (path, node.czxid)
            if key in versions and node.version != -(1 << 31):
                assert node.version >= versions[key], f"version of {path} went back"
            versions[key] = node.version
    while queue:
        apply_one()
    if c is None:
        c = snapshot.load(snapshot.dump(a))
    assert snapshot.dump(a) == snapshot.dump(b) == snapshot.dump(c)
    # the dump is in walk order, which follows each parent's children: the same order everywhere
    assert list(a.walk()) == list(b.walk()) == list(c.walk())
    assert leader.pending == {}
    print(f"{accepted} of {len(ops)} requests accepted, {len(a.nodes)} nodes at the end")


@settings(max_examples=100, deadline=None)
@given(ops=ops_strategy)
def test_sequential_names_never_repeat_under_a_parent(ops):
    """Every sequential create that succeeds gets a name no earlier create under that parent
    had, even after deletes (the counter is the parent's cversion, which deletes leave)."""
    tree = DataTree()
    leader = Preparer(tree)
    seen: dict[str, set[str]] = {}
    zxid = 0
    for (req, session, auth, _lag) in PREAMBLE + ops:
        if req[0] in ("close", "containers"):
            continue
        zxid += 1
        txn = leader.prepare(req[0], req[1], session, list(auth), zxid)
        result = tree.apply(txn, zxid, zxid)
        leader.applied(zxid)
        subs = list(zip(txn.txns, result.results)) if isinstance(txn, MultiTxn) else [(txn, result)]
        reqs = [r for _, r in req[1].ops] if isinstance(txn, MultiTxn) else [req[1]]
        if result.err:  # refused; in a failed multi the ops before the failure answer 0 too
            continue
        for (t, r), q in zip(subs, reqs):
            if isinstance(t, CreateTxn):
                parent, _, name = t.path.rpartition("/")
                if isinstance(q, CreateRequest) and CreateMode(q.flags).sequential:
                    assert name not in seen.setdefault(parent or "/", set()), f"{t.path} given twice"
                seen.setdefault(parent or "/", set()).add(name)
