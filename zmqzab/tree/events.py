"""What a change to the tree tells watchers: ``Trigger``s as data, never the watches themselves.

The replicated tree does not own watches (they belong to one node's client connections): apply
returns, per change, which watch table to fire on which path with which event, exactly the calls
``DataTree`` makes to ``dataWatches.triggerWatch`` and ``childWatches.triggerWatch``. The node
holds the watches and delivers the events.
"""

from __future__ import annotations

from enum import Enum

from msgspec import Struct

from zmqzab.zk.opcodes import EventType  # Watcher.Event.EventType: one home, the wire's


class WatchTable(str, Enum):
    """Which of ZooKeeper's two watch managers a trigger goes to."""

    DATA = "data"  # getData / exists watches (and persistent ones)
    CHILD = "child"  # getChildren watches


class Trigger(Struct, frozen=True, gc=False, array_like=True):
    """Fire the ``table`` watches on ``path`` with ``event``, as of ``zxid``."""

    table: WatchTable
    path: str
    event: EventType
    zxid: int
