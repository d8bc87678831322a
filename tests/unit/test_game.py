"""The replicated game: rules, exactly-once, snapshot round trips and determinism.

Random tests use hypothesis: a failure prints the falsifying example and a
``@reproduce_failure`` line; ``pytest --hypothesis-seed=N`` replays a whole run.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zmqzab.game import rules as game_module
from zmqzab.game.rules import (
    CLIENTS_MAX,
    SEQ_WINDOW,
    Game,
    validate_value,
)
from zmqzab.messages import GameResult, Guess, NewGame, Txn
from zmqzab.zxid import make_zxid

pytestmark = [pytest.mark.game]


class Feed:
    """Applies ops to a game with increasing zxids (epoch 1) and keeps the results."""

    def __init__(self, game: Game | None = None, epoch: int = 1) -> None:
        self.game = game if game is not None else Game()
        self.epoch = epoch
        self.counter = 0
        self.seqs: dict[str, int] = {}

    def txn(self, op) -> Txn:
        self.counter += 1
        return Txn(zxid=make_zxid(self.epoch, self.counter), op=op)

    def apply(self, op) -> GameResult:
        return self.game.apply(self.txn(op))

    def next_seq(self, client: str) -> int:
        self.seqs[client] = self.seqs.get(client, 0) + 1
        return self.seqs[client]

    def guess(self, client: str, value: int, round_size: int = 3, seq: int | None = None):
        seq = self.next_seq(client) if seq is None else seq
        return self.apply(Guess(client_id=client, seq=seq, value=value, round_size=round_size))

    def new_game(self, client: str, round_size: int = 3, seq: int | None = None):
        seq = self.next_seq(client) if seq is None else seq
        return self.apply(NewGame(client_id=client, seq=seq, round_size=round_size))


def state_without_zxid(game: Game) -> dict:
    view = game.view(recent=100)
    view.pop("zxid_applied")
    return {"view": view, "sessions": [msgspec.to_builtins(s) for s in game._sessions.values()]}


# --------------------------------------------------------------------------------------------
# The rules


def test_first_guess_sets_target():
    f = Feed()
    r = f.guess("c1", 42)
    assert r.kind == "target_set"
    assert r.target == 42 and r.round == 1 and r.game == 1 and r.round_size == 3
    assert r.message == "client c1 set the target to 42"
    assert f.game.target == 42
    assert f.game.view()["guesses"] == []


def test_round_closes_at_round_size_and_closest_wins():
    f = Feed()
    f.guess("c1", 42)
    r1 = f.guess("c2", 10)
    r2 = f.guess("c3", 40)
    assert (r1.kind, r1.guess_index, r1.round_size) == ("guess_recorded", 1, 3)
    assert r1.message == "guess 1 of 3 recorded"
    assert (r2.kind, r2.guess_index) == ("guess_recorded", 2)
    assert len(f.game.view()["guesses"]) == 2
    r3 = f.guess("c4", 90)
    assert r3.kind == "round_closed"
    assert (r3.winner, r3.winning_value, r3.old_target, r3.new_target) == ("c3", 40, 42, 40)
    assert r3.round == 1 and r3.target == 40
    assert r3.message == "round 1 closed: c3 wins with 40 (target 42 -> 40)"
    view = f.game.view()
    assert view["target"] == 40 and view["round"] == 2 and view["guesses"] == []
    assert view["history"] == [
        {"game": 1, "round": 1, "winner": "c3", "winning_value": 40, "old_target": 42,
         "new_target": 40, "zxid": "1:4"}
    ]
    # The next round measures against the new target.
    f.guess("c1", 0)
    f.guess("c2", 100)
    r = f.guess("c3", 45)
    assert (r.kind, r.round, r.winner, r.old_target, r.new_target) == (
        "round_closed", 2, "c3", 40, 45)


def test_tie_goes_to_the_earlier_zxid():
    f = Feed()
    f.guess("setter", 50)
    f.guess("early", 45)
    f.guess("middle", 30)
    r = f.guess("late", 55)  # as close as "early", but later
    assert r.winner == "early" and r.new_target == 45


def test_round_size_one_closes_every_guess():
    f = Feed()
    f.new_game("host", round_size=1)
    assert f.guess("c1", 10, round_size=1).kind == "target_set"
    r = f.guess("c2", 20, round_size=1)
    assert (r.kind, r.guess_index, r.round_size, r.new_target) == ("round_closed", 1, 1, 20)


def test_new_game_resets_and_takes_its_round_size():
    f = Feed()
    f.guess("c1", 42)
    f.guess("c2", 41)
    r = f.new_game("host", round_size=2)
    assert (r.kind, r.game, r.round, r.round_size, r.target) == ("new_game", 2, 1, 2, None)
    assert "game 2" in r.message and "1 open guess" in r.message
    view = f.game.view()
    assert view["target"] is None and view["guesses"] == [] and view["round_size"] == 2
    # Later guesses carry another round size (a leader with another config): the game's wins.
    assert f.guess("c1", 7, round_size=5).kind == "target_set"
    assert f.guess("c2", 8, round_size=5).message == "guess 1 of 2 recorded"
    assert f.guess("c3", 9, round_size=5).kind == "round_closed"


def test_first_game_takes_round_size_from_first_guess():
    f = Feed()
    assert f.guess("c1", 42, round_size=2).round_size == 2
    f.guess("c2", 1, round_size=9)
    assert f.guess("c3", 2, round_size=9).kind == "round_closed"


@pytest.mark.parametrize(
    "op",
    [
        Guess(client_id="bad", seq=1, value=101),
        Guess(client_id="bad", seq=1, value=-1),
        Guess(client_id="bad", seq=1, value=True),  # not an int, even if Python says so
        Guess(client_id="bad", seq=1, value=5, round_size=0),
        Guess(client_id="bad", seq=1, value=5, round_size=101),
        NewGame(client_id="bad", seq=1, round_size=0),
    ],
)
@pytest.mark.parametrize("target_set_first", [False, True])
def test_bad_values_are_rejected_identically(op, target_set_first):
    nodes = [Feed(), Feed()]
    results = []
    for f in nodes:
        if target_set_first:
            f.guess("c1", 42)
        before = state_without_zxid(f.game)
        results.append(f.apply(op))
        after = state_without_zxid(f.game)
        # Only the session record changes (so a retry gets the same refusal).
        for state in (before, after):
            state.pop("sessions")
            state["view"].pop("clients")
        assert after == before
    assert results[0] == results[1]
    assert results[0].kind == "rejected"
    assert nodes[0].game.snapshot() == nodes[1].game.snapshot()
    # The refusal is remembered: a retry gets it back.
    assert nodes[0].apply(op) == results[0]


def test_bad_client_id_or_seq_is_rejected_without_a_session():
    f = Feed()
    assert f.apply(Guess(client_id="", seq=1, value=5)).kind == "rejected"
    assert f.apply(Guess(client_id="x" * 129, seq=1, value=5)).kind == "rejected"
    assert f.apply(Guess(client_id="c1", seq=-1, value=5)).kind == "rejected"
    assert f.game.view()["clients"] == 0
    assert f.game.target is None


def test_validate_value():
    assert validate_value(0) == 0
    assert validate_value(100) == 100
    assert validate_value("42") == 42
    assert validate_value(" 7 ") == 7
    for bad in ["abc", "", "4.5", "-1", "101", 101, -1, 4.0, True, None, "٣", "1e2"]:
        with pytest.raises(ValueError, match="guess must be an integer from 0 to 100, got"):
            validate_value(bad)
    with pytest.raises(ValueError) as info:
        validate_value("abc")
    assert str(info.value) == "guess must be an integer from 0 to 100, got 'abc'"


# --------------------------------------------------------------------------------------------
# Exactly-once


def test_same_client_seq_twice_returns_original_and_changes_nothing():
    f = Feed()
    first = f.guess("c1", 42, seq=1)
    f.guess("c2", 10, seq=1)
    before = state_without_zxid(f.game)
    again = f.guess("c1", 99, seq=1)  # a retry, even with another value, is the same request
    assert again == first
    assert state_without_zxid(f.game) == before
    assert f.game.zxid_applied == make_zxid(1, 3)


def test_retry_of_a_round_closing_guess_does_not_close_another_round():
    f = Feed()
    f.guess("c1", 42)
    f.guess("c2", 40)
    f.guess("c3", 41)
    closing = f.guess("c4", 43, seq=7)
    assert closing.kind == "round_closed"
    assert f.guess("c4", 43, seq=7) == closing
    assert f.game.view()["round"] == 2 and f.game.view()["guesses"] == []


def test_pipelined_seqs_out_of_order_within_the_window():
    f = Feed()
    r3 = f.guess("c1", 50, seq=3)
    r1 = f.guess("c1", 10, seq=1)
    r2 = f.guess("c1", 20, seq=2)
    assert [r.kind for r in (r3, r1, r2)] == ["target_set", "guess_recorded", "guess_recorded"]
    assert f.guess("c1", 0, seq=1) == r1
    assert f.guess("c1", 0, seq=2) == r2
    assert f.guess("c1", 0, seq=3) == r3
    # A gap far behind the newest seq but inside the window is still a new request.
    r_far = f.guess("c1", 30, seq=3 + SEQ_WINDOW - 1)
    r_gap = f.guess("c1", 40, seq=4)
    assert r_gap.kind != "rejected"
    assert f.guess("c1", 0, seq=4) == r_gap
    assert f.guess("c1", 0, seq=3 + SEQ_WINDOW - 1) == r_far


def test_too_old_seq_is_rejected_and_changes_nothing():
    f = Feed()
    results = {seq: f.guess("c1", seq % 101, seq=seq) for seq in range(1, 201)}
    oldest_kept = 200 - SEQ_WINDOW + 1
    assert f.guess("c1", 5, seq=oldest_kept) == results[oldest_kept]
    before = state_without_zxid(f.game)
    r = f.guess("c1", 5, seq=oldest_kept - 1)
    assert r.kind == "rejected"
    assert "too old" in r.message and "no longer known" in r.message
    assert state_without_zxid(f.game) == before
    # A seq that was never sent but is older than the window is just as unknowable.
    f2 = Feed()
    f2.guess("c1", 5, seq=1000)
    assert f2.guess("c1", 5, seq=1).kind == "rejected"
    assert len(f2.game._sessions["c1"].results) == 1


def test_window_memory_is_bounded():
    f = Feed()
    for seq in range(1, 1000):
        f.guess("c1", 50, seq=seq)
    assert len(f.game._sessions["c1"].results) == SEQ_WINDOW
    f.guess("c1", 50, seq=10**9)
    assert len(f.game._sessions["c1"].results) == 1


def test_client_records_are_bounded_and_least_recent_evicted():
    f = Feed(Game(clients_max=3))
    f.guess("a", 50)
    f.guess("b", 50)
    f.guess("c", 50)
    f.guess("a", 50)  # a is now more recent than b
    f.guess("d", 50)  # evicts b, the least recently active
    assert list(f.game._sessions) == ["c", "a", "d"]
    restored = Game.restore(f.game.snapshot())
    assert list(restored._sessions) == ["c", "a", "d"]
    assert restored.clients_max == 3
    assert Game().clients_max == CLIENTS_MAX


def test_replayed_txn_changes_nothing_and_returns_original():
    f = Feed()
    txns = [f.txn(Guess(client_id=f"c{i}", seq=1, value=10 * i)) for i in range(1, 5)]
    results = [f.game.apply(t) for t in txns]
    snap = f.game.snapshot()
    assert [f.game.apply(t) for t in txns] == results
    assert f.game.snapshot() == snap


# --------------------------------------------------------------------------------------------
# Snapshot, restore, view


def test_restore_rejects_garbage():
    for blob in [b"", b"garbage", b"\x93\x01\x02\x03", Game().snapshot()[:-3]]:
        with pytest.raises(ValueError, match="not a zmqzab game snapshot"):
            Game.restore(blob)


def test_restore_rejects_an_inconsistent_snapshot():
    snap = game_module.GameSnapshot(
        version=game_module.SNAPSHOT_VERSION, zxid_applied=5, clients_max=10, game=1, round=1, round_size=3, target=200,
        open_round=[], history=[], sessions=[],
    )
    with pytest.raises(ValueError, match="target 200"):
        Game.restore(msgspec.msgpack.encode(snap))
    with pytest.raises(ValueError, match="version 9"):
        Game.restore(msgspec.msgpack.encode(
            msgspec.structs.replace(snap, version=9)))


def test_view_is_json_and_shows_zxids_as_epoch_counter():
    f = Feed(epoch=3)
    f.guess("c1", 42)
    f.guess("c2", 40)
    view = f.game.view(recent=2)
    assert json.loads(json.dumps(view)) == view
    assert view["guesses"] == [{"client": "c2", "value": 40, "zxid": "3:2"}]
    assert view["zxid_applied"] == "3:2"
    assert Game().view() == {
        "game": 1, "round": 1, "round_size": None, "target": None, "guesses": [],
        "history": [], "clients": 0, "zxid_applied": "0:0",
    }


def test_history_is_bounded_and_view_shows_recent():
    f = Feed()
    f.new_game("h", round_size=1)
    f.guess("c", 0, round_size=1)
    for i in range(150):
        f.guess("c", i % 101, round_size=1)
    assert len(f.game._history) == game_module.HISTORY_MAX
    recent = f.game.view(recent=3)["history"]
    assert [r["round"] for r in recent] == [148, 149, 150]
    assert f.game.view(recent=0)["history"] == []


def test_game_module_is_pure():
    tree = ast.parse(Path(game_module.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    forbidden = {"time", "os", "random", "zmq", "loguru", "threading", "socket"}
    assert not imported & forbidden


# --------------------------------------------------------------------------------------------
# Random op sequences: snapshot anywhere, determinism

clients = st.sampled_from(["c1", "c2", "c3", "c4"])


def op_strategy(seqs):
    return st.one_of(
        st.builds(
            Guess,
            client_id=clients,
            seq=seqs,
            value=st.one_of(st.integers(0, 100), st.integers(-3, 103)),
            round_size=st.one_of(st.just(3), st.integers(0, 4)),
        ),
        st.builds(NewGame, client_id=clients, seq=seqs, round_size=st.integers(0, 4)),
    )


#: Seqs that collide often (retries) and, sometimes, jump far enough to leave the window.
ops = op_strategy(st.one_of(st.integers(0, 12), st.integers(0, 3 * SEQ_WINDOW)))
#: Seqs that always stay inside the window.
ops_in_window = op_strategy(st.integers(0, 12))


def make_txns(op_list, epoch_breaks):
    txns, epoch, counter = [], 1, 0
    for i, op in enumerate(op_list):
        if i in epoch_breaks:
            epoch, counter = epoch + 1, 0
        counter += 1
        txns.append(Txn(zxid=make_zxid(epoch, counter), op=op))
    return txns


@settings(max_examples=300, deadline=None)
@given(
    op_list=st.lists(ops, max_size=60),
    cut=st.integers(min_value=0, max_value=60),
    epoch_breaks=st.sets(st.integers(0, 60), max_size=3),
    clients_max=st.integers(1, 5),
)
def test_restore_then_continue_equals_no_restore(op_list, cut, epoch_breaks, clients_max):
    txns = make_txns(op_list, epoch_breaks)
    cut = min(cut, len(txns))

    straight = Game(clients_max=clients_max)
    expected = [straight.apply(t) for t in txns]

    first = Game(clients_max=clients_max)
    got = [first.apply(t) for t in txns[:cut]]
    data = first.snapshot()
    second = Game.restore(data)
    assert second.snapshot() == data
    assert second.view(recent=100) == first.view(recent=100)
    got += [second.apply(t) for t in txns[cut:]]

    assert got == expected
    assert second.snapshot() == straight.snapshot()
    # Invariants any result sequence keeps.
    for r in expected:
        assert r.kind in {"target_set", "guess_recorded", "round_closed", "new_game", "rejected"}
        assert r.message
    view = straight.view()
    assert view["round_size"] is None or len(view["guesses"]) < view["round_size"]
    assert view["target"] is None or 0 <= view["target"] <= 100
    assert view["clients"] <= clients_max


@settings(max_examples=100, deadline=None)
@given(op_list=st.lists(ops, max_size=80))
def test_two_games_fed_the_same_txns_agree(op_list):
    txns = make_txns(op_list, set())
    a, b = Game(), Game()
    results_a = [a.apply(t) for t in txns]
    results_b = [b.apply(t) for t in txns]
    assert results_a == results_b
    assert a.snapshot() == b.snapshot()


@settings(max_examples=100, deadline=None)
@given(op_list=st.lists(ops_in_window, max_size=60))
def test_every_retry_returns_the_original_result(op_list):
    """Applying every txn twice in a row (a retry committed again) gives the same results."""
    once, twice = Game(), Game()
    counter = 0
    for op in op_list:
        counter += 1
        expected = once.apply(Txn(zxid=make_zxid(1, counter), op=op))
        first = twice.apply(Txn(zxid=make_zxid(1, 2 * counter - 1), op=op))
        second = twice.apply(Txn(zxid=make_zxid(1, 2 * counter), op=op))
        # Seqs stay inside the window here, so every retry is answered from memory.
        assert first == expected
        assert second == first
    # The same game, only at other zxids.
    def shape(g: Game) -> tuple:
        v = g.view(recent=100)
        return (v["game"], v["round"], v["target"], v["round_size"],
                [(x["client"], x["value"]) for x in v["guesses"]],
                [(r["round"], r["winner"], r["new_target"]) for r in v["history"]])

    assert shape(once) == shape(twice)


def test_a_request_older_than_the_window_counts_as_applied_so_no_leader_logs_it_again():
    """Goal: a late copy of a request is never logged twice. Setup: client c sends seq 1, then
    SEQ_WINDOW more; a FORWARD of seq 1 held by a connection across a partition reaches the
    leader (seen in a chaos --netns run: the op logged at 1:961 and again at 1:1247).
    Expected: is_applied says yes for seq 1, so the leader skips it; a fresh seq does not."""
    from zmqzab.game.rules import SEQ_WINDOW
    from zmqzab.messages import Guess, Txn

    g = Game()
    for seq in range(1, SEQ_WINDOW + 3):
        g.apply(Txn(zxid=make_zxid(1, seq), op=Guess(client_id="c", seq=seq, value=seq % 100)))
    assert g.answer_of("c", 1) is None  # its answer left the window...
    assert g.is_applied(("c", 1))  # ...but it may not be proposed again
    assert g.is_applied(("c", SEQ_WINDOW + 2))
    assert not g.is_applied(("c", SEQ_WINDOW + 3))
    assert not g.is_applied(("d", 1))
