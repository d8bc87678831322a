"""The replicated state (zmqzab/state.py): the game, the data tree and the sessions share one log.

Goal: the tree's and the sessions' txns travel in the log beside the game's and every replica
applies them alike; snapshots hold all three and old (game-only) ones still restore; the
game's exactly-once is untouched by the new txns; `zmqzab log` prints them.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import msgspec
import pytest
from typer.testing import CliRunner

from zmqzab.chaos.checker import state_digest
from zmqzab.cli.app import app
from zmqzab.core.output import Append
from zmqzab.game.limits import request_problem
from zmqzab.game.rules import Game
from zmqzab.host.clients import ClientTable
from zmqzab.host.recovery import make_state
from zmqzab.messages import Forward, Guess, NewGame, Txn, describe_op
from zmqzab.security.plausible import plausible
from zmqzab.state import (REJECTED, REPLAYED, TREE_APPLIED, TREE_ERROR, ReplicatedState, ZkResult,
                          is_game_op)
from zmqzab.storage.compaction import SaveSnapshot
from zmqzab.storage.store import open_storage
from zmqzab.storage.txnlog import TxnLog
from zmqzab.tree.acl import OPEN_ACL_UNSAFE
from zmqzab.tree.errors import Code
from zmqzab.tree.sessions import CloseSessionTxn, CreateSessionTxn
from zmqzab.tree.txns import (CheckVersionTxn, CreateTxn, DeleteTxn, ErrorTxn, MultiTxn, SetACLTxn,
                              SetDataTxn)
from zmqzab.zxid import make_zxid

pytestmark = [pytest.mark.unit, pytest.mark.zk]

S1 = 0x0100_0000_0001_0001
S2 = 0x0200_0000_0001_0001
T0 = 1_700_000_000_000

#: A Game.snapshot() written by the build before the tree joined the log (main at 67aac64):
#: four guesses by clients a, b, c at 1:1..1:4, round 1 closed (b wins with 40). Existing data
#: dirs hold such bytes; they must keep restoring.
OLD_GAME_SNAPSHOT = bytes.fromhex(
    "9bab7a6d717a61622e67616d6502cf0000000100000004cd2710010203289091970101a162282a28cf00000001"
    "000000049394a16202cf0000000100000002810292cf000000010000000287a46b696e64ae67756573735f7265"
    "636f72646564a76d657373616765b567756573732031206f662033207265636f72646564a467616d6501a5726f"
    "756e6401a67461726765742aab67756573735f696e64657801aa726f756e645f73697a650394a16303cf000000"
    "0100000003810392cf000000010000000387a46b696e64ae67756573735f7265636f72646564a76d6573736167"
    "65b567756573732032206f662033207265636f72646564a467616d6501a5726f756e6401a67461726765742aab"
    "67756573735f696e64657802aa726f756e645f73697a650394a16104cf0000000100000004820192cf00000001"
    "0000000186a46b696e64aa7461726765745f736574a76d657373616765bd636c69656e74206120736574207468"
    "652074617267657420746f203432a467616d6501a5726f756e6401a67461726765742aaa726f756e645f73697a"
    "65030492cf00000001000000048ba46b696e64ac726f756e645f636c6f736564a76d657373616765d930726f75"
    "6e64203120636c6f7365643a20622077696e7320776974682034302028746172676574203432202d3e20343029"
    "a467616d6501a5726f756e6401a674617267657428ab67756573735f696e64657803aa726f756e645f73697a65"
    "03a677696e6e6572a162ad77696e6e696e675f76616c756528aa6f6c645f7461726765742aaa6e65775f746172"
    "67657428"
)


def z(counter: int, epoch: int = 1) -> int:
    return make_zxid(epoch, counter)


def mixed_log() -> list[Txn]:
    """Game ops, tree txns and session txns interleaved, as a leader would log them."""
    ops = [
        Guess("alice", 1, 42, 3),
        CreateSessionTxn(S1, 30_000),
        CreateTxn("/app", b"config", OPEN_ACL_UNSAFE, 0, 1),
        Guess("bob", 1, 40, 3),
        CreateTxn("/app/lock-0000000000", b"", OPEN_ACL_UNSAFE, S1, 1),
        CreateTxn("/e", b"", OPEN_ACL_UNSAFE, S1, 2),
        SetDataTxn("/app", b"config-2", 1),
        SetACLTxn("/app", OPEN_ACL_UNSAFE, 1),
        MultiTxn((CreateTxn("/m", b"m", OPEN_ACL_UNSAFE, 0, 3), CheckVersionTxn("/app", 1))),
        ErrorTxn(Code.NONODE),
        Guess("carol", 1, 47, 3),
        DeleteTxn("/m"),
        CreateSessionTxn(S2, 10_000),
        CreateTxn("/f", b"", OPEN_ACL_UNSAFE, S2, 5),
        CloseSessionTxn(S1, ("/app/lock-0000000000", "/e")),
    ]
    return [Txn(z(k), op, T0 + k) for k, op in enumerate(ops, 1)]


def applied(txns: list[Txn], state: ReplicatedState | None = None) -> ReplicatedState:
    state = state if state is not None else ReplicatedState()
    for t in txns:
        state.apply(t)
    return state


def test_tree_and_session_txns_go_through_a_real_log_segment_and_replicas_agree(tmp_path: Path) -> None:
    """Setup: the mixed log written by storage's TxnLog, reopened and read back.
    Expected: the same txns decode; two replicas (one fed the written txns, one the decoded
    ones) reach the same state digest, and the tree holds what the txns say."""
    txns = mixed_log()
    log = TxnLog(tmp_path)
    log.append(txns)
    log.sync()
    log.close()
    decoded = TxnLog(tmp_path).read_all()
    assert decoded == txns

    a, b = applied(txns), applied(decoded)
    assert state_digest(a.snapshot()) == state_digest(b.snapshot())
    assert a == b
    assert a.zxid_applied == b.zxid_applied == z(len(txns))
    tree = a.tree
    assert tree.get_data("/app")[0] == b"config-2"
    assert tree.get_data("/app")[1].version == 1
    assert "/m" not in tree.nodes and "/e" not in tree.nodes and "/app/lock-0000000000" not in tree.nodes
    assert tree.stat("/f").ephemeralOwner == S2
    assert tree.stat("/app").ctime == T0 + 3  # the leader's ts_ms of the create
    assert S1 not in a.sessions and a.sessions.timeout_ms(S2) == 10_000
    # The first guess set the target, the next two are open: the tree txns between them changed
    # nothing of the game.
    assert a.game.target == 42 and [g["value"] for g in a.game.view()["guesses"]] == [40, 47]


def test_a_snapshot_with_game_tree_and_sessions_round_trips() -> None:
    """Setup: the mixed log applied, snapshotted at every zxid. Expected: each snapshot restores
    to an equal state (same bytes, same zxid), and the restored state continues the log to the
    same end as the original."""
    txns = mixed_log()
    state = ReplicatedState()
    for k, t in enumerate(txns):
        state.apply(t)
        data = state.snapshot()
        back = make_state(data)
        assert back.snapshot() == data and back.zxid_applied == t.zxid
        rest = applied(txns[k + 1:], back)
        assert rest == applied(txns)
    final = ReplicatedState.restore(state.snapshot())
    assert final.view()["znodes"] == len(state.tree.nodes)
    assert final.view()["sessions"] == [{"session": "0x200000000010001", "timeout_ms": 10_000}]


def test_an_old_game_only_snapshot_restores_and_a_game_only_state_writes_the_same_bytes() -> None:
    """Goal: disk compatibility both ways. Setup: a Game snapshot written before the tree
    joined the log (and before the game's records had sessions, issue 17). Expected: it
    restores; a game-only state writes exactly the game's bytes (the old fields unchanged, the
    session fields added at the end, so that only their bytes are new); the first tree txn
    switches to the new format, which restores too."""
    state = make_state(OLD_GAME_SNAPSHOT)
    assert state.zxid_applied == z(4)
    assert state.game.view()["history"][0]["winner"] == "b"
    assert state.snapshot() == Game.restore(OLD_GAME_SNAPSHOT).snapshot()
    assert make_state(state.snapshot()).snapshot() == state.snapshot()
    old = msgspec.msgpack.decode(OLD_GAME_SNAPSHOT)
    new = msgspec.msgpack.decode(state.snapshot())
    assert _extends(new, old) and new[len(old):] == [0, 0]  # clock_ms, horizon
    assert state.view() == Game.restore(OLD_GAME_SNAPSHOT).view()  # no tree keys yet

    game = Game.restore(OLD_GAME_SNAPSHOT)
    guess = Txn(z(5), Guess("d", 1, 41, 3))
    assert state.apply(guess) == game.apply(guess)
    assert state.snapshot() == game.snapshot()

    state.apply(Txn(z(6), CreateTxn("/x", b"", OPEN_ACL_UNSAFE, 0, 1)))
    data = state.snapshot()
    assert data[:40] != game.snapshot()[:40]
    back = ReplicatedState.restore(data)
    assert back == state and back.game.view() == state.game.view() and "/x" in back.tree.nodes


def _extends(new: object, old: object) -> bool:
    """``new`` is ``old`` with fields added at the end of its arrays (defaults), nothing else."""
    if isinstance(old, list):
        return (isinstance(new, list) and len(new) >= len(old)
                and all(_extends(n, o) for n, o in zip(new, old)))
    if isinstance(old, dict):
        return isinstance(new, dict) and new.keys() == old.keys() and all(
            _extends(new[k], old[k]) for k in old)
    return new == old


@pytest.mark.parametrize("data", [b"", b"\x01\x02", b"\x95\xacmmqzab.state\x02\x00\xc4\x00\xc4\x00\xc4\x00"])
def test_bytes_that_are_no_snapshot_are_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        ReplicatedState.restore(data)


def test_close_session_removes_its_ephemerals_and_nothing_else() -> None:
    """Setup: sessions S1 and S2, each with ephemerals, S1's under a persistent parent.
    Faults: a second closeSession of S1 (the client's close racing the leader's expiry).
    Expected: closing S1 deletes exactly S1's ephemerals (sorted, with their watch triggers),
    S2's and the persistent nodes stay; the second close is session_not_open and changes
    nothing; closeSession with no paths deletes all the session holds."""
    ops = [CreateSessionTxn(S1, 5_000), CreateSessionTxn(S2, 5_000),
           CreateTxn("/p", b"", OPEN_ACL_UNSAFE, 0, 1),
           CreateTxn("/p/b", b"", OPEN_ACL_UNSAFE, S1, 1),
           CreateTxn("/p/a", b"", OPEN_ACL_UNSAFE, S1, 2),
           CreateTxn("/s2", b"", OPEN_ACL_UNSAFE, S2, 2)]
    state = applied([Txn(z(k), op) for k, op in enumerate(ops, 1)])
    assert sorted(state.tree.ephemerals_of(S1)) == ["/p/a", "/p/b"]

    r = state.apply(Txn(z(7), CloseSessionTxn(S1)))
    assert isinstance(r, ZkResult) and r.kind == "session_closed" and r.err == 0
    assert r.session.deleted == ("/p/a", "/p/b")
    assert r.tree is not None and {t.path for t in r.tree.triggers} >= {"/p/a", "/p/b", "/p"}
    assert "/p/a" not in state.tree.nodes and "/p/b" not in state.tree.nodes
    assert "/p" in state.tree.nodes and "/s2" in state.tree.nodes
    assert state.tree.ephemerals_of(S1) == [] and S1 not in state.sessions and S2 in state.sessions
    assert state.tree.stat("/p").numChildren == 0

    before = state.snapshot()
    again = state.apply(Txn(z(8), CloseSessionTxn(S1)))
    assert again.kind == "session_not_open" and again.session.deleted == ()
    assert ReplicatedState.restore(state.snapshot()).tree.nodes.keys() == \
        ReplicatedState.restore(before).tree.nodes.keys()

    r2 = state.apply(Txn(z(9), CloseSessionTxn(S2, None)))
    assert r2.session.deleted == ("/s2",) and "/s2" not in state.tree.nodes and len(state.sessions) == 0


def test_the_games_exactly_once_holds_with_tree_txns_interleaved() -> None:
    """Setup: alice's guess, tree and session txns, then a second committed copy of alice's
    guess (a retry committed by a new leader). Expected: the copy gets the original answer and
    changes nothing of the game; the leader's keys: (client, seq) for game ops, None (never
    deduplicated) for tree txns."""
    first = Txn(z(1), Guess("alice", 1, 42, 3))
    state = ReplicatedState()
    r1 = state.apply(first)
    state.apply(Txn(z(2), CreateSessionTxn(S1, 5_000)))
    state.apply(Txn(z(3), CreateTxn("/a", b"", OPEN_ACL_UNSAFE, S1, 1)))
    game_before = state.game.view()
    r_copy = state.apply(Txn(z(4), Guess("alice", 1, 42, 3)))
    assert r_copy == r1
    game_after = state.game.view()
    assert {k: v for k, v in game_after.items() if k != "zxid_applied"} == \
        {k: v for k, v in game_before.items() if k != "zxid_applied"}
    assert state.zxid_applied == z(4) and state.answer_of("alice", 1) == (z(1), r1)

    assert state.request_key(first.op) == ("alice", 1) and state.is_applied(("alice", 1))
    assert state.request_key(CreateTxn("/b", b"", OPEN_ACL_UNSAFE, 0, 2)) is None
    assert not state.is_applied(None)
    # bob's guesses still count as the next of the round.
    r_bob = state.apply(Txn(z(5), Guess("bob", 1, 40, 3)))
    assert r_bob.kind == "guess_recorded" and r_bob.guess_index == 1


def test_a_txn_at_or_below_the_applied_zxid_changes_nothing() -> None:
    """Goal: replaying a log over a snapshot (ZAB_CHECKLIST #24) keeps the state. Expected: a
    tree, session or game txn at or below zxid_applied is a replay: no change."""
    txns = mixed_log()
    state = applied(txns)
    before = state.snapshot()
    for t in txns:
        r = state.apply(t)
        if not is_game_op(t.op):
            assert r.kind == REPLAYED
    assert state.snapshot() == before


def test_a_tree_txn_no_replica_can_apply_is_rejected_alike_everywhere() -> None:
    """Faults: a hostile or buggy proposer logs a create with a path that is not a path, and a
    setData of a node that does not exist. Expected: every replica refuses them the same way
    (no exception, no change): rejected and a NONODE tree_error."""
    bad = [Txn(z(1), CreateTxn("no-slash", b"", OPEN_ACL_UNSAFE, 0, 1)),
           Txn(z(2), CreateTxn("", b"", OPEN_ACL_UNSAFE, 0, 1)),
           Txn(z(3), MultiTxn((DeleteTxn("/a/"),))),
           Txn(z(4), SetDataTxn("/nope", b"", 1))]
    a, b = ReplicatedState(), ReplicatedState()
    results = [a.apply(t) for t in bad]
    assert [r.kind for r in results] == [REJECTED, REJECTED, REJECTED, TREE_ERROR]
    assert results[3].err == Code.NONODE
    assert [b.apply(t) for t in bad] == results
    assert a == b and set(a.tree.nodes) == set(ReplicatedState().tree.nodes)


def test_tree_txns_are_not_game_requests_at_any_intake() -> None:
    """Goal: only the leader's prepare writes tree txns. Expected: the game's client port
    refuses one with a reason naming the way out, a FORWARD carrying one is implausible, and
    the client table never waits on one."""
    create = CreateTxn("/a", b"", OPEN_ACL_UNSAFE, 0, 1)
    problem = request_problem(create)
    assert "not a game request" in problem and "zk_port" in problem
    assert request_problem(CreateSessionTxn(S1, 5_000))
    assert not request_problem(Guess("alice", 1, 42))
    ids = frozenset({0, 1, 2})
    assert plausible(Forward(epoch=1, ops=[Guess("alice", 1, 42, 3)]), ids)
    assert not plausible(Forward(epoch=1, ops=[Guess("alice", 1, 42, 3), create]), ids)
    table: ClientTable[str] = ClientTable(10)
    table.wait([create, Guess("alice", 1, 42, 3)], ["w-tree", "w-game"], 0)
    assert table.pop(create) == [] and table.pop(Guess("alice", 1, 42, 3)) == ["w-game"]


def test_describe_op_renders_tree_and_session_txns() -> None:
    assert describe_op(CreateTxn("/a", b"xy", OPEN_ACL_UNSAFE, S1, 1)).startswith(
        "create /a ephemeral of session 0x100000000010001")
    assert describe_op(CreateSessionTxn(S1, 5_000)) == "createSession 0x100000000010001 (timeout 5000 ms)"
    assert describe_op(CloseSessionTxn(S1, ("/a",))) == "closeSession 0x100000000010001 (deletes 1 ephemeral(s))"
    assert describe_op(NewGame("bob", 2, 3)) == "new-game (bob#2)"


def test_zmqzab_log_and_snapshot_show_tree_and_session_txns(tmp_path: Path) -> None:
    """Setup: a data dir holding the mixed log and a snapshot in the new format.
    Expected: `zmqzab log` prints each tree and session txn in ZooKeeper's words (text and
    JSON), the game's lines as before; `zmqzab snapshot` shows the tree's size."""
    d = tmp_path / "node-0"
    storage, _ = open_storage(d)
    storage.write_epochs(1, 1)
    state = ReplicatedState()
    txns = mixed_log()
    for t in txns:
        storage.apply(Append([t]))
        state.apply(t)
    storage.save_snapshot(SaveSnapshot(state.zxid_applied, state.snapshot()))
    storage.sync()
    storage.close()

    runner = CliRunner()
    r = runner.invoke(app, ["log", "--data-dir", str(d)])
    assert r.exit_code == 0, r.output
    assert "create /app (6 bytes, parent cversion 1)" in r.stdout
    assert "createSession 0x100000000010001 (timeout 30000 ms)" in r.stdout
    assert "closeSession 0x100000000010001 (deletes 2 ephemeral(s))" in r.stdout
    assert "multi [create /m (1 bytes, parent cversion 3); check /app (version 1)]" in r.stdout
    assert "guess 42 (seq 1, round size 3)" in r.stdout
    rows = [json.loads(x) for x in runner.invoke(app, ["log", "--data-dir", str(d), "--json"]).stdout.splitlines()]
    assert [x["command"] for x in rows[:3]] == ["guess", "createSession", "create"]
    assert rows[0]["client"] == "alice" and rows[1]["session"] == "0x100000000010001"
    assert rows[2]["path"] == "/app"

    r = runner.invoke(app, ["snapshot", "--data-dir", str(d)])
    assert r.exit_code == 0, r.output
    assert f"tree: {len(state.tree.nodes)} znode(s), 1 ephemeral(s); 1 open session(s)" in r.stdout


def _random_txns(rng: random.Random, n: int) -> list[Txn]:
    """Random game, tree and session txns over a few paths and sessions: many refused by the
    tree (the point is that every replica refuses them alike)."""
    paths = ["/a", "/b", "/a/x", "/a/y", "/b/x", "/a/x/q"]
    sessions = [S1, S2, 0x0300_0000_0001_0001]
    out = []
    for k in range(1, n + 1):
        roll = rng.random()
        path = rng.choice(paths)
        if roll < 0.15:
            op = Guess(f"c{rng.randrange(3)}", rng.randrange(1, 8), rng.randrange(101), 3)
        elif roll < 0.4:
            owner = rng.choice([0, 0, *sessions])
            op = CreateTxn(path, bytes(rng.randrange(4)), OPEN_ACL_UNSAFE, owner, rng.randrange(1, 9))
        elif roll < 0.55:
            op = DeleteTxn(path)
        elif roll < 0.65:
            op = SetDataTxn(path, b"d" * rng.randrange(5), rng.randrange(1, 9))
        elif roll < 0.72:
            op = MultiTxn((CreateTxn(path, b"", OPEN_ACL_UNSAFE, 0, rng.randrange(1, 9)),
                           rng.choice([CheckVersionTxn(path, 0), ErrorTxn(Code.BADVERSION)])))
        elif roll < 0.86:
            op = CreateSessionTxn(rng.choice(sessions), rng.randrange(1, 60_000))
        else:
            op = CloseSessionTxn(rng.choice(sessions), rng.choice([None, (path,)]))
        out.append(Txn(z(k), op, T0 + k))
    return out


@pytest.mark.parametrize("seed", range(20))
def test_random_mixed_logs_give_equal_replicas_through_snapshots(seed: int) -> None:
    """Setup: a random mixed log (seed printed). Replica A applies it straight; replica B is
    snapshotted and restored at a random point, then replays part of the log before it (a
    recovery over a snapshot) and applies the rest. Expected: equal results after the restore,
    equal digests at the end, and A's final snapshot restores to the same bytes."""
    print(f"seed {seed}: reproduce with pytest -k 'test_random_mixed_logs and {seed}'")
    rng = random.Random(seed)
    txns = _random_txns(rng, 120)
    cut = rng.randrange(len(txns))
    a = ReplicatedState()
    results_a = [a.apply(t) for t in txns]
    b = applied(txns[:cut])
    b = ReplicatedState.restore(b.snapshot())
    restored = b.snapshot()
    for t in txns[rng.randrange(cut + 1):cut]:  # a replay over the snapshot changes nothing
        b.apply(t)
    assert b.snapshot() == restored
    results_b = [b.apply(t) for t in txns[cut:]]
    assert results_b == results_a[cut:]
    assert state_digest(a.snapshot()) == state_digest(b.snapshot()), f"seed {seed}"
    assert ReplicatedState.restore(a.snapshot()).snapshot() == a.snapshot()
    assert any(isinstance(r, ZkResult) and r.kind == TREE_APPLIED for r in results_a)


def test_the_replicated_state_is_pure() -> None:
    """zmqzab/state.py is applied by the core: like the game and the tree, it imports no I/O,
    clock, threads or global random, and from zmqzab only pure layers."""
    import sys

    from tests.unit.test_imports import IMPURE, import_graph

    pure = ("zmqzab.game", "zmqzab.tree", "zmqzab.zkapi", "zmqzab.messages", "zmqzab.zxid")
    wrong = []
    for imp in import_graph()["zmqzab.state"]:
        top = imp.target.partition(".")[0]
        if imp.target.startswith("zmqzab"):
            ok = any(imp.target == p or imp.target.startswith(p + ".") for p in pure)
        else:
            ok = top == "msgspec" or (top in sys.stdlib_module_names and top not in IMPURE)
        if not ok:
            wrong.append(imp.where())
    assert not wrong, "; ".join(wrong)
