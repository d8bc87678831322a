"""Each write of the data tree, prepared as the leader does and applied as every replica does:
the success (the Stat fields after it, the watch triggers) and every error in ZooKeeper's order
(PrepRequestProcessor), sequential names, ephemerals and sessions, containers."""

from __future__ import annotations

import pytest

from tests.unit.tree_harness import SESSION, Zk
from zmqzab.tree.acl import ACL, CREATOR_ALL_ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, Id, Perms, digest_auth_id
from zmqzab.tree.errors import Code
from zmqzab.tree.events import EventType, Trigger, WatchTable
from zmqzab.tree.limits import DATA_MAX_BYTES
from zmqzab.tree.requests import (CheckVersionRequest, CreateMode, CreateRequest, CreateTTLRequest,
                                  DeleteContainerRequest, OpCode, SetDataRequest)
from zmqzab.tree.stat import CONTAINER_OWNER, next_version
from zmqzab.tree.txns import CheckVersionTxn, CreateTxn, ErrorTxn

pytestmark = [pytest.mark.zk]

E, S, ES = CreateMode.EPHEMERAL, CreateMode.PERSISTENT_SEQUENTIAL, CreateMode.EPHEMERAL_SEQUENTIAL
ALICE = digest_auth_id("alice:secret")
ONLY = lambda perms: (ACL(int(perms), Id("world", "anyone")),)  # noqa: E731


@pytest.fixture
def zk() -> Zk:
    return Zk()


def err(result) -> Code:
    return Code(result.err)


# ---------------------------------------------------------------------------- the empty tree

def test_a_new_tree_holds_zookeepers_own_nodes(zk):
    assert zk.tree.get_children("/") == ["zookeeper"]
    assert zk.tree.get_children("/zookeeper") == ["quota", "config"]
    root = zk.tree.stat("/")
    # /zookeeper is made without a create txn: the root's create count is 0, and a client sees
    # 2 * 0 - 1 = -1, as `stat /` shows on a new ZooKeeper.
    assert (root.numChildren, root.cversion, root.czxid, root.pzxid) == (1, -1, 0, 0)
    assert zk.tree.get_acl("/zookeeper/config")[0] == READ_ACL_UNSAFE
    assert zk.tree.all_children_number("/") == 3


# ---------------------------------------------------------------------------- create

def test_create_fills_the_stat_and_moves_the_parent(zk):
    zk.create("/a")
    r = zk.create("/a/b", b"hello")
    assert err(r) == Code.OK and r.path == "/a/b"
    s = r.stat
    assert (s.czxid, s.mzxid, s.pzxid) == (2, 2, 2)
    assert s.ctime == s.mtime == zk.time_ms
    assert (s.version, s.cversion, s.aversion, s.ephemeralOwner, s.dataLength, s.numChildren) == (0, 0, 0, 0, 5, 0)
    assert zk.tree.stat("/a/b") == s
    parent = zk.tree.stat("/a")
    assert (parent.cversion, parent.pzxid, parent.numChildren, parent.mzxid, parent.version) == (1, 2, 1, 1, 0)
    assert zk.tree.get_data("/a/b")[0] == b"hello"
    assert r.triggers == (Trigger(WatchTable.DATA, "/a/b", EventType.NodeCreated, 2),
                          Trigger(WatchTable.CHILD, "/a", EventType.NodeChildrenChanged, 2))


def test_create_of_a_child_of_root_fires_the_roots_child_watch(zk):
    r = zk.create("/x")
    assert r.triggers[1] == Trigger(WatchTable.CHILD, "/", EventType.NodeChildrenChanged, 1)


def test_create_errors(zk):
    zk.create("/a")
    zk.create("/e", flags=E)
    zk.create("/ro", acl=ONLY(Perms.ALL & ~Perms.CREATE))
    assert err(zk.create("/missing/b")) == Code.NONODE
    assert err(zk.create("/e/child")) == Code.NOCHILDRENFOREPHEMERALS
    assert err(zk.create("/a")) == Code.NODEEXISTS
    assert err(zk.create("/ro/child")) == Code.NOAUTH
    assert err(zk.create("/a/")) == Code.BADARGUMENTS
    assert err(zk.create("a")) == Code.BADARGUMENTS
    assert err(zk.create("/a\0b")) == Code.BADARGUMENTS
    assert err(zk.create("/a/.")) == Code.BADARGUMENTS
    assert err(zk.create("/b", acl=())) == Code.INVALIDACL
    assert err(zk.create("/b", acl=CREATOR_ALL_ACL)) == Code.INVALIDACL
    assert err(zk.create("/b", flags=99)) == Code.BADARGUMENTS
    assert err(zk.create("/b", flags=CreateMode.PERSISTENT_WITH_TTL)) == Code.UNIMPLEMENTED
    assert err(zk.do(OpCode.createTTL, CreateTTLRequest("/b", b"", OPEN_ACL_UNSAFE, CreateMode.PERSISTENT_WITH_TTL, 1000))) == Code.UNIMPLEMENTED
    assert err(zk.do(OpCode.createTTL, CreateTTLRequest("/b", b"", OPEN_ACL_UNSAFE, 0, 1000))) == Code.BADARGUMENTS
    assert err(zk.create("/b", b"x" * (DATA_MAX_BYTES + 1))) == Code.BADARGUMENTS
    # none of them changed the tree
    assert zk.tree.get_children("/") == ["zookeeper", "a", "e", "ro"]
    assert zk.tree.stat("/a").cversion == 0


def test_create_checks_in_zookeepers_order(zk):
    zk.create("/ro", acl=ONLY(Perms.READ))
    zk.create("/e", flags=E, acl=ONLY(Perms.READ))
    # the ACL is checked before the parent exists
    assert err(zk.create("/missing/b", acl=())) == Code.INVALIDACL
    # the parent before the full path: "/missing/" has a missing parent
    assert err(zk.create("/missing/")) == Code.NONODE
    # CREATE on the parent before the node's existence and the parent's kind
    assert err(zk.create("/ro")) == Code.NODEEXISTS  # "/" lets anyone create
    assert err(zk.create("/e/x")) == Code.NOAUTH
    # the full path after the parent's ACL
    assert err(zk.create("/ro/")) == Code.NOAUTH
    # and after the parent: "/a/./b" names a parent "/a/." that does not exist
    zk.create("/a")
    assert err(zk.create("/a/./b")) == Code.NONODE


def test_create_data_up_to_the_limit(zk):
    r = zk.create("/big", b"x" * DATA_MAX_BYTES)
    assert err(r) == Code.OK and r.stat.dataLength == DATA_MAX_BYTES
    assert err(zk.set_data("/big", b"x" * (DATA_MAX_BYTES + 1))) == Code.BADARGUMENTS


def test_null_data_is_stored_empty(zk):
    assert zk.do(OpCode.create, CreateRequest("/n", None, OPEN_ACL_UNSAFE)).stat.dataLength == 0


def test_create_with_auth_acl_stores_the_creators_ids(zk):
    r = zk.create("/mine", acl=CREATOR_ALL_ACL, auth=(Id("ip", "127.0.0.1"), ALICE))
    assert err(r) == Code.OK
    assert zk.tree.get_acl("/mine")[0] == (ACL(31, ALICE),)
    assert err(zk.set_data("/mine", b"x")) == Code.NOAUTH
    assert err(zk.set_data("/mine", b"x", auth=(ALICE,))) == Code.OK


# ---------------------------------------------------------------------------- sequential

def test_sequential_names_come_from_the_parents_cversion(zk):
    zk.create("/q")
    names = [zk.create("/q/item-", flags=S).path for _ in range(3)]
    assert names == ["/q/item-0000000000", "/q/item-0000000001", "/q/item-0000000002"]
    zk.create("/q/plain")  # any create of a child moves the counter
    assert zk.create("/q/", flags=ES).path == "/q/0000000004"
    assert zk.tree.stat("/q/0000000004").ephemeralOwner == SESSION


def test_a_delete_does_not_give_a_number_back(zk):
    zk.create("/q")
    a = zk.create("/q/n-", flags=S).path
    b = zk.create("/q/n-", flags=S).path
    zk.delete(b)
    zk.delete(a)
    assert zk.tree.node("/q").cversion == 2  # creates, the sequential counter
    assert zk.tree.stat("/q").cversion == 4  # as a client sees it: 2 creates + 2 deletes
    assert zk.create("/q/n-", flags=S).path == "/q/n-0000000002"


def test_first_sequential_child_of_root_is_zero(zk):
    assert zk.create("/", flags=S).path == "/0000000000"


def test_sequential_prefix_with_a_bad_character_is_refused(zk):
    assert err(zk.create("/q\x01", flags=S)) == Code.BADARGUMENTS


def test_sequential_counter_wraps_as_javas_int(zk):
    zk.create("/q")
    zk.tree.nodes["/q"].cversion = 0x7FFFFFFF - 1
    assert zk.create("/q/n-", flags=S).path == "/q/n-2147483646"
    assert zk.create("/q/n-", flags=S).path == "/q/n-2147483647"
    # The parent's cversion is a Java int: the next one wraps, DataTree keeps the old one
    # (forward only) and the counter is stuck: the name exists already. ZooKeeper's behaviour;
    # what matters is that no name is ever given twice.
    assert zk.tree.node("/q").cversion == 0x7FFFFFFF
    assert zk.tree.stat("/q").cversion == -4  # Java's int: 2 * 0x7FFFFFFF - 2 wraps
    assert err(zk.create("/q/n-", flags=S)) == Code.NODEEXISTS
    assert zk.tree.get_children("/q") == ["n-2147483646", "n-2147483647"]


# ---------------------------------------------------------------------------- pending changes

def test_prepare_sees_txns_proposed_but_not_yet_applied(zk):
    zk.create("/q")
    t1 = zk.propose(OpCode.create, CreateRequest("/q/a", b"", OPEN_ACL_UNSAFE))
    t2 = zk.propose(OpCode.create, CreateRequest("/q/a", b"", OPEN_ACL_UNSAFE))
    t3 = zk.propose(OpCode.create, CreateRequest("/q/s-", b"", OPEN_ACL_UNSAFE, S))
    t4 = zk.propose(OpCode.create, CreateRequest("/q/s-", b"", OPEN_ACL_UNSAFE, S))
    t5 = zk.propose(OpCode.create, CreateRequest("/q/a/b", b"", OPEN_ACL_UNSAFE))
    t6 = zk.propose(OpCode.setData, SetDataRequest("/q/a/b", b"x", 0))
    t7 = zk.propose(OpCode.setData, SetDataRequest("/q/a/b", b"y", 0))
    assert isinstance(t1, CreateTxn) and t2 == ErrorTxn(Code.NODEEXISTS)
    assert (t3.path, t4.path) == ("/q/s-0000000001", "/q/s-0000000002")
    assert t5.path == "/q/a/b" and t6.version == 1 and t7 == ErrorTxn(Code.BADVERSION)
    assert zk.tree.node("/q/a") is None  # nothing applied yet
    for i, t in enumerate((t1, t2, t3, t4, t5, t6, t7)):
        zk.tree.apply(t, 2 + i, 0)
        zk.prep.applied(2 + i)
    assert zk.prep.pending == {}
    assert zk.tree.get_data("/q/a/b")[0] == b"x"
    assert zk.tree.get_children("/q") == ["a", "s-0000000001", "s-0000000002"]


def test_a_pending_delete_frees_the_name_and_a_pending_acl_applies_at_once(zk):
    zk.create("/a")
    zk.propose(OpCode.delete, CheckVersionRequest("/a", -1))
    assert isinstance(zk.propose(OpCode.create, CreateRequest("/a", b"", ONLY(Perms.READ))), CreateTxn)
    assert zk.propose(OpCode.setData, SetDataRequest("/a", b"", -1)) == ErrorTxn(Code.NOAUTH)


def test_reset_forgets_pending_changes(zk):
    zk.propose(OpCode.create, CreateRequest("/a", b"", OPEN_ACL_UNSAFE))
    zk.prep.reset()
    assert isinstance(zk.propose(OpCode.create, CreateRequest("/a", b"", OPEN_ACL_UNSAFE)), CreateTxn)


# ---------------------------------------------------------------------------- delete

def test_delete_moves_pzxid_not_cversion(zk):
    zk.create("/a")
    zk.create("/a/b")
    r = zk.delete("/a/b")
    assert err(r) == Code.OK and r.deleted == ("/a/b",)
    s = zk.tree.stat("/a")
    assert zk.tree.node("/a").cversion == 1  # the delete did not move the create count
    assert (s.cversion, s.pzxid, s.numChildren) == (2, 3, 0)  # shown: 2 * 1 - 0
    assert zk.tree.node("/a/b") is None
    assert r.triggers == (Trigger(WatchTable.DATA, "/a/b", EventType.NodeDeleted, 3),
                          Trigger(WatchTable.CHILD, "/a/b", EventType.NodeDeleted, 3),
                          Trigger(WatchTable.CHILD, "/a", EventType.NodeChildrenChanged, 3))


def test_delete_errors(zk):
    zk.create("/a")
    zk.create("/a/b")
    zk.create("/nodel", acl=ONLY(Perms.ALL & ~Perms.DELETE))
    zk.create("/nodel/c")
    for special in ("/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config", "a", "/a\0"):
        assert err(zk.delete(special)) == Code.BADARGUMENTS, special
    assert err(zk.delete("/missing")) == Code.NONODE
    assert err(zk.delete("/missing/x")) == Code.NONODE
    assert err(zk.delete("/a")) == Code.NOTEMPTY
    assert err(zk.delete("/a/b", version=3)) == Code.BADVERSION
    assert err(zk.delete("/nodel/c")) == Code.NOAUTH
    assert zk.tree.get_children("/a") == ["b"]


def test_delete_checks_in_zookeepers_order(zk):
    zk.create("/nodel", acl=ONLY(Perms.ALL & ~Perms.DELETE))
    zk.create("/a")
    zk.create("/a/b")
    # DELETE on the parent before the node exists
    assert err(zk.delete("/nodel/missing")) == Code.NOAUTH
    # the version before the children
    assert err(zk.delete("/a", version=7)) == Code.BADVERSION
    assert err(zk.delete("/a", version=0)) == Code.NOTEMPTY


# ---------------------------------------------------------------------------- setData / setACL / check

def test_set_data_moves_version_mzxid_mtime(zk):
    zk.create("/a", b"1")
    created = zk.tree.stat("/a")
    r = zk.set_data("/a", b"22", version=0)
    s = r.stat
    assert (s.version, s.mzxid, s.czxid, s.dataLength, s.ctime) == (1, 2, 1, 2, created.ctime)
    assert s.mtime > created.mtime and s.pzxid == 1 and s.aversion == 0
    assert r.triggers == (Trigger(WatchTable.DATA, "/a", EventType.NodeDataChanged, 2),)
    assert zk.set_data("/a", b"3").stat.version == 2  # -1: any version


def test_set_data_errors(zk):
    zk.create("/a")
    zk.create("/ro", acl=ONLY(Perms.ALL & ~Perms.WRITE))
    assert err(zk.set_data("/missing", b"")) == Code.NONODE
    assert err(zk.set_data("/a", b"", version=5)) == Code.BADVERSION
    assert err(zk.set_data("/ro", b"")) == Code.NOAUTH
    assert err(zk.set_data("/ro", b"", version=5)) == Code.NOAUTH  # the ACL before the version
    assert err(zk.set_data("/a/", b"")) == Code.BADARGUMENTS
    assert err(zk.set_data("/zookeeper/config", b"")) == Code.NOAUTH


def test_versions_skip_minus_one():
    assert next_version(0) == 1
    assert next_version(0x7FFFFFFF) == -(1 << 31)
    assert next_version(-2) == 0  # never -1, which means "any version" (ZOOKEEPER-4743)


def test_set_acl_moves_aversion_only(zk):
    zk.create("/a")
    r = zk.set_acl("/a", ONLY(Perms.READ | Perms.ADMIN), version=0)
    assert err(r) == Code.OK and r.triggers == ()
    s = r.stat
    assert (s.aversion, s.version, s.mzxid) == (1, 0, 1)
    assert err(zk.set_data("/a", b"")) == Code.NOAUTH
    assert err(zk.set_acl("/a", OPEN_ACL_UNSAFE, version=0)) == Code.BADVERSION


def test_set_acl_errors_in_order(zk):
    zk.create("/noadmin", acl=ONLY(Perms.ALL & ~Perms.ADMIN))
    assert err(zk.set_acl("/noadmin", OPEN_ACL_UNSAFE)) == Code.NOAUTH
    assert err(zk.set_acl("/missing", OPEN_ACL_UNSAFE)) == Code.NONODE
    assert err(zk.set_acl("/missing", ())) == Code.INVALIDACL  # the ACL before the node
    assert err(zk.set_acl("/noadmin", OPEN_ACL_UNSAFE, version=9)) == Code.NOAUTH  # ACL before version
    assert err(zk.set_acl("bad", OPEN_ACL_UNSAFE)) == Code.BADARGUMENTS


def test_check(zk):
    zk.create("/a")
    zk.create("/secret", acl=ONLY(Perms.ALL & ~Perms.READ))
    r = zk.check("/a", 0)
    assert err(r) == Code.OK and r.triggers == ()
    assert zk.propose(OpCode.check, CheckVersionRequest("/a", -1)) == CheckVersionTxn("/a", 1)
    assert err(zk.check("/a", 1)) == Code.BADVERSION
    assert err(zk.check("/missing", 0)) == Code.NONODE
    assert err(zk.check("/secret", 0)) == Code.NOAUTH


def test_unknown_opcode_is_unimplemented(zk):
    assert zk.propose(OpCode.getData, CheckVersionRequest("/a", 0)) == ErrorTxn(Code.UNIMPLEMENTED)


def test_error_txn_changes_nothing_and_a_replayed_create_is_refused(zk):
    r = zk.create("/a")
    before = zk.tree.stat("/")
    assert err(zk.tree.apply(ErrorTxn(Code.NONODE), 99, 0)) == Code.NONODE
    replay = zk.tree.apply(CreateTxn("/a", b"", OPEN_ACL_UNSAFE, 0, 1), r.stat.czxid, 0)
    assert err(replay) == Code.NODEEXISTS and replay.triggers == ()
    assert zk.tree.stat("/") == before


# ---------------------------------------------------------------------------- ephemerals, sessions

def test_ephemerals_are_indexed_by_session_and_deleted_with_it(zk):
    zk.create("/locks")
    zk.create("/locks/l-", flags=ES, session=7)
    zk.create("/locks/l-", flags=ES, session=8)
    zk.create("/e7", flags=E, session=7)
    assert zk.tree.ephemerals_of(7) == ["/e7", "/locks/l-0000000000"]
    zk.zxid += 1
    paths = zk.prep.close_session(7, zk.zxid)
    assert paths == ["/e7", "/locks/l-0000000000"]
    r = zk.tree.delete_ephemerals(7, zk.zxid, paths)
    zk.prep.applied(zk.zxid)
    assert r.deleted == ("/e7", "/locks/l-0000000000")
    assert Trigger(WatchTable.CHILD, "/locks", EventType.NodeChildrenChanged, zk.zxid) in r.triggers
    assert zk.tree.get_children("/locks") == ["l-0000000001"]
    assert zk.tree.ephemerals_of(7) == [] and 7 not in zk.tree.ephemerals
    assert zk.tree.stat("/locks").pzxid == zk.zxid


def test_close_session_sees_pending_creates_and_deletes(zk):
    zk.create("/gone", flags=E)
    zk.propose(OpCode.create, CreateRequest("/new", b"", OPEN_ACL_UNSAFE, E))
    zk.propose(OpCode.delete, CheckVersionRequest("/gone", -1))
    assert zk.prep.close_session(SESSION, zk.zxid + 1) == ["/new"]
    # and after the close, the leader sees them gone
    assert zk.prep.view("/new") is None


def test_delete_ephemerals_without_a_list_takes_the_sessions_own(zk):
    zk.create("/a", flags=E, session=5)
    zk.create("/b", flags=E, session=6)
    r = zk.tree.delete_ephemerals(5, 10)
    assert r.deleted == ("/a",) and zk.tree.get_children("/") == ["zookeeper", "b"]
    # a listed path that is not the session's (anymore) is left alone
    assert zk.tree.delete_ephemerals(5, 11, ["/b"]).deleted == ()


# ---------------------------------------------------------------------------- containers

def test_containers(zk):
    def create_container(path):
        return zk.do(OpCode.createContainer, CreateRequest(path, b"", OPEN_ACL_UNSAFE, CreateMode.CONTAINER))

    r = create_container("/c")
    assert zk.tree.node("/c").ephemeral_owner == CONTAINER_OWNER
    assert r.stat.ephemeralOwner == 0  # getClientEphemeralOwner: clients never see the marker
    create_container("/never")
    assert zk.tree.container_candidates(now_ms=10**9) == []  # never used: kept
    assert zk.tree.container_candidates(now_ms=10**9, max_never_used_ms=1000) == ["/c", "/never"]
    zk.create("/c/child", flags=E)  # a container may hold ephemerals
    assert zk.tree.container_candidates(now_ms=0) == []
    zk.delete("/c/child")
    assert zk.tree.container_candidates(now_ms=0) == ["/c"]
    # a child arrives between the candidates and the deleteContainer: NOTEMPTY
    zk.create("/c/again")
    assert err(zk.do(OpCode.deleteContainer, DeleteContainerRequest("/c"))) == Code.NOTEMPTY
    zk.delete("/c/again")
    r = zk.do(OpCode.deleteContainer, DeleteContainerRequest("/c"))
    assert err(r) == Code.OK and zk.tree.node("/c") is None and "/c" not in zk.tree.containers


def test_delete_container_refuses_ephemerals_and_special_paths(zk):
    zk.create("/e", flags=E)
    assert zk.prep.delete_container("/e", 99) == ErrorTxn(Code.BADVERSION)
    assert zk.prep.delete_container("/", 99) == ErrorTxn(Code.BADARGUMENTS)
    assert zk.prep.delete_container("/missing", 99) == ErrorTxn(Code.NONODE)


def test_create_container_flag_and_opcode_must_agree(zk):
    assert err(zk.create("/c", flags=CreateMode.CONTAINER)) == Code.BADARGUMENTS
    assert err(zk.do(OpCode.createContainer, CreateRequest("/c", b"", OPEN_ACL_UNSAFE, 0))) == Code.BADARGUMENTS


# ---------------------------------------------------------------------------- reads

def test_reads(zk):
    zk.create("/a")
    zk.create("/a/b")
    zk.create("/a/b/c")
    zk.create("/ab")
    assert zk.tree.all_children_number("/a") == 2
    assert zk.tree.all_children_number("/") == 7
    assert zk.tree.get_children("/missing") is None and zk.tree.get_data("/missing") is None
    assert list(zk.tree.walk("/a")) == ["/a", "/a/b", "/a/b/c"]


# ---------------------------------------------------------------------------- hostile records

class Odd:
    """A record with whatever fields a broken or hostile decoder might hand over."""

    def __init__(self, **fields) -> None:
        self.__dict__.update(fields)


@pytest.mark.parametrize("opcode", [OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL,
                                    OpCode.delete, OpCode.setData, OpCode.setACL, OpCode.check,
                                    OpCode.deleteContainer, OpCode.multi, 12345])
@pytest.mark.parametrize("record", [
    Odd(), Odd(path=None), Odd(path=b"/a"), Odd(path=7), Odd(path="/a", data="text", acl=OPEN_ACL_UNSAFE, flags=0),
    Odd(path="/a", data=b"", acl=5, flags=0), Odd(path="/a", data=b"", acl=[None], flags=0),
    Odd(path="/a", data=b"", acl=OPEN_ACL_UNSAFE, flags="0"), Odd(path="/a", data=b"", acl=OPEN_ACL_UNSAFE, flags=0, ttl="x"),
    Odd(path="/a", version="1"), Odd(path="/a", version=None), Odd(ops=[(OpCode.create, Odd())]), Odd(ops=[]),
    Odd(ops=5), Odd(ops=[1]), Odd(ops=[(1, 2, 3)]),
])
def test_prepare_answers_every_malformed_record_with_a_code(zk, opcode, record):
    """A record the codec should never produce still gets an ErrorTxn (or a harmless txn), never
    an exception out of the leader's prepare."""
    zk.create("/a")
    txn = zk.propose(opcode, record)
    result = zk.commit(txn)
    assert isinstance(result.err, int)
