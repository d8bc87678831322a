"""The live view's picture of the data tree and the sessions: the "tree" and "sessions" parts of
a node's ``/status["zk"]`` (the page's ZooKeeper panel draws them).

Pure (a function of the replicated tree, the sessions table and counts the node hands in), and
bounded, because the status is rebuilt every tick and streamed to every open page:

* the tree lists at most ``limit`` znodes (``TREE_VIEW_LIMIT``) and says ``truncated``; they are
  the first in path order, parents before their children, children by name (the order
  ``zkCli ls -R`` prints; a plain sort of the strings would put "/a-b" between "/a" and "/a/b").
  They are found by a walk that stops at the limit, so a tree of a million znodes costs no more
  per tick than the limit, plus one pass over the children of each node it lists;
* a znode's data is a preview of at most ``DATA_PREVIEW_CHARS`` characters: its text when it is
  printable UTF-8 (newlines and tabs shown as ``\\n`` and ``\\t``), else its bytes in hex
  (``data_hex``); a cut preview ends with "…"; ``data_length`` is always the whole size;
* the sessions list at most ``SESSIONS_VIEW_LIMIT`` sessions, by id.

Session ids are printed as ZooKeeper prints them (``0x`` + unsigned hex, ``fmt_session_id``)
and zxids as its Stat does (``0x`` + hex), so what the page shows matches ``zkCli stat``.
"""

from __future__ import annotations

import codecs
import heapq

from zmqzab.tree.paths import ROOT, join, parent_of
from zmqzab.tree.sessions import Sessions, fmt_session_id
from zmqzab.tree.stat import is_container
from zmqzab.tree.tree import DataNode, DataTree

#: Znodes the tree view lists at most.
TREE_VIEW_LIMIT = 300
#: Sessions the sessions view lists at most.
SESSIONS_VIEW_LIMIT = 300
#: Characters of a znode's data the view shows at most ("…" included when cut).
DATA_PREVIEW_CHARS = 64
#: Bytes read for a text preview: enough for DATA_PREVIEW_CHARS characters of 4 bytes each.
_TEXT_PREFIX_BYTES = 4 * DATA_PREVIEW_CHARS + 4
_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
_ELLIPSIS = "…"


def data_preview(data: bytes) -> tuple[str, bool]:
    """``(preview, is_hex)``: the text of ``data`` if its beginning is printable UTF-8, else its
    hex; at most DATA_PREVIEW_CHARS characters, the last one "…" when cut."""
    prefix = data[:_TEXT_PREFIX_BYTES]
    try:
        # Incremental: a prefix that ends inside a character is not an error, a bad byte is.
        text = codecs.getincrementaldecoder("utf-8")().decode(prefix, final=len(prefix) == len(data))
    except UnicodeDecodeError:
        text = None
    if text is not None and all(c.isprintable() or c in _ESCAPES for c in text):
        shown = "".join(_ESCAPES.get(c, c) for c in text)
        if len(shown) > DATA_PREVIEW_CHARS or len(prefix) < len(data):
            shown = shown[:DATA_PREVIEW_CHARS - 1] + _ELLIPSIS
        return shown, False
    byte_max = DATA_PREVIEW_CHARS // 2
    if len(data) <= byte_max:
        return data.hex(), True
    return data[:byte_max - 1].hex() + _ELLIPSIS, True


def _zxid_hex(zxid: int) -> str:
    """A zxid as ZooKeeper's Stat prints it (``0x`` + hex)."""
    return f"0x{zxid:x}"


def _owner(node: DataNode) -> int | None:
    """The session of an ephemeral znode, or None (persistent or container). Any owner but 0
    and the container's marker is a session: ids of nodes 128..255 are negative longs."""
    owner = node.ephemeral_owner
    return None if owner == 0 or is_container(owner) else owner


def node_view(tree: DataTree, path: str, sessions: Sessions, watches: int) -> dict:
    """One znode for the view (the keys of the module docstring's ``nodes`` rows)."""
    n = tree.nodes[path]
    data = n.data if n.data is not None else b""  # ZooKeeper's null data: shown as empty
    preview, is_hex = data_preview(data)
    owner = _owner(n)
    parent = tree.nodes.get(parent_of(path)) if path != ROOT else None
    return {
        "path": path,
        "data": preview,
        "data_hex": is_hex,
        "data_length": len(data),
        "version": n.version,
        "cversion": n.cversion,
        "aversion": n.aversion,
        "num_children": len(n.children),
        "czxid": _zxid_hex(n.czxid),
        "mzxid": _zxid_hex(n.mzxid),
        "ephemeral_owner": None if owner is None else fmt_session_id(owner),
        # False would mean an ephemeral outlived its session: a bug the view should show.
        "owner_open": None if owner is None else owner in sessions,
        "container": is_container(n.ephemeral_owner),
        # The number a sequential create under this node's parent gets next (ZooKeeper names it
        # from the parent's cversion, which deletes never lower).
        "seq_next": None if parent is None else parent.cversion,
        "watches": watches,
    }


def _first_paths(tree: DataTree, limit: int) -> list[str]:
    """The first ``limit`` paths in tree order (parents first, children by name), walking no
    further than needed: each listed node's children cost one ``nsmallest`` pass."""
    out: list[str] = []
    stack = [ROOT]
    while stack and len(out) < limit:
        path = stack.pop()
        out.append(path)
        room = limit - len(out)
        if room:
            names = heapq.nsmallest(room, tree.nodes[path].children)
            stack.extend(join(path, name) for name in reversed(names))
    return out


def tree_view(tree: DataTree, sessions: Sessions, watches_by_path: dict[str, int],
              limit: int = TREE_VIEW_LIMIT) -> dict:
    """The "tree" part of ``/status["zk"]``: ``znodes`` (all of them, the root and /zookeeper
    included, as ZooKeeper's ``mntr`` counts them), ``truncated`` (more than ``limit``) and
    ``nodes``, the first ``limit`` in tree order. ``watches_by_path`` is this node's watch count
    per path (``WatchManager.path_counts``)."""
    if type(limit) is not int or limit < 1:
        raise ValueError(f"limit must be a positive integer (znodes shown), got {limit!r}")
    paths = _first_paths(tree, limit)
    return {
        "znodes": len(tree.nodes),
        "truncated": len(tree.nodes) > len(paths),
        "nodes": [node_view(tree, p, sessions, watches_by_path.get(p, 0)) for p in paths],
    }


def sessions_view(sessions: Sessions, expiry: dict[int, int] | None, tree: DataTree | None = None,
                  limit: int = SESSIONS_VIEW_LIMIT) -> list[dict]:
    """The "sessions" part of ``/status["zk"]``: the open sessions by id (at most ``limit``),
    each with its timeout, ``expires_in_ms`` (ms left before the leader expires it, from
    ``expiry``, the leader's; None on a follower, which passes ``expiry=None``, or for a
    session the leader does not track) and ``ephemerals`` (how many znodes it owns in ``tree``;
    None without a tree)."""
    if type(limit) is not int or limit < 1:
        raise ValueError(f"limit must be a positive integer (sessions shown), got {limit!r}")
    out = []
    for record in sessions.open_sessions()[:limit]:
        sid = record.session_id
        out.append({
            "id": fmt_session_id(sid),
            "timeout_ms": record.timeout_ms,
            "expires_in_ms": None if expiry is None else expiry.get(sid),
            "ephemerals": None if tree is None else len(tree.ephemerals.get(sid, ())),
        })
    return out
