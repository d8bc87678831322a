"""The leader's PrepRequestProcessor for ZooKeeper clients: a ``ZkRequest`` becomes a ``ZkTxn``.

Called by the core's leader for each op it is about to propose (``ReplicatedState.prepare``,
with the zxid the txn will have). In ZooKeeper's order:

1. the session: a request of a session that is not open (never created, expired, closed) or
   that is closing (its closeSession is proposed, not yet applied) gets SESSIONEXPIRED
   (``sessionTracker.checkSession``); createSession and closeSession change the pending view of
   the sessions, as the tree's Preparer keeps a pending view of the nodes;
2. the request: decoded again from the client's own frame (a frame that does not decode, or an
   opcode that is not a write, is BADARGUMENTS / UNIMPLEMENTED: the follower that forwarded it
   decoded it, so only a buggy or hostile peer gets here) and prepared against the tree plus
   every change proposed and not yet applied (tree/prepare.py).

The result always goes in the log, errors too (an ``ErrorTxn``), as in ZooKeeper: its zxid
keeps the reply in the session's order behind the session's earlier writes. A sync is
``ErrorTxn(0)`` for the same reason: it is answered when everything before it is applied.

Leader-only and volatile: a new epoch (a zxid of another epoch) starts from an empty overlay,
since what an earlier reign proposed is either applied by now or gone.

Pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

from zmqzab.tree.acl import Id
from zmqzab.tree.errors import Code
from zmqzab.tree.prepare import Preparer
from zmqzab.tree.sessions import CloseSessionTxn, CreateSessionTxn, Sessions
from zmqzab.tree.tree import DataTree
from zmqzab.tree.txns import ErrorTxn
from zmqzab.zk.jute import DecodeError
from zmqzab.zk.opcodes import OpCode
from zmqzab.zkapi.ops import (CLOSE_SESSION, CREATE_SESSION, REVALIDATE, SessionTouches, ZkRequest,
                              ZkTxn)
from zmqzab.zk.protocol import decode_request
from zmqzab.zxid import zxid_epoch

#: Opcodes the leader prepares into a tree txn (everything else a client sends is served by the
#: node it is connected to).
WRITE_OPCODES = frozenset(int(o) for o in (
    OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL, OpCode.delete,
    OpCode.setData, OpCode.setACL, OpCode.check, OpCode.multi, OpCode.deleteContainer))

#: The session id of the leader's own requests (ZooKeeper's ContainerManager submits its
#: deleteContainer with session 0, which no client session can be: 0 asks for a new one).
LEADER_SESSION = 0

#: Session touches the leader keeps until its host drains them (a host that never drains, a
#: simulator without ZooKeeper clients, must not grow without bound).
TOUCHES_MAX = 100_000

#: Session owners the leader keeps before it drops those of sessions not open (the table holds
#: at most SESSIONS_MAX open sessions).
OWNERS_MAX = 2 * 100_000


class RequestPrep:
    """The pending view of sessions and nodes of one leader's reign, and its touch inbox."""

    __slots__ = ("preparer", "sessions", "epoch", "opened", "closing", "touched", "owners",
                 "last_cxid")

    def __init__(self, tree: DataTree, sessions: Sessions) -> None:
        self.preparer = Preparer(tree)
        self.sessions = sessions
        self.epoch = -1
        #: session id -> zxid of its proposed createSession / closeSession, not applied yet
        self.opened: dict[int, int] = {}
        self.closing: dict[int, int] = {}
        #: session ids followers reported as heard from (the leader's host drains it)
        self.touched: list[int] = []
        #: session id -> the connection (ZkRequest.origin) it is on, as far as this reign
        #: knows: set by its createSession or a reconnect's REVALIDATE, else by its first
        #: request in this reign (a new leader's clients all reconnect: every node closes its
        #: connections while it has no leader). ZooKeeper's SessionImpl.owner.
        self.owners: dict[int, int] = {}
        #: (session id, origin) -> the highest cxid prepared from that connection this reign
        self.last_cxid: dict[tuple[int, int], int] = {}

    def applied(self, zxid: int) -> None:
        """Txns up to ``zxid`` are applied: their pending views are the state's own now."""
        self.preparer.applied(zxid)
        if self.opened:
            self.opened = {s: z for s, z in self.opened.items() if z > zxid}
        if self.closing:
            self.closing = {s: z for s, z in self.closing.items() if z > zxid}

    def _new_reign(self, zxid: int) -> None:
        epoch = zxid_epoch(zxid)
        if epoch != self.epoch:
            self.epoch = epoch
            self.preparer.reset()
            self.opened.clear()
            self.closing.clear()
            self.owners.clear()
            self.last_cxid.clear()  # FORWARDs of an earlier epoch are dropped (leader.on_forward)

    def is_open(self, session_id: int) -> bool:
        """Open once everything proposed is applied (created, and no close on the way)."""
        if session_id in self.closing:
            return False
        return session_id in self.opened or session_id in self.sessions

    def prepare(self, op: ZkRequest | SessionTouches, zxid: int) -> ZkTxn | None:
        """The txn to propose at ``zxid`` for ``op``; None: propose nothing (touches)."""
        if type(op) is SessionTouches:
            if len(self.touched) < TOUCHES_MAX:
                self.touched.extend(op.session_ids)
            return None
        if op.origin and (op.cxid > 0 or op.opcode == CREATE_SESSION):
            # One connection's requests come in its xid order (kazoo and the Java client count
            # xids per connection), each once: a FORWARD the network delivered twice is not
            # proposed again (it would apply a write twice, a second sequential node; a
            # createSession, cxid 0, again after the session's close would revive it).
            self._new_reign(zxid)
            key = (op.session_id, op.origin)
            last = self.last_cxid.get(key)
            if last is not None and op.cxid <= last:
                return None
            if last is None and len(self.last_cxid) >= OWNERS_MAX:
                self.last_cxid = {k: c for k, c in self.last_cxid.items() if self.owners.get(k[0]) == k[1]}
            self.last_cxid[key] = op.cxid
        txn = self._prepare(op, zxid)
        if op.origin:  # the connection to answer (ZkTxn.origin)
            txn = ZkTxn(txn.session_id, txn.cxid, txn.opcode, txn.txn, op.origin)
        return txn

    def _prepare(self, op: ZkRequest, zxid: int) -> ZkTxn:
        self._new_reign(zxid)
        sid, cxid, opcode = op.session_id, op.cxid, op.opcode
        if opcode == OpCode.deleteContainer and sid == LEADER_SESSION:
            # The leader's own ContainerManager: no client session; the path is the frame.
            try:
                path = op.frame.decode("utf-8")
            except UnicodeDecodeError:
                return ZkTxn(sid, cxid, opcode, ErrorTxn(int(Code.BADARGUMENTS)))
            return ZkTxn(sid, cxid, opcode, self.preparer.delete_container(path, zxid))
        if opcode == CREATE_SESSION:
            if sid in self.closing:  # an id being closed is not handed out again meanwhile
                return ZkTxn(sid, cxid, opcode, ErrorTxn(int(Code.SESSIONEXPIRED)))
            self.opened[sid] = zxid
            self._own(sid, op.origin)
            return ZkTxn(sid, cxid, opcode, CreateSessionTxn(sid, op.timeout_ms))
        if not self.is_open(sid):
            return ZkTxn(sid, cxid, opcode, ErrorTxn(int(Code.SESSIONEXPIRED)))
        if opcode == REVALIDATE:
            self._own(sid, op.origin)
            return ZkTxn(sid, cxid, opcode, ErrorTxn(0))
        if op.origin and self.owners.setdefault(sid, op.origin) != op.origin:
            # A connection the session has left (ZooKeeper's checkSession): refused, so that
            # nothing it sent before the client moved is applied after what it sent since.
            return ZkTxn(sid, cxid, opcode, ErrorTxn(int(Code.SESSIONMOVED)))
        if opcode == CLOSE_SESSION:
            self.closing[sid] = zxid
            self.opened.pop(sid, None)
            self.owners.pop(sid, None)
            # Its ephemerals are gone for every request prepared behind it (ZooKeeper adds a
            # delete ChangeRecord per ephemeral). The txn still says None, "all it holds":
            # the same set here, since nothing of the session is prepared after its close.
            self.preparer.close_session(sid, zxid)
            return ZkTxn(sid, cxid, opcode, CloseSessionTxn(sid, None))
        if opcode == OpCode.sync:
            return ZkTxn(sid, cxid, opcode, ErrorTxn(0))
        if opcode not in WRITE_OPCODES:
            return ZkTxn(sid, cxid, opcode, ErrorTxn(int(Code.UNIMPLEMENTED)))
        try:
            request = decode_request(op.frame)
        except DecodeError:
            return ZkTxn(sid, cxid, opcode, ErrorTxn(int(Code.MARSHALLINGERROR)))
        if request.header.type != opcode or request.header.xid != cxid:
            return ZkTxn(sid, cxid, opcode, ErrorTxn(int(Code.BADARGUMENTS)))
        auth = [Id(scheme, ident) for scheme, ident in op.auth]
        body = request.body
        if opcode == OpCode.multi:
            ops = tuple((o.type, o.request) for o in getattr(body, "ops", ()))
            txn = self.preparer.prepare_multi(ops, sid, auth, zxid)
        else:
            txn = self.preparer.prepare(opcode, body, sid, auth, zxid)
        return ZkTxn(sid, cxid, opcode, txn)

    def _own(self, sid: int, origin: int) -> None:
        if not origin:
            return
        if len(self.owners) >= OWNERS_MAX:  # sessions whose createSession was refused at apply
            self.owners = {s: o for s, o in self.owners.items() if self.is_open(s)}
        self.owners[sid] = origin

    def drain_touches(self) -> list[int]:
        touched, self.touched = self.touched, []
        return touched
