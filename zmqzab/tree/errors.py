"""ZooKeeper's error codes: ``KeeperException.Code``, value for value.

One table for the whole ZooKeeper side: the tree's prepare and apply return them, the jute
codec (zmqzab/zk/) puts them in reply headers, and clients read them as ZooKeeper's own
(kazoo maps -101 to ``NoNodeError`` and so on), so every value is ZooKeeper's, unchanged.
"""

from __future__ import annotations

from enum import IntEnum


class Code(IntEnum):
    """``org.apache.zookeeper.KeeperException.Code``. Values from 0 down to -99 are system and
    server-side errors; from -100 down, API errors (a client's request was refused)."""

    OK = 0
    SYSTEMERROR = -1
    #: In a multi whose op failed: every op after the failing one (DataTree.processTxn).
    RUNTIMEINCONSISTENCY = -2
    DATAINCONSISTENCY = -3
    CONNECTIONLOSS = -4
    MARSHALLINGERROR = -5
    UNIMPLEMENTED = -6
    OPERATIONTIMEOUT = -7
    BADARGUMENTS = -8
    UNKNOWNSESSION = -12
    NEWCONFIGNOQUORUM = -13
    RECONFIGINPROGRESS = -14
    APIERROR = -100
    NONODE = -101
    NOAUTH = -102
    BADVERSION = -103
    NOCHILDRENFOREPHEMERALS = -108
    NODEEXISTS = -110
    NOTEMPTY = -111
    SESSIONEXPIRED = -112
    INVALIDCALLBACK = -113
    INVALIDACL = -114
    AUTHFAILED = -115
    SESSIONMOVED = -118
    NOTREADONLY = -119
    EPHEMERALONLOCALSESSION = -120
    NOWATCHER = -121
    REQUESTTIMEOUT = -122
    RECONFIGDISABLED = -123
    SESSIONCLOSEDREQUIRESASLAUTH = -124
    QUOTAEXCEEDED = -125
    THROTTLEDOP = -127


class KeeperError(Exception):
    """A request refused while it is prepared: ``code`` says why, ``path`` names the node.

    Raised and caught inside zmqzab.tree only (prepare turns it into an ``ErrorTxn``); it is
    the Python shape of ZooKeeper's ``KeeperException`` subclasses."""

    def __init__(self, code: Code, path: str = "", reason: str = "") -> None:
        self.code = code
        self.path = path
        self.reason = reason
        super().__init__(f"{code.name} ({int(code)}) {path}{': ' + reason if reason else ''}")
