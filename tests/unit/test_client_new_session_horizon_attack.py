"""Outside attack on issue 17 (h17b): a brand-new client starts its session with ``seen = 0``.

A new ``Client`` (and a new terminal's `zmqzab guess`: no session file yet) has
``ClientSession.seen == 0``, and its first write is a session start with ``seen = 0``. Once any
client record of the cluster has ever expired or been evicted (one player idle for an hour in a
classroom, or 10,000 ids), the game's ``horizon`` is above 0, so EVERY new client's first write
is refused "session expired" (``seen < horizon``: it "may be a retry" of a forgotten start,
though this client never wrote). The library resends it in a new session only if it sent the
write once; if the first node it tried did not answer (a crashed node: the client picks a node
at random, then fails over), it sent two copies and the user gets SessionExpiredError: "whether
this write was applied is unknown", for a client that has never had a session. Each new client
also logs one refused txn.

Property broken: a client that has never written is not told its session expired, and its
first write is applied (locked out anyway, without any attacker).

Fixed (zmqzab/client.py ``_learn_seen``): a session starts having seen something: before the first write of a session with
``seen == 0`` the client reads a node's ``zxid_applied`` (a ``ReadRequest("status")``, which
every node answers) and uses it as ``seen`` (the node must have applied it, so it is not
older than any record a retry of this session could have made); or the node stamps
``seen = its zxid_applied`` on a start it takes with ``seen == 0`` (a retry copy of a forgotten
start then carries a seen taken when the copy arrived, which the horizon rule would no longer
catch, so the client-side read is the safe one).
"""

from __future__ import annotations

import threading

import msgspec
import pytest

from zmqzab.client import Client, SessionExpiredError
from zmqzab.game.rules import CLIENT_IDLE_MS, Game
from zmqzab.messages import ClientReply, Guess, ReadReply, ReadRequest, Txn
from zmqzab.zxid import fmt_zxid, make_zxid

from tests.unit.test_client import FakeNode, make_config

pytestmark = [pytest.mark.client, pytest.mark.game, pytest.mark.security]


class GameNode:
    """What a live node answers: every write committed in order through one real Game."""

    def __init__(self) -> None:
        self.game = Game()
        self.counter = 0
        self.ts = 1_000
        self.lock = threading.Lock()
        self.kinds: list[str] = []

    def commit(self, op, ts_ms: int):
        self.counter += 1
        txn = Txn(make_zxid(1, self.counter), op, ts_ms)
        return txn.zxid, self.game.apply(txn)

    def script(self, node, msg):
        if isinstance(msg, ReadRequest):
            return ReadReply(msg.req_id, node.id, {"id": node.id, "role": "LEADING",
                                                   "zxid_applied": fmt_zxid(make_zxid(1, self.counter))})
        with self.lock:
            op = msgspec.structs.replace(msg.op, round_size=3)  # as the node stamps it
            zxid, result = self.commit(op, self.ts)
            self.kinds.append(result.kind)
        return ClientReply(msg.req_id, True, node.id, zxid=zxid, result=result)


def test_a_brand_new_clients_first_write_is_applied_after_some_record_expired(tmp_path):
    """Setup: a game where one player guessed, then sat idle past CLIENT_IDLE_MS while others
    played (its record expired: horizon > 0). Node 0 is down (never answers); node 1 is live.
    Steps: a brand-new Client that tries node 0 first guesses 50. Expected: the guess is
    applied and the client is not told its session expired."""
    live = GameNode()
    live.commit(Guess("idle-player", 1, 10, 3, 1, 0), live.ts)
    live.ts += CLIENT_IDLE_MS + 1
    live.commit(Guess("active-player", 1, 20, 3, 1, live.counter), live.ts)
    assert live.game.horizon > 0  # the idle player's record is gone
    down = FakeNode(0, lambda node, msg: None)
    up = FakeNode(1, live.script)
    try:
        config = make_config(tmp_path, {0: down.port, 1: up.port})
        with Client(config, node=0, timeout=10) as client:
            try:
                done = client.guess(50)
                outcome = done.result.kind
            except SessionExpiredError as exc:
                outcome = f"SessionExpiredError: {exc}"
    finally:
        down.close()
        up.close()
    values = [g["value"] for g in live.game.view()["guesses"]]
    assert outcome not in ("session_expired",) and not outcome.startswith("SessionExpiredError"), (
        f"a client that never wrote was told: {outcome} (the node committed {live.kinds})")
    assert 50 in values
