"""The reads of the tree, with the checks ZooKeeper makes (``FinalRequestProcessor``).

A read is served by the node a client is connected to, from its own tree, without the log;
each function returns ``(Code, value)``, the value None unless the code is OK. The order of
the checks is ZooKeeper's: the node (NONODE), then the ACL (NOAUTH). ``exists`` checks no ACL;
``getACL`` needs READ or ADMIN, and without ADMIN the digest ids come back with their hash
replaced by "x" (ZooKeeper redacts the password hashes so; ZOOKEEPER-1392).

Watches are not set here: the node sets them (an exists watch even on a missing node, as
ZooKeeper does) and keeps them.
"""

from __future__ import annotations

from collections.abc import Sequence

from zmqzab.tree.acl import ACL, Id, Perms, check_acl
from zmqzab.tree.errors import Code
from zmqzab.tree.stat import Stat
from zmqzab.tree.tree import DataNode, DataTree


def _readable(tree: DataTree, path: str, perm: int, auth_ids: Sequence[Id]) -> tuple[Code, DataNode | None]:
    n = tree.node(path) if isinstance(path, str) else None
    if n is None:
        return Code.NONODE, None
    if not check_acl(n.acl, perm, auth_ids):
        return Code.NOAUTH, None
    return Code.OK, n


def exists(tree: DataTree, path: str) -> tuple[Code, Stat | None]:
    """``exists``: the stat, or NONODE (a client reads that as "no node", not an error)."""
    n = tree.node(path) if isinstance(path, str) else None
    return (Code.NONODE, None) if n is None else (Code.OK, n.stat())


def get_data(tree: DataTree, path: str, auth_ids: Sequence[Id]) -> tuple[Code, tuple[bytes, Stat] | None]:
    code, n = _readable(tree, path, Perms.READ, auth_ids)
    return (code, None) if n is None else (code, (n.data, n.stat()))


def get_children(tree: DataTree, path: str, auth_ids: Sequence[Id]) -> tuple[Code, tuple[list[str], Stat] | None]:
    """``getChildren`` and ``getChildren2`` (the latter answers the stat too)."""
    code, n = _readable(tree, path, Perms.READ, auth_ids)
    return (code, None) if n is None else (code, (list(n.children), n.stat()))


def get_all_children_number(tree: DataTree, path: str, auth_ids: Sequence[Id]) -> tuple[Code, int | None]:
    code, n = _readable(tree, path, Perms.READ, auth_ids)
    return (code, None) if n is None else (code, tree.all_children_number(path))


def _redact(ident: str) -> str:
    """Java's ``id.replaceAll(":.*", ":x")``: the hash after the first colon becomes "x"."""
    user, colon, _ = ident.partition(":")
    return user + ":x" if colon else ident


def get_acl(tree: DataTree, path: str, auth_ids: Sequence[Id]) -> tuple[Code, tuple[tuple[ACL, ...], Stat] | None]:
    code, n = _readable(tree, path, Perms.READ | Perms.ADMIN, auth_ids)
    if n is None:
        return code, None
    acl = n.acl
    if not check_acl(acl, Perms.ADMIN, auth_ids):
        acl = tuple(ACL(a.perms, Id("digest", _redact(a.id.id))) if a.id.scheme == "digest" else a for a in acl)
    return Code.OK, (acl, n.stat())


def get_ephemerals(tree: DataTree, session_id: int, prefix: str | None) -> tuple[Code, list[str]]:
    """``getEphemerals``: the session's ephemeral paths that start with ``prefix`` ("" or "/":
    or None: all of them; ZooKeeper trims it), sorted. No ACL check, as in ZooKeeper: they are the session's own."""
    paths = tree.ephemerals_of(session_id)
    prefix = prefix.strip() if isinstance(prefix, str) else ""
    if prefix not in ("", "/"):
        paths = [p for p in paths if p.startswith(prefix)]
    return Code.OK, paths
