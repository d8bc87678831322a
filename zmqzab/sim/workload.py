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
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable

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


class Workload:
    """``attempt(node, request) -> outcome`` is the simulation's way into a node."""

    def __init__(self, rng: random.Random, clients: int, nodes: list[int], timeout_ticks: int,
                 round_size: int, attempt: Callable[[int, Request], str]) -> None:
        self.rng = rng
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

    def _send(self, client: Client, request: Request, tick: int, node: int) -> None:
        client.last_node = node
        outcome = self.attempt(node, request)
        request.attempts.append((tick, node, outcome))
        if outcome == "taken":
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
                client.first = client.first or request.op.first  # type: ignore[union-attr]
                client.seen = max(client.seen, zxid)
                client.pending = None
                client.next_tick = tick + self.rng.randint(0, 3)
        return True
