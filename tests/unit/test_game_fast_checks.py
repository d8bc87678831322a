"""Game.apply tests a common op with its checks fused into one expression (the per-txn cost:
issue 14), and calls limits.py's ``*_problem`` functions and ``_session_refusal`` only when that
test fails. These tests hold the two together: for ops with each field on and either side of
each bound, apply answers exactly what the functions say, so a bound changed on one side only
fails here. Exhaustive over the edges (no random draw): every case runs every time. Pure."""

from __future__ import annotations

from msgspec.structs import replace

from zmqzab.game.limits import (
    CLIENT_ID_MAX_CHARS,
    client_id_problem,
    committed_seq_problem,
    round_size_problem,
    session_fields_problem,
    value_problem,
)
from zmqzab.game.rules import (
    NEW_GAME,
    REJECTED,
    SEQ_AHEAD_MAX,
    SEQ_WINDOW,
    SESSION_EXPIRED,
    TARGET_SET,
    Game,
)
from zmqzab.messages import GameResult, Guess, NewGame, Txn

#: Each field on and either side of its bounds, and of types no decoder makes.
EDGES = {
    "client_id": ["c" * n for n in (0, 1, 2, CLIENT_ID_MAX_CHARS - 1, CLIENT_ID_MAX_CHARS,
                                    CLIENT_ID_MAX_CHARS + 1)] + [None, 7, b"c"],
    "seq": [-1, 0, 1, 2, 3, (1 << 63) - 1, 1 << 63, "1", 1.0, True],
    "seen": [-2, -1, 0, 1, True],
    "name": ["", "ada", " ada", "ada ", "a\x00", "n" * 32, "n" * 33],
    "value": [-1, 0, 1, 50, 99, 100, 101, True, 5.0, "5"],
    "round_size": [-1, 0, 1, 2, 3, 99, 100, 101, True, 3.0],
}
BASES = [Guess("c", 2, 50, 3), Guess("c", 2, 50, 3, first=2), Guess("c", 2, 50, 3, first=1),
         NewGame("c", 2, 3), NewGame("c", 2, 3, first=2)]


def _cases():
    for base in BASES:
        for field, edges in EDGES.items():
            if field == "value" and type(base) is NewGame:
                continue
            for value in edges:
                yield replace(base, **{field: value})
        for seq in (2, (1 << 63) - 1):  # first at the edges of 0 <= first <= seq
            for first in (-1, 0, 1, seq - 1, seq, seq + 1):
                yield replace(base, seq=seq, first=first)


def _expected(op) -> tuple[str, str | None]:
    """(kind, message or None for "any") that the limits and the start rule give ``op``."""
    problem = (client_id_problem(op.client_id) or committed_seq_problem(op.seq)
               or session_fields_problem(op))
    if problem:
        return REJECTED, problem
    if op.first and op.seq != op.first:
        return SESSION_EXPIRED, None
    problem = (value_problem(op.value) if type(op) is Guess else "") or round_size_problem(op.round_size)
    if problem:
        return REJECTED, problem
    return (TARGET_SET if type(op) is Guess else NEW_GAME), None


def test_a_fresh_game_answers_each_edge_of_each_field_as_the_limits_say() -> None:
    cases = 0
    for op in _cases():
        kind, message = _expected(op)
        result = Game().apply(Txn(1, op, 0))
        assert result.kind == kind, op
        if message is not None:
            assert result == GameResult(kind=kind, message=message, game=1, round=1), op
        cases += 1
    assert cases > 250  # the edges above, not an empty loop


def _game_at(first: int, seq_max: int) -> Game:
    """A game whose client "c" has a record made at seq ``first`` (0: no session) and moved
    one seq at a time to ``seq_max``."""
    game = Game()
    for seq in range(max(first, 1), seq_max + 1):
        game.apply(Txn(seq, Guess("c", seq, 50, 3, first=first), 0))
    return game


def test_a_known_client_is_refused_exactly_as_session_refusal_says() -> None:
    deltas = (-SEQ_WINDOW - 1, -SEQ_WINDOW, -SEQ_WINDOW + 1, -2, -1, 0, 1, 2,
              SEQ_AHEAD_MAX - 1, SEQ_AHEAD_MAX, SEQ_AHEAD_MAX + 1)
    checked = {"refused": 0, "applied": 0, "retry": 0}
    for first in (0, 1, 3):
        for seq_max in (3, 4, SEQ_WINDOW + 2, SEQ_WINDOW + 5):
            for delta in deltas + (first - 1 - seq_max, first - seq_max):
                seq = seq_max + delta
                if seq < 1:
                    continue
                for op_first in (0, 1, 2, 3, 4, seq):
                    game = _game_at(first, seq_max)
                    op = Guess("c", seq, 40, 3, first=min(op_first, seq))
                    session = game._sessions["c"]
                    if seq in session.results:
                        expected, what = session.results[seq][1], "retry"
                    else:
                        expected = game._session_refusal(session, op)
                        what = "applied" if expected is None else "refused"
                    result = game.apply(Txn(seq_max + 1, op, 0))
                    case = f"record first={first} seq_max={seq_max}, {op}"
                    if expected is not None:
                        assert result == expected, case
                    else:
                        assert result.kind not in (REJECTED, SESSION_EXPIRED), (case, result)
                    checked[what] += 1
    assert min(checked.values()) > 10, checked
