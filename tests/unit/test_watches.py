"""The node-local watch manager (zmqzab/tree/watches.py), case by case, against ZooKeeper's rules
(WatchManager, DataTree.addWatch / deleteNode / setWatches / removeWatch / containsWatcher).

Every test applies real txns through the leader's Preparer and the tree (tests/unit/tree_harness.py)
and fires the ``Trigger``s that apply returned, as the node will."""

from __future__ import annotations

import pytest

from tests.unit.tree_harness import Multi, Zk
from zmqzab.tree.acl import OPEN_ACL_UNSAFE
from zmqzab.tree.errors import Code
from zmqzab.tree.requests import CreateMode, CreateRequest, DeleteRequest, OpCode
from zmqzab.tree.watches import (WATCHER_TYPE_PERSISTENT, WATCHER_TYPE_PERSISTENT_RECURSIVE, WatchEvent,
                                 WatchManager, WatchSummary, path_and_parents)
from zmqzab.zk.opcodes import AddWatchMode, EventType, KeeperState, WatcherType

pytestmark = [pytest.mark.zk]

A, B, C = "conn-a", "conn-b", "conn-c"
Created, Deleted, Changed, Children = (EventType.NodeCreated, EventType.NodeDeleted, EventType.NodeDataChanged,
                                       EventType.NodeChildrenChanged)


def events(deliveries):
    """(watcher, type, path) of each delivery, in order."""
    return [(w, e.type, e.path) for w, e in deliveries]


@pytest.fixture
def zk():
    return Zk()


@pytest.fixture
def wm():
    return WatchManager()


# ---------------------------------------------------------------- one-shot watches


def test_a_getdata_watch_fires_once_on_setdata(zk, wm):
    zk.create("/a")
    assert wm.register(A, OpCode.getData, "/a", Code.OK)
    r = zk.set_data("/a", b"1")
    out = wm.fire(r.triggers)
    assert out == [(A, WatchEvent(Changed, KeeperState.SyncConnected, "/a", zk.zxid))]
    assert wm.fire(zk.set_data("/a", b"2").triggers) == [], "a one-shot watch fired twice"
    assert wm.watch_count() == 0


def test_a_getdata_watch_fires_on_delete(zk, wm):
    zk.create("/a")
    wm.register(A, OpCode.getData, "/a", Code.OK)
    assert events(wm.fire(zk.delete("/a").triggers)) == [(A, Deleted, "/a")]


def test_a_failed_read_leaves_no_watch_but_exists_on_a_missing_node_does(zk, wm):
    """ZooKeeper's getData and getChildren throw NONODE / NOAUTH before adding the watch;
    statNode adds it first, so an exists on a missing node waits for the create."""
    assert not wm.register(A, OpCode.getData, "/a", Code.NONODE)
    assert not wm.register(A, OpCode.getChildren, "/a", Code.NONODE)
    assert not wm.register(A, OpCode.getChildren2, "/a", Code.NOAUTH)
    assert not wm.register(A, OpCode.exists, "/a", Code.NOAUTH)
    assert wm.watch_count() == 0
    assert wm.register(A, OpCode.exists, "/a", Code.NONODE)
    assert events(wm.fire(zk.create("/a").triggers)) == [(A, Created, "/a")]
    assert wm.watch_count() == 0


def test_an_exists_watch_on_a_present_node_fires_on_change_and_delete(zk, wm):
    zk.create("/a")
    wm.register(A, OpCode.exists, "/a", Code.OK)
    assert events(wm.fire(zk.set_data("/a", b"x").triggers)) == [(A, Changed, "/a")]
    wm.register(A, OpCode.exists, "/a", Code.OK)
    assert events(wm.fire(zk.delete("/a").triggers)) == [(A, Deleted, "/a")]


@pytest.mark.parametrize("opcode", [OpCode.getChildren, OpCode.getChildren2])
def test_a_child_watch_fires_on_a_child_create_and_delete_not_on_data(zk, wm, opcode):
    zk.create("/a")
    wm.register(A, opcode, "/a", Code.OK)
    assert wm.fire(zk.set_data("/a", b"x").triggers) == []
    assert events(wm.fire(zk.create("/a/b").triggers)) == [(A, Children, "/a")]
    assert wm.fire(zk.create("/a/c").triggers) == [], "a one-shot child watch fired twice"
    wm.register(A, opcode, "/a", Code.OK)
    assert events(wm.fire(zk.delete("/a/c").triggers)) == [(A, Children, "/a")]


def test_a_child_watch_fires_nodedeleted_when_its_node_goes(zk, wm):
    zk.create("/a")
    wm.register(A, OpCode.getChildren, "/a", Code.OK)
    assert events(wm.fire(zk.delete("/a").triggers)) == [(A, Deleted, "/a")]
    assert wm.watch_count() == 0


def test_a_data_watch_is_not_a_child_watch(zk, wm):
    zk.create("/a")
    wm.register(A, OpCode.getData, "/a", Code.OK)
    assert wm.fire(zk.create("/a/b").triggers) == []
    assert wm.watch_count() == 1


def test_a_sequential_create_fires_the_parent_with_the_parent_path(zk, wm):
    zk.create("/q")
    wm.register(A, OpCode.getChildren, "/q", Code.OK)
    r = zk.create("/q/n-", flags=CreateMode.PERSISTENT_SEQUENTIAL)
    assert r.path == "/q/n-0000000000"
    assert events(wm.fire(r.triggers)) == [(A, Children, "/q")]


# ---------------------------------------------------------------- dedup


def test_a_delete_reaches_a_watcher_with_data_and_child_watches_once(zk, wm):
    """deleteNode suppresses, in the child table's NodeDeleted, the watchers the data table's
    reached; both one-shot watches are consumed."""
    zk.create("/a")
    wm.register(A, OpCode.getData, "/a", Code.OK)
    wm.register(A, OpCode.getChildren, "/a", Code.OK)
    wm.register(B, OpCode.getChildren, "/a", Code.OK)
    assert events(wm.fire(zk.delete("/a").triggers)) == [(A, Deleted, "/a"), (B, Deleted, "/a")]
    assert wm.watch_count() == 0


def test_one_watcher_gets_one_event_per_trigger_even_with_several_modes(zk, wm):
    zk.create("/a")
    wm.register(A, OpCode.getData, "/a", Code.OK)
    wm.add_watch(A, "/a", AddWatchMode.PERSISTENT)
    wm.add_watch(A, "/a", AddWatchMode.PERSISTENT_RECURSIVE)
    wm.add_watch(A, "/", AddWatchMode.PERSISTENT_RECURSIVE)
    assert events(wm.fire(zk.set_data("/a", b"x").triggers)) == [(A, Changed, "/a")]


def test_registering_the_same_watch_twice_keeps_one(zk, wm):
    zk.create("/a")
    assert wm.add_data_watch(A, "/a")
    assert not wm.add_data_watch(A, "/a")
    assert wm.watch_count() == 1
    assert events(wm.fire(zk.set_data("/a", b"x").triggers)) == [(A, Changed, "/a")]


def test_a_multi_fires_each_trigger_and_a_one_shot_watch_once(zk, wm):
    zk.create("/a")
    wm.register(A, OpCode.getChildren, "/a", Code.OK)
    wm.add_watch(B, "/a", AddWatchMode.PERSISTENT)
    r = zk.do(OpCode.multi, Multi((OpCode.create, CreateRequest("/a/x", b"", OPEN_ACL_UNSAFE, 0)),
                                  (OpCode.create, CreateRequest("/a/y", b"", OPEN_ACL_UNSAFE, 0))))
    assert r.err == 0
    assert events(wm.fire(r.triggers)) == [(A, Children, "/a"), (B, Children, "/a"), (B, Children, "/a")]


def test_a_failed_multi_fires_nothing(zk, wm):
    zk.create("/a")
    wm.register(A, OpCode.getChildren, "/a", Code.OK)
    r = zk.do(OpCode.multi, Multi((OpCode.create, CreateRequest("/a/x", b"", OPEN_ACL_UNSAFE, 0)),
                                  (OpCode.delete, DeleteRequest("/nope", -1))))
    assert r.err == Code.NONODE
    assert wm.fire(r.triggers) == []
    assert wm.watch_count() == 1


# ---------------------------------------------------------------- persistent


def test_a_persistent_watch_fires_data_and_child_events_and_stays(zk, wm):
    wm.add_watch(A, "/a", AddWatchMode.PERSISTENT)
    got = []
    for r in (zk.create("/a"), zk.set_data("/a", b"1"), zk.set_data("/a", b"2"), zk.create("/a/b"),
              zk.set_data("/a/b", b"x"), zk.delete("/a/b"), zk.delete("/a"), zk.create("/a")):
        got += events(wm.fire(r.triggers))
    assert got == [(A, Created, "/a"), (A, Changed, "/a"), (A, Changed, "/a"), (A, Children, "/a"),
                   (A, Children, "/a"), (A, Deleted, "/a"), (A, Created, "/a")]
    assert wm.check_watches(A, "/a", WatcherType.Any) == Code.OK


def test_a_persistent_watch_does_not_reach_below(zk, wm):
    zk.create("/a")
    wm.add_watch(A, "/a", AddWatchMode.PERSISTENT)
    zk.create("/a/b")
    assert wm.fire(zk.set_data("/a/b", b"x").triggers) == []


def test_a_recursive_watch_fires_for_the_node_and_every_descendant_but_no_child_events(zk, wm):
    wm.add_watch(A, "/a", AddWatchMode.PERSISTENT_RECURSIVE)
    got = []
    for r in (zk.create("/a"), zk.create("/a/b"), zk.create("/a/b/c"), zk.set_data("/a/b/c", b"x"),
              zk.set_data("/a", b"y"), zk.delete("/a/b/c"), zk.create("/ab"), zk.create("/other")):
        got += events(wm.fire(r.triggers))
    assert got == [(A, Created, "/a"), (A, Created, "/a/b"), (A, Created, "/a/b/c"), (A, Changed, "/a/b/c"),
                   (A, Changed, "/a"), (A, Deleted, "/a/b/c")], "/ab is not below /a; no NodeChildrenChanged"


def test_a_recursive_watch_on_root_sees_every_node(zk, wm):
    wm.add_watch(A, "/", AddWatchMode.PERSISTENT_RECURSIVE)
    assert events(wm.fire(zk.create("/a").triggers)) == [(A, Created, "/a")]
    assert events(wm.fire(zk.set_data("/", b"r").triggers)) == [(A, Changed, "/")]


def test_a_getdata_watch_beside_a_persistent_one_is_consumed_and_the_persistent_stays(zk, wm):
    """ZOOKEEPER-4466: the modes of one watcher on one path are flags; firing removes STANDARD."""
    zk.create("/a")
    wm.add_watch(A, "/a", AddWatchMode.PERSISTENT)
    wm.register(A, OpCode.getData, "/a", Code.OK)
    assert events(wm.fire(zk.set_data("/a", b"1").triggers)) == [(A, Changed, "/a")]
    assert wm.check_watches(A, "/a", WatcherType.Data) == Code.NOWATCHER
    assert wm.check_watches(A, "/a", WATCHER_TYPE_PERSISTENT) == Code.OK
    assert events(wm.fire(zk.set_data("/a", b"2").triggers)) == [(A, Changed, "/a")]


def test_an_unknown_addwatch_mode_is_refused_with_the_modes_named(wm):
    with pytest.raises(ValueError, match="PERSISTENT_RECURSIVE"):
        wm.add_watch(A, "/a", 7)


# ---------------------------------------------------------------- removal


def test_removewatches_by_type_and_nowatcher(zk, wm):
    zk.create("/a")
    wm.register(A, OpCode.getData, "/a", Code.OK)
    wm.register(A, OpCode.getChildren, "/a", Code.OK)
    assert wm.check_watches(A, "/a", WatcherType.Children) == Code.OK
    assert wm.remove_watches(A, "/a", WatcherType.Children) == Code.OK
    assert wm.check_watches(A, "/a", WatcherType.Children) == Code.NOWATCHER
    assert wm.remove_watches(A, "/a", WatcherType.Children) == Code.NOWATCHER
    assert wm.check_watches(A, "/a", WatcherType.Data) == Code.OK
    assert wm.remove_watches(B, "/a", WatcherType.Data) == Code.NOWATCHER, "another watcher's watch is not mine"
    assert wm.remove_watches(A, "/b", WatcherType.Any) == Code.NOWATCHER
    assert wm.fire(zk.create("/a/x").triggers) == [], "the removed child watch fired"
    assert wm.remove_watches(A, "/a", WatcherType.Any) == Code.OK
    assert wm.check_watches(A, "/a", WatcherType.Any) == Code.NOWATCHER
    assert wm.fire(zk.set_data("/a", b"x").triggers) == []
    assert wm.watch_count() == 0


def test_data_and_children_removal_leave_persistent_watches_any_removes_them(zk, wm):
    wm.add_watch(A, "/a", AddWatchMode.PERSISTENT)
    wm.add_watch(A, "/r", AddWatchMode.PERSISTENT_RECURSIVE)
    assert wm.remove_watches(A, "/a", WatcherType.Data) == Code.NOWATCHER
    assert wm.remove_watches(A, "/a", WatcherType.Children) == Code.NOWATCHER
    assert wm.check_watches(A, "/r", WATCHER_TYPE_PERSISTENT) == Code.NOWATCHER
    assert wm.check_watches(A, "/r", WATCHER_TYPE_PERSISTENT_RECURSIVE) == Code.OK
    assert wm.remove_watches(A, "/a", WatcherType.Any) == Code.OK
    assert wm.remove_watches(A, "/r", WATCHER_TYPE_PERSISTENT_RECURSIVE) == Code.OK
    assert wm.watch_count() == 0
    assert wm.fire(zk.create("/r").triggers) == []
    assert wm.fire(zk.create("/a").triggers) == []


def test_an_unknown_watcher_type_is_refused(wm):
    with pytest.raises(ValueError, match="WatcherType"):
        wm.remove_watches(A, "/a", 9)


def test_session_close_removes_all_of_its_watches_and_only_its(zk, wm):
    zk.create("/a")
    for w in (A, B):
        wm.register(w, OpCode.getData, "/a", Code.OK)
        wm.register(w, OpCode.getChildren, "/a", Code.OK)
        wm.add_watch(w, "/", AddWatchMode.PERSISTENT_RECURSIVE)
        wm.register(w, OpCode.exists, "/missing", Code.NONODE)
    wm.remove_watcher(A)
    assert wm.watchers() == {B}
    assert set(w for w, _ in wm.fire(zk.set_data("/a", b"x").triggers)) == {B}
    assert set(w for w, _ in wm.fire(zk.create("/missing").triggers)) == {B}
    wm.remove_watcher(A)  # twice: nothing left to do
    wm.remove_watcher(B)
    assert wm.watch_count() == 0 and wm.watchers() == set()
    assert wm.fire(zk.delete("/missing").triggers) == []


# ---------------------------------------------------------------- counts


def test_counts_for_the_four_letter_words(zk, wm):
    """wchs, wchc and wchp read the DATA table only, as ZooKeeper's DataTree.getWatchesSummary,
    getWatches and getWatchesByPath do; the watch count (mntr) has both tables."""
    zk.create("/a")
    wm.register(A, OpCode.getData, "/a", Code.OK)
    wm.register(A, OpCode.exists, "/b", Code.NONODE)
    wm.register(B, OpCode.getData, "/a", Code.OK)
    wm.register(B, OpCode.getChildren, "/a", Code.OK)
    wm.register(C, OpCode.getChildren, "/a", Code.OK)
    assert wm.summary() == WatchSummary(connections=2, paths=2, total=3)
    assert wm.by_watcher() == {A: ["/a", "/b"], B: ["/a"]}
    assert wm.by_path() == {"/a": [A, B], "/b": [A]}
    assert wm.watch_count() == 5
    assert wm.path_counts() == {"/a": 3, "/b": 1}
    wm.add_watch(C, "/c", AddWatchMode.PERSISTENT)
    assert wm.summary() == WatchSummary(connections=3, paths=3, total=4)
    assert wm.watch_count() == 7
    wm.fire(zk.set_data("/a", b"x").triggers)
    assert wm.summary() == WatchSummary(connections=2, paths=2, total=2)
    assert wm.by_path() == {"/b": [A], "/c": [C]}


# ---------------------------------------------------------------- setWatches


def test_setwatches_fires_what_changed_since_the_clients_last_zxid_and_sets_the_rest(zk, wm):
    for p in ("/same", "/changed", "/gone", "/kids", "/kids-same", "/kids-gone", "/later"):
        zk.create(p)
    zk.create("/kids-same/x")
    last_seen = zk.zxid
    zk.set_data("/changed", b"x")
    zk.delete("/gone")
    zk.create("/kids/new")
    zk.delete("/kids-gone")
    zk.set_data("/kids-same", b"data only")  # mzxid moves, pzxid not
    zk.create("/now-here")
    out = wm.set_watches(zk.tree, A, last_seen,
                         data=["/same", "/changed", "/gone"],
                         exist=["/now-here", "/still-missing"],
                         child=["/kids", "/kids-same", "/kids-gone"],
                         persistent=["/later"], persistent_recursive=["/"])
    assert events(out) == [(A, Changed, "/changed"), (A, Deleted, "/gone"), (A, Created, "/now-here"),
                           (A, Children, "/kids"), (A, Deleted, "/kids-gone")]
    assert all(e.state == KeeperState.SyncConnected and e.zxid == -1 for _, e in out)
    assert wm.check_watches(A, "/same", WatcherType.Data) == Code.OK
    assert wm.check_watches(A, "/changed", WatcherType.Data) == Code.NOWATCHER, "fired, so not set"
    assert wm.check_watches(A, "/still-missing", WatcherType.Data) == Code.OK
    assert wm.check_watches(A, "/kids-same", WatcherType.Children) == Code.OK
    assert wm.check_watches(A, "/later", WATCHER_TYPE_PERSISTENT) == Code.OK
    assert wm.check_watches(A, "/", WATCHER_TYPE_PERSISTENT_RECURSIVE) == Code.OK
    # what was set fires as any watch does
    assert (A, Created, "/still-missing") in events(wm.fire(zk.create("/still-missing").triggers))
    assert events(wm.fire(zk.create("/kids-same/y").triggers)) == [(A, Created, "/kids-same/y"),
                                                                 (A, Children, "/kids-same")]


def test_setwatches_takes_null_lists_as_empty(zk, wm):
    assert wm.set_watches(zk.tree, A, 0, data=None, exist=None, child=None, persistent=None,
                          persistent_recursive=None) == []
    assert wm.watch_count() == 0


def test_setwatches_with_the_current_zxid_fires_nothing(zk, wm):
    zk.create("/a")
    zk.create("/a/b")
    assert wm.set_watches(zk.tree, A, zk.zxid, data=["/a"], exist=["/x"], child=["/a"]) == []
    assert wm.watch_count() == 3


# ---------------------------------------------------------------- order and ACL filter


def test_the_order_is_the_order_of_registration_then_the_nearest_parents(zk, wm):
    zk.create("/a")
    zk.create("/a/b")
    wm.add_watch(C, "/", AddWatchMode.PERSISTENT_RECURSIVE)
    wm.add_watch(B, "/a", AddWatchMode.PERSISTENT_RECURSIVE)
    wm.register(A, OpCode.getData, "/a/b", Code.OK)
    wm.register(C, OpCode.getData, "/a/b", Code.OK)
    assert [w for w, _ in wm.fire(zk.set_data("/a/b", b"x").triggers)] == [A, C, B]
    assert list(path_and_parents("/a/b")) == ["/a/b", "/a", "/"]
    assert list(path_and_parents("/")) == ["/"]


def test_may_read_drops_an_event_and_still_consumes_the_watch(zk, wm):
    """ZooKeeper (3.8.4, 3.9.2 on) checks READ on the node for each event (CVE-2024-23944),
    after the watch was taken from the table."""
    zk.create("/a")
    wm.register(A, OpCode.getData, "/a", Code.OK)
    wm.register(B, OpCode.getData, "/a", Code.OK)
    out = wm.fire(zk.set_data("/a", b"x").triggers, may_read=lambda w, trig: w != A)
    assert events(out) == [(B, Changed, "/a")]
    assert wm.watch_count() == 0


def test_a_multi_that_deletes_recreates_and_deletes_a_node_pairs_each_delete_on_its_own(zk, wm):
    """Each delete's child-table NodeDeleted is suppressed only for the watchers its own
    data-table NodeDeleted reached: a persistent watcher hears each of the two deletes once."""
    zk.create("/a")
    wm.add_watch(A, "/a", AddWatchMode.PERSISTENT)
    wm.register(B, OpCode.getChildren, "/a", Code.OK)
    r = zk.do(OpCode.multi, Multi((OpCode.delete, DeleteRequest("/a", -1)),
                                  (OpCode.create, CreateRequest("/a", b"", OPEN_ACL_UNSAFE, 0)),
                                  (OpCode.delete, DeleteRequest("/a", -1))))
    assert r.err == 0
    assert events(wm.fire(r.triggers)) == [(A, Deleted, "/a"), (B, Deleted, "/a"), (A, Created, "/a"),
                                           (A, Deleted, "/a")]
