"""The leader's prepare of ZooKeeper requests (zkapi/prep.py through ReplicatedState.prepare)."""

from __future__ import annotations

import pytest

from zmqzab.messages import Txn
from zmqzab.state import ReplicatedState
from zmqzab.tree.errors import Code
from zmqzab.tree.sessions import CloseSessionTxn, CreateSessionTxn
from zmqzab.tree.txns import CreateTxn, ErrorTxn
from zmqzab.zk import records as r
from zmqzab.zk.opcodes import OpCode
from zmqzab.zk.protocol import encode_request
from zmqzab.zkapi.ops import (CLOSE_SESSION, CREATE_SESSION, REVALIDATE, SessionTouches, ZkRequest, ZkTxn,
                              forwarded_problem)
from zmqzab.zxid import make_zxid

pytestmark = pytest.mark.zk

OPEN = (r.ACL(31, r.Id("world", "anyone")),)
SID = 0x1000


def _create(path: str, xid: int = 1, flags: int = 0, sid: int = SID) -> ZkRequest:
    frame = encode_request(xid, OpCode.create, r.CreateRequest(path, b"d", OPEN, flags))[4:]
    return ZkRequest(sid, xid, int(OpCode.create), frame)


def _applied(state: ReplicatedState, zxid: int, op) -> None:
    state.apply(Txn(zxid, op, 0))


def _session(state: ReplicatedState, epoch: int = 1) -> int:
    z = make_zxid(epoch, 1)
    op = state.prepare(ZkRequest(SID, 0, CREATE_SESSION, timeout_ms=5000), z)
    assert op == ZkTxn(SID, 0, CREATE_SESSION, CreateSessionTxn(SID, 5000))
    _applied(state, z, op)
    return z


def test_a_request_of_an_unknown_session_is_sessionexpired():
    s = ReplicatedState()
    op = s.prepare(_create("/a"), make_zxid(1, 1))
    assert op.txn == ErrorTxn(int(Code.SESSIONEXPIRED))


def test_prepare_sees_creates_proposed_and_not_applied_yet():
    s = ReplicatedState()
    _session(s)
    first = s.prepare(_create("/a", 1), make_zxid(1, 2))
    second = s.prepare(_create("/a", 2), make_zxid(1, 3))
    assert isinstance(first.txn, CreateTxn)
    assert second.txn == ErrorTxn(int(Code.NODEEXISTS))


def test_a_new_epoch_forgets_what_the_last_reign_proposed_and_never_applied():
    """A create proposed in epoch 1 and lost with its leader must not block the same create in
    epoch 2 (the overlay is per reign)."""
    s = ReplicatedState()
    _session(s)
    assert isinstance(s.prepare(_create("/a", 1), make_zxid(1, 2)).txn, CreateTxn)
    assert isinstance(s.prepare(_create("/a", 2), make_zxid(2, 1)).txn, CreateTxn)


def test_after_its_close_is_proposed_a_session_gets_sessionexpired():
    s = ReplicatedState()
    _session(s)
    close = s.prepare(ZkRequest(SID, 7, CLOSE_SESSION), make_zxid(1, 2))
    assert close.txn == CloseSessionTxn(SID, None)
    assert s.prepare(_create("/late", 8), make_zxid(1, 3)).txn == ErrorTxn(int(Code.SESSIONEXPIRED))


def test_a_frame_that_does_not_decode_or_does_not_match_its_header_is_refused():
    s = ReplicatedState()
    _session(s)
    garbage = ZkRequest(SID, 1, int(OpCode.create), b"\x00\x01")
    assert s.prepare(garbage, make_zxid(1, 2)).txn == ErrorTxn(int(Code.MARSHALLINGERROR))
    mismatched = ZkRequest(SID, 99, int(OpCode.create), _create("/a", 1).frame)
    assert s.prepare(mismatched, make_zxid(1, 3)).txn == ErrorTxn(int(Code.BADARGUMENTS))
    read = ZkRequest(SID, 1, int(OpCode.getData), b"")
    assert s.prepare(read, make_zxid(1, 4)).txn == ErrorTxn(int(Code.UNIMPLEMENTED))


def test_touches_are_taken_in_and_proposed_as_nothing():
    s = ReplicatedState()
    assert s.prepare(SessionTouches((1, 2)), make_zxid(1, 1)) is None
    assert s.drain_touches() == [1, 2] and s.drain_touches() == []


def test_a_request_that_reached_the_log_unprepared_is_rejected_everywhere_alike():
    s = ReplicatedState()
    result = s.apply(Txn(make_zxid(1, 1), _create("/x"), 0))
    assert result.kind == "rejected" and s.tree.node("/x") is None


@pytest.mark.parametrize("op, problem", [
    (ZkRequest(1 << 63, 1, 1), "session id"),
    (ZkRequest(1, 1, 1, b"x" * (2 << 20)), "frame"),
    (ZkRequest(1, 1, 1, auth=(("digest", "x" * 5000),)), "auth"),
    (SessionTouches(tuple(range(100_001))), "touches"),
    (Txn(1, SessionTouches(()), 0), "not forwarded"),
])
def test_forwarded_ops_out_of_the_wires_ranges_are_implausible(op, problem):
    assert problem in forwarded_problem(op)


def test_forwarded_ops_in_range_are_plausible():
    assert forwarded_problem(_create("/a")) == ""
    assert forwarded_problem(SessionTouches((1, -5))) == ""


def test_the_ephemerals_of_a_negative_session_id_go_with_its_session():
    """Session ids made by nodes 128..255 are negative longs; their ephemerals are ephemerals
    all the same (found by the view's author: the tree tracked only owners > 0, and a close
    left them behind)."""
    from zmqzab.tree.sessions import initial_session_id

    s = ReplicatedState()
    sid = initial_session_id(200, 1_000_000)
    assert sid < 0
    z1, z2, z3 = make_zxid(1, 1), make_zxid(1, 2), make_zxid(1, 3)
    _applied(s, z1, s.prepare(ZkRequest(sid, 0, CREATE_SESSION, timeout_ms=5000), z1))
    _applied(s, z2, s.prepare(_create("/e", 1, flags=1, sid=sid), z2))
    assert s.tree.node("/e").ephemeral_owner == sid
    _applied(s, z3, s.prepare(ZkRequest(sid, 2, CLOSE_SESSION), z3))
    assert s.tree.node("/e") is None


def test_delete_container_never_deletes_a_node_that_is_not_a_container():
    """A deleteContainer (the leader's own, session 0; or a hostile peer's FORWARD) of an empty
    persistent znode is refused with BADVERSION, as ZooKeeper's prepare refuses it (found by
    the outside attack: it deleted any empty persistent znode)."""
    from zmqzab.zkapi.prep import LEADER_SESSION

    s = ReplicatedState()
    _session(s)
    z = make_zxid(1, 2)
    _applied(s, z, s.prepare(_create("/plain"), z))
    op = s.prepare(ZkRequest(LEADER_SESSION, 0, int(OpCode.deleteContainer), b"/plain"), make_zxid(1, 3))
    assert op.txn == ErrorTxn(int(Code.BADVERSION))


def test_a_forward_delivered_twice_is_proposed_once_and_a_new_connection_starts_its_xids_again():
    """A duplicated FORWARD (the network may hand a message over twice) must not apply a write
    twice (a second sequential node: found by the simulator's duplicate faults); kazoo counts
    xids per connection, so a session's new connection starts at 1 again and is taken."""
    s = ReplicatedState()
    _session(s)
    first = ZkRequest(SID, 1, int(OpCode.create), _create("/q-", 1, flags=2).frame, origin=7)
    assert s.prepare(first, make_zxid(1, 2)) is not None
    assert s.prepare(first, make_zxid(1, 3)) is None  # the copy
    revalidate = s.prepare(ZkRequest(SID, 0, REVALIDATE, origin=8), make_zxid(1, 3))
    assert revalidate is not None
    again = ZkRequest(SID, 1, int(OpCode.create), _create("/q-", 1, flags=2).frame, origin=8)
    assert isinstance(s.prepare(again, make_zxid(1, 4)).txn, CreateTxn)
