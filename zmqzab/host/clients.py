"""Requests a node took, waiting to be answered when their txn is applied on this node.

The node that took a request answers it when it applies that txn itself, matched by
(client id, seq): the game applies a retried request at most once, so whichever copy of it
commits, its answer is the original one. Only the game's ops wait here: a tree or session txn
has no (client id, seq); its result (zmqzab/state.py's ZkResult) reaches the driver through
``HostIO.applied``, where ZooKeeper's client port answers it by session id and xid. A waiter is whatever the driver answers with: a
client socket's (identity, request id) in the node, a workload ``Request`` in the simulator.

A request never answered (the txn was lost with a leader; the client retried elsewhere) is
forgotten after ``expiry_ticks``, counted in the host's ticks (no clock in here).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Generic, TypeVar

from zmqzab.messages import Op
from zmqzab.state import is_game_op

W = TypeVar("W")

#: At most this many (client id, seq) wait on one node; beyond, a request is still proposed but
#: its taker is not answered (the client times out and retries, and gets the known answer).
WAITING_MAX = 200_000


class ClientTable(Generic[W]):
    __slots__ = ("expiry_ticks", "waiting", "_expiry")

    def __init__(self, expiry_ticks: int) -> None:
        self.expiry_ticks = expiry_ticks
        #: (client id, seq) -> [(waiter, deadline tick)]
        self.waiting: dict[tuple[str, int], list[tuple[W, int]]] = {}
        #: (deadline tick, key) in deadline order, to forget unanswered requests cheaply.
        self._expiry: deque[tuple[int, tuple[str, int]]] = deque()

    def __len__(self) -> int:
        return len(self.waiting)

    def wait(self, ops: Sequence[Op], waiters: Sequence[W], now: int) -> None:
        """``waiters[k]`` is answered when ``ops[k]``'s txn is applied here."""
        deadline = now + self.expiry_ticks
        waiting, expiry = self.waiting, self._expiry
        for op, waiter in zip(ops, waiters):
            if len(waiting) < WAITING_MAX and is_game_op(op):
                key = (op.client_id, op.seq)
                waiting.setdefault(key, []).append((waiter, deadline))
                expiry.append((deadline, key))

    def pop(self, op: Op) -> list[W]:
        """The waiters of an applied op (none: a sync, other nodes' writes, a tree txn)."""
        if not is_game_op(op):
            return []
        entries = self.waiting.pop((op.client_id, op.seq), None)
        return [w for w, _ in entries] if entries else []

    def expire(self, now: int) -> None:
        # Deadlines are appended in time order: only the front is looked at. Entries of answered
        # requests go too (the usual case), or under load the deque would hold a minute of
        # requests, a million at 20k/s.
        expiry, waiting = self._expiry, self.waiting
        while expiry and (expiry[0][0] < now or expiry[0][1] not in waiting):
            _, key = expiry.popleft()
            entries = waiting.get(key)
            if entries is not None and all(deadline < now for _, deadline in entries):
                del waiting[key]
