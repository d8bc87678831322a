"""Random trees, writes and watches: the watch manager against a model of ZooKeeper's rules.

Goal: every event a watcher gets matches a change it watched, no one-shot watch fires twice,
and every watch that should fire does. Setup: one tree changed through the leader's Preparer
and apply (tests/unit/tree_harness.py); three watchers register reads' watches (getData,
exists, getChildren, getChildren2, with the Code the read answered), addWatch PERSISTENT and
PERSISTENT_RECURSIVE, removeWatches of every type, and close their session, between random
creates (persistent, ephemeral, sequential), deletes, setData and multis on a few paths so
that they collide. Faults: none. Expected, after each txn: the deliveries equal, as a
multiset, those of a small model written from ZooKeeper's rules as sets of live watches (not
the manager's code): a one-shot data watch on the path for NodeCreated / NodeDeleted /
NodeDataChanged, a one-shot child watch for NodeChildrenChanged and NodeDeleted, a persistent
watch on the path for all four, a recursive one on the path or above it for all but
NodeChildrenChanged; each fired one-shot watch removed; a watcher's NodeDeleted once per
delete. Every delivered (path, type) is one of the txn's triggers. removeWatches and
checkWatches answer as the model says (OK / NOWATCHER); the counts match the model; a second
manager fed the same calls gives the same deliveries in the same order.

hypothesis prints the falsifying example and a ``@reproduce_failure`` line; ``pytest
--hypothesis-seed=N`` replays a whole run.
"""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.tree_harness import Multi, Zk
from zmqzab.tree.acl import OPEN_ACL_UNSAFE
from zmqzab.tree.errors import Code
from zmqzab.tree.paths import ROOT, parent_of
from zmqzab.tree.requests import CreateMode, CreateRequest, DeleteRequest, OpCode, SetDataRequest
from zmqzab.tree.watches import WatchManager
from zmqzab.zk.opcodes import AddWatchMode, EventType, WatcherType

pytestmark = [pytest.mark.zk]

WATCHERS = (1, 2, 3)
PATHS = ("/", "/a", "/b", "/a/x", "/a/y", "/a/x/z", "/b/x")
DATA_EVENTS = {EventType.NodeCreated, EventType.NodeDeleted, EventType.NodeDataChanged}
CHILD_EVENTS = {EventType.NodeChildrenChanged, EventType.NodeDeleted}


def ancestors_or_self(path: str) -> list[str]:
    out = [path]
    while path != ROOT:
        path = parent_of(path)
        out.append(path)
    return out


class Model:
    """ZooKeeper's watch rules as plain sets of live watches."""

    def __init__(self) -> None:
        self.data: set[tuple[int, str]] = set()  # one-shot getData / exists
        self.child: set[tuple[int, str]] = set()  # one-shot getChildren
        self.persistent: set[tuple[int, str]] = set()
        self.recursive: set[tuple[int, str]] = set()

    def fire(self, triggers) -> Counter:
        out: Counter = Counter()
        deleted_got: set[int] = set()
        for t in triggers:
            ev = EventType(int(t.event))
            got = set()
            if t.table.value == "data":
                got |= {w for (w, p) in self.data if p == t.path}
                self.data -= {(w, t.path) for w in got}
                got |= {w for (w, p) in self.persistent if p == t.path}
                got |= {w for (w, p) in self.recursive if p in ancestors_or_self(t.path)}
                if ev is EventType.NodeDeleted:
                    deleted_got = set(got)
            else:
                one_shot = {w for (w, p) in self.child if p == t.path}
                self.child -= {(w, t.path) for w in one_shot}
                got = one_shot | {w for (w, p) in self.persistent if p == t.path}
                if ev is EventType.NodeDeleted:
                    got -= deleted_got
            for w in got:
                out[(w, ev, t.path)] += 1
        return out

    def remove(self, w: int, path: str, wtype: int) -> Code:
        key = (w, path)
        if wtype == WatcherType.Data:
            sets = [self.data]
        elif wtype == WatcherType.Children:
            sets = [self.child]
        else:
            sets = [self.data, self.child, self.persistent, self.recursive]
        hit = any(key in s for s in sets)
        for s in sets:
            s.discard(key)
        return Code.OK if hit else Code.NOWATCHER

    def close(self, w: int) -> None:
        for s in (self.data, self.child, self.persistent, self.recursive):
            s -= {k for k in s if k[0] == w}

    def data_table(self) -> set[tuple[int, str]]:
        """What ZooKeeper's data WatchManager holds: (watcher, path) pairs of any mode."""
        return self.data | self.persistent | self.recursive

    def count(self) -> int:
        return len(self.data_table()) + len(self.child | self.persistent)


def writes():
    path = st.sampled_from(PATHS[1:])
    create = st.builds(lambda p, f: ("write", OpCode.create, CreateRequest(p, b"", OPEN_ACL_UNSAFE, f)), path,
                       st.sampled_from((0, 0, CreateMode.EPHEMERAL, CreateMode.PERSISTENT_SEQUENTIAL)))
    delete = st.builds(lambda p: ("write", OpCode.delete, DeleteRequest(p, -1)), path)
    set_data = st.builds(lambda p: ("write", OpCode.setData, SetDataRequest(p, b"d", -1)), st.sampled_from(PATHS))
    single = st.one_of(create, create, create, delete, set_data, set_data)
    multi = st.builds(lambda ops: ("write", OpCode.multi, Multi(*[(o[1], o[2]) for o in ops])),
                      st.lists(single, min_size=1, max_size=3))
    return st.one_of(single, single, single, multi)


def watch_ops():
    w = st.sampled_from(WATCHERS)
    p = st.sampled_from(PATHS)
    read = st.builds(lambda w, op, p: ("read", w, op, p), w,
                     st.sampled_from((OpCode.getData, OpCode.exists, OpCode.getChildren, OpCode.getChildren2)), p)
    add = st.builds(lambda w, m, p: ("add", w, m, p), w,
                    st.sampled_from((AddWatchMode.PERSISTENT, AddWatchMode.PERSISTENT_RECURSIVE)), p)
    remove = st.builds(lambda w, t, p: ("remove", w, t, p), w,
                       st.sampled_from((WatcherType.Data, WatcherType.Children, WatcherType.Any)), p)
    close = st.builds(lambda w: ("close", w), w)
    return st.one_of(read, read, read, add, remove, close)


ops_strategy = st.lists(st.one_of(writes(), watch_ops()), min_size=20, max_size=100)

#: Every run starts with /a, /b and /a/x, so that the random ops find nodes to act on.
PREAMBLE = [("write", OpCode.create, CreateRequest(p, b"", OPEN_ACL_UNSAFE, 0)) for p in ("/a", "/b", "/a/x")]


@settings(max_examples=200, deadline=None)
@given(ops_strategy)
def test_watch_events_match_the_model_of_zookeepers_rules(ops):
    zk = Zk()
    wm, twin, model = WatchManager(), WatchManager(), Model()
    for op in PREAMBLE + ops:
        kind = op[0]
        if kind == "write":
            _, opcode, request = op
            result = zk.do(opcode, request)
            triggers = result.triggers
            got = wm.fire(triggers)
            assert twin.fire(triggers) == got, "the same calls gave another order"
            expected = model.fire(triggers)
            delivered = Counter((w, e.type, e.path) for w, e in got)
            assert delivered == expected, f"after {op}: delivered {delivered}, the model says {expected}"
            changed = {(t.path, int(t.event)) for t in triggers}
            assert all((e.path, int(e.type)) in changed for _, e in got), "an event for a change that did not happen"
        elif kind == "read":
            _, w, opcode, path = op
            code = Code.OK if zk.tree.node(path) is not None else Code.NONODE
            for m in (wm, twin):
                m.register(w, opcode, path, code)
            if opcode == OpCode.exists or code == Code.OK:
                (model.child if opcode in (OpCode.getChildren, OpCode.getChildren2) else model.data).add((w, path))
        elif kind == "add":
            _, w, mode, path = op
            for m in (wm, twin):
                m.add_watch(w, path, mode)
            (model.persistent if mode == AddWatchMode.PERSISTENT else model.recursive).add((w, path))
        elif kind == "remove":
            _, w, wtype, path = op
            assert wm.check_watches(w, path, wtype) == twin.check_watches(w, path, wtype)
            before = wm.check_watches(w, path, wtype)
            code = wm.remove_watches(w, path, wtype)
            twin.remove_watches(w, path, wtype)
            assert code == model.remove(w, path, wtype), f"removeWatches {op}"
            assert before == code, "checkWatches and removeWatches disagree"
            assert wm.check_watches(w, path, wtype) == Code.NOWATCHER
        else:
            _, w = op
            for m in (wm, twin):
                m.remove_watcher(w)
            model.close(w)
            assert w not in wm.watchers()
        assert wm.watch_count() == model.count()
        assert wm.recursive_watch_count() == len(model.recursive)
        watched = model.data_table() | model.child
        assert wm.path_counts() == Counter(p for _, p in watched)
        data_pairs = model.data_table()
        assert wm.summary().total == len(data_pairs)
        assert wm.summary().connections == len({w for w, _ in data_pairs})
        assert wm.summary().paths == len({p for _, p in data_pairs})
        assert {(w, p) for w, ps in wm.by_watcher().items() for p in ps} == data_pairs
        assert {(w, p) for p, ws in wm.by_path().items() for w in ws} == data_pairs



@settings(max_examples=200, deadline=None)
@given(st.lists(writes(), max_size=30), st.lists(writes(), max_size=30))
def test_setwatches_on_reconnect_fires_what_a_connected_watch_would_have(before, after):
    """Goal: a client that reconnects with setWatches hears of what changed while it was away,
    as if it had stayed. Setup: random writes; at zxid Z one-shot watches are set, each kind by
    its own watcher so that events tell the kinds apart: a data and a child watch on every
    existing path, an exist watch on every missing one. One copy stays connected (fires as the
    random writes after Z apply), the other reconnects at the end with setWatches(Z). Faults:
    none. Expected: for data and child watches, the reconnect fires a path iff the connected
    watch fired on it (the event may differ: a delete and re-create reads as NodeDataChanged,
    as in ZooKeeper); an exist watch fires on reconnect only if the connected one fired too (a
    create then delete while away is lost, as in ZooKeeper); what did not fire is set again."""
    zk = Zk()
    for _, opcode, request in PREAMBLE + before:
        zk.do(opcode, request)
    z = zk.zxid
    present = [p for p in PATHS if zk.tree.node(p) is not None]
    missing = [p for p in PATHS if zk.tree.node(p) is None]

    def watch(manager: WatchManager) -> list:
        return (manager.set_watches(zk.tree, "data", z, data=present)
                + manager.set_watches(zk.tree, "exist", z, exist=missing)
                + manager.set_watches(zk.tree, "child", z, child=present))

    stayed = WatchManager()
    assert watch(stayed) == [], "nothing changed since Z yet"
    fired: dict[str, set[str]] = {"data": set(), "exist": set(), "child": set()}
    for _, opcode, request in after:
        for w, e in stayed.fire(zk.do(opcode, request).triggers):
            fired[w].add(e.path)
    back = WatchManager()
    got: dict[str, set[str]] = {"data": set(), "exist": set(), "child": set()}
    for w, e in watch(back):
        got[w].add(e.path)
    assert got["data"] == fired["data"], f"data watches: reconnect fired {got['data']}, connected {fired['data']}"
    assert got["child"] == fired["child"], f"child watches: reconnect {got['child']}, connected {fired['child']}"
    assert got["exist"] <= fired["exist"], f"exist watches: reconnect {got['exist']}, connected {fired['exist']}"
    assert back.watch_count() == 2 * len(present) + len(missing) - sum(len(s) for s in got.values())
