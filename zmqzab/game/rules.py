"""The replicated state machine: a number-guessing game, applied txn by txn in zxid order.

Theory of operation
-------------------
Every node applies the same committed txns in the same order, so every node must reach the same
state and the same ``GameResult``. That is only true if ``apply`` reads nothing but the txn and
the state: no clock, no random, no local config, no set or hash order. The round size, the one
setting the game has, is stamped by the leader into every ``Guess``/``NewGame``, and a game
takes it from the txn that starts it (ARCHITECTURE §6).

Rules:

* The first committed guess of a game sets the target (``target_set``); round 1 opens.
* Each later guess joins the open round (``guess_recorded``, "guess k of n"). When the round
  holds ``round_size`` guesses it closes (``round_closed``): the guess closest to the target wins,
  ties go to the earlier zxid, and the winning value becomes the new target.
* ``NewGame`` clears the target and the open round and fixes the new game's round size.
* A committed op with a value, round size, client id or seq outside the game's limits
  (``limits.py``: 0..100, 1..100, ...) is ``rejected``. The node refuses these before
  proposing (``limits.request_problem``); refusing them again here means
  a buggy or hostile proposer cannot make nodes diverge: every node rejects the same way. One
  exception: a seq of 2**63 or more is applied (``limits.committed_seq_problem``), as it was
  before the limits had one home, so that logs holding such txns replay as they applied.

Exactly-once. A client numbers its requests (``seq``). A retry after a leader crash may be
committed twice (once by the old leader, once more by the new one), so the game remembers, per
client, the result of each of its last ``SEQ_WINDOW`` seqs and the highest seq seen. A known
(client, seq) returns the ORIGINAL result and changes nothing; a seq older than the window
cannot be answered truthfully and is rejected as too old. Client records are bounded
(``CLIENTS_MAX``; the least recently active, lowest zxid, is evicted) and expire when idle for
``CLIENT_IDLE_MS`` by the leader's clock: ``ts_ms`` of the txns, stamped by the leader, and
kept as a high-water mark (``clock_ms``) so that a leader whose clock is behind cannot move it
back. Both rules read only the txns, so every replica evicts and expires the same records.

Sessions (issue 17). A request of the client library carries ``first``, the seq of its
session's first request, and ``seen``, a zxid the client had seen when the session started.
Without a record the game can tell a session's start (``seq == first``) from a retry of a
forgotten one (``seq > first``: "session expired", never a second application). A retry of a
forgotten START looks like a start; the game keeps one number for those, ``horizon``: the
highest zxid at which a record that is now gone was created. A start that has not seen that
far (``seen < horizon``) may be the retry of one of them, and is answered "session expired" too.
With a record, a seq below the session's ``first`` belongs to an older session (expired), and
a seq may only move forward within ``SEQ_AHEAD_MAX`` of the record's highest: a request under
another's id with seq 2**62 cannot make every later request of that client "too old". A client
told "session expired" starts a new session (zmqzab/client.py). An op without ``first`` (0:
written by an older build, or by a tool that numbers its own requests) gets none of these
session rules, so old logs replay as they applied, with two exceptions that only new ops or
time can trigger: a too-far seq under a record that has a ``first``, and expiry, which is new
for every record (replaying an old log, a client idle for an hour is forgotten where an older
build remembered it; only a retry of its own after that hour is answered differently).

Display names. A request may carry ``name``; the open round and closed rounds keep it, and the
view and results show it instead of the client id.

Replay. A txn at or below ``zxid_applied`` is already in the state (e.g. a log replayed from a
snapshot's zxid, ZAB_CHECKLIST #24): it changes nothing and returns the remembered result.

The state is kept in plain attributes for speed (``apply`` runs on every commit) and turned into
one msgspec Struct only by ``snapshot()``.
"""

from __future__ import annotations

from collections import OrderedDict, deque

import msgspec
from msgspec import Struct

from zmqzab.game.limits import (
    CLIENT_ID_MAX_CHARS,
    ROUND_SIZE_MAX,
    ROUND_SIZE_MIN,
    VALUE_MAX,
    VALUE_MIN,
    SEQ_MIN,
    client_id_problem,
    round_size_problem,
    committed_seq_problem,
    session_fields_problem,
    value_problem,
)
from zmqzab.messages import GameResult, Guess, NewGame, Txn
from zmqzab.zxid import fmt_zxid

#: Results remembered per client: a client may pipeline up to this many requests.
SEQ_WINDOW = 128
#: Closed rounds kept for the view (the game itself never looks back).
HISTORY_MAX = 100
#: Client records kept for exactly-once; every node must use the same number.
CLIENTS_MAX = 10_000
#: A seq may run at most this far ahead of its client's highest recorded seq (a client's
#: requests that never committed advance it too: the library numbers a write before sending).
SEQ_AHEAD_MAX = 1024
#: A client record idle this long by the leader's clock (txn ts_ms) expires.
CLIENT_IDLE_MS = 3_600_000

SNAPSHOT_VERSION = 2

TARGET_SET = "target_set"
GUESS_RECORDED = "guess_recorded"
ROUND_CLOSED = "round_closed"
NEW_GAME = "new_game"
REJECTED = "rejected"
#: The client's record is gone (expired, evicted) or the request is not of its live session:
#: the outcome of the request is unknown; the client starts a new session.
SESSION_EXPIRED = "session_expired"


def validate_value(value: object) -> int:
    """Return ``value`` as an int if it is a valid guess (``limits.VALUE_MIN..VALUE_MAX``), else
    raise ValueError.

    Accepts ints and strings of decimal digits (surrounding spaces allowed), as typed on a
    command line or in a form. Booleans and floats are refused: ``True`` is not a guess.
    """
    number: int | None = None
    if type(value) is int:
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():
            number = int(text)
    if number is None or value_problem(number):
        raise ValueError(value_problem(value))  # the text as given, e.g. got '101'
    return number


# --------------------------------------------------------------------------------------------
# State records. Mutable where apply updates them in place; all of them go into the snapshot.


class OpenGuess(Struct, frozen=True, array_like=True):
    client_id: str
    value: int
    zxid: int
    name: str = ""  # the player's display name, if it gave one


class ClosedRound(Struct, frozen=True, array_like=True):
    game: int
    round: int
    winner: str
    winning_value: int
    old_target: int
    new_target: int
    zxid: int  # the txn that closed it
    winner_name: str = ""


class Session(Struct, array_like=True):
    """Exactly-once record of one client. ``results`` holds seqs in (seq_max - window, seq_max]."""

    client_id: str
    seq_max: int
    zxid_last: int  # last activity; eviction order
    results: dict[int, tuple[int, GameResult]]  # seq -> (zxid it was applied at, its result)
    first: int = 0  # the session's first seq (0: made by ops without one, see module docstring)
    zxid_first: int = 0  # the txn that made the record (horizon, when the record goes)
    ts_last: int = 0  # clock_ms at the last activity; expiry


class GameSnapshot(Struct, frozen=True, tag="zmqzab.game", array_like=True):
    version: int
    zxid_applied: int
    clients_max: int
    game: int
    round: int
    round_size: int | None
    target: int | None
    open_round: list[OpenGuess]
    history: list[ClosedRound]
    sessions: list[Session]  # least recently active first
    clock_ms: int = 0
    horizon: int = 0


#: "guess 2 of 3 recorded" by count << 8 | round size (both at most ROUND_SIZE_MAX < 256).
_recorded_messages: dict[int, str] = {}

_snapshot_encoder = msgspec.msgpack.Encoder()
_snapshot_decoder = msgspec.msgpack.Decoder(GameSnapshot)


class Game:
    """The game state. ``apply`` is the only mutator; see the module docstring for the rules."""

    __slots__ = (
        "zxid_applied",
        "clients_max",
        "game",
        "round",
        "round_size",
        "target",
        "_open",
        "_history",
        "_sessions",
        "clock_ms",
        "horizon",
    )

    def __init__(self, clients_max: int = CLIENTS_MAX) -> None:
        if type(clients_max) is not int or clients_max < 1:
            raise ValueError(f"clients_max must be a positive integer, got {clients_max!r}")
        self.zxid_applied = 0
        self.clients_max = clients_max
        self.game = 1
        self.round = 1
        # None until the game's first txn fixes it: the very first game is started by its first
        # guess, every later game by its NewGame.
        self.round_size: int | None = None
        self.target: int | None = None
        self._open: list[OpenGuess] = []
        self._history: deque[ClosedRound] = deque(maxlen=HISTORY_MAX)
        # Ordered by last activity (zxid), oldest first: eviction takes the first entry.
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        #: The highest ts_ms of an applied game txn (the leader's clock, never moving back).
        self.clock_ms = 0
        #: The highest zxid_first of a record that expired or was evicted (module docstring).
        self.horizon = 0

    # ----------------------------------------------------------------------------------------
    # apply

    def apply(self, txn: Txn) -> GameResult:
        """Apply one committed txn and return its result. Deterministic; see module docstring."""
        op = txn.op
        zxid = txn.zxid
        client_id = op.client_id
        seq = op.seq

        if zxid <= self.zxid_applied:
            return self._replayed(txn)

        # The common op passes every check of limits.py at once: this test is their "" cases
        # fused (same bounds, same order), so only an op that fails it pays for the functions,
        # which say what is wrong (tests/unit/test_game_fast_checks.py holds them together).
        if not (type(client_id) is str and 0 < len(client_id) <= CLIENT_ID_MAX_CHARS
                and type(seq) is int and seq >= SEQ_MIN and 0 <= op.first <= seq
                and op.seen >= 0 and not op.name):
            problem = (client_id_problem(client_id) or committed_seq_problem(seq)
                       or session_fields_problem(op))
            if problem:
                # Without a valid (client, seq) there is no session to record the answer in.
                self.zxid_applied = zxid
                return self._rejected(problem)

        if txn.ts_ms > self.clock_ms:
            self.clock_ms = txn.ts_ms
            self._expire()
        session = self._sessions.get(client_id)
        refusal = None
        if session is not None:
            results = session.results
            if seq in results:
                # A retry of a committed request: the original answer, nothing else changes.
                self.zxid_applied = zxid
                return results[seq][1]
            seq_max = session.seq_max
            # Inside the live session and the window, not too far ahead: nothing to refuse
            # (each bound is one of _session_refusal's, which says why when one fails).
            if not (session.first <= seq and seq_max - SEQ_WINDOW < seq <= seq_max + SEQ_AHEAD_MAX):
                refusal = self._session_refusal(session, op)
        elif op.first:  # without ``first``, an op of older builds: nothing to refuse
            refusal = self._start_refusal(op)
        if refusal is not None:
            self.zxid_applied = zxid
            return refusal

        if type(op) is Guess:
            result = self._guess(op, zxid)
        elif type(op) is NewGame:
            result = self._new_game(op)
        else:
            result = self._rejected(f"unknown operation {type(op).__name__}")

        if session is not None and seq == session.seq_max + 1:
            # _remember's common case, here: a known client's next seq; the one seq that
            # leaves the window goes.
            results[seq] = (zxid, result)
            results.pop(seq - SEQ_WINDOW, None)
            session.seq_max = seq
            session.zxid_last = zxid
            session.ts_last = self.clock_ms
            self._sessions.move_to_end(client_id)
        else:
            self._remember(session, op, zxid, result)
        self.zxid_applied = zxid
        return result

    def _session_refusal(self, session: Session, op: Guess | NewGame) -> GameResult | None:
        """Why a request of a client with a record is not applied, or None (module docstring)."""
        seq = op.seq
        client_id = op.client_id
        if seq < session.first:
            return self._expired(f"seq {seq} of client {client_id} is from an older session "
                                 f"(the live one started at seq {session.first})")
        if seq <= session.seq_max - SEQ_WINDOW:
            message = (f"request too old: seq {seq} of client {client_id} is older than the last "
                       f"{SEQ_WINDOW} it sent (latest {session.seq_max}); its outcome is no "
                       f"longer known")
            return self._expired(message) if op.first else self._rejected(message)
        ahead = _ahead(session, op)
        return self._expired(ahead) if ahead else None

    def _start_refusal(self, op: Guess | NewGame) -> GameResult | None:
        """Why a request of a client without a record is not applied, or None."""
        if not op.first:
            return None  # an op without a session: the rules of older builds
        if op.seq != op.first:
            return self._expired(f"client {op.client_id} has no record (expired after "
                                 f"{CLIENT_IDLE_MS // 60_000} minutes idle, or evicted), so "
                                 f"whether seq {op.seq} was applied is unknown")
        if op.seen < self.horizon:
            return self._expired(f"client {op.client_id} started its session having seen "
                                 f"{fmt_zxid(op.seen)}, before records made up to "
                                 f"{fmt_zxid(self.horizon)} were forgotten: this may be a retry "
                                 f"of one of them")
        return None

    def _expired(self, why: str) -> GameResult:
        return GameResult(kind=SESSION_EXPIRED, message=f"session expired: {why}; start a new "
                          f"session", game=self.game, round=self.round)

    def _expire(self) -> None:
        """Drop the records idle for CLIENT_IDLE_MS; they are in activity order, oldest first."""
        sessions = self._sessions
        limit = self.clock_ms - CLIENT_IDLE_MS
        while sessions:
            oldest = next(iter(sessions.values()))
            if oldest.ts_last >= limit:
                return
            self._forget(sessions.popitem(last=False)[1])

    def _forget(self, session: Session) -> None:
        if session.zxid_first > self.horizon:
            self.horizon = session.zxid_first

    def _guess(self, op: Guess, zxid: int) -> GameResult:
        value = op.value
        op_round_size = op.round_size
        # Every op carries a round size; a bad one is refused even where it would not be used,
        # so that the rule is simple enough for every node to apply identically.
        if not (type(value) is int and VALUE_MIN <= value <= VALUE_MAX
                and type(op_round_size) is int and ROUND_SIZE_MIN <= op_round_size <= ROUND_SIZE_MAX):
            # The two checks fused, as in apply: the functions only to say which failed.
            return self._rejected(value_problem(value) or round_size_problem(op_round_size))
        target = self.target
        if target is None:
            round_size = self.round_size if self.round_size is not None else op_round_size
            self.round_size = round_size
            self.target = value
            return GameResult(
                kind=TARGET_SET,
                message=f"{_who(op)} set the target to {value}",
                game=self.game,
                round=self.round,
                target=value,
                round_size=round_size,
            )

        round_size: int = self.round_size  # type: ignore[assignment]  # set with the target
        open_round = self._open
        open_round.append(OpenGuess(op.client_id, value, zxid, op.name))
        count = len(open_round)
        if count < round_size:
            # The message, one per (count, round size), made once: most txns are these.
            message = _recorded_messages.get(count << 8 | round_size)
            if message is None:
                message = _recorded_messages[count << 8 | round_size] = (
                    f"guess {count} of {round_size} recorded")
            return GameResult(
                kind=GUESS_RECORDED,
                message=message,
                game=self.game,
                round=self.round,
                target=target,
                guess_index=count,
                round_size=round_size,
            )

        # Strict < keeps the first of equally close guesses: the list is in zxid order.
        best = open_round[0]
        best_distance = abs(best.value - target)
        for guess in open_round:
            distance = abs(guess.value - target)
            if distance < best_distance:
                best, best_distance = guess, distance
        closed = ClosedRound(
            game=self.game,
            round=self.round,
            winner=best.client_id,
            winning_value=best.value,
            old_target=target,
            new_target=best.value,
            zxid=zxid,
            winner_name=best.name,
        )
        self._history.append(closed)
        self._open = []
        self.target = best.value
        self.round += 1
        return GameResult(
            kind=ROUND_CLOSED,
            message=(
                f"round {closed.round} closed: {best.name or best.client_id} wins with {best.value} "
                f"(target {target} -> {best.value})"
            ),
            game=self.game,
            round=closed.round,
            target=best.value,
            guess_index=count,
            round_size=round_size,
            winner=best.client_id,
            winning_value=best.value,
            old_target=target,
            new_target=best.value,
            winner_name=best.name or None,
        )

    def _new_game(self, op: NewGame) -> GameResult:
        round_size = op.round_size
        problem = round_size_problem(round_size)
        if problem:
            return self._rejected(problem)
        discarded = len(self._open)
        self.game += 1
        self.round = 1
        self.round_size = round_size
        self.target = None
        self._open = []
        note = f", {discarded} open guess(es) discarded" if discarded else ""
        return GameResult(
            kind=NEW_GAME,
            message=(
                f"{_who(op)} started game {self.game} ({round_size} guesses per "
                f"round{note}); the next guess sets the target"
            ),
            game=self.game,
            round=self.round,
            round_size=round_size,
        )

    @staticmethod
    def request_key(op: Guess | NewGame) -> tuple[str, int]:
        """What makes a request unique: the leader never proposes the same key twice."""
        return (op.client_id, op.seq)

    def is_applied(self, key: tuple[str, int]) -> bool:
        """True if this request was applied, or is too old to be applied ever (``apply`` would
        only reject it as too old): either way a leader must not log it again. A FORWARD held
        by a connection across a partition can reach the leader after its client has moved more
        than ``SEQ_WINDOW`` seqs on (seen in a chaos run: the same request logged twice)."""
        session = self._sessions.get(key[0])
        return session is not None and (key[1] in session.results
                                        or key[1] <= session.seq_max - SEQ_WINDOW)

    def answer_of(self, client_id: str, seq: int) -> tuple[int, GameResult] | None:
        """(zxid, result) of an applied request, if it is still remembered.

        Lets a node answer a retry of a request that is already committed without proposing it
        again, so the log holds each (client, seq) once.
        """
        session = self._sessions.get(client_id)
        return session.results.get(seq) if session is not None else None

    def refusal_at_once(self, op: Guess | NewGame) -> GameResult | None:
        """The refusal ``apply`` would give ``op`` if it is too old to be logged (more than
        ``SEQ_WINDOW`` behind its client's latest, and not remembered), else None.

        The leader never logs such a request (``is_applied``), so a node that took it would
        wait for a commit that never comes and its client would time out and retry for ever
        (seen in CI: a BATCH client retrying 300 writes after a leader change); a node answers it
        at once instead. True on any state that lags too: a seq once too old stays too old.

        A seq too far ahead is not refused here: that is true only on a game that holds the
        client's latest write, and a follower one COMMIT behind, or a leader cut off while a new
        one commits, would refuse for good a write the cluster applies (session 9's attacks).
        It is logged, and ``apply`` refuses it on every node without moving the record."""
        session = self._sessions.get(op.client_id)
        if session is None or op.seq in session.results or op.seq > session.seq_max - SEQ_WINDOW:
            return None
        return self._session_refusal(session, op)

    def _rejected(self, message: str) -> GameResult:
        return GameResult(kind=REJECTED, message=message, game=self.game, round=self.round)

    def _remember(self, session: Session | None, op: Guess | NewGame, zxid: int,
                  result: GameResult) -> None:
        sessions = self._sessions
        client_id, seq = op.client_id, op.seq
        if session is None:
            if len(sessions) >= self.clients_max:
                self._forget(sessions.popitem(last=False)[1])
            sessions[client_id] = Session(client_id, seq, zxid, {seq: (zxid, result)},
                                          op.first, zxid, self.clock_ms)
            return
        session.results[seq] = (zxid, result)
        session.zxid_last = zxid
        session.ts_last = self.clock_ms
        sessions.move_to_end(client_id)
        old_max = session.seq_max
        if seq > old_max:
            session.seq_max = seq
            results = session.results
            low_new = seq - SEQ_WINDOW  # seqs <= this leave the window
            low_old = old_max - SEQ_WINDOW
            if low_new - low_old <= SEQ_WINDOW:
                # The usual case (seq grows by one): drop the few seqs that just left.
                for gone in range(low_old + 1, low_new + 1):
                    results.pop(gone, None)
            else:
                session.results = {s: r for s, r in results.items() if s > low_new}

    def _replayed(self, txn: Txn) -> GameResult:
        op = txn.op
        session = self._sessions.get(op.client_id) if isinstance(op.client_id, str) else None
        if session is not None and op.seq in session.results:
            return session.results[op.seq][1]
        return self._rejected(
            f"txn {fmt_zxid(txn.zxid)} was already applied (applied up to "
            f"{fmt_zxid(self.zxid_applied)}); its outcome is no longer known"
        )

    # ----------------------------------------------------------------------------------------
    # snapshot / restore / view

    def _to_snapshot(self) -> GameSnapshot:
        return GameSnapshot(
            version=SNAPSHOT_VERSION,
            zxid_applied=self.zxid_applied,
            clients_max=self.clients_max,
            game=self.game,
            round=self.round,
            round_size=self.round_size,
            target=self.target,
            open_round=list(self._open),
            history=list(self._history),
            sessions=list(self._sessions.values()),
            clock_ms=self.clock_ms,
            horizon=self.horizon,
        )

    def snapshot(self) -> bytes:
        """The whole state as msgpack; ``Game.restore`` gives back an identical game."""
        return _snapshot_encoder.encode(self._to_snapshot())

    @classmethod
    def restore(cls, data: bytes) -> Game:
        """Rebuild a game from ``snapshot()`` bytes; ValueError if they are not a valid one."""
        try:
            snap = _snapshot_decoder.decode(data)
        except (msgspec.DecodeError, TypeError) as exc:
            raise ValueError(f"not a zmqzab game snapshot ({len(data)} bytes): {exc}") from None
        if snap.version != SNAPSHOT_VERSION:
            raise ValueError(
                f"game snapshot version {snap.version} is not supported "
                f"(this build reads version {SNAPSHOT_VERSION})"
            )
        _check_snapshot(snap)
        game = cls(clients_max=snap.clients_max)
        game.zxid_applied = snap.zxid_applied
        game.game = snap.game
        game.round = snap.round
        game.round_size = snap.round_size
        game.target = snap.target
        game.clock_ms = snap.clock_ms
        game.horizon = snap.horizon
        game._open = list(snap.open_round)
        game._history.extend(snap.history)
        # Sorting (stable) re-establishes the eviction order even if a writer got it wrong.
        for session in sorted(snap.sessions, key=lambda s: s.zxid_last):
            game._sessions[session.client_id] = session
        return game

    def view(self, recent: int = 5) -> dict:
        """A JSON-able picture for people: the open round and the ``recent`` last closed rounds.
        A guess with a display name has ``name`` (a round won by one, ``winner_name``): shown
        instead of the client id.

        ``history`` is oldest first. zxids are ``"epoch:counter"`` strings.
        """
        history = list(self._history)[-recent:] if recent > 0 else []
        return {
            "game": self.game,
            "round": self.round,
            "round_size": self.round_size,
            "target": self.target,
            "guesses": [
                {"client": g.client_id, "value": g.value, "zxid": fmt_zxid(g.zxid),
                 **({"name": g.name} if g.name else {})}
                for g in self._open
            ],
            "history": [
                {
                    "game": r.game,
                    "round": r.round,
                    "winner": r.winner,
                    "winning_value": r.winning_value,
                    "old_target": r.old_target,
                    "new_target": r.new_target,
                    "zxid": fmt_zxid(r.zxid),
                    **({"winner_name": r.winner_name} if r.winner_name else {}),
                }
                for r in history
            ],
            "clients": len(self._sessions),
            "zxid_applied": fmt_zxid(self.zxid_applied),
        }

    def __repr__(self) -> str:
        return (
            f"Game(game={self.game}, round={self.round}, target={self.target}, "
            f"open={len(self._open)}/{self.round_size}, zxid_applied={fmt_zxid(self.zxid_applied)})"
        )


def _ahead(session: Session, op: Guess | NewGame) -> str:
    """Why ``op``'s seq is too far ahead of its client's record, or "" (module docstring)."""
    if (op.first or session.first) and op.seq > session.seq_max + SEQ_AHEAD_MAX:
        return (f"seq {op.seq} of client {op.client_id} is more than {SEQ_AHEAD_MAX} ahead of "
                f"its latest ({session.seq_max})")
    return ""


def _who(op: Guess | NewGame) -> str:
    """How a result names the player: its display name, else "client <id>"."""
    return op.name or f"client {op.client_id}"


def _check_snapshot(snap: GameSnapshot) -> None:
    """Reject a snapshot that decodes but could not have come from ``apply``."""

    def bad(why: str) -> ValueError:
        return ValueError(f"game snapshot at zxid {fmt_zxid(max(snap.zxid_applied, 0))} is "
                          f"inconsistent: {why}")

    if snap.zxid_applied < 0:
        raise bad(f"zxid_applied is negative ({snap.zxid_applied})")
    if snap.clients_max < 1:
        raise bad(f"clients_max must be positive, got {snap.clients_max}")
    if snap.game < 1 or snap.round < 1:
        raise bad(f"game {snap.game} round {snap.round} (both start at 1)")
    if snap.round_size is not None and round_size_problem(snap.round_size):
        raise bad(f"round size {snap.round_size} outside {ROUND_SIZE_MIN}..{ROUND_SIZE_MAX}")
    if snap.target is not None and value_problem(snap.target):
        raise bad(f"target {snap.target} outside {VALUE_MIN}..{VALUE_MAX}")
    if snap.target is not None and snap.round_size is None:
        raise bad("a target is set but no round size")
    if snap.open_round and snap.target is None:
        raise bad("open guesses without a target")
    if snap.round_size is not None and len(snap.open_round) >= snap.round_size:
        raise bad(f"{len(snap.open_round)} open guesses in a round of {snap.round_size}")
    if len(snap.history) > HISTORY_MAX:
        raise bad(f"{len(snap.history)} closed rounds kept (at most {HISTORY_MAX})")
    if snap.clock_ms < 0 or not 0 <= snap.horizon <= snap.zxid_applied:
        raise bad(f"clock {snap.clock_ms} / horizon {fmt_zxid(max(snap.horizon, 0))} (a clock "
                  f"below 0, or records forgotten after the snapshot's zxid)")
    if len(snap.sessions) > snap.clients_max:
        raise bad(f"{len(snap.sessions)} client records (at most {snap.clients_max})")
    seen: set[str] = set()
    for session in snap.sessions:
        if session.client_id in seen:
            raise bad(f"client {session.client_id!r} recorded twice")
        seen.add(session.client_id)
