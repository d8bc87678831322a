"""ZooKeeper client requests on their way through ZAB, and the header their txns carry.

A request taken on any node's zk_port travels to the leader as a ``ZkRequest`` inside a
FORWARD (or straight into ``Peer.submit`` on the leader); the leader's prepare (zk/prep.py,
ZooKeeper's PrepRequestProcessor) turns it into the txn every replica applies, wrapped in a
``ZkTxn``: ZooKeeper's TxnHeader (clientId, cxid, type) around its txn record, so the node that
holds the client's connection knows, when it applies the txn, which request of which session
it answers. ``SessionTouches`` is a follower's report of the sessions it heard from (ZooKeeper
piggybacks it on the learner's PING): the leader's prepare takes it in and proposes nothing.

Only ``ZkTxn`` is ever logged; a ``ZkRequest`` or ``SessionTouches`` that reached a log (a
buggy or hostile proposer) is rejected by every replica alike (zmqzab/state.py).
"""

from __future__ import annotations

from msgspec import Struct

from zmqzab.tree.sessions import CloseSessionTxn, CreateSessionTxn, fmt_session_id
from zmqzab.tree.txns import (CheckVersionTxn, CreateTxn, DeleteTxn, ErrorTxn, MultiTxn,
                              SetACLTxn, SetDataTxn, describe_txn)
from zmqzab.zk.opcodes import OpCode

#: ZkRequest.opcode of a new session (the body is nothing: ``timeout_ms`` says it all).
CREATE_SESSION = int(OpCode.createSession)
CLOSE_SESSION = int(OpCode.closeSession)


class ZkRequest(Struct, frozen=True, gc=False, tag="zk_request", array_like=True):
    """One client request for the leader to prepare. ``frame`` is the request as the client
    sent it (RequestHeader and body, the length prefix taken off), decoded again by the leader,
    so the FORWARD carries no second encoding of ZooKeeper's records. ``auth`` are the
    session's authenticated ids (scheme, id) on the node that took it (ZooKeeper's
    ``Request.authInfo``). For createSession, ``frame`` is empty and ``timeout_ms`` is the
    negotiated timeout."""

    session_id: int
    cxid: int
    opcode: int
    frame: bytes = b""
    auth: tuple[tuple[str, str], ...] = ()
    timeout_ms: int = 0


class SessionTouches(Struct, frozen=True, gc=False, tag="zk_touches", array_like=True):
    """Sessions a follower heard from since its last report (its TouchTable drained)."""

    session_ids: tuple[int, ...]


ZkInner = (CreateTxn | DeleteTxn | SetDataTxn | SetACLTxn | CheckVersionTxn | ErrorTxn | MultiTxn
           | CreateSessionTxn | CloseSessionTxn)


class ZkTxn(Struct, frozen=True, gc=False, tag="zk_txn", array_like=True):
    """ZooKeeper's TxnHeader around one txn: whose request (``session_id``, ``cxid``), of which
    ``opcode`` (the reply's shape: create and create2 answer differently), and the txn. A
    request refused by prepare is an ``ErrorTxn``; a sync is ``ErrorTxn(0)``, which changes
    nothing and answers once every write before it is applied."""

    session_id: int
    cxid: int
    opcode: int
    txn: ZkInner


def describe_zk(op: ZkRequest | ZkTxn | SessionTouches) -> str:
    if isinstance(op, ZkTxn):
        inner = op.txn
        if isinstance(inner, CreateSessionTxn):
            what = f"createSession (timeout {inner.timeout_ms} ms)"
        elif isinstance(inner, CloseSessionTxn):
            what = "closeSession"
        elif op.opcode == OpCode.sync:
            what = "sync"
        else:
            what = describe_txn(inner)
        return f"{what} [{fmt_session_id(op.session_id)}#{op.cxid}]"
    if isinstance(op, SessionTouches):
        return f"touch {len(op.session_ids)} session(s)"
    try:
        name = OpCode(op.opcode).name
    except ValueError:
        name = f"opcode {op.opcode}"
    return f"request {name} [{fmt_session_id(op.session_id)}#{op.cxid}]"


INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
#: A forwarded request's frame: ZooKeeper's jute.maxbuffer (1 MiB) and its header.
FRAME_MAX = (1 << 20) + 1024
AUTH_IDS_MAX = 64
AUTH_ID_CHARS_MAX = 4096
#: Session ids in one report: a follower reports those it heard from in one tick.
TOUCHES_PER_REPORT_MAX = 100_000


def forwarded_problem(op: object) -> str:
    """Why a FORWARDed ZooKeeper op is one no correct node sends, or "" (security/plausible.py
    drops the FORWARD before the core sees it)."""
    if type(op) is SessionTouches:
        ids = op.session_ids
        if len(ids) > TOUCHES_PER_REPORT_MAX:
            return f"{len(ids)} session touches in one report"
        if not all(INT64_MIN <= s <= INT64_MAX for s in ids):
            return "a session id that is not a 64-bit long"
        return ""
    if type(op) is not ZkRequest:
        return f"{type(op).__name__} is not forwarded"
    if not INT64_MIN <= op.session_id <= INT64_MAX or not INT32_MIN <= op.cxid <= INT32_MAX:
        return "session id or cxid out of range"
    if not INT32_MIN <= op.opcode <= INT32_MAX or not 0 <= op.timeout_ms <= INT32_MAX:
        return "opcode or timeout out of range"
    if len(op.frame) > FRAME_MAX:
        return f"a request frame of {len(op.frame)} bytes"
    if len(op.auth) > AUTH_IDS_MAX or any(len(s) + len(i) > AUTH_ID_CHARS_MAX for s, i in op.auth):
        return "too many or too long auth ids"
    return ""
