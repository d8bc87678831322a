"""Sessions as replicated state (zmqzab/tree/sessions.py): ids as ZooKeeper makes them,
passwords, timeout negotiation, the table's apply and its snapshot.

Random tests use hypothesis: a failure prints the falsifying example and a
``@reproduce_failure`` line; ``pytest --hypothesis-seed=N`` replays a whole run.
"""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqzab.tree.sessions import (
    CONNECT_EXPIRED,
    CONNECT_NEW,
    CONNECT_REFUSED_BEHIND,
    CONNECT_REOPEN,
    CONTAINER_EPHEMERAL_OWNER,
    PASSWORD_LEN,
    REJECTED,
    REPLAYED,
    SESSION_CLOSED,
    SESSION_CREATED,
    SESSION_NOT_OPEN,
    SESSION_RENEWED,
    CloseSessionTxn,
    CreateSessionTxn,
    SessionIdGenerator,
    SessionRecord,
    SessionResult,
    Sessions,
    SessionsSnapshot,
    check_password,
    connect_decision,
    default_timeout_bounds_ms,
    fmt_session_id,
    initial_session_id,
    negotiate_timeout_ms,
    session_password,
)
from zmqzab.zxid import make_zxid

pytestmark = [pytest.mark.zk]

SECRET = b"cluster secret for tests"


# --------------------------------------------------------------------------------------------
# ids


def test_initial_id_is_zookeepers_formula_worked_by_hand():
    """(time << 24) >>> 8 | (sid << 56): the low 40 bits of the time land in bits 16..55.

    time_ms = 1_764_906_000_000 = 0x19A_EC98_5E80 (41 bits); its low 40 bits are
    0x9A_EC98_5E80 (the top bit falls off the left shift by 24). Shifted left by 16 (24 - 8):
    0x009A_EC98_5E80_0000. Server 1 in the top byte: 0x019A_EC98_5E80_0000.
    """
    assert initial_session_id(1, 1_764_906_000_000) == 0x019AEC985E800000
    assert fmt_session_id(initial_session_id(1, 1_764_906_000_000)) == "0x19aec985e800000"
    # Server 3, a 40-bit time: 0x01_2345_6789 << 16 | 3 << 56.
    assert initial_session_id(3, 0x0123456789) == 0x0301234567890000
    # Bits of the time above 40 do not reach the server's byte (ZOOKEEPER-1622's >>>).
    assert initial_session_id(3, 0xFF_0123456789) == 0x0301234567890000


def test_initial_id_of_a_server_from_128_up_is_a_negative_long_as_in_java():
    # 200 = 0xC8: the unsigned id is 0xC801_2345_6789_0000, a Java long below zero.
    expected = 0xC801234567890000 - (1 << 64)
    assert initial_session_id(200, 0x0123456789) == expected
    assert expected < 0
    assert fmt_session_id(expected) == "0xc801234567890000"  # Long.toHexString: unsigned


def test_ids_count_up_by_one_and_two_servers_never_meet():
    gen1 = SessionIdGenerator(1, 0x0123456789)
    gen2 = SessionIdGenerator(2, 0x0123456789)
    ids1 = [gen1.next() for _ in range(1000)]
    ids2 = [gen2.next() for _ in range(1000)]
    assert ids1 == [0x0101234567890000 + k for k in range(1000)]
    assert not set(ids1) & set(ids2)


def test_generator_skips_reserved_and_taken_ids():
    # Server 0 at a time whose low 40 bits are zero starts at id 0: "no session" on the wire.
    gen = SessionIdGenerator(0, 1 << 40)
    assert gen.next() == 1
    # Server 128 at time 0 starts at Long.MIN_VALUE, a container's ephemeralOwner.
    gen = SessionIdGenerator(128, 0)
    assert gen.next() == CONTAINER_EPHEMERAL_OWNER + 1
    # Open sessions are skipped (a restarted node with a clock in the same window).
    table = Sessions()
    base = initial_session_id(5, 77)
    table.apply(CreateSessionTxn(base, 4000), make_zxid(1, 1))
    table.apply(CreateSessionTxn(base + 1, 4000), make_zxid(1, 2))
    assert SessionIdGenerator(5, 77).next(taken=table) == base + 2


def test_server_id_outside_a_byte_is_refused():
    with pytest.raises(ValueError, match="server id must be 0..255"):
        initial_session_id(256, 0)
    with pytest.raises(ValueError, match="server id"):
        initial_session_id(-1, 0)


# --------------------------------------------------------------------------------------------
# passwords


def test_password_is_16_bytes_deterministic_and_keyed():
    sid = initial_session_id(1, 123456)
    pw = session_password(sid, SECRET)
    assert len(pw) == PASSWORD_LEN == 16
    assert session_password(sid, SECRET) == pw  # any node derives the same one
    assert session_password(sid, b"another secret") != pw  # keyed by the secret
    assert session_password(sid + 1, SECRET) != pw  # and by the session
    assert check_password(sid, pw, SECRET)
    assert not check_password(sid, pw, b"another secret")
    assert not check_password(sid + 1, pw, SECRET)
    assert not check_password(sid, pw[:15], SECRET)
    assert not check_password(sid, b"\x00" * 16, SECRET)


def test_password_is_hmac_sha256_of_label_and_signed_id():
    """The documented derivation, recomputed here from its definition."""
    import hashlib
    import hmac

    sid = -5  # negative ids are 8 bytes of two's complement
    message = b"zmqzab session password v1\x00" + b"\xff" * 7 + b"\xfb"
    assert session_password(sid, SECRET) == hmac.new(SECRET, message, hashlib.sha256).digest()[:16]


def test_an_empty_secret_is_refused_with_the_way_out():
    with pytest.raises(ValueError, match="shared secret"):
        session_password(1, b"")


# --------------------------------------------------------------------------------------------
# timeout negotiation


def test_timeout_is_clamped_to_2_and_20_ticks():
    low, high = default_timeout_bounds_ms(2000)  # ZooKeeper's default tickTime
    assert (low, high) == (4000, 40000)
    assert negotiate_timeout_ms(10000, low, high) == 10000  # kazoo's default, inside
    assert negotiate_timeout_ms(1000, low, high) == 4000
    assert negotiate_timeout_ms(0, low, high) == 4000
    assert negotiate_timeout_ms(-7, low, high) == 4000  # jute int: a client may send anything
    assert negotiate_timeout_ms(60000, low, high) == 40000
    assert negotiate_timeout_ms(4000, low, high) == 4000
    assert negotiate_timeout_ms(40000, low, high) == 40000
    assert default_timeout_bounds_ms(50) == (100, 1000)


def test_bad_timeout_bounds_are_refused():
    with pytest.raises(ValueError, match="minSessionTimeout"):
        negotiate_timeout_ms(5000, 9000, 8000)
    with pytest.raises(ValueError):
        negotiate_timeout_ms(5000, 0, 8000)


@given(asked=st.integers(-(1 << 31), (1 << 31) - 1), low=st.integers(1, 100_000),
       span=st.integers(0, 100_000))
def test_negotiated_timeout_is_within_bounds_and_keeps_a_fair_ask(asked, low, span):
    high = low + span
    got = negotiate_timeout_ms(asked, low, high)
    assert low <= got <= high
    if low <= asked <= high:
        assert got == asked


# --------------------------------------------------------------------------------------------
# apply


class Deleter:
    """A stand-in for the data tree's delete_ephemerals: records calls, deletes the listed paths
    it holds for the session (all of them if None), returns them as a list."""

    def __init__(self, ephemerals: dict[int, list[str]] | None = None) -> None:
        self.ephemerals = ephemerals or {}
        self.calls: list[tuple[int, int, tuple[str, ...] | None]] = []

    def __call__(self, session_id: int, zxid: int, paths: tuple[str, ...] | None) -> list[str]:
        self.calls.append((session_id, zxid, paths))
        held = self.ephemerals.pop(session_id, [])
        return held if paths is None else [p for p in held if p in paths]


class TreeResult(msgspec.Struct, frozen=True):
    """Shaped like the tree's TxnResult: the deleted paths and the watch triggers."""

    deleted: tuple[str, ...]
    triggers: tuple[str, ...]


def test_create_and_close_apply():
    table = Sessions()
    sid = initial_session_id(2, 99)
    r = table.apply(CreateSessionTxn(sid, 6000), make_zxid(1, 1))
    assert (r.kind, r.session_id, r.timeout_ms) == (SESSION_CREATED, sid, 6000)
    assert sid in table and table.timeout_ms(sid) == 6000 and len(table) == 1
    assert table.zxid_applied == make_zxid(1, 1)

    tree = Deleter({sid: ["/locks/lock-0000000001", "/e"]})
    r = table.apply(CloseSessionTxn(sid), make_zxid(1, 2), tree)
    assert r.kind == SESSION_CLOSED
    assert r.deleted == ("/locks/lock-0000000001", "/e")
    assert r.timeout_ms == 6000
    assert "2 ephemerals deleted" in r.message
    assert tree.calls == [(sid, make_zxid(1, 2), None)]  # the close's own zxid
    assert sid not in table and table.timeout_ms(sid) is None and len(table) == 0


def test_close_passes_the_leaders_paths_and_hands_back_the_trees_result():
    """ZooKeeper's paths2Delete: the leader lists the ephemerals; the tree deletes those. A
    tree result with ``deleted`` (and the watch triggers) comes back whole."""
    table = Sessions()
    table.apply(CreateSessionTxn(7, 6000), make_zxid(1, 1))
    tree = Deleter({7: ["/a", "/b", "/c"]})
    r = table.apply(CloseSessionTxn(7, paths=("/a", "/c")), make_zxid(1, 2), tree)
    assert tree.calls == [(7, make_zxid(1, 2), ("/a", "/c"))]
    assert r.deleted == ("/a", "/c")

    table.apply(CreateSessionTxn(8, 6000), make_zxid(1, 3))
    out = TreeResult(deleted=("/x",), triggers=("NodeDeleted /x", "NodeChildrenChanged /"))
    r = table.apply(CloseSessionTxn(8), make_zxid(1, 4), lambda sid, zxid, paths: out)
    assert r.kind == SESSION_CLOSED and r.deleted == ("/x",) and r.tree_result is out

    # Without a tree (a table kept alone): closes work, nothing is deleted.
    table.apply(CreateSessionTxn(9, 6000), make_zxid(1, 5))
    r = table.apply(CloseSessionTxn(9, paths=("/y",)), make_zxid(1, 6))
    assert r.kind == SESSION_CLOSED and r.deleted == () and r.tree_result is None


def test_closing_a_session_that_is_not_open_is_a_no_op_result():
    table = Sessions()
    tree = Deleter()
    r = table.apply(CloseSessionTxn(12345), make_zxid(1, 1), tree)
    assert r.kind == SESSION_NOT_OPEN
    assert r.deleted == ()
    assert "not open" in r.message
    assert len(table) == 0
    # The tree is still asked (ZooKeeper's killSession): a stray ephemeral would go too.
    assert tree.calls == [(12345, make_zxid(1, 1), None)]
    # Closing twice: the second is the same no-op.
    table.apply(CreateSessionTxn(7, 5000), make_zxid(1, 2))
    assert table.apply(CloseSessionTxn(7), make_zxid(1, 3)).kind == SESSION_CLOSED
    assert table.apply(CloseSessionTxn(7), make_zxid(1, 4)).kind == SESSION_NOT_OPEN


def test_create_of_an_open_session_sets_its_timeout_again():
    table = Sessions()
    table.apply(CreateSessionTxn(7, 5000), make_zxid(1, 1))
    r = table.apply(CreateSessionTxn(7, 8000), make_zxid(1, 2))
    assert r.kind == SESSION_RENEWED
    assert table.timeout_ms(7) == 8000 and len(table) == 1


def test_a_replayed_txn_changes_nothing():
    """A log replayed over a snapshot: a create at or below zxid_applied must not revive a
    session that a later close removed."""
    table = Sessions()
    table.apply(CreateSessionTxn(7, 5000), make_zxid(1, 1))
    table.apply(CloseSessionTxn(7), make_zxid(1, 2))
    r = table.apply(CreateSessionTxn(7, 5000), make_zxid(1, 1))
    assert r.kind == REPLAYED and r.session_id == 7
    assert 7 not in table
    tree = Deleter()
    assert table.apply(CloseSessionTxn(7), make_zxid(1, 2), tree).kind == REPLAYED
    assert tree.calls == []  # a replayed close deletes nothing


@pytest.mark.parametrize("op, why", [
    (CreateSessionTxn(0, 5000), "reserved"),
    (CreateSessionTxn(CONTAINER_EPHEMERAL_OWNER, 5000), "reserved"),
    (CreateSessionTxn(1 << 63, 5000), "signed 64-bit"),
    (CreateSessionTxn(7, 0), "timeout"),
    (CreateSessionTxn(7, 1 << 31), "timeout"),
    (CloseSessionTxn(-(1 << 63) - 1), "signed 64-bit"),
    (CloseSessionTxn(7, paths=("/a", 3)), "strings"),
])
def test_a_txn_no_node_could_have_proposed_is_rejected_alike(op, why):
    table = Sessions()
    tree = Deleter()
    r = table.apply(op, make_zxid(1, 1), tree)
    assert r.kind == REJECTED and why in r.message
    assert len(table) == 0 and tree.calls == []
    assert table.zxid_applied == make_zxid(1, 1)  # applied (as a rejection) all the same
    msgspec.msgpack.encode(r)  # the result can go on the wire


def test_txns_round_trip_on_the_wire_with_zookeepers_names():
    enc = msgspec.msgpack.Encoder()
    dec = msgspec.msgpack.Decoder(CreateSessionTxn | CloseSessionTxn)
    for op in (CreateSessionTxn(-42, 30000), CloseSessionTxn(1 << 62),
               CloseSessionTxn(-1, paths=("/a", "/b/c"))):
        assert dec.decode(enc.encode(op)) == op
    assert msgspec.msgpack.decode(enc.encode(CreateSessionTxn(5, 6))) == ["zk_create_session", 5, 6]
    assert msgspec.msgpack.decode(enc.encode(CloseSessionTxn(5, ("/e",)))) == [
        "zk_close_session", 5, ["/e"]]
    with pytest.raises(msgspec.ValidationError):
        dec.decode(msgspec.msgpack.encode(["zk_close_session", 5, [7]]))


def test_open_sessions_are_by_id():
    table = Sessions()
    for k, sid in enumerate([9, -3, 4, 1 << 60]):
        table.apply(CreateSessionTxn(sid, 1000 + k), make_zxid(1, k + 1))
    assert table.open_sessions() == [SessionRecord(-3, 1001), SessionRecord(4, 1002),
                                     SessionRecord(9, 1000), SessionRecord(1 << 60, 1003)]
    assert [row["session"] for row in table.view()] == [
        fmt_session_id(-3), "0x4", "0x9", "0x1000000000000000"]


# --------------------------------------------------------------------------------------------
# snapshot


def test_snapshot_round_trip():
    table = Sessions()
    table.apply(CreateSessionTxn(-3, 4000), make_zxid(2, 1))
    table.apply(CreateSessionTxn(11, 9000), make_zxid(2, 2))
    table.apply(CreateSessionTxn(12, 9000), make_zxid(2, 3))
    table.apply(CloseSessionTxn(11), make_zxid(2, 4))
    back = Sessions.restore(table.snapshot())
    assert back.open_sessions() == table.open_sessions() == [SessionRecord(-3, 4000),
                                                             SessionRecord(12, 9000)]
    assert back.zxid_applied == make_zxid(2, 4)
    assert back.snapshot() == table.snapshot()
    # The restored table goes on as the original would.
    assert back.apply(CloseSessionTxn(-3), make_zxid(2, 5)).kind == SESSION_CLOSED
    assert back.apply(CreateSessionTxn(12, 1), make_zxid(2, 3)).kind == REPLAYED


def test_equal_tables_give_equal_snapshot_bytes_whatever_the_order():
    a, b = Sessions(), Sessions()
    a.apply(CreateSessionTxn(1, 100), make_zxid(1, 1))
    a.apply(CreateSessionTxn(2, 200), make_zxid(1, 2))
    b.apply(CreateSessionTxn(2, 200), make_zxid(1, 1))
    b.apply(CreateSessionTxn(1, 100), make_zxid(1, 2))
    assert a.snapshot() == b.snapshot()


def test_a_broken_snapshot_is_refused_with_the_cause():
    enc = msgspec.msgpack.Encoder()
    with pytest.raises(ValueError, match="not a zmqzab sessions snapshot"):
        Sessions.restore(b"\x93garbage")
    with pytest.raises(ValueError, match="version 9 is not supported"):
        Sessions.restore(enc.encode(SessionsSnapshot(9, 0, [])))
    with pytest.raises(ValueError, match="appears twice"):
        Sessions.restore(enc.encode(SessionsSnapshot(1, 5, [SessionRecord(3, 10),
                                                            SessionRecord(3, 10)])))
    with pytest.raises(ValueError, match="timeout"):
        Sessions.restore(enc.encode(SessionsSnapshot(1, 5, [SessionRecord(3, -1)])))
    with pytest.raises(ValueError, match="reserved"):
        Sessions.restore(enc.encode(SessionsSnapshot(1, 5, [SessionRecord(0, 10)])))


ops = st.one_of(
    st.builds(CreateSessionTxn, st.integers(1, 6), st.integers(1, 60_000)),
    st.builds(CloseSessionTxn, st.integers(1, 6)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(ops, max_size=40), st.integers(0, 40))
def test_any_log_restored_from_any_point_ends_the_same(log, cut):
    """Two replicas: one applies the whole log; the other restores a snapshot taken after the
    first ``cut`` txns and then replays the WHOLE log (as a node that replays its log over a
    snapshot). Same table, same results for the txns after the cut."""
    cut = min(cut, len(log))
    whole = Sessions()
    results = [whole.apply(op, make_zxid(1, k + 1)) for k, op in enumerate(log)]
    part = Sessions()
    for k, op in enumerate(log[:cut]):
        part.apply(op, make_zxid(1, k + 1))
    part = Sessions.restore(part.snapshot())
    replayed = [part.apply(op, make_zxid(1, k + 1)) for k, op in enumerate(log)]
    assert part.snapshot() == whole.snapshot()
    assert replayed[cut:] == results[cut:]
    assert all(r.kind == REPLAYED for r in replayed[:cut])
    # And the model: a session is open iff its last txn was a create.
    last: dict[int, object] = {}
    for op in log:
        last[op.session_id] = op
    expected = sorted(sid for sid, op in last.items() if type(op) is CreateSessionTxn)
    assert [r.session_id for r in whole.open_sessions()] == expected


def test_result_is_a_plain_struct():
    r = SessionResult(kind=SESSION_CREATED, message="m", session_id=-1, timeout_ms=5)
    assert msgspec.msgpack.decode(msgspec.msgpack.encode(r), type=SessionResult) == r


def test_sessions_and_expiry_are_pure():
    """Both modules import only the stdlib without clocks, I/O or threads, msgspec and the
    wire vocabulary (no global random either: they use none)."""
    import sys

    from tests.unit.test_imports import IMPURE, import_graph

    wrong = []
    graph = import_graph()
    assert {"zmqzab.tree.sessions", "zmqzab.tree.expiry"} <= graph.keys()
    for module, imports in graph.items():
        if module not in ("zmqzab.tree.sessions", "zmqzab.tree.expiry"):
            continue
        for imp in imports:
            top = imp.target.partition(".")[0]
            if imp.target.startswith("zmqzab"):
                ok = imp.target in ("zmqzab.zxid", "zmqzab.tree.sessions")
            else:
                ok = top == "msgspec" or (top in sys.stdlib_module_names
                                          and top not in IMPURE | {"random"})
            if not ok:
                wrong.append(imp.where())
    assert not wrong, "sessions/expiry must stay pure: " + "; ".join(wrong)


# --------------------------------------------------------------------------------------------
# ConnectRequest


def test_connect_decision_follows_zookeepers_order():
    sid = initial_session_id(1, 5000)
    pw = session_password(sid, SECRET)
    applied = make_zxid(3, 10)
    # A client that saw more than this node applied is refused first, even with a good password
    # and even for a new session.
    for asked in (sid, 0):
        d = connect_decision(asked, pw, make_zxid(3, 11), applied, SECRET)
        assert d.outcome == CONNECT_REFUSED_BEHIND
        assert "3:11" in d.message and "3:10" in d.message and "another server" in d.message
    assert connect_decision(0, b"", make_zxid(3, 10), applied, SECRET).outcome == CONNECT_NEW
    assert connect_decision(0, b"\x00" * 16, 0, applied, SECRET).outcome == CONNECT_NEW
    assert connect_decision(sid, pw, make_zxid(2, 99), applied, SECRET).outcome == CONNECT_REOPEN
    bad = connect_decision(sid, b"\x01" * 16, 0, applied, SECRET)
    assert bad.outcome == CONNECT_EXPIRED and fmt_session_id(sid) in bad.message
    assert connect_decision(sid, pw[:8], 0, applied, SECRET).outcome == CONNECT_EXPIRED
    assert connect_decision(sid + 1, pw, 0, applied, SECRET).outcome == CONNECT_EXPIRED


def test_a_full_table_rejects_new_sessions_but_renews_open_ones():
    table = Sessions(sessions_max=2)
    assert table.apply(CreateSessionTxn(1, 100), make_zxid(1, 1)).kind == SESSION_CREATED
    assert table.apply(CreateSessionTxn(2, 100), make_zxid(1, 2)).kind == SESSION_CREATED
    r = table.apply(CreateSessionTxn(3, 100), make_zxid(1, 3))
    assert r.kind == REJECTED and "too many open sessions" in r.message
    assert 3 not in table
    assert table.apply(CreateSessionTxn(2, 200), make_zxid(1, 4)).kind == SESSION_RENEWED
    table.apply(CloseSessionTxn(1), make_zxid(1, 5))
    assert table.apply(CreateSessionTxn(3, 100), make_zxid(1, 6)).kind == SESSION_CREATED
    with pytest.raises(ValueError, match="more than 1"):
        Sessions.restore(table.snapshot(), sessions_max=1)
