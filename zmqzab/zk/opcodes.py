"""ZooKeeper's numbers on the client wire: ZooDefs.OpCode, the special xids of ClientCnxn, and
the enums a WatcherEvent, removeWatches and addWatch carry (Watcher.Event.EventType and
KeeperState, Watcher.WatcherType, ZooDefs.AddWatchModes)."""

from __future__ import annotations

from enum import IntEnum


class OpCode(IntEnum):
    """ZooDefs.OpCode: a RequestHeader's type, a MultiHeader's type."""

    notification = 0
    create = 1
    delete = 2
    exists = 3
    getData = 4
    setData = 5
    getACL = 6
    setACL = 7
    getChildren = 8
    sync = 9
    ping = 11
    getChildren2 = 12
    check = 13
    multi = 14
    create2 = 15
    reconfig = 16
    checkWatches = 17
    removeWatches = 18
    createContainer = 19
    deleteContainer = 20
    createTTL = 21
    multiRead = 22
    auth = 100
    setWatches = 101
    sasl = 102
    getEphemerals = 103
    getAllChildrenNumber = 104
    setWatches2 = 105
    addWatch = 106
    whoAmI = 107
    createSession = -10
    closeSession = -11
    error = -1


class Xid:
    """The xids ClientCnxn reserves (a ReplyHeader's xid says what the reply is)."""

    NOTIFICATION = -1  # a WatcherEvent; its ReplyHeader carries zxid -1
    PING = -2
    AUTH = -4
    SET_WATCHES = -8


class EventType(IntEnum):
    """Watcher.Event.EventType: a WatcherEvent's type."""

    None_ = -1  # a change of the connection's state, no path
    NodeCreated = 1
    NodeDeleted = 2
    NodeDataChanged = 3
    NodeChildrenChanged = 4
    DataWatchRemoved = 5
    ChildWatchRemoved = 6
    PersistentWatchRemoved = 7


class KeeperState(IntEnum):
    """Watcher.Event.KeeperState: a WatcherEvent's state."""

    Unknown = -1
    Disconnected = 0
    NoSyncConnected = 1
    SyncConnected = 3
    AuthFailed = 4
    ConnectedReadOnly = 5
    SaslAuthenticated = 6
    Closed = 7
    Expired = -112


class WatcherType(IntEnum):
    """Watcher.WatcherType: the type of a removeWatches / checkWatches request."""

    Children = 1
    Data = 2
    Any = 3


class AddWatchMode(IntEnum):
    """ZooDefs.AddWatchModes: the mode of an addWatch request."""

    PERSISTENT = 0
    PERSISTENT_RECURSIVE = 1
