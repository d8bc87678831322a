"""Simulated clients: guesses and new games against random nodes, with retries.

Each client has at most one request outstanding, numbered (client id, seq) as the real client
library does (zmqzab/client.py). It sends the request to a random node; that node either
refuses at once (``NotReady``: no leader, busy) or takes it and answers when it applies the
txn itself (as node.py does). With no answer within ``timeout_ticks`` (the node crashed, the
FORWARD was lost, the leader changed) the client retries the *same* (client, seq) on another
node: the game's exactly-once records make that safe. Like the library, a client's requests carry
its session (``first``: the seq of its first answered request, or the request's own seq until
one is; ``seen``: the highest zxid an answer named), so the game's session rules are exercised. Every attempt and the answer are kept in
``Request.attempts`` / ``Request.answer``, the history the checkers and a reader look at.

Stale copies (``stale_copies``, per new request; 0 in calm and scripted runs). A pipelining
client numbers writes it may never send, and retries whole batches after a leader change: its
record's seq leaps ahead, and a copy of a request it sent long ago arrives after the leap. So
here a client sometimes leaps ``SEQ_WINDOW`` seqs ahead, and sometimes re-sends a copy of one
of its answered requests: one older than the window when it has one (the game no longer knows
its outcome), else a recent one (it must get its original answer). A node refuses a copy it
knows is too old at once: the outcome ``final: ...`` ends that request, never retried. A copy
taken and never answered is retried like any request, so the liveness phase's "every request
answered" catches a node that takes one and waits for a commit that never comes (CI found that
with a BATCH client; this workload had one request per client, always the next seq).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable

from zmqzab.game.rules import SEQ_WINDOW
from zmqzab.messages import GameResult, Guess, NewGame, Op

#: After a refusal (no leader yet) a client waits this many ticks before it tries elsewhere.
REFUSED_BACKOFF_TICKS = 2


@dataclass(slots=True)
class Request:
    client: str
    seq: int
    op: Op
    sent_tick: int
    #: (tick, node, outcome): "taken", "down", "refused: <reason>", "timeout".
    attempts: list[tuple[int, int, str]] = field(default_factory=list)
    #: (tick, node, zxid, result) of the first answer.
    answer: tuple[int, int, int, GameResult] | None = None
    #: A stale copy of this earlier request (see the module docstring), or None.
    copy_of: Request | None = None
    #: (tick, node, why) of a final refusal: a node refused it at once and for good.
    refused: tuple[int, int, str] | None = None


@dataclass(slots=True)
class Client:
    id: str
    seq: int = 0
    first: int = 0
    seen: int = 0
    pending: Request | None = None
    last_node: int | None = None
    #: Tick of the next (re)try of ``pending``, or of the next new request when idle.
    next_tick: int = 0
    #: Its answered requests (not copies), oldest first: what a stale copy copies.
    answered: list[Request] = field(default_factory=list)


class Workload:
    """``attempt(node, request) -> outcome`` is the simulation's way into a node."""

    def __init__(self, rng: random.Random, clients: int, nodes: list[int], timeout_ticks: int,
                 round_size: int, attempt: Callable[[int, Request], str],
                 stale_copies: float = 0.0, rng_stale: random.Random | None = None) -> None:
        self.rng = rng
        #: Per new request: a leap or a stale copy instead (module docstring). Its draws come
        #: from ``rng_stale``, so a run with none draws and traces what it did before.
        self.stale_copies = stale_copies
        self.rng_stale = rng_stale or random.Random(0)
        self.nodes = nodes
        self.timeout_ticks = timeout_ticks
        self.round_size = round_size
        self.attempt = attempt
        self.clients = [Client(f"c{i}") for i in range(1, clients + 1)]
        self.requests: list[Request] = []
        self.new_requests = True

    def pending(self) -> list[Request]:
        return [c.pending for c in self.clients if c.pending is not None]

    def tick(self, tick: int) -> None:
        rng = self.rng
        for client in self.clients:
            if tick < client.next_tick:
                continue
            request = client.pending
            if request is None:
                if not self.new_requests or rng.random() < 0.5:
                    continue
                value = None if rng.random() < 0.1 else rng.randint(0, 100)
                if self.stale_copies and self.rng_stale.random() < self.stale_copies:
                    request = self._stale(client, tick, value)
                else:
                    request = self._new(client, tick, value)
            elif request.attempts and request.attempts[-1][2] == "taken":
                request.attempts.append((tick, request.attempts[-1][1], "timeout"))
            choices = [n for n in self.nodes if n != client.last_node] or self.nodes
            self._send(client, request, tick, rng.choice(choices))

    def request(self, tick: int, client_id: str, node: int, value: int | None) -> Request:
        """A scripted request (a guess, or a new game when ``value`` is None) sent to ``node``."""
        client = next((c for c in self.clients if c.id == client_id), None)
        if client is None:
            client = Client(client_id)
            self.clients.append(client)
        if client.pending is not None:
            raise ValueError(f"client {client_id} already waits for #{client.pending.seq}")
        request = self._new(client, tick, value)
        self._send(client, request, tick, node)
        return request

    def _new(self, client: Client, tick: int, value: int | None) -> Request:
        client.seq += 1
        first = client.first or client.seq
        op: Op = (NewGame(client.id, client.seq, self.round_size, first, client.seen) if value is None
                  else Guess(client.id, client.seq, value, self.round_size, first, client.seen))
        request = client.pending = Request(client.id, client.seq, op, tick)
        self.requests.append(request)
        return request

    def _stale(self, client: Client, tick: int, value: int | None) -> Request:
        """A stale copy of an answered request, or a leap and a new request (module docstring)."""
        rng = self.rng_stale
        session = [r for r in client.answered if r.seq >= client.first]
        old = [r for r in session if r.seq <= client.seq - SEQ_WINDOW]
        if old and rng.random() < 0.7:
            original = rng.choice(old)
        elif session and rng.random() < 0.3:
            original = session[-1 - rng.randrange(min(len(session), 5))]
        else:
            client.seq += SEQ_WINDOW  # numbered, never sent: the record leaps when it commits
            return self._new(client, tick, value)
        request = client.pending = Request(client.id, original.seq, original.op, tick, copy_of=original)
        self.requests.append(request)
        return request

    def _send(self, client: Client, request: Request, tick: int, node: int) -> None:
        client.last_node = node
        outcome = self.attempt(node, request)
        request.attempts.append((tick, node, outcome))
        if outcome.startswith("final: "):
            # Refused for good (too old, too far ahead): what a client is told of a request
            # that can never commit. A copy's client goes on in its session; a request of its
            # own means the session is over (the game said so), so it starts a new one.
            request.refused = (tick, node, outcome.removeprefix("final: "))
            client.pending = None
            client.next_tick = tick + self.rng.randint(0, 3)
            if request.copy_of is None:
                client.first = 0
        elif outcome == "taken":
            client.next_tick = tick + self.timeout_ticks
        else:
            client.next_tick = tick + REFUSED_BACKOFF_TICKS

    def answered(self, request: Request, tick: int, node: int, zxid: int, result: GameResult) -> bool:
        """A node applied the request's txn; True if this is the request's first answer."""
        if request.answer is not None:
            return False
        request.answer = (tick, node, zxid, result)
        for client in self.clients:
            if client.pending is request:
                if request.copy_of is None:
                    client.answered.append(request)
                client.first = client.first or request.op.first  # type: ignore[union-attr]
                client.seen = max(client.seen, zxid)
                client.pending = None
                client.next_tick = tick + self.rng.randint(0, 3)
        return True
