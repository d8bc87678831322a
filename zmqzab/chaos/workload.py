"""Chaos clients: each a thread with its own client id, its own DEALERs, and a seeded rng.

A request is retried with the same (client id, seq) on other nodes until it is answered ok or
its deadline passes. The outcome is ok, failed (every attempt refused before anything was
proposed: no_leader, busy, bad_request) or unknown (some attempt got no answer).
"""

from __future__ import annotations

import random
import threading
import time

import msgspec
import zmq

from zmqzab.chaos.history import FAILED, OK, UNKNOWN, Request
from zmqzab.config import ClusterConfig
from zmqzab.game.limits import VALUE_MAX, VALUE_MIN
from zmqzab.messages import ClientRequest, Guess, NewGame, decode_reply, encode
from zmqzab.security.curve import client_keys, client_socket
from zmqzab.security.zap import bound_client_id

#: How long one attempt waits for its answer before the client tries another node.
ATTEMPT_S = 0.5
#: How long one request may take in all before it is recorded as unknown.
REQUEST_S = 6.0
NEW_GAME_EVERY = 25  # about one request in this many starts a new game


class ChaosClient(threading.Thread):
    def __init__(self, lane: int, config: ClusterConfig, seed: int, t0: float, stop: threading.Event) -> None:
        super().__init__(name=f"chaos-client-{lane}", daemon=True)
        self.lane = lane
        self.config = config
        self.rng = random.Random(seed)
        self.client_id = f"chaos{lane}-{self.rng.getrandbits(32):08x}"
        self.t0 = t0
        self.stop_event = stop
        self.history: list[Request] = []
        self.ctx = zmq.Context.instance()
        self.socks: dict[int, zmq.Socket] = {}
        self.req_id = 0
        self.keys = client_keys(config)
        if self.keys is not None:  # with CURVE a client id belongs to a key (security/zap.py)
            self.client_id = bound_client_id(self.keys.user_id, self.client_id)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def _sock(self, i: int) -> zmq.Socket:
        if i not in self.socks:
            self.socks[i] = client_socket(self.ctx, self.config, i, self.keys)
        return self.socks[i]

    def _drop(self, i: int) -> None:
        s = self.socks.pop(i, None)
        if s is not None:
            s.close(0)

    def run(self) -> None:
        seq = 0
        ids = list(self.config.ids)
        while not self.stop_event.is_set():
            seq += 1
            if self.rng.randrange(NEW_GAME_EVERY) == 0:
                op, kind, value = NewGame(self.client_id, seq), "new_game", None
            else:
                value = self.rng.randrange(VALUE_MIN, VALUE_MAX + 1)
                op, kind = Guess(self.client_id, seq, value), "guess"
            req = Request(self.lane, self.client_id, seq, kind, value, invoked=self.now())
            self.history.append(req)
            self._perform(req, op, ids)
        for s in self.socks.values():
            s.close(0)

    def _perform(self, req: Request, op, ids: list[int]) -> None:
        deadline = time.monotonic() + REQUEST_S
        node = self.rng.choice(ids)
        any_silent = False
        while time.monotonic() < deadline:
            self.req_id += 1
            rid = self.req_id
            sock = self._sock(node)
            sock.send(encode(ClientRequest(rid, op)))
            wait_until = min(deadline, time.monotonic() + ATTEMPT_S)
            reply = None
            while (left := wait_until - time.monotonic()) > 0 and sock.poll(int(left * 1000) + 1):
                r = decode_reply(sock.recv())
                if r.req_id == rid:
                    reply = r
                    break
            if reply is None:
                any_silent = True
                req.attempts.append(f"n{node}:silent")
                self._drop(node)  # a late answer must not be read as another request's
            elif reply.ok:
                req.outcome, req.zxid, req.node = OK, reply.zxid, reply.node
                req.result = msgspec.to_builtins(reply.result)
                req.completed = self.now()
                req.attempts.append(f"n{node}:ok")
                return
            else:
                req.attempts.append(f"n{node}:{reply.error_kind}")
                if reply.error_kind == "bad_request":
                    break
                # refused: a short pause before the next node (a leader may be being elected)
                self.stop_event.wait(0.05)
            node = ids[(ids.index(node) + 1) % len(ids)]
        req.completed = self.now()
        req.outcome = UNKNOWN if any_silent else FAILED
