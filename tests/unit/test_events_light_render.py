"""A node's event stream renders the messages its ring keeps in light form (server/light.py:
a batch of txns as its first and last). Found by `zmqzab chaos` with a recording: under client
load a follower's ring holds a received PROPOSAL of 3+ txns, render raised IndexError on it, the
HTTP worker swallowed the error and closed the stream, and every reader that reconnected past
that event (the page's EventSource, `zmqzab up --record`) was cut off again at once."""

from __future__ import annotations

import pytest

from zmqzab.messages import Guess, Proposal, SyncTxns, Txn, describe
from zmqzab.server.events import EventLog, bounded, render
from zmqzab.server.light import light
from zmqzab.zxid import make_zxid

pytestmark = [pytest.mark.web]


def _txns(n: int) -> list[Txn]:
    return [Txn(zxid=make_zxid(2, k), op=Guess("alice", k, k)) for k in range(1, n + 1)]


@pytest.mark.parametrize("n", [3, 4, 5, 40])
def test_a_received_proposal_kept_light_renders(n):
    log = EventLog(1)
    full = Proposal(epoch=2, txns=_txns(n))
    log.received(2, light(full))
    ev = render(log.ring[-1], 1)
    assert ev["zxid"] == "2:1" and ev["zxid_to"] == f"2:{n}"
    assert ev["text"].startswith(f"← n2 PROPOSAL 2:1..2:{n} [guess 1 (alice#1)")
    # however many ops it names, it counts the rest: nothing is lost from the text's arithmetic
    shown = ev["text"].count("guess ")
    assert f"+{n - shown}]" in ev["text"]


def test_a_sent_sync_batch_kept_light_renders_as_the_full_one():
    log = EventLog(1)
    full = SyncTxns(7, 2, _txns(5), make_zxid(2, 5), 0)
    log.sent(3, light(full))
    assert render(log.ring[-1], 1)["text"] == f"→ n3 {describe(full)}"


def test_a_stream_flush_over_light_batches_renders():
    log = EventLog(1)
    for k in range(30):
        log.received(2, light(Proposal(epoch=2, txns=_txns(3 + k % 4))))
    assert len(bounded(list(log.ring), 1, 100)) == 30
    assert len(bounded(list(log.ring), 1, 10)) <= 10


def test_describe_of_a_full_proposal_is_unchanged():
    assert describe(Proposal(epoch=2, txns=_txns(5))) == \
        "PROPOSAL 2:1..2:5 [guess 1 (alice#1), guess 2 (alice#2), guess 3 (alice#3), +2]"
    assert describe(Proposal(epoch=2, txns=_txns(2))) == \
        "PROPOSAL 2:1..2:2 [guess 1 (alice#1), guess 2 (alice#2)]"
