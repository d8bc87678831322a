"""The tree's snapshot: a round trip gives the same tree (stats, data, ACLs, children's order,
ephemerals by session, containers) and the same bytes; bad bytes are refused by name."""

from __future__ import annotations

import msgspec
import pytest

from tests.unit.tree_harness import Zk
from zmqzab.tree import snapshot
from zmqzab.tree.acl import ACL, CREATOR_ALL_ACL, OPEN_ACL_UNSAFE, digest_auth_id
from zmqzab.tree.requests import CreateMode, CreateRequest, OpCode
from zmqzab.tree.snapshot import SnapNode, SnapshotError, TreeSnapshot

pytestmark = [pytest.mark.zk, pytest.mark.snapshots]

ALICE = digest_auth_id("alice:secret")


def busy_tree() -> Zk:
    zk = Zk()
    zk.create("/z")
    zk.create("/a", b"data")
    zk.create("/a/s-", flags=CreateMode.PERSISTENT_SEQUENTIAL)
    zk.create("/a/e", flags=CreateMode.EPHEMERAL, session=42)
    zk.create("/m", acl=CREATOR_ALL_ACL, auth=(ALICE,))
    zk.do(OpCode.createContainer, CreateRequest("/c", b"", OPEN_ACL_UNSAFE, CreateMode.CONTAINER))
    zk.create("/c/x")
    zk.set_data("/a", b"more", version=0)
    zk.delete("/z")
    return zk


def test_round_trip_gives_the_same_tree_and_bytes():
    zk = busy_tree()
    data = snapshot.dump(zk.tree)
    back = snapshot.load(data)
    assert snapshot.dump(back) == data
    for path in zk.tree.walk():
        assert back.stat(path) == zk.tree.stat(path), path
        assert back.get_data(path) == zk.tree.get_data(path)
        assert back.get_acl(path) == zk.tree.get_acl(path)
        assert back.get_children(path) == zk.tree.get_children(path)
    assert list(back.nodes) == list(zk.tree.walk()) and len(back.nodes) == len(zk.tree.nodes)
    assert back.ephemerals == {42: {"/a/e": None}}
    assert back.containers == {"/c": None}
    assert back.get_acl("/m")[0] == (ACL(31, ALICE),)


def test_children_keep_their_order_through_a_snapshot():
    zk = Zk()
    for name in ("b", "a", "c"):
        zk.create("/" + name)
    back = snapshot.load(snapshot.dump(zk.tree))
    assert back.get_children("/") == ["zookeeper", "b", "a", "c"]


def test_a_restored_tree_goes_on_like_the_original():
    zk = busy_tree()
    other = Zk()
    other.tree = snapshot.load(snapshot.dump(zk.tree))
    for t in (zk, other):
        t.prep.tree = t.tree
        t.zxid, t.time_ms = 100, 5000
        t.create("/a/s-", flags=CreateMode.PERSISTENT_SEQUENTIAL)
        t.tree.delete_ephemerals(42, 102)
        t.delete("/c/x")
    assert snapshot.dump(zk.tree) == snapshot.dump(other.tree)
    assert zk.tree.get_children("/a") == ["s-0000000000", "s-0000000002"]
    assert zk.tree.container_candidates(0) == ["/c"]


def test_equal_trees_give_equal_bytes_whatever_the_acl_objects():
    one, two = Zk(), Zk()
    one.create("/x", acl=(ACL(31, ALICE),))
    two.create("/x", acl=(ACL(31, digest_auth_id("alice:secret")),))
    assert snapshot.dump(one.tree) == snapshot.dump(two.tree)


@pytest.mark.parametrize("snap,why", [
    (TreeSnapshot(9, (), ()), "format 9"),
    (TreeSnapshot(1, ((),), ()), "root"),
    (TreeSnapshot(1, ((),), (SnapNode("/", b"", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
                             SnapNode("/a/b", b"", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))), "before its parent"),
    (TreeSnapshot(1, ((),), (SnapNode("/", b"", 3, 0, 0, 0, 0, 0, 0, 0, 0, 0),)), "ACL 3"),
    (TreeSnapshot(1, ((),), (SnapNode("/", b"", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
                             SnapNode("/", b"", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))), "twice"),
    (TreeSnapshot(1, ((),), (SnapNode("/", b"", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),
                             SnapNode("/a/", b"", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))), "must not end with /"),
])
def test_bad_snapshots_are_refused_by_name(snap, why):
    with pytest.raises(SnapshotError, match=why):
        snapshot.load(msgspec.msgpack.encode(snap))


def test_garbage_is_refused():
    with pytest.raises(SnapshotError, match="not a tree snapshot"):
        snapshot.load(b"\x93garbage")
