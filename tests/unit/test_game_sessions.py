"""The game's client records bound to their sessions (issue 17 item 2): a seq may only move
forward within a window, records expire by the leader's clock stamped in the txns, a retry of a
forgotten client is answered "session expired" and never applied twice, and display names.
Pure: the game applies txns built here, as every replica applies the log."""

from __future__ import annotations

import pytest

from zmqzab.game.limits import NAME_MAX_CHARS, request_problem
from zmqzab.game.rules import (
    CLIENT_IDLE_MS,
    CLIENTS_MAX,
    REJECTED,
    SEQ_AHEAD_MAX,
    SEQ_WINDOW,
    SESSION_EXPIRED,
    Game,
)
from zmqzab.messages import Guess, NewGame, Txn
from zmqzab.zxid import make_zxid


class Log:
    """Txns in zxid order for one or more games (every replica gets the same)."""

    def __init__(self, *games: Game) -> None:
        self.games = games
        self.counter = 0

    def apply(self, op, ts_ms: int = 0):
        self.counter += 1
        txn = Txn(make_zxid(1, self.counter), op, ts_ms)
        results = [g.apply(txn) for g in self.games]
        assert all(r == results[0] for r in results)
        return results[0]

    @property
    def zxid(self) -> int:
        return make_zxid(1, self.counter)


def guess(client: str, seq: int, value: int, first: int = 1, seen: int = 0, name: str = "") -> Guess:
    return Guess(client, seq, value, 3, first, seen, name)


def test_a_seq_far_ahead_is_refused_and_never_locks_the_client_out() -> None:
    """Goal: the lock-out of issue 17. Setup: client v has a record (seqs 1..3). Faults: another
    sender writes (v, 2**62), with and without session fields. Expected: both are answered
    "session expired" by apply (a node's intake leaves them to it: see refusal_at_once),
    nothing changes, and v's seq 4 is applied as usual."""
    game = Game()
    log = Log(game)
    for seq in (1, 2, 3):
        assert log.apply(guess("v", seq, 50)).kind != REJECTED
    before = game.snapshot()
    for op in (guess("v", 2**62, 10), Guess("v", 2**62, 10)):
        assert game.refusal_at_once(op) is None  # not at a node's intake: true only on a game
        result = log.apply(op)                   # that holds the latest write; apply refuses it
        assert result.kind == SESSION_EXPIRED and "more than 1024 ahead" in result.message
    assert game.view()["guesses"] == Game.restore(before).view()["guesses"]
    assert log.apply(guess("v", 4, 51)).kind in ("guess_recorded", "round_closed")
    assert log.apply(guess("v", 4 + SEQ_AHEAD_MAX, 52)).kind != SESSION_EXPIRED  # within the window


def test_a_retry_older_than_the_window_is_refused_at_once_as_apply_would_and_never_logged() -> None:
    """Goal: a request a node takes is answered (CI: a BATCH retry of 300 seqs waited for ever).
    Setup: client w commits seqs 1..3 and then 3 + SEQ_WINDOW (a pipelining client's leap).
    Faults: retries of seq 1..3, with and without session fields. Expected: each is refused at
    once with exactly the result apply gives it, the leader would not log it (is_applied), and
    seqs still in the window are not refused (a retry of one gets its remembered answer)."""
    game = Game()
    log = Log(game)
    for seq in (1, 2, 3, 3 + SEQ_WINDOW):
        assert log.apply(guess("w", seq, 50)).kind != REJECTED
    assert game.refusal_at_once(guess("w", 3 + SEQ_WINDOW, 50)) is None  # remembered
    assert game.refusal_at_once(guess("w", 4 + SEQ_WINDOW, 50)) is None  # the next one
    for op in (guess("w", 3, 50), Guess("w", 2, 50), guess("w", 1, 50)):
        assert game.is_applied(game.request_key(op))  # the leader skips it
        at_once = game.refusal_at_once(op)
        assert at_once is not None and "too old" in at_once.message, at_once
        assert at_once == log.apply(op)
        assert at_once.kind == (SESSION_EXPIRED if op.first else REJECTED)


def test_a_late_retry_of_an_evicted_client_is_session_expired_never_applied_twice() -> None:
    """Goal: the flush of issue 17. Setup: victim v commits seq 1 (its session's start) and
    seq 2. Faults: 10,000 fresh client ids evict v's record; then v's retries of seq 2 and of
    seq 1 (its start, which looks like a new client) arrive late. Expected: both answered
    "session expired" and the game is unchanged by them; a fresh client that has seen the
    current zxid starts normally; replicas agree throughout."""
    game, other = Game(), Game()
    log = Log(game, other)
    log.apply(guess("v", 1, 40, first=1, seen=0))
    log.apply(guess("v", 2, 41, first=1, seen=0))
    for k in range(CLIENTS_MAX):
        log.apply(NewGame(f"fresh{k}", 1, 3, 1, log.zxid))
    assert game.answer_of("v", 1) is None  # evicted
    state_before = game.view()
    for retry in (guess("v", 2, 41, first=1), guess("v", 1, 40, first=1)):
        result = log.apply(retry)
        assert result.kind == SESSION_EXPIRED, result
        assert "session expired" in result.message
        assert game.view()["guesses"] == state_before["guesses"] and game.view()["game"] == state_before["game"]
    assert log.apply(guess("new", 1, 7, first=1, seen=log.zxid)).kind == "target_set"
    assert game.snapshot() == other.snapshot()
    # Without session fields (an older client, or a log of an older build) the old rule holds:
    # the forgotten client's retry is applied again. That is why the library sends them.
    assert log.apply(Guess("old", 1, 9)).kind != SESSION_EXPIRED


def test_records_expire_by_the_leaders_clock_in_the_txns_and_replicas_agree() -> None:
    """Goal: expiry by a rule stamped into the log. Setup: v active at ts 1000; another client
    writes at ts 1000 + CLIENT_IDLE_MS + 1; a leader whose clock is behind writes at ts 5.
    Faults: a replica restored from a snapshot taken mid-way. Expected: v's record is gone and
    its next request is "session expired"; the clock never moves back (w's record, active at
    the late ts, survives the early-ts txn); the restored replica ends byte-identical."""
    game = Game()
    log = Log(game)
    log.apply(guess("v", 1, 40), ts_ms=1000)
    log.apply(guess("w", 1, 41), ts_ms=1000 + CLIENT_IDLE_MS // 2)
    restored = Game.restore(game.snapshot())
    log.games = (game, restored)
    log.apply(guess("w", 2, 42), ts_ms=1000 + CLIENT_IDLE_MS + 1)
    assert game.answer_of("v", 1) is None and game.answer_of("w", 1) is not None
    assert log.apply(guess("v", 2, 43), ts_ms=5).kind == SESSION_EXPIRED
    assert game.clock_ms == 1000 + CLIENT_IDLE_MS + 1
    assert log.apply(guess("w", 3, 44), ts_ms=5).kind != SESSION_EXPIRED
    assert game.snapshot() == restored.snapshot()


def test_a_seq_of_an_older_session_is_expired_and_a_client_may_start_over() -> None:
    """Setup: v's record was made by a session starting at seq 10. Faults: v's seq 5 (an older
    session) arrives. Expected: "session expired"; v's seq 11 of the live session applies."""
    game = Game()
    log = Log(game)
    log.apply(guess("v", 10, 40, first=10))
    assert log.apply(guess("v", 5, 41, first=5)).kind == SESSION_EXPIRED
    assert log.apply(guess("v", 11, 42, first=10)).kind != SESSION_EXPIRED


def test_a_start_that_has_not_seen_the_horizon_may_be_a_retry_and_is_expired() -> None:
    """Setup: a game of two records at most; x starts at zxid 1, then y and z evict it.
    Faults: a new start that has seen nothing (seen 0) and one that saw zxid 1 only.
    Expected: both "session expired" (x was made at zxid 1: they may be its retries); a start
    that has seen the current zxid applies."""
    game = Game(clients_max=2)
    log = Log(game)
    log.apply(guess("x", 1, 40))
    log.apply(guess("y", 1, 41))
    log.apply(guess("z", 1, 42))
    assert game.horizon == make_zxid(1, 1)
    assert log.apply(guess("a", 1, 43, seen=0)).kind == SESSION_EXPIRED
    assert log.apply(guess("x", 1, 40, seen=0)).kind == SESSION_EXPIRED
    assert log.apply(guess("b", 1, 44, seen=log.zxid)).kind != SESSION_EXPIRED


@pytest.mark.parametrize("op, why", [
    (Guess("c", 3, 5, 3, 4), "first must be"),
    (Guess("c", 3, 5, 3, 1, -1), "seen must be"),
    (Guess("c", 3, 5, 3, 1, 0, "x" * (NAME_MAX_CHARS + 1)), "name must be"),
    (Guess("c", 3, 5, 3, 1, 0, "a\nb"), "name must be"),
    (NewGame("c", 3, 3, 1, 0, " ada"), "name must be"),
])
def test_bad_session_fields_are_refused_by_the_node_and_by_apply(op, why) -> None:
    """Every node refuses the same way whatever a proposer let through (limits.py)."""
    assert why in request_problem(op)
    result = Log(Game()).apply(op)
    assert result.kind == REJECTED and why in result.message


def test_display_names_are_shown_instead_of_the_client_id() -> None:
    """Setup: ada sets the target, bob and ada guess in a round of 2. Expected: the results,
    the open round and the closed round name the players; a guess without a name shows its
    client id as before."""
    game = Game()
    log = Log(game)
    first = log.apply(Guess("c-ada", 1, 50, 2, 1, 0, "ada"))
    assert first.message == "ada set the target to 50"
    log.apply(Guess("c-bob", 1, 30, 2, 1, 0, "bob"))
    assert game.view()["guesses"][0]["name"] == "bob"
    closed = log.apply(Guess("c-ada", 2, 49, 2, 1, 0, "ada"))
    assert closed.winner == "c-ada" and closed.winner_name == "ada"
    assert "ada wins with 49" in closed.message
    assert game.view()["history"][-1]["winner_name"] == "ada"
    assert "name" not in (log.apply(Guess("anon", 1, 1, 2, 1)) and game.view()["guesses"][0])
    back = Game.restore(game.snapshot())
    assert back.view() == game.view()


@pytest.mark.parametrize("seed", range(20))
def test_random_retries_evictions_and_clock_jumps_never_apply_a_request_twice(seed: int) -> None:
    """Goal: exactly-once holds whatever is forgotten, and replicas agree. Setup: a game of 4
    records at most; 8 clients that act like the library (a new session under a new id after
    "session expired"); the leader's clock jumps past CLIENT_IDLE_MS and back. Faults: late
    copies of any earlier request, at random; a second replica restored from a snapshot at
    random points. Expected: no (client, seq) is applied twice; both replicas end equal."""
    import random

    print(f"seed {seed}")
    rng = random.Random(seed)
    game = Game(clients_max=4)
    log = Log(game)
    clients = [{"id": f"c{k}", "seq": 0, "first": 0, "seen": 0} for k in range(8)]
    sent: list[Guess] = []
    applied: dict[tuple[str, int], int] = {}
    ts = 0
    for _ in range(600):
        ts += rng.choice([0, 10, 1000, CLIENT_IDLE_MS + 1, -5000])
        if sent and rng.random() < 0.3:
            op = rng.choice(sent)  # a late copy
            client = None
        else:
            client = rng.choice(clients)
            client["seq"] += 1
            op = guess(client["id"], client["seq"], rng.randint(0, 100),
                       first=client["first"] or client["seq"], seen=client["seen"])
            sent.append(op)
        result = log.apply(op, ts_ms=max(ts, 0))
        answer = game.answer_of(op.client_id, op.seq)
        if answer is not None and answer[0] == log.zxid:
            applied[(op.client_id, op.seq)] = applied.get((op.client_id, op.seq), 0) + 1
        if client is not None:
            client["seen"] = log.zxid
            if result.kind == SESSION_EXPIRED:
                client.update(id=f"{client['id']}+", first=0)
            elif answer is not None and not client["first"]:
                client["first"] = op.first
        if rng.random() < 0.05:
            log.games = (game, Game.restore(game.snapshot()))
    assert max(applied.values()) == 1, [k for k, n in applied.items() if n > 1]
    assert len(log.games) == 1 or log.games[1].snapshot() == game.snapshot()


def test_a_txn_of_an_older_build_decodes_and_applies_by_the_old_rules() -> None:
    """Goal: old data dirs still load. Setup: a txn as an older build wrote it (a Guess of four
    fields). Expected: it decodes, the new fields take their defaults, and the op applies (no
    session rules: ``first`` is 0)."""
    import msgspec

    from zmqzab.messages import decode_txn

    old = msgspec.msgpack.encode([make_zxid(1, 1), ["guess", "c", 7, 40, 3], 1234])
    txn = decode_txn(old)
    assert txn.op == Guess("c", 7, 40, 3) and (txn.op.first, txn.op.seen, txn.op.name) == (0, 0, "")
    assert Game().apply(txn).kind == "target_set"
