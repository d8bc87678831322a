"""The watches one node keeps for the clients connected to it (ZooKeeper's ``WatchManager``).

Theory of operation. Watches are not replicated (ARCHITECTURE.md section 9): each node holds
the watches of its own connections and fires them when it applies a txn, from the ``Trigger``s
the tree's apply returns (zmqzab/tree/events.py), before it sends any reply that shows the new
state. Like ZooKeeper's ``DataTree`` it keeps two tables, each one ``WatchManager``:

* the DATA table: getData and exists watches (an exists on a missing node too: that is how a
  client waits for a create), and the data side of addWatch's persistent watches;
* the CHILD table: getChildren / getChildren2 watches, and the child side of PERSISTENT.

A watch is (watcher, path) with a set of modes, ZooKeeper's ``WatchStats`` flags: STANDARD
(one-shot), PERSISTENT, PERSISTENT_RECURSIVE. One watcher may hold several modes on one path
(ZOOKEEPER-4466, in ZooKeeper's current code: a getData watch beside a persistent one; the
one-shot part goes when it fires, the persistent part stays; releases before it kept one mode
per path, the last one set). ``DataTree.addWatch`` puts PERSISTENT in both tables and
PERSISTENT_RECURSIVE in the DATA table only, so a recursive watch never gets
NodeChildrenChanged: it gets NodeCreated / NodeDeleted / NodeDataChanged of the node and of
every node below it.

Firing one trigger (``WatchManager.triggerWatch``): the watches on the trigger's path fire,
whatever their mode (STANDARD ones are removed); then, walking up the parents to "/", the
PERSISTENT_RECURSIVE watches there fire too. A watcher gets at most one event per trigger
(ZooKeeper collects the watchers in a set). A delete fires the DATA table's NodeDeleted first
and then the CHILD table's NodeDeleted on the same path, suppressing the watchers the first
one reached (``deleteNode``'s ``processed``), so a client with both a data and a child watch
on the node hears of its deletion once; both one-shot watches are consumed.

Order. ZooKeeper fires from hash sets; here the order is fixed so that the simulator replays a
seed exactly: triggers in the order apply returned them; within one, the watchers on the path
in the order they registered, then those on the parents, nearest first.

Watchers are opaque hashable keys the caller chooses (a connection, a session id). Nothing
here writes to a socket: ``fire`` and ``set_watches`` return ``(watcher, WatchEvent)`` pairs
for the caller to send as WatcherEvent notifications (xid -1, its ReplyHeader zxid -1).

The caller's part (ZooKeeper does it in ``FinalRequestProcessor`` and ``ServerCnxn``):
register a read's watch only when the read answered as ``register`` expects (after its ACL
check passed); call ``remove_watcher`` when a connection closes, its session closes or expires,
or the session moves to another node, before it could register anything again (ZooKeeper's
``isDeadWatcher`` guards that race on its threads; one loop needs no guard). ZooKeeper (3.8.4,
3.9.2 on) also drops an event its watcher may not READ (CVE-2024-23944, recursive watches below
a node with a closed ACL): ``fire``'s ``may_read`` is that check; the caller knows the watcher's auth ids and
the ACL the node had (a deleted node's ACL is gone from the tree by then).

How a node plugs it in (one ``WatchManager`` per node, beside its tree):

* a read with its watch flag: answer it, then ``register(watcher, opcode, path, code)``;
* addWatch: ``add_watch`` and answer OK; removeWatches / checkWatches: answer the ``Code``
  returned; setWatches / setWatches2 (xid -8): ``set_watches`` with the tree as applied, send
  its events, then the empty reply;
* each applied txn (closeSession's ephemeral deletes too): ``fire(result.triggers)`` and send
  the notifications before any reply that shows the txn;
* a connection or session gone or moved: ``remove_watcher``;
* wchs / wchc / wchp and mntr's zk_watch_count: ``summary``, ``by_watcher``, ``by_path``,
  ``watch_count`` (the caller maps a watcher to its session id).

Pure: no I/O, clock, threads or randomness.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from enum import IntFlag

from msgspec import Struct

from zmqzab.tree.errors import Code
from zmqzab.tree.events import Trigger, WatchTable
from zmqzab.tree.paths import ROOT, parent_of
from zmqzab.tree.tree import DataTree
from zmqzab.zk.opcodes import AddWatchMode, EventType, KeeperState, OpCode, WatcherType

Watcher = Hashable

#: ``Watcher.WatcherType`` values ZooKeeper's current code has beside Children (1), Data (2) and Any
#: (3), for removeWatches / checkWatches of one persistent mode; zk/opcodes.py names the first
#: three only, so these two are accepted as numbers.
WATCHER_TYPE_PERSISTENT = 4
WATCHER_TYPE_PERSISTENT_RECURSIVE = 5


class WatchMode(IntFlag):
    """ZooKeeper's ``WatcherMode`` as ``WatchStats`` flags: the modes one watcher holds on one
    path of one table."""

    STANDARD = 1
    PERSISTENT = 2
    PERSISTENT_RECURSIVE = 4


ALL_MODES = WatchMode.STANDARD | WatchMode.PERSISTENT | WatchMode.PERSISTENT_RECURSIVE


class WatchEvent(Struct, frozen=True, gc=False, array_like=True):
    """``WatchedEvent``: what a WatcherEvent notification carries (type, state, path), and the
    zxid of the txn that fired it (-1 when ``set_watches`` found the change, as ZooKeeper's
    WatchedEvent without a zxid)."""

    type: EventType
    state: KeeperState
    path: str
    zxid: int = -1


Delivery = tuple[Watcher, WatchEvent]


class WatchSummary(Struct, frozen=True, gc=False):
    """``WatchesSummary``, what the ``wchs`` word prints: "{connections} connections watching
    {paths} paths" and "Total watches:{total}"."""

    connections: int
    paths: int
    total: int


def path_and_parents(path: str) -> Iterator[str]:
    """``PathParentIterator.forAll``: ``path``, then its parents up to "/" (nearest first)."""
    yield path
    while path != ROOT:
        path = parent_of(path)
        yield path


class _Table:
    """One of ZooKeeper's two ``WatchManager``s: path -> watcher -> modes, and the reverse."""

    def __init__(self) -> None:
        self.by_path: dict[str, dict[Watcher, WatchMode]] = {}
        self.by_watcher: dict[Watcher, dict[str, WatchMode]] = {}
        #: How many (watcher, path) hold PERSISTENT_RECURSIVE: with none, a trigger need not
        #: walk up the parents (ZooKeeper's recursiveWatchQty).
        self.recursive = 0

    def add(self, path: str, watcher: Watcher, mode: WatchMode) -> bool:
        """True if the watcher did not hold ``mode`` on ``path`` yet."""
        modes = self.by_watcher.setdefault(watcher, {})
        held = modes.get(path, WatchMode(0))
        if held & mode:
            return False
        modes[path] = held | mode
        self.by_path.setdefault(path, {})[watcher] = held | mode
        if mode is WatchMode.PERSISTENT_RECURSIVE:
            self.recursive += 1
        return True

    def modes(self, path: str, watcher: Watcher) -> WatchMode:
        return self.by_watcher.get(watcher, {}).get(path, WatchMode(0))

    def _set(self, path: str, watcher: Watcher, modes: WatchMode) -> None:
        if modes:
            self.by_watcher[watcher][path] = modes
            self.by_path[path][watcher] = modes
            return
        mine = self.by_watcher[watcher]
        del mine[path]
        if not mine:
            del self.by_watcher[watcher]
        on_path = self.by_path[path]
        del on_path[watcher]
        if not on_path:
            del self.by_path[path]

    def remove(self, path: str, watcher: Watcher, mode: WatchMode | None) -> bool:
        """``removeWatcher(path, watcher, mode)``: drop ``mode`` (None: every mode). True if
        something was removed."""
        held = self.modes(path, watcher)
        if not held:
            return False
        drop = held if mode is None else held & mode
        if not drop:
            return False
        if drop & WatchMode.PERSISTENT_RECURSIVE:
            self.recursive -= 1
        self._set(path, watcher, held & ~drop)
        return True

    def remove_watcher(self, watcher: Watcher) -> None:
        for path in list(self.by_watcher.get(watcher, ())):
            self.remove(path, watcher, None)

    def trigger(self, path: str) -> list[Watcher]:
        """``triggerWatch``'s collection: the watchers this trigger reaches, each once, in a
        fixed order; their STANDARD mode on ``path`` is consumed."""
        reached: dict[Watcher, None] = {}
        on_path = self.by_path.get(path)
        if on_path:
            for watcher, modes in list(on_path.items()):
                reached[watcher] = None
                if modes & WatchMode.STANDARD:
                    self._set(path, watcher, modes & ~WatchMode.STANDARD)
        if self.recursive and path != ROOT:
            parents = path_and_parents(path)
            next(parents)
            for parent in parents:
                for watcher, modes in self.by_path.get(parent, {}).items():
                    if modes & WatchMode.PERSISTENT_RECURSIVE:
                        reached.setdefault(watcher, None)
        return list(reached)

    def count(self) -> int:
        """``size()``: (watcher, path) pairs held."""
        return sum(len(w) for w in self.by_path.values())


class WatchManager:
    """A node's watches: ZooKeeper's ``DataTree`` halves that hold ``dataWatches`` and
    ``childWatches``, and the requests that touch them."""

    def __init__(self) -> None:
        self.data = _Table()
        self.child = _Table()

    # ------------------------------------------------------------ registration

    def add_data_watch(self, watcher: Watcher, path: str) -> bool:
        """A one-shot data watch (getData, exists)."""
        return self.data.add(path, watcher, WatchMode.STANDARD)

    def add_child_watch(self, watcher: Watcher, path: str) -> bool:
        """A one-shot child watch (getChildren, getChildren2)."""
        return self.child.add(path, watcher, WatchMode.STANDARD)

    def add_watch(self, watcher: Watcher, path: str, mode: int) -> bool:
        """addWatch (``DataTree.addWatch``): PERSISTENT watches data and children of ``path``;
        PERSISTENT_RECURSIVE data of ``path`` and everything below it. The request answers OK
        whether the node exists or not, and whether the watch was there already."""
        if mode == AddWatchMode.PERSISTENT:
            added = self.data.add(path, watcher, WatchMode.PERSISTENT)
            return self.child.add(path, watcher, WatchMode.PERSISTENT) or added
        if mode == AddWatchMode.PERSISTENT_RECURSIVE:
            return self.data.add(path, watcher, WatchMode.PERSISTENT_RECURSIVE)
        raise ValueError(f"addWatch mode {mode!r} is not one of ZooDefs.AddWatchModes "
                         f"({AddWatchMode.PERSISTENT:d} PERSISTENT, {AddWatchMode.PERSISTENT_RECURSIVE:d} "
                         "PERSISTENT_RECURSIVE); the request must be refused before it gets here")

    def register(self, watcher: Watcher, opcode: int, path: str, code: int) -> bool:
        """The watch a read with its watch flag set leaves, given the ``Code`` it answered: a
        getData or getChildren(2) that failed leaves none (NONODE, NOAUTH: ZooKeeper throws
        before it adds the watch); an exists leaves a data watch when it answered OK or NONODE
        (``statNode`` adds the watch before it looks the node up). True if one was added."""
        if opcode == OpCode.exists:
            if code in (Code.OK, Code.NONODE):
                return self.add_data_watch(watcher, path)
            return False
        if code != Code.OK:
            return False
        if opcode == OpCode.getData:
            return self.add_data_watch(watcher, path)
        if opcode in (OpCode.getChildren, OpCode.getChildren2):
            return self.add_child_watch(watcher, path)
        raise ValueError(f"opcode {opcode!r} sets no watch: only exists, getData, getChildren and getChildren2 do")

    # ------------------------------------------------------------ firing

    def fire(self, triggers: Iterable[Trigger],
             may_read: Callable[[Watcher, Trigger], bool] | None = None) -> list[Delivery]:
        """The notifications an applied txn's ``triggers`` cause, in order (see the module's
        docstring). ``may_read(watcher, trigger)`` False drops that watcher's event (the
        watch is consumed all the same, as in ZooKeeper, where the ACL check comes after)."""
        out: list[Delivery] = []
        # deleteNode's "processed": who got NodeDeleted of this path from the DATA table.
        deleted_path: str | None = None
        deleted_zxid = 0
        deleted_reached: set[Watcher] = set()
        for trig in triggers:
            table = self.data if trig.table is WatchTable.DATA else self.child
            reached = table.trigger(trig.path)
            event_type = EventType(int(trig.event))
            suppress: set[Watcher] = set()
            if event_type is EventType.NodeDeleted:
                if trig.table is WatchTable.DATA:
                    deleted_path, deleted_zxid, deleted_reached = trig.path, trig.zxid, set(reached)
                elif trig.path == deleted_path and trig.zxid == deleted_zxid:
                    suppress = deleted_reached
            event = WatchEvent(event_type, KeeperState.SyncConnected, trig.path, trig.zxid)
            for watcher in reached:
                if watcher in suppress:
                    continue
                if may_read is not None and not may_read(watcher, trig):
                    continue
                out.append((watcher, event))
        return out

    # ------------------------------------------------------------ removal

    def _targets(self, watcher_type: int) -> list[tuple[_Table, WatchMode | None]]:
        match int(watcher_type):
            case WatcherType.Children:
                return [(self.child, WatchMode.STANDARD)]
            case WatcherType.Data:
                return [(self.data, WatchMode.STANDARD)]
            case WatcherType.Any:
                return [(self.child, None), (self.data, None)]
            case 4:  # WATCHER_TYPE_PERSISTENT
                return [(self.child, WatchMode.PERSISTENT), (self.data, WatchMode.PERSISTENT)]
            case 5:  # WATCHER_TYPE_PERSISTENT_RECURSIVE
                return [(self.data, WatchMode.PERSISTENT_RECURSIVE)]
        raise ValueError(f"watcher type {watcher_type!r} is not a Watcher.WatcherType "
                         "(1 Children, 2 Data, 3 Any, 4 Persistent, 5 PersistentRecursive)")

    def remove_watches(self, watcher: Watcher, path: str, watcher_type: int) -> Code:
        """removeWatches (``DataTree.removeWatch``): OK if a watch of that type went, else
        NOWATCHER (KeeperException.NoWatcherException). Children and Data remove the one-shot
        watch only (as ZooKeeper's current code; releases before ZOOKEEPER-4466 removed the
        table's watch whatever its mode); Any removes every mode, persistent ones too. ZooKeeper sends no event for
        it: the client raises DataWatchRemoved / ChildWatchRemoved itself on OK."""
        removed = False
        for table, mode in self._targets(watcher_type):
            removed = table.remove(path, watcher, mode) or removed
        return Code.OK if removed else Code.NOWATCHER

    def check_watches(self, watcher: Watcher, path: str, watcher_type: int) -> Code:
        """checkWatches (``DataTree.containsWatcher``): OK if the watcher holds a watch of that
        type on ``path``, else NOWATCHER; nothing changes."""
        held = any(table.modes(path, watcher) & (ALL_MODES if mode is None else mode)
                   for table, mode in self._targets(watcher_type))
        return Code.OK if held else Code.NOWATCHER

    def remove_watcher(self, watcher: Watcher) -> None:
        """``DataTree.removeCnxn``: every watch of ``watcher`` goes (its connection closed, its
        session closed or expired, or it moved to another node)."""
        self.data.remove_watcher(watcher)
        self.child.remove_watcher(watcher)

    # ------------------------------------------------------------ reconnect

    def set_watches(self, tree: DataTree, watcher: Watcher, relative_zxid: int,
                    data: Sequence[str] | None = (), exist: Sequence[str] | None = (),
                    child: Sequence[str] | None = (), persistent: Sequence[str] | None = (),
                    persistent_recursive: Sequence[str] | None = ()) -> list[Delivery]:
        """setWatches / setWatches2 (``DataTree.setWatches``): a client reconnects with the
        watches it held and the last zxid it saw. A watch whose change happened meanwhile fires
        at once (returned, in the order of the lists) instead of being set; the others are set:

        * data: node gone -> NodeDeleted; mzxid > relative_zxid -> NodeDataChanged;
        * exist: node there now -> NodeCreated;
        * child: node gone -> NodeDeleted; pzxid > relative_zxid -> NodeChildrenChanged;
        * persistent and persistent_recursive: set again, no event (what changed while the
          client was away is lost to them, as in ZooKeeper).

        A list may be None (jute's null vector, as the SetWatches record decodes it): none.
        """
        out: list[Delivery] = []

        def now(event_type: EventType, path: str) -> None:
            out.append((watcher, WatchEvent(event_type, KeeperState.SyncConnected, path)))

        for path in data or ():
            n = tree.node(path)
            if n is None:
                now(EventType.NodeDeleted, path)
            elif n.mzxid > relative_zxid:
                now(EventType.NodeDataChanged, path)
            else:
                self.data.add(path, watcher, WatchMode.STANDARD)
        for path in exist or ():
            if tree.node(path) is not None:
                now(EventType.NodeCreated, path)
            else:
                self.data.add(path, watcher, WatchMode.STANDARD)
        for path in child or ():
            n = tree.node(path)
            if n is None:
                now(EventType.NodeDeleted, path)
            elif n.pzxid > relative_zxid:
                now(EventType.NodeChildrenChanged, path)
            else:
                self.child.add(path, watcher, WatchMode.STANDARD)
        for path in persistent or ():
            self.add_watch(watcher, path, AddWatchMode.PERSISTENT)
        for path in persistent_recursive or ():
            self.add_watch(watcher, path, AddWatchMode.PERSISTENT_RECURSIVE)
        return out

    # ------------------------------------------------------------ the four-letter words

    def summary(self) -> WatchSummary:
        """``wchs``: ZooKeeper's ``DataTree.getWatchesSummary`` reads the DATA table only (child
        watches are not in it; ``watch_count`` has both)."""
        t = self.data
        return WatchSummary(len(t.by_watcher), len(t.by_path), sum(len(p) for p in t.by_watcher.values()))

    def by_watcher(self) -> dict[Watcher, list[str]]:
        """``wchc``: watcher -> its watched paths (DATA table, as ZooKeeper's getWatches)."""
        return {w: list(paths) for w, paths in self.data.by_watcher.items()}

    def by_path(self) -> dict[str, list[Watcher]]:
        """``wchp``: path -> its watchers (DATA table, as ZooKeeper's getWatchesByPath)."""
        return {p: list(ws) for p, ws in self.data.by_path.items()}

    def watch_count(self) -> int:
        """``DataTree.getWatchCount``: both tables' (watcher, path) pairs; mntr's zk_watch_count."""
        return self.data.count() + self.child.count()

    def path_counts(self) -> dict[str, int]:
        """Path -> how many watchers watch it in either table (for the live view's tree; a
        watcher with a data and a child watch on a path counts once)."""
        out: dict[str, int] = {}
        for path in dict.fromkeys([*self.data.by_path, *self.child.by_path]):
            out[path] = len(self.data.by_path.get(path, {}).keys() | self.child.by_path.get(path, {}).keys())
        return out

    def recursive_watch_count(self) -> int:
        """``getRecursiveWatchQty``: PERSISTENT_RECURSIVE watches held (while there are none, a
        trigger does not walk up the parents)."""
        return self.data.recursive

    def watchers(self) -> set[Watcher]:
        """Every watcher holding a watch in either table."""
        return set(self.data.by_watcher) | set(self.child.by_watcher)
