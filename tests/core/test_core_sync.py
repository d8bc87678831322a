"""The core's side of SNAP streaming and DIFF from disk, on the tests/core harness (real Peers,
real execute(), FIFO delivery, no sockets, files or clock).

ZAB_CHECKLIST #11 (DIFF / SNAP choice), #13 (NEWLEADER after the whole stream), #15 (nothing
of an unfinished SNAP replaces the follower's history).
"""

from __future__ import annotations

import re

import pytest
from tests.core.harness import Cluster
from zmqzab.core.roles import Phase
from zmqzab.core.settings import CoreConfig
from zmqzab.messages import NewLeader, SnapAck, SnapChunk, SyncStart, SyncTxns

pytestmark = [pytest.mark.snapshots]

#: Small chunks and little credit: a game snapshot of a few clients is a few dozen chunks.
CHUNKED = CoreConfig(log_window_txns=5, snap_chunk_bytes=64, snap_chunks_inflight_max=3)


class Recording(Cluster):
    """The harness, also recording every send in the order the core made it."""

    def __init__(self, *args, **kwargs) -> None:
        self.sent: list[tuple[int, int, object]] = []
        super().__init__(*args, **kwargs)

    def execute(self, i, out) -> None:
        for send in out.sends:
            self.sent.append((i, send.to, send.msg))
        super().execute(i, out)


def setup_lagger(c: Cluster, writes: int = 30, purge: bool = True) -> tuple[int, int]:
    """Elect; a follower is down while ``writes`` guesses from 5 clients commit; the leader's
    disk purged to its memory window (so the follower gets SNAP) unless ``purge`` is False."""
    c.run_until(c.serving, 200)
    ld = c.leader()
    lagger = next(i for i in c.ids if i != ld)
    c.crash(lagger)
    for s in range(1, writes + 1):
        c.submit(ld, s % 100, f"client-{s % 5}", s)
    c.tick(1)
    if purge:
        base = c.peers[ld].log.base
        c.disks[ld].purge(base)
        c.peers[ld].log_purged(base)
    return ld, lagger


def caught_up(c: Cluster, ld: int, lagger: int) -> bool:
    p = c.peers[lagger]
    return p.phase == Phase.BROADCAST and p.zxid_committed == c.peers[ld].zxid_committed


def test_snap_streams_in_chunks_with_credit_and_newleader_after_the_last():
    c = Recording(3, cfg=CHUNKED)
    ld, lagger = setup_lagger(c)
    c.sent.clear()
    c.start(lagger)
    c.run_until(lambda: caught_up(c, ld, lagger), 100)
    to_lagger = [m for src, dst, m in c.sent if src == ld and dst == lagger]
    chunks = [m for m in to_lagger if isinstance(m, SnapChunk)]
    start = next(m for m in to_lagger if isinstance(m, SyncStart))
    assert start.mode == "SNAP" and len(chunks) > 5
    assert [m.index for m in chunks] == list(range(len(chunks)))
    assert sum(len(m.data) for m in chunks) == start.snapshot_bytes
    # Flow control: when the leader sends chunk i, chunks up to i - credit are acknowledged.
    acked = 0
    for src, dst, m in c.sent:
        if src == lagger and isinstance(m, SnapAck):
            acked = max(acked, m.index + 1)
        elif src == ld and isinstance(m, SnapChunk):
            assert m.index < acked + CHUNKED.snap_chunks_inflight_max
    # NEWLEADER strictly after the whole stream (#13).
    newleader = next(k for k, m in enumerate(to_lagger) if isinstance(m, NewLeader))
    stream = [k for k, m in enumerate(to_lagger) if isinstance(m, (SnapChunk, SyncTxns, SyncStart))]
    assert max(stream) < newleader
    # Progress for /status and the node's log.
    sync = c.peers[lagger].last_sync
    assert sync["mode"] == "SNAP" and sync["done"]
    assert sync["snapshot_received"] == sync["snapshot_bytes"] == start.snapshot_bytes
    texts = [t.text for _, i, t in c.traces if i == lagger and t.event == "sync"]
    assert any(re.search(r"of \d+ bytes \(\d+%\)", t) for t in texts) and any(" complete: " in t for t in texts)
    assert c.peers[lagger].state.snapshot() == c.peers[ld].state.snapshot()


def test_a_follower_that_crashes_mid_snap_starts_over_cleanly():
    c = Recording(3, cfg=CHUNKED)
    ld, lagger = setup_lagger(c)
    before = (list(c.disks[lagger].txns), c.disks[lagger].base)
    c.start(lagger)
    # Deliver until a few chunks arrived, then the follower dies mid-transfer.
    got = 0
    while got < 4:
        assert c.deliver_one()
        got = sum(1 for _, dst, m in c.delivered if dst == lagger and isinstance(m, SnapChunk))
    c.crash(lagger)
    assert (c.disks[lagger].txns, c.disks[lagger].base) == before  # nothing of it reached the disk
    c.sent.clear()
    c.start(lagger)
    c.run_until(lambda: caught_up(c, ld, lagger), 100)
    chunks = [m for src, dst, m in c.sent if src == ld and dst == lagger and isinstance(m, SnapChunk)]
    assert chunks[0].index == 0  # a new stream, from the start
    assert c.peers[lagger].state.snapshot() == c.peers[ld].state.snapshot()
    assert c.disks[lagger].base > 0  # the snapshot is installed now


def test_a_lost_chunk_drops_the_partial_snapshot_and_syncs_again():
    c = Recording(3, cfg=CHUNKED)
    ld, lagger = setup_lagger(c)
    c.start(lagger)
    dropped = False
    for _ in range(10_000):
        if not dropped:
            for k, (src, dst, m) in enumerate(c.queue):
                if dst == lagger and isinstance(m, SnapChunk) and m.index == 2:
                    del c.queue[k]
                    dropped = True
                    break
        if not c.deliver_one():
            break
    assert dropped
    texts = [t.text for _, i, t in c.traces if i == lagger]
    assert any("broke off: chunk 3 arrived, 2 expected" in t for t in texts), texts[-5:]
    c.run_until(lambda: caught_up(c, ld, lagger), 200)
    assert c.peers[lagger].state.snapshot() == c.peers[ld].state.snapshot()


def test_behind_the_window_but_on_disk_gets_a_diff_read_from_disk():
    c = Recording(3, cfg=CHUNKED)
    ld, lagger = setup_lagger(c, writes=40, purge=False)
    c.start(lagger)
    c.run_until(lambda: caught_up(c, ld, lagger), 100)
    sync = c.peers[lagger].last_sync
    assert sync["mode"] == "DIFF" and "from disk" in sync["reason"], sync
    assert [ok for i, _, ok in c.disk_reads if i == ld] == [True]
    assert not any(isinstance(m, SnapChunk) for _, _, m in c.sent)
    assert c.disks[lagger].txns == c.disks[ld].txns  # the whole history, no snapshot
    assert c.peers[lagger].state.snapshot() == c.peers[ld].state.snapshot()


def test_a_disk_that_cannot_serve_the_diff_falls_back_to_snap():
    """The core believes its disk holds the range, but a purge raced with it: the driver finds
    the follower's zxid missing before it sent anything, and the leader sends SNAP instead."""
    c = Recording(3, cfg=CHUNKED)
    ld, lagger = setup_lagger(c, purge=False)
    c.disks[ld].purge(c.peers[ld].log.base)  # the core is not told
    c.sent.clear()
    c.start(lagger)
    c.run_until(lambda: caught_up(c, ld, lagger), 100)
    assert [ok for i, _, ok in c.disk_reads if i == ld] == [False]
    assert c.peers[lagger].last_sync["mode"] == "SNAP"
    assert "cannot be read from disk" in c.peers[lagger].last_sync["reason"]
    starts = [m for src, dst, m in c.sent if dst == lagger and isinstance(m, SyncStart)]
    assert [m.mode for m in starts] == ["SNAP"]  # the DIFF header never left
    assert c.peers[lagger].state.snapshot() == c.peers[ld].state.snapshot()
