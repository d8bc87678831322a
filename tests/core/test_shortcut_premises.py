"""The premises of two per-txn shortcuts of the core (issue 14), checked directly.

* follower.py ``_accept`` tests ``zxid == last + 1`` with a non-zero counter inline and calls
  ``is_next`` only otherwise: it must take and refuse exactly the zxids ``is_next`` does, at
  every edge of the epoch and counter fields (counter rollover, epoch change, a gap, the first
  txn after a snapshot at counter 0). Exhaustive over the edges: no random draw.
* leader.py ``on_ack`` re-counts its commit point only for an ACK above it. That is only the
  same as re-counting always if, whenever an ACK arrives, no zxid of the leader's epoch above
  its commit point is already held by a quorum (an ACK at or below the commit point cannot add
  a holder above it). Checked after every input to every Peer of a few simulator seeds with
  faults (crashes, drops, duplicates, partitions, SNAP/DIFF/TRUNC, snapshots), and with the
  ZooKeeper clients: an established leader never leaves such a zxid uncommitted. The seeds are
  fixed (printed on failure); ``zmqzab sim --seed N --trace`` replays one.
"""

from __future__ import annotations

import pytest

from zmqzab.core import follower
from zmqzab.core.leader import BROADCASTING, LeaderState
from zmqzab.core.output import Output
from zmqzab.core.peer import Peer
from zmqzab.core.settings import CoreConfig
from zmqzab.messages import Guess, Txn
from zmqzab.sim.simulation import run_seed
from zmqzab.zxid import COUNTER_MASK, fmt_zxid, is_next, make_zxid, zxid_epoch

EPOCHS = (0, 1, 2, 3, (1 << 31) - 1, 1 << 31, (1 << 32) - 1)
COUNTERS = (0, 1, 2, 3, COUNTER_MASK - 2, COUNTER_MASK - 1, COUNTER_MASK)


class _Log:
    def __init__(self, last: int) -> None:
        self.last = last
        self.appended: list[int] = []


class _FakePeer:
    """What ``_accept`` reads: the log's last zxid, the test faults, and ``append``."""

    def __init__(self, last: int, faults: frozenset[str] = frozenset()) -> None:
        self._log = _Log(last)
        self.cfg = CoreConfig(test_faults=faults)

    @property
    def zxid_last(self) -> int:
        return self._log.last

    def append(self, out: Output, txns: list[Txn]) -> None:
        self._log.appended.extend(t.zxid for t in txns)
        self._log.last = txns[-1].zxid


def _txn(zxid: int) -> Txn:
    return Txn(zxid, Guess("c", 1, 50), 0)


def test_follower_takes_exactly_the_zxids_is_next_allows_at_every_edge() -> None:
    zxids = sorted({make_zxid(e, c) for e in EPOCHS for c in COUNTERS})
    pairs = 0
    for last in zxids:
        candidates = {last + d for d in (-1, 0, 1, 2)} | {z for z in zxids if abs(zxid_epoch(z) - zxid_epoch(last)) <= 1}
        for zxid in sorted(candidates):
            if zxid < 0:
                continue
            peer = _FakePeer(last)
            gap = follower._accept(peer, Output(), [_txn(zxid)])  # type: ignore[arg-type]
            if zxid <= last:
                expected_gap, expected = False, []  # a duplicate: dropped, not a gap
            elif is_next(last, zxid):
                expected_gap, expected = False, [zxid]
            else:
                expected_gap, expected = True, []
            case = f"last {fmt_zxid(last)} then {fmt_zxid(zxid)}"
            assert (gap, peer._log.appended) == (expected_gap, expected), case
            pairs += 1
    assert pairs > 700


def test_follower_batch_stops_at_the_first_gap_as_is_next_says() -> None:
    # A batch across a counter rollover: e:MASK-1, e:MASK, then (e+1):0 (the carry of +1, which
    # is not a valid next zxid), then (e+1):1.
    e = 5
    batch = [make_zxid(e, COUNTER_MASK - 1), make_zxid(e, COUNTER_MASK), make_zxid(e + 1, 0),
             make_zxid(e + 1, 1)]
    peer = _FakePeer(make_zxid(e, COUNTER_MASK - 2))
    assert follower._accept(peer, Output(), [_txn(z) for z in batch])  # type: ignore[arg-type]
    assert peer._log.appended == batch[:2]
    # ...and a new epoch's first txn after it is taken.
    peer = _FakePeer(make_zxid(e, COUNTER_MASK))
    assert not follower._accept(peer, Output(), [_txn(make_zxid(e + 2, 1)), _txn(make_zxid(e + 2, 2))])  # type: ignore[arg-type]
    assert peer._log.appended == [make_zxid(e + 2, 1), make_zxid(e + 2, 2)]


def _uncommitted_quorum_zxid(p: Peer) -> int | None:
    """The zxid _advance_commit would commit now, if the leader is established and one exists."""
    st = p.role_state
    if type(st) is not LeaderState or not st.established:
        return None
    acks = [p.zxid_durable] + [ln.acked for ln in st.learners.values() if ln.step is BROADCASTING]
    if len(acks) < p.quorum:
        return None
    acks.sort(reverse=True)
    candidate = acks[p.quorum - 1]
    if candidate > p.zxid_committed and zxid_epoch(candidate) == st.epoch:
        return candidate
    return None


INPUTS = ("start", "tick", "step", "submit", "persisted", "disk_read_done", "peer_unreachable",
          "force_election")


@pytest.mark.parametrize(("seed", "zk_clients"), [(1, 0), (7, 0), (23, 0), (97011, 0), (5003, 3)])
def test_an_established_leader_never_leaves_a_quorum_held_zxid_uncommitted(monkeypatch, seed, zk_clients) -> None:
    print(f"seed {seed} zk_clients {zk_clients}")
    seen = {"inputs": 0}
    problems: list[str] = []

    def checked(name: str):
        original = getattr(Peer, name)

        def wrapper(self: Peer, *args, **kwargs):
            out = original(self, *args, **kwargs)
            seen["inputs"] += 1
            pending = _uncommitted_quorum_zxid(self)
            if pending is not None:
                problems.append(f"node {self.id} after {name}: committed {fmt_zxid(self.zxid_committed)}, "
                                f"a quorum holds {fmt_zxid(pending)}")
            return out

        return wrapper

    for name in INPUTS:
        monkeypatch.setattr(Peer, name, checked(name))
    result = run_seed(seed, zk_clients=zk_clients)
    assert result.ok, (seed, result.violation)
    assert seen["inputs"] > 1000
    assert not problems, (seed, problems[:5])


def test_the_premise_check_sees_a_leader_that_skipped_a_commit(monkeypatch) -> None:
    """The check above is not vacuous: an on_persisted that forgets to re-count leaves exactly
    such a zxid (the leader's own durable report is what completes the quorum)."""
    from zmqzab.core import leader

    monkeypatch.setattr(leader, "on_persisted", lambda peer, st, out: None if st.established else leader._progress(peer, st, out))
    found: list[int] = []
    original = Peer.persisted

    def wrapper(self: Peer, zxid: int):
        out = original(self, zxid)
        pending = _uncommitted_quorum_zxid(self)
        if pending is not None:
            found.append(pending)
        return out

    monkeypatch.setattr(Peer, "persisted", wrapper)
    run_seed(1)
    assert found, "no uncommitted quorum-held zxid seen with on_persisted broken"
