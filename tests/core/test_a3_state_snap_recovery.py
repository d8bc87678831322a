"""A3 attack: a node that got the tree and sessions by SNAP, then more mixed txns, then a crash
and a recovery from that snapshot plus its log; and game retries interleaved with tree txns
(tests/core harness). Expected: byte-equal states everywhere; each game (client, seq) logged
once, whatever tree txns come between its copies."""

from __future__ import annotations

import pytest
from tests.core.harness import Cluster
from zmqzab.core.settings import CoreConfig
from zmqzab.messages import Guess
from zmqzab.tree.acl import OPEN_ACL_UNSAFE
from zmqzab.tree.sessions import CloseSessionTxn, CreateSessionTxn
from zmqzab.tree.txns import CreateTxn, DeleteTxn, SetDataTxn

pytestmark = [pytest.mark.core, pytest.mark.zk]

S1 = 0x0100_0000_0001_0001
S2 = 0x0200_0000_0001_0001


class Recording(Cluster):
    """Records every txn each node applies (the harness keeps only zxid and result)."""

    def __init__(self, *args, **kwargs) -> None:
        self.txns: dict[int, list] = {}
        super().__init__(*args, **kwargs)

    def execute(self, i: int, out) -> None:
        self.txns.setdefault(i, []).extend(t for t, _ in out.applied)
        super().execute(i, out)


def _game_keys(c: Recording, i: int) -> list[tuple[str, int]]:
    return [(t.op.client_id, t.op.seq) for t in c.txns[i] if type(t.op) is Guess]


def test_snap_then_mixed_txns_then_crash_recovers_the_same_state_and_game_once() -> None:
    c = Recording(3, seed=5, cfg=CoreConfig(log_window_txns=4))
    c.run_until(c.serving)
    ld = c.leader()
    away = next(i for i in c.ids if i != ld)
    other = next(i for i in c.ids if i not in (ld, away))
    c.crash(away)
    c.execute(ld, c.peers[ld].submit([CreateSessionTxn(S1, 5_000),
                                      CreateTxn("/e", b"x", OPEN_ACL_UNSAFE, S1, 1)], ts_ms=7))
    for seq in range(1, 8):
        c.submit(ld, seq, client="g", seq=seq)
    c.tick(1)
    base = c.peers[ld].log.base
    c.disks[ld].purge(base)
    c.peers[ld].log_purged(base)
    c.start(away)
    c.run_until(lambda: c.serving() and c.peers[away].zxid_applied == c.peers[ld].zxid_applied)
    # After the SNAP: a game retry in one batch with tree txns, through a follower and the leader.
    retry = Guess("g", 7, 7)
    c.execute(other, c.peers[other].submit([CreateTxn("/p", b"", OPEN_ACL_UNSAFE, 0, 2), retry,
                                            Guess("g", 8, 8), SetDataTxn("/p", b"y", 1)], ts_ms=9))
    c.settle()
    c.execute(ld, c.peers[ld].submit([Guess("g", 8, 8), DeleteTxn("/p"), CreateSessionTxn(S2, 4_000),
                                      CloseSessionTxn(S1), Guess("g", 8, 8)], ts_ms=10))
    c.settle()
    c.run_until(lambda: len({c.peers[i].zxid_applied for i in c.ids}) == 1)
    want = c.peers[ld].state.snapshot()
    c.crash(away)
    c.start(away)
    c.run_until(lambda: c.serving() and c.peers[away].zxid_applied == c.peers[ld].zxid_applied)
    for i in c.ids:
        assert c.peers[i].state.snapshot() == want, i
    for i in (ld, other):  # applied from the start: every committed game request once
        keys = _game_keys(c, i)
        assert len(keys) == len(set(keys)) and ("g", 8) in keys and ("g", 7) in keys, (i, keys)
    st = c.peers[away].state
    assert "/e" not in st.tree.nodes and S2 in st.sessions and S1 not in st.sessions
