"""The tree to bytes and back: deterministic, so equal trees give equal bytes.

Nodes are written parents first, each parent's children in creation order (``DataTree.walk``):
loading them in that order rebuilds every parent's children in the same order, so a replica
restored from a snapshot (SNAP, or recovery from disk) lists children as the others do, and its
own snapshot is the same bytes. ACLs are written once each in a table (ZooKeeper's
``ReferenceCountedACLCache`` does the same in its snapshots) and nodes name them by index.
The ephemerals by session and the containers are rebuilt from each node's ephemeralOwner.

Sessions are not here: they are zmqzab/tree/sessions.py's, and the host's snapshot holds both.
"""

from __future__ import annotations

import msgspec
from msgspec import Struct

from zmqzab.tree.acl import ACL
from zmqzab.tree.limits import DATA_MAX_BYTES
from zmqzab.tree.paths import ROOT, name_of, parent_of, path_problem
from zmqzab.tree.stat import is_container, is_ephemeral
from zmqzab.tree.tree import DataNode, DataTree

FORMAT = 1


class SnapNode(Struct, frozen=True, gc=False, array_like=True):
    path: str
    data: bytes | None
    acl: int  # index into TreeSnapshot.acls
    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeral_owner: int
    pzxid: int


class TreeSnapshot(Struct, frozen=True, array_like=True):
    format: int
    acls: tuple[tuple[ACL, ...], ...]
    nodes: tuple[SnapNode, ...]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(TreeSnapshot)


class SnapshotError(ValueError):
    """Bytes that are not a tree snapshot this version can load (a remote or disk error)."""


def to_snapshot(tree: DataTree) -> TreeSnapshot:
    acl_index: dict[tuple[ACL, ...], int] = {}
    nodes = []
    for path in tree.walk():
        n = tree.nodes[path]
        idx = acl_index.setdefault(n.acl, len(acl_index))
        nodes.append(SnapNode(path, n.data, idx, n.czxid, n.mzxid, n.ctime, n.mtime, n.version,
                              n.cversion, n.aversion, n.ephemeral_owner, n.pzxid))
    return TreeSnapshot(FORMAT, tuple(acl_index), tuple(nodes))


def from_snapshot(snap: TreeSnapshot) -> DataTree:
    if snap.format != FORMAT:
        raise SnapshotError(f"tree snapshot format {snap.format}, this version reads {FORMAT}")
    if not snap.nodes or snap.nodes[0].path != ROOT:
        raise SnapshotError("tree snapshot does not start with the root node")
    tree = DataTree()
    tree.nodes.clear()
    for s in snap.nodes:
        if not 0 <= s.acl < len(snap.acls):
            raise SnapshotError(f"node {s.path} names ACL {s.acl} of {len(snap.acls)}")
        if s.path in tree.nodes:
            raise SnapshotError(f"node {s.path} appears twice")
        if problem := path_problem(s.path):
            raise SnapshotError(f"node {s.path!r}: {problem}")
        if s.data is not None and len(s.data) > DATA_MAX_BYTES:
            raise SnapshotError(f"node {s.path} holds {len(s.data)} bytes, over {DATA_MAX_BYTES}")
        if s.path != ROOT:
            parent = tree.nodes.get(parent_of(s.path))
            if parent is None:
                raise SnapshotError(f"node {s.path} comes before its parent")
            parent.children[name_of(s.path)] = None
        n = DataNode(s.data, snap.acls[s.acl], s.czxid, s.ctime, s.ephemeral_owner)
        n.mzxid, n.mtime, n.pzxid = s.mzxid, s.mtime, s.pzxid
        n.version, n.cversion, n.aversion = s.version, s.cversion, s.aversion
        tree.nodes[s.path] = n
        if is_container(s.ephemeral_owner):
            tree.containers[s.path] = None
        elif is_ephemeral(s.ephemeral_owner):
            tree.ephemerals.setdefault(s.ephemeral_owner, {})[s.path] = None
    return tree


def dump(tree: DataTree) -> bytes:
    """The tree as msgpack bytes: equal trees (same nodes, same child order) give equal bytes."""
    return _encoder.encode(to_snapshot(tree))


def load(data: bytes) -> DataTree:
    """A tree from ``dump``'s bytes; ``SnapshotError`` names what is wrong with bad bytes."""
    try:
        snap = _decoder.decode(data)
    except msgspec.DecodeError as e:
        raise SnapshotError(f"not a tree snapshot: {e}") from None
    return from_snapshot(snap)
