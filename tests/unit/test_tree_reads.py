"""The reads of the tree with ZooKeeper's checks (FinalRequestProcessor): NONODE before NOAUTH,
no ACL on exists, getACL's READ-or-ADMIN and its redaction of digests without ADMIN."""

from __future__ import annotations

import pytest

from tests.unit.tree_harness import Zk
from zmqzab.tree import reads
from zmqzab.tree.acl import ACL, Id, Perms, digest_auth_id
from zmqzab.tree.errors import Code
from zmqzab.tree.requests import CreateMode

pytestmark = [pytest.mark.zk]

ALICE = digest_auth_id("alice:secret")
WORLD = Id("world", "anyone")


@pytest.fixture
def zk() -> Zk:
    zk = Zk()
    zk.create("/open", b"hi")
    zk.create("/open/c1")
    zk.create("/open/c1/g")
    zk.create("/secret", b"s", acl=(ACL(31, ALICE),))
    zk.create("/admin-only", acl=(ACL(int(Perms.ADMIN), WORLD),))
    zk.create("/mixed", acl=(ACL(int(Perms.READ), WORLD), ACL(31, ALICE)))
    return zk


def test_exists_needs_no_acl(zk):
    code, stat = reads.exists(zk.tree, "/secret")
    assert code == Code.OK and stat.dataLength == 1
    assert reads.exists(zk.tree, "/missing") == (Code.NONODE, None)


def test_get_data(zk):
    code, (data, stat) = reads.get_data(zk.tree, "/open", [])
    assert (code, data, stat.numChildren) == (Code.OK, b"hi", 1)
    assert reads.get_data(zk.tree, "/secret", []) == (Code.NOAUTH, None)
    assert reads.get_data(zk.tree, "/secret", [ALICE])[0] == Code.OK
    assert reads.get_data(zk.tree, "/missing", []) == (Code.NONODE, None)
    assert reads.get_data(zk.tree, "/admin-only", []) == (Code.NOAUTH, None)


def test_get_children_and_all_children_number(zk):
    code, (children, stat) = reads.get_children(zk.tree, "/open", [])
    assert (code, children, stat.cversion) == (Code.OK, ["c1"], 1)
    assert reads.get_children(zk.tree, "/secret", []) == (Code.NOAUTH, None)
    assert reads.get_all_children_number(zk.tree, "/open", []) == (Code.OK, 2)
    assert reads.get_all_children_number(zk.tree, "/missing", []) == (Code.NONODE, None)


def test_get_acl_needs_read_or_admin_and_redacts_digests_without_admin(zk):
    assert reads.get_acl(zk.tree, "/admin-only", [])[0] == Code.OK  # ADMIN alone is enough
    assert reads.get_acl(zk.tree, "/secret", []) == (Code.NOAUTH, None)
    code, (acl, _) = reads.get_acl(zk.tree, "/mixed", [])
    assert code == Code.OK and acl == (ACL(1, WORLD), ACL(31, Id("digest", "alice:x")))
    assert reads.get_acl(zk.tree, "/mixed", [ALICE])[1][0] == (ACL(1, WORLD), ACL(31, ALICE))


def test_get_ephemerals_by_prefix(zk):
    zk.create("/open/e1", flags=CreateMode.EPHEMERAL, session=9)
    zk.create("/e2", flags=CreateMode.EPHEMERAL, session=9)
    zk.create("/e3", flags=CreateMode.EPHEMERAL, session=8)
    assert reads.get_ephemerals(zk.tree, 9, "/") == (Code.OK, ["/e2", "/open/e1"])
    assert reads.get_ephemerals(zk.tree, 9, " ") == (Code.OK, ["/e2", "/open/e1"])
    assert reads.get_ephemerals(zk.tree, 9, None) == (Code.OK, ["/e2", "/open/e1"])
    assert reads.get_ephemerals(zk.tree, 9, "/open") == (Code.OK, ["/open/e1"])
    assert reads.get_ephemerals(zk.tree, 7, "/") == (Code.OK, [])
