"""One client connection's request pipeline (zmqzab/zk/session.py): replies in xid order, reads
behind the session's own writes, syncs, pings and watch events in their place, the handshake,
closing, and what ZooKeeper does with an unknown opcode or a frame before connecting.

Random tests use hypothesis: a failure prints the falsifying example and a
``@reproduce_failure`` line; ``pytest --hypothesis-seed=N`` replays a whole run.
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqzab.tree.errors import Code
from zmqzab.tree.requests import WRITE_OPS
from zmqzab.zk import session
from zmqzab.zk.opcodes import EventType, KeeperState, OpCode, Xid
from zmqzab.zk.protocol import (decode_reply, encode_connect_request, encode_connect_response,
                                encode_reply, encode_request)
from zmqzab.zk.records import (AuthPacket, ConnectRequest, ConnectResponse, GetDataRequest,
                               SetDataRequest, SyncRequest, WatcherEvent)
from zmqzab.zk.session import Abandoned, Action, Phase, Pipeline, PipelineError

pytestmark = [pytest.mark.unit, pytest.mark.zk]

PASSWD = b"\x01" * 16


def frame(xid: int, type_: int, body=None) -> bytes:
    """A request as FrameDecoder hands it over: without its length prefix."""
    return encode_request(xid, type_, body)[4:]


def read(xid: int, path: str = "/a") -> bytes:
    return frame(xid, OpCode.getData, GetDataRequest(path, False))


def write(xid: int, path: str = "/a") -> bytes:
    return frame(xid, OpCode.setData, SetDataRequest(path, b"v", -1))


def sync(xid: int, path: str = "/a") -> bytes:
    return frame(xid, OpCode.sync, SyncRequest(path))


def ping() -> bytes:
    return frame(Xid.PING, OpCode.ping)


def header(out: bytes) -> tuple[int, int, int]:
    """(xid, zxid, err) of a reply frame (length prefix included)."""
    return struct.unpack_from(">iqi", out, 4)


def xids(frames: list[bytes]) -> list[int]:
    return [header(f)[0] for f in frames]


class Node:
    """The caller's side, minimal: a counter for the tree's state, reads served from it."""

    def __init__(self):
        self.zxid = 0
        self.served: list[tuple[int, int]] = []  # (xid, zxid the read saw)

    def serve(self, request):
        self.served.append((request.header.xid, self.zxid))
        return encode_reply(request.header.xid, self.zxid, 0)

    def apply(self, pipe: Pipeline, xid: int) -> None:
        self.zxid += 1
        pipe.applied(xid, encode_reply(xid, self.zxid, 0))

    def ready(self, pipe: Pipeline) -> list[bytes]:
        return pipe.ready(self.zxid, self.serve)


def connected() -> tuple[Pipeline, Node]:
    pipe = Pipeline()
    connect = pipe.connect_request(
        encode_connect_request(ConnectRequest(0, 0, 30000, 0, b"\0" * 16, False))[4:])
    assert connect is not None and connect.time_out == 30000
    assert pipe.phase is Phase.CONNECTING
    response = encode_connect_response(ConnectResponse(0, 30000, 7, PASSWD, False))
    assert pipe.connected(response) == []
    node = Node()
    out = node.ready(pipe)
    assert len(out) == 1  # the ConnectResponse
    return pipe, node


def test_a_read_with_nothing_pending_is_served_at_once():
    pipe, node = connected()
    assert pipe.receive(read(1))[0] is Action.LOCAL
    assert xids(node.ready(pipe)) == [1]
    assert node.served == [(1, 0)]
    assert pipe.queued == 0


def test_a_read_waits_behind_the_sessions_own_write_and_then_sees_it():
    pipe, node = connected()
    assert pipe.receive(write(1))[0] is Action.FORWARD
    assert pipe.receive(read(2))[0] is Action.LOCAL
    assert node.ready(pipe) == []
    assert node.served == []  # not served early: it would not show the write
    node.apply(pipe, 1)
    assert xids(node.ready(pipe)) == [1, 2]
    assert node.served == [(2, 1)]  # served after the write was applied


def test_replies_keep_xid_order_when_writes_are_applied_out_of_order():
    pipe, node = connected()
    for xid in (1, 2, 3):
        pipe.receive(write(xid))
    node.apply(pipe, 3)
    node.apply(pipe, 2)
    assert node.ready(pipe) == []
    node.apply(pipe, 1)
    assert xids(node.ready(pipe)) == [1, 2, 3]


def test_a_ping_keeps_its_place_behind_a_pending_write():
    pipe, node = connected()
    pipe.receive(write(1))
    assert pipe.receive(ping())[0] is Action.LOCAL
    assert node.ready(pipe) == []
    node.apply(pipe, 1)
    out = node.ready(pipe)
    assert xids(out) == [1, Xid.PING]
    assert header(out[1]) == (Xid.PING, 1, 0)  # lastProcessedZxid, as ZooKeeper's ping reply


def test_a_sync_waits_for_the_leaders_committed_zxid_then_reads_behind_it_see_it():
    pipe, node = connected()
    assert pipe.receive(sync(1, "/x"))[0] is Action.SYNC
    pipe.receive(read(2))
    assert node.ready(pipe) == []
    pipe.sync_point(1, 2)  # the leader had committed up to 2 (other sessions' writes)
    assert node.ready(pipe) == []
    node.zxid = 1
    assert node.ready(pipe) == []
    node.zxid = 2
    out = node.ready(pipe)
    assert xids(out) == [1, 2]
    reply_header, body = decode_reply(out[0][4:], OpCode.sync)
    assert (reply_header.zxid, body.path) == (2, "/x")
    assert node.served == [(2, 2)]


def test_a_watch_event_goes_out_before_the_reply_that_shows_the_new_state():
    """Goal: the event of a txn precedes the session's reply showing that txn. Setup: the
    session's own setData is pending and a read waits behind it. Faults: none. Expected: the
    apply hands the event, then the reply; the stream is event, write's reply, read's reply."""
    pipe, node = connected()
    pipe.receive(write(1))
    pipe.receive(read(2))
    pipe.event(WatcherEvent(EventType.NodeDataChanged, KeeperState.SyncConnected, "/a"))
    node.apply(pipe, 1)
    out = node.ready(pipe)
    assert xids(out) == [Xid.NOTIFICATION, 1, 2]
    assert header(out[0])[1] == -1  # a notification's zxid


def test_an_event_goes_ahead_of_replies_not_released_but_behind_those_sent():
    pipe, node = connected()
    pipe.receive(read(1))
    assert xids(node.ready(pipe)) == [1]
    pipe.receive(write(2))
    pipe.event(WatcherEvent(EventType.NodeCreated, KeeperState.SyncConnected, "/b"))
    node.apply(pipe, 2)
    assert xids(node.ready(pipe)) == [Xid.NOTIFICATION, 2]


def test_close_with_pending_writes_abandons_them_and_ignores_their_late_apply():
    """Goal: a connection that closes with requests pending sends nothing more. Setup: two
    forwarded writes and a read behind them. Faults: the connection closes (the session
    expired). Expected: the three come back as abandoned (the writes marked forwarded: they may
    still commit, which is what the client's CONNECTIONLOSS means); a late apply is ignored."""
    pipe, node = connected()
    pipe.receive(write(1))
    pipe.receive(write(2))
    pipe.receive(read(3))
    abandoned = pipe.close("session expired")
    assert abandoned == [Abandoned(1, OpCode.setData, True), Abandoned(2, OpCode.setData, True),
                         Abandoned(3, OpCode.getData, False)]
    assert pipe.should_close and not pipe.should_read
    node.apply(pipe, 1)  # ignored, not an error
    pipe.event(WatcherEvent(EventType.NodeDataChanged, KeeperState.SyncConnected, "/a"))
    assert node.ready(pipe) == [] and node.served == []
    assert pipe.receive(read(4))[0] is Action.IGNORED


def test_close_session_answers_in_order_then_closes_and_ignores_what_follows():
    pipe, node = connected()
    pipe.receive(write(1))
    assert pipe.receive(frame(2, OpCode.closeSession))[0] is Action.FORWARD
    assert pipe.phase is Phase.CLOSING
    assert pipe.receive(read(3))[0] is Action.IGNORED
    node.apply(pipe, 2)
    assert node.ready(pipe) == []
    node.apply(pipe, 1)
    out = node.ready(pipe)
    assert xids(out) == [1, 2]
    assert pipe.should_close and pipe.close("socket closed") == []


def test_unknown_opcode_is_answered_unimplemented_and_closes_the_connection():
    pipe, node = connected()
    pipe.receive(write(1))
    action, request = pipe.receive(frame(5, 999))
    assert (action, request) == (Action.CLOSE, None)
    out = node.ready(pipe)
    assert [header(f) for f in out] == [(5, -1, Code.UNIMPLEMENTED)]
    assert pipe.should_close
    assert pipe.close("closed") == [Abandoned(1, OpCode.setData, True)]


def test_an_undecodable_request_closes_the_connection_without_a_reply():
    pipe, node = connected()
    action, _ = pipe.receive(frame(1, OpCode.getData)[:8] + b"\x00\x00")  # path cut short
    assert action is Action.CLOSE and pipe.should_close
    assert node.ready(pipe) == []


def test_a_request_sent_before_connecting_is_read_as_a_connect_request_and_closes():
    """NIOServerCnxn reads a connection's first frame as a ConnectRequest: a getData sent
    first does not decode as one, and the connection closes without a reply."""
    pipe = Pipeline()
    assert pipe.connect_request(read(1)) is None
    assert pipe.should_close and "ConnectRequest" in pipe.close_reason
    assert pipe.ready(0, Node().serve) == []


def test_receive_before_connect_request_is_a_local_bug():
    with pytest.raises(PipelineError, match="ConnectRequest"):
        Pipeline().receive(read(1))


def test_frames_arriving_while_connecting_are_held_and_handed_back_in_order():
    pipe = Pipeline()
    pipe.connect_request(encode_connect_request(ConnectRequest(0, 0, 30000, 0, b""))[4:])
    assert pipe.receive(read(1))[0] is Action.HELD
    assert pipe.receive(write(2))[0] is Action.HELD
    held = pipe.connected(b"connect-response")
    assert held == [read(1), write(2)]
    assert [pipe.receive(f)[0] for f in held] == [Action.LOCAL, Action.FORWARD]
    node = Node()
    assert node.ready(pipe)[0] == b"connect-response"


def test_a_refused_session_sends_the_expired_response_and_closes():
    pipe = Pipeline()
    pipe.connect_request(encode_connect_request(ConnectRequest(0, 0, 30000, 99, PASSWD))[4:])
    pipe.receive(read(1))
    expired = encode_connect_response(ConnectResponse(0, 0, 0, b"\0" * 16))
    pipe.refused(expired)
    assert pipe.ready(0, Node().serve) == [expired]
    assert pipe.should_close and pipe.close("closed") == []


def test_auth_is_answered_at_once_outside_the_queue():
    pipe, node = connected()
    pipe.receive(write(1))
    action, _ = pipe.receive(frame(Xid.AUTH, OpCode.auth, AuthPacket(0, "digest", b"u:p")))
    assert action is Action.AUTH
    pipe.auth_reply(encode_reply(Xid.AUTH, 0, 0))
    assert xids(node.ready(pipe)) == [Xid.AUTH]
    node.apply(pipe, 1)
    assert xids(node.ready(pipe)) == [1]


def test_a_failed_auth_closes_after_its_reply():
    pipe, node = connected()
    pipe.receive(frame(Xid.AUTH, OpCode.auth, AuthPacket(0, "digest", b"u:p")))
    pipe.auth_reply(encode_reply(Xid.AUTH, 0, Code.AUTHFAILED), close=True)
    assert [header(f)[2] for f in node.ready(pipe)] == [Code.AUTHFAILED]
    assert pipe.should_close


def test_a_full_queue_stops_reading_and_an_overfed_one_closes():
    pipe = Pipeline(pending_max=2)
    pipe.connect_request(encode_connect_request(ConnectRequest(0, 0, 30000, 0, b""))[4:])
    pipe.connected(b"r")
    pipe.receive(write(1))
    assert pipe.should_read
    pipe.receive(write(2))
    assert not pipe.should_read
    for xid in range(3, 3 + session.PENDING_SLACK):
        assert pipe.receive(write(xid))[0] is Action.FORWARD
    assert pipe.receive(write(9999))[0] is Action.CLOSE
    assert pipe.should_close


def test_applied_for_a_request_that_does_not_wait_is_a_local_bug():
    pipe, node = connected()
    pipe.receive(read(1))
    with pytest.raises(PipelineError, match="xid 1"):
        pipe.applied(1, b"")
    with pytest.raises(PipelineError, match="xid 1"):
        pipe.sync_point(1, 0)


def test_the_connection_figures_for_cons():
    pipe, node = connected()
    pipe.receive(write(1))
    node.apply(pipe, 1)
    node.ready(pipe)
    pipe.receive(read(2))
    node.ready(pipe)
    assert (pipe.received, pipe.sent) == (3, 3)  # connect + 2 requests; response + 2 replies
    assert (pipe.last_op, pipe.last_cxid, pipe.last_zxid) == ("GETD", 2, 1)
    pipe.receive(ping())
    node.ready(pipe)
    # ServerCnxn keeps a ping's -2 as the last cxid (cons then leaves lcxid out).
    assert (pipe.last_op, pipe.last_cxid) == ("PING", Xid.PING)


def test_error_codes_and_forwarded_ops_agree_with_the_tree():
    assert session.UNIMPLEMENTED == Code.UNIMPLEMENTED
    assert session.SESSIONEXPIRED == Code.SESSIONEXPIRED
    assert session.CONNECTIONLOSS == Code.CONNECTIONLOSS
    assert session.FORWARDED_OPS == set(WRITE_OPS) - {OpCode.createSession,
                                                      OpCode.deleteContainer}


# --- random interleavings --------------------------------------------------------------------

KINDS = ("read", "write", "sync", "ping")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(KINDS), min_size=1, max_size=25), st.data())
def test_random_interleavings_reply_in_order_exactly_once(kinds, data):
    """Goal: whatever the order of submits, applies, sync points, events and ready calls, every
    request is answered once, in submission order; a read sees every earlier write of its
    session; an event goes out behind the replies sent before it and ahead of the rest.
    Setup: a connected pipeline; a list of reads, writes, syncs and pings. Faults: writes
    applied in any order, sync points arriving at any time. Expected: as in the goal."""
    pipe, node = connected()
    submitted: list[tuple[int, str]] = []
    applied: set[int] = set()
    sync_points: dict[int, int] = {}
    stream: list[bytes] = []
    replies_before_event: list[int] = []
    next_xid = 1
    remaining = list(kinds)

    def serve(request):
        xid = request.header.xid
        earlier = [x for x, k in submitted if k == "write" and x < xid]
        assert set(earlier) <= applied, f"read {xid} served before writes {earlier} applied"
        return node.serve(request)

    def flush(zxid=None):
        stream.extend(pipe.ready(node.zxid if zxid is None else zxid, serve))

    while True:
        moves = []
        if remaining:
            moves.append("submit")
        waiting = [x for x, k in submitted if k == "write" and x not in applied]
        if waiting:
            moves.append("apply")
        unset = [x for x, k in submitted if k == "sync" and x not in sync_points]
        if unset:
            moves.append("sync_point")
        moves += ["ready", "event"]
        if not remaining and not waiting and not unset:
            break
        move = data.draw(st.sampled_from(moves))
        if move == "submit":
            kind = remaining.pop(0)
            if kind == "ping":
                f, xid = ping(), Xid.PING
            else:
                xid, next_xid = next_xid, next_xid + 1
                f = {"read": read, "write": write, "sync": sync}[kind](xid)
            submitted.append((xid, kind))
            pipe.receive(f)
        elif move == "apply":
            xid = data.draw(st.sampled_from(waiting))
            applied.add(xid)
            node.apply(pipe, xid)
        elif move == "sync_point":
            xid = data.draw(st.sampled_from(unset))
            sync_points[xid] = data.draw(st.integers(0, node.zxid + 3))
            pipe.sync_point(xid, sync_points[xid])
        elif move == "event":
            replies_before_event.append(sum(1 for f in stream if header(f)[0] != -1))
            pipe.event(WatcherEvent(EventType.NodeDataChanged, KeeperState.SyncConnected, "/a"))
        else:
            flush()
    flush(10**9)
    replies = [f for f in stream if header(f)[0] != Xid.NOTIFICATION]
    assert xids(replies) == [x for x, _ in submitted]
    assert len(node.served) == sum(1 for _, k in submitted if k == "read")
    positions = [i for i, f in enumerate(stream) if header(f)[0] == Xid.NOTIFICATION]
    assert len(positions) == len(replies_before_event)
    for event_number, position in enumerate(positions):
        before = sum(1 for f in stream[:position] if header(f)[0] != Xid.NOTIFICATION)
        assert before == replies_before_event[event_number]
    for f in replies:
        xid, zxid, _ = header(f)
        if xid in sync_points:
            assert zxid >= sync_points[xid]
    assert pipe.queued == 0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(("read", "write", "sync", "close_session")), min_size=1,
                max_size=20),
       st.data())
def test_random_closes_answer_or_abandon_each_request_exactly_once(kinds, data):
    """Goal: with closes in the mix, no request is answered twice or lost silently. Setup: a
    connected pipeline; reads, writes, syncs and closeSessions submitted in a random
    order with applies in any order. Faults: the connection may close at any step (the client
    left or its session expired). Expected: the replies are a prefix of the requests in order;
    every other request accepted before the close comes back once from ``close`` (a write
    marked forwarded); nothing goes out after the close."""
    pipe, node = connected()
    accepted: list[int] = []
    applied: set[int] = set()
    kind_of: dict[int, str] = {}
    stream: list[bytes] = []
    next_xid = 1
    remaining = list(kinds)
    abandoned: list[Abandoned] = []
    closed_by_us = False
    while True:
        waiting = [x for x in accepted if kind_of[x] in ("write", "close_session")
                   and x not in applied]
        syncs = [x for x in accepted if kind_of[x] == "sync"]
        moves = (["submit"] if remaining else []) + (["apply"] if waiting else [])
        moves += ["ready", "close"] + (["sync_point"] if syncs else [])
        if pipe.should_close or (not remaining and not waiting):
            break
        move = data.draw(st.sampled_from(moves))
        if move == "submit":
            kind = remaining.pop(0)
            xid, next_xid = next_xid, next_xid + 1
            f = {"read": read, "write": write, "sync": sync,
                 "close_session": lambda x: frame(x, OpCode.closeSession)}[kind](xid)
            action, _ = pipe.receive(f)
            if action is not Action.IGNORED:
                accepted.append(xid)
                kind_of[xid] = kind
        elif move == "apply":
            xid = data.draw(st.sampled_from(waiting))
            applied.add(xid)
            node.apply(pipe, xid)
        elif move == "sync_point":
            xid = syncs.pop(0)
            kind_of[xid] = "sync_set"
            pipe.sync_point(xid, node.zxid)
        elif move == "close":
            stream.extend(node.ready(pipe))
            abandoned = pipe.close("client gone")
            closed_by_us = True
            break
        else:
            stream.extend(node.ready(pipe))
    stream.extend(node.ready(pipe))
    if not closed_by_us:
        abandoned = pipe.close("end of test")
    replied = xids(stream)
    assert replied == accepted[:len(replied)]
    assert [a.xid for a in abandoned] == accepted[len(replied):]
    for a in abandoned:
        assert a.forwarded == (kind_of[a.xid] in ("write", "close_session"))
    node.apply(pipe, 10**6)  # a late apply after the close: ignored
    assert node.ready(pipe) == []
