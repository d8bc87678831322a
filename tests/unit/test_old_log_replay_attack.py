"""apply() must give a txn already in a log what it gave when it was committed.

A committed txn is history: every node that replays it (a restart replaying its log after its
snapshot, a follower synced by DIFF, a node of the next version during a rolling upgrade) must
compute what the nodes that applied it live computed, or the replicas' games diverge.

Before the limits had one home (base 00cc6b6), the node's client check refused only seq < 1
(``Node._check_op``: ``if op.seq < 1``, no upper bound), and apply() accepted any seq >= 0. A
client sending a request with seq 2**63..2**64-1 (msgpack's uint64) straight to the leader had
it proposed (the leader's own ops pass no plausibility check) and applied on every node as a
normal guess: ``target_set``, the client's session recorded at that seq. Such txns can be in
logs written by that version. The new apply() refuses seq >= 2**63 (``limits.seq_problem``), so
a replay of the same log now gives ``rejected`` and a different game.
"""

from __future__ import annotations

import pytest

from zmqzab.game.rules import Game
from zmqzab.messages import Guess, NewGame, Txn
from zmqzab.zxid import make_zxid

pytestmark = [pytest.mark.game]

#: Seqs the old node's client check let through and the old apply() applied (checked with
#: PYTHONPATH=/work/base: Node._check_op(None, Guess("c1", 2**63, 5)) == "" and
#: Game().apply(...) -> target_set).
OLD_ACCEPTED_SEQS = [2**63, 2**64 - 1]


@pytest.mark.parametrize("seq", OLD_ACCEPTED_SEQS)
def test_a_committed_guess_with_a_seq_the_old_node_accepted_replays_as_it_applied(seq):
    g = Game()
    result = g.apply(Txn(zxid=make_zxid(1, 1), op=Guess("c1", seq, 5, 3)))
    # What the old version computed for the same txn (base 00cc6b6): the target set to 5.
    assert result.kind == "target_set", result.message
    assert g.target == 5
    # ...and the retry of it (same client, same seq) gets the same answer, as it did.
    again = g.apply(Txn(zxid=make_zxid(1, 2), op=Guess("c1", seq, 7, 3)))
    assert again == result


@pytest.mark.parametrize("seq", OLD_ACCEPTED_SEQS)
def test_a_committed_new_game_with_a_seq_the_old_node_accepted_replays_as_it_applied(seq):
    g = Game()
    g.apply(Txn(zxid=make_zxid(1, 1), op=Guess("c2", 1, 5, 3)))
    result = g.apply(Txn(zxid=make_zxid(1, 2), op=NewGame("c1", seq, 3)))
    assert result.kind != "rejected", result.message
    assert g.target is None
