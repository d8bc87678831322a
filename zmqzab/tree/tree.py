"""The data tree every replica holds: znodes, and the deterministic apply of the tree's txns.

Theory of operation (ZooKeeper's ``DataTree``): the tree changes only by ``apply(txn, zxid,
time_ms)``, in zxid order, with the zxid and the leader's time of the txn; apply makes no
choice (the leader's prepare, zmqzab/tree/prepare.py, made them all), so replicas that applied
the same txns hold the same tree, byte for byte in ``snapshot.dump``. Apply never raises on a
txn: like ``processTxn`` it reports a refused one in ``TxnResult.err`` and leaves the tree as it
was (a txn that prepare let through and apply refuses is a replay or a bug, the same on every
replica).

What apply returns says what changed: the ``Trigger``s for watches (the node owns the watches,
zmqzab/tree/events.py), the stat a create2 / setData / setACL answers with, the paths deleted.

Pure: no I/O, clock or randomness. Iteration follows insertion order (a child's position in its
parent is the order of creates), which the snapshot keeps.
"""

from __future__ import annotations

from collections.abc import Iterator

from msgspec import Struct

from zmqzab.tree.acl import ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE
from zmqzab.tree.errors import Code
from zmqzab.tree.events import EventType, Trigger, WatchTable
from zmqzab.tree.paths import ROOT, join, name_of, parent_of
from zmqzab.tree.stat import CONTAINER_OWNER, Stat, int32, is_container, is_ephemeral
from zmqzab.tree.txns import (CheckVersionTxn, CreateTxn, DeleteTxn, ErrorTxn, MultiTxn,
                              SetACLTxn, SetDataTxn, SubTxn, TreeTxn)

#: The nodes every ZooKeeper tree starts with (``DataTree``'s constructor): /zookeeper holds
#: the quota subtree and the dynamic config (read-only to clients, ZOOKEEPER-2014).
ZOOKEEPER = "/zookeeper"
QUOTA = "/zookeeper/quota"
CONFIG = "/zookeeper/config"
#: Paths a client may never delete (``DataTree.isSpecialPath``).
SPECIAL_PATHS = (ROOT, ZOOKEEPER, QUOTA, CONFIG)


class DataNode:
    """One znode: data, ACL, ``StatPersisted`` and children (in order of creation)."""

    __slots__ = ("data", "acl", "czxid", "mzxid", "ctime", "mtime", "version", "cversion",
                 "aversion", "ephemeral_owner", "pzxid", "children")

    def __init__(self, data: bytes | None, acl: tuple[ACL, ...], zxid: int, time_ms: int,
                 ephemeral_owner: int) -> None:
        self.data = data
        self.acl = acl
        self.czxid = self.mzxid = self.pzxid = zxid
        self.ctime = self.mtime = time_ms
        self.version = self.cversion = self.aversion = 0
        self.ephemeral_owner = ephemeral_owner
        self.children: dict[str, None] = {}

    def stat(self) -> Stat:
        """``DataNode.copyStat``, the Stat a client sees: the persisted fields plus dataLength
        and numChildren, with ZooKeeper's two rewrites. cversion is kept as the count of child
        creates (the sequential counter) and shown as ``2 * cversion - numChildren``: "for every
        create there is a delete except for the children still present". A container's owner
        marker is shown as 0 (``getClientEphemeralOwner``)."""
        n = len(self.children)
        owner = self.ephemeral_owner
        return Stat(self.czxid, self.mzxid, self.ctime, self.mtime, self.version,
                    int32(2 * self.cversion - n), self.aversion,
                    0 if owner == CONTAINER_OWNER else owner,
                    len(self.data) if self.data is not None else 0, n, self.pzxid)


class TxnResult(Struct, frozen=True, gc=False, array_like=True):
    """``DataTree.ProcessTxnResult``: ``err`` (a ``Code`` value); ``path`` the node the op
    named (a create's resolved name); ``stat`` after a create, setData or setACL; ``results``
    one per op of a multi; ``triggers`` for the watches, in the order ZooKeeper fires them;
    ``deleted`` the paths this txn removed."""

    err: int = 0
    path: str | None = None
    stat: Stat | None = None
    results: tuple[TxnResult, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    deleted: tuple[str, ...] = ()


class DataTree:
    """The replicated znodes. ``apply`` changes them; everything else reads."""

    def __init__(self) -> None:
        self.nodes: dict[str, DataNode] = {}
        #: session id -> its ephemeral paths (insertion order).
        self.ephemerals: dict[int, dict[str, None]] = {}
        self.containers: dict[str, None] = {}
        root = DataNode(b"", OPEN_ACL_UNSAFE, 0, 0, 0)
        self.nodes[ROOT] = root
        # ZooKeeper adds these children directly, without a create: root's cversion stays 0,
        # so the first sequential child of "/" is numbered 0000000000 there as here.
        for path, acl in ((ZOOKEEPER, OPEN_ACL_UNSAFE), (QUOTA, OPEN_ACL_UNSAFE), (CONFIG, READ_ACL_UNSAFE)):
            self.nodes[path] = DataNode(b"", acl, 0, 0, 0)
            self.nodes[parent_of(path)].children[name_of(path)] = None
        self.nodes[CONFIG].aversion = -1  # addConfigNode's setACL(..., -1)

    # ------------------------------------------------------------------ reads

    def node(self, path: str) -> DataNode | None:
        return self.nodes.get(path)

    def stat(self, path: str) -> Stat | None:
        n = self.nodes.get(path)
        return None if n is None else n.stat()

    def get_data(self, path: str) -> tuple[bytes, Stat] | None:
        n = self.nodes.get(path)
        return None if n is None else (n.data, n.stat())

    def get_children(self, path: str) -> list[str] | None:
        n = self.nodes.get(path)
        return None if n is None else list(n.children)

    def get_acl(self, path: str) -> tuple[tuple[ACL, ...], Stat] | None:
        n = self.nodes.get(path)
        return None if n is None else (n.acl, n.stat())

    def all_children_number(self, path: str) -> int:
        """``getAllChildrenNumber``: how many nodes lie below ``path`` (at any depth)."""
        if path == ROOT:
            return len(self.nodes) - 1
        prefix = path + "/"
        return sum(1 for p in self.nodes if p.startswith(prefix))

    def ephemerals_of(self, session_id: int) -> list[str]:
        """The session's ephemeral paths, sorted (``getEphemerals``)."""
        return sorted(self.ephemerals.get(session_id, ()))

    def walk(self, path: str = ROOT) -> Iterator[str]:
        """Every path from ``path`` down, parents before children, children in creation order."""
        stack = [path]
        while stack:
            p = stack.pop()
            yield p
            n = self.nodes[p]
            stack.extend(join(p, c) for c in reversed(n.children))

    def container_candidates(self, now_ms: int, max_never_used_ms: int = 0) -> list[str]:
        """Containers a leader should delete now (``ContainerManager.getCandidates``), sorted:
        empty ones that once had a child (cversion > 0), and, if ``max_never_used_ms`` is set,
        empty ones never used for longer than it. The leader prepares a deleteContainer for
        each (which refuses any that gained a child meanwhile)."""
        out = []
        for path in self.containers:
            n = self.nodes[path]
            if n.children:
                continue
            if n.cversion > 0 or (max_never_used_ms and now_ms - n.mtime > max_never_used_ms):
                out.append(path)
        return sorted(out)

    # ------------------------------------------------------------------ apply

    def apply(self, txn: TreeTxn, zxid: int, time_ms: int) -> TxnResult:
        """``DataTree.processTxn``: apply one committed txn, the same on every replica."""
        if isinstance(txn, MultiTxn):
            return self._apply_multi(txn, zxid, time_ms)
        return self._apply_one(txn, zxid, time_ms)

    def _apply_one(self, txn: SubTxn, zxid: int, time_ms: int) -> TxnResult:
        match txn:
            case CreateTxn():
                return self._create(txn, zxid, time_ms)
            case DeleteTxn(path=path):
                return self._delete(path, zxid)
            case SetDataTxn(path=path, data=data, version=version):
                n = self.nodes.get(path)
                if n is None:
                    return TxnResult(err=Code.NONODE, path=path)
                n.data = data
                n.mtime = time_ms
                n.mzxid = zxid
                n.version = version
                return TxnResult(path=path, stat=n.stat(),
                                 triggers=(Trigger(WatchTable.DATA, path, EventType.NodeDataChanged, zxid),))
            case SetACLTxn(path=path, acl=acl, version=version):
                n = self.nodes.get(path)
                if n is None:
                    return TxnResult(err=Code.NONODE, path=path)
                n.acl = acl
                n.aversion = version
                return TxnResult(path=path, stat=n.stat())
            case CheckVersionTxn(path=path):
                return TxnResult(path=path)
            case ErrorTxn(err=err):
                return TxnResult(err=err)
        raise TypeError(f"not a tree txn: {txn!r}")

    def _create(self, txn: CreateTxn, zxid: int, time_ms: int) -> TxnResult:
        """``DataTree.createNode``."""
        path = txn.path
        parent_path = parent_of(path)
        parent = self.nodes.get(parent_path)
        if parent is None:
            return TxnResult(err=Code.NONODE, path=path)
        if path in self.nodes:
            return TxnResult(err=Code.NODEEXISTS, path=path)
        cversion = txn.parent_cversion if txn.parent_cversion != -1 else parent.cversion + 1
        # Only forward: a replay of a create after a later one must not move them back.
        if cversion > parent.cversion:
            parent.cversion = cversion
            parent.pzxid = zxid
        child = DataNode(txn.data, txn.acl, zxid, time_ms, txn.ephemeral_owner)
        parent.children[name_of(path)] = None
        self.nodes[path] = child
        if is_container(txn.ephemeral_owner):
            self.containers[path] = None
        elif is_ephemeral(txn.ephemeral_owner):
            self.ephemerals.setdefault(txn.ephemeral_owner, {})[path] = None
        return TxnResult(path=path, stat=child.stat(), triggers=(
            Trigger(WatchTable.DATA, path, EventType.NodeCreated, zxid),
            Trigger(WatchTable.CHILD, parent_path, EventType.NodeChildrenChanged, zxid)))

    def _delete(self, path: str, zxid: int) -> TxnResult:
        """``DataTree.deleteNode``: the parent's pzxid moves (forward only), its cversion not."""
        parent_path = parent_of(path)
        parent = self.nodes.get(parent_path)
        n = self.nodes.get(path)
        if parent is None or n is None or path == ROOT:
            return TxnResult(err=Code.NONODE, path=path)
        if n.children:
            # Prepare refuses this (NOTEMPTY); a replica must never orphan a subtree.
            return TxnResult(err=Code.NOTEMPTY, path=path)
        del parent.children[name_of(path)]
        if zxid > parent.pzxid:
            parent.pzxid = zxid
        del self.nodes[path]
        owner = n.ephemeral_owner
        if is_container(owner):
            self.containers.pop(path, None)
        elif is_ephemeral(owner):
            mine = self.ephemerals.get(owner)
            if mine is not None:
                mine.pop(path, None)
                if not mine:
                    del self.ephemerals[owner]
        return TxnResult(path=path, deleted=(path,), triggers=(
            Trigger(WatchTable.DATA, path, EventType.NodeDeleted, zxid),
            Trigger(WatchTable.CHILD, path, EventType.NodeDeleted, zxid),
            Trigger(WatchTable.CHILD, parent_path, EventType.NodeChildrenChanged, zxid)))

    def _apply_multi(self, txn: MultiTxn, zxid: int, time_ms: int) -> TxnResult:
        """All or nothing, with ZooKeeper's codes: when one op is an ErrorTxn, no op applies;
        those before it answer OK (0), it answers its code, those after RUNTIMEINCONSISTENCY
        (prepare wrote them so); the multi's err is the first non-zero one."""
        failed = any(isinstance(t, ErrorTxn) for t in txn.txns)
        results: list[TxnResult] = []
        triggers: list[Trigger] = []
        deleted: list[str] = []
        post_failed = False
        err = 0
        for sub in txn.txns:
            if isinstance(sub, ErrorTxn):
                post_failed = True
            elif failed:
                sub = ErrorTxn(Code.RUNTIMEINCONSISTENCY if post_failed else Code.OK)
            r = self._apply_one(sub, zxid, time_ms)
            results.append(r)
            triggers.extend(r.triggers)
            deleted.extend(r.deleted)
            if r.err and not err:
                err = r.err
        return TxnResult(err=err, results=tuple(results), triggers=tuple(triggers), deleted=tuple(deleted))

    def delete_ephemerals(self, session_id: int, zxid: int, paths: list[str] | None = None) -> TxnResult:
        """What a closeSession txn does to the tree (``DataTree.killSession``): delete the
        session's ephemerals. ``paths`` are the ones the leader listed in the txn (ZooKeeper's
        CloseSessionTxn.paths2Delete, from ``Preparer.close_session``); None: every ephemeral
        the session holds here. Sorted, so every replica fires the triggers in one order."""
        todo = sorted(self.ephemerals.get(session_id, ())) if paths is None else sorted(paths)
        triggers: list[Trigger] = []
        deleted: list[str] = []
        for path in todo:
            n = self.nodes.get(path)
            if n is None or n.ephemeral_owner != session_id:
                continue  # gone already, or not this session's: nothing to do
            r = self._delete(path, zxid)
            triggers.extend(r.triggers)
            deleted.extend(r.deleted)
        return TxnResult(triggers=tuple(triggers), deleted=tuple(deleted))
