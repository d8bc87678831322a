"""A znode's ``Stat`` as ZooKeeper fills it, and the kinds of node by their ephemeralOwner.

ZooKeeper stores ``StatPersisted`` (everything but dataLength and numChildren) and computes
those two when it copies a node's stat out (``DataNode.copyStat``); so does ``DataTree.stat``.

* czxid / ctime: the create's zxid and the leader's time when it proposed it;
* mzxid / mtime: the last create or setData (a setACL leaves them);
* pzxid: the last create or delete of a child (the node's own create to begin with);
* version / cversion / aversion: counts of setData, of child creates, of setACL. A child's
  delete leaves cversion: the sequential counter never goes back, so no name repeats;
* ephemeralOwner: the session of an ephemeral node; 0 for persistent; ``CONTAINER_OWNER`` for
  a container (``EphemeralType.CONTAINER_EPHEMERAL_OWNER``).
"""

from __future__ import annotations

from msgspec import Struct

#: ``EphemeralType.CONTAINER_EPHEMERAL_OWNER`` (Long.MIN_VALUE): the owner a container carries.
CONTAINER_OWNER = -(1 << 63)


class Stat(Struct, frozen=True, gc=False, array_like=True):
    """``org.apache.zookeeper.data.Stat``, field order as in zookeeper.jute."""

    czxid: int
    mzxid: int
    ctime: int
    mtime: int
    version: int
    cversion: int
    aversion: int
    ephemeralOwner: int
    dataLength: int
    numChildren: int
    pzxid: int


def is_container(ephemeral_owner: int) -> bool:
    return ephemeral_owner == CONTAINER_OWNER


def is_ephemeral(ephemeral_owner: int) -> bool:
    """A session's ephemeral (``EphemeralType.NORMAL``): may not have children. Any owner but 0
    (a persistent node) and a container's: session ids of nodes 128..255 are negative longs
    (EphemeralType.get with extended types off, ZooKeeper's default)."""
    return ephemeral_owner != 0 and ephemeral_owner != CONTAINER_OWNER


def int32(value: int) -> int:
    """``value`` as Java's int holds it (jute writes versions as 32-bit ints): wraps around."""
    return (value + (1 << 31)) % (1 << 32) - (1 << 31)


def next_version(current: int) -> int:
    """``PrepRequestProcessor.checkAndIncVersion``'s increment: one more, but never -1 (which
    a client sends for "any version"), so it wraps from Integer.MAX_VALUE past -1 to 0
    (ZOOKEEPER-4743)."""
    nxt = int32(current + 1)
    return 0 if nxt == -1 else nxt
