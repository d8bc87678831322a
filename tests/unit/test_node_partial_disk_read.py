"""The node's DIFF from disk (server/reads.py over the reader thread) sends what it read before
a failure: a read that breaks off at a damaged record has sent the stream's header and the
batches before it, and reports ``header_sent`` with the last zxid sent. That is the core's
``disk_read_done(ok=False, header_sent=True)`` branch, the one that used to make the follower
sync again forever (tests/sim/test_partial_disk_read_attack.py runs it in the simulator).
"""

from __future__ import annotations

import select
import time
from pathlib import Path

import pytest

from zmqzab.core.output import Append, ReadLog
from zmqzab.host.reads import DiskStream
from zmqzab.messages import Guess, SyncStart, SyncTxns, Txn
from zmqzab.server.reads import DiskReads
from zmqzab.server.wake import WakePipe
from zmqzab.storage.store import open_storage
from zmqzab.zxid import make_zxid

pytestmark = [pytest.mark.snapshots, pytest.mark.storage]

WAIT_S = 10.0


def test_a_disk_read_that_breaks_off_sends_its_header_and_the_batches_before(tmp_path: Path) -> None:
    storage, _ = open_storage(tmp_path)
    storage.write_epochs(1, 1)
    txns = [Txn(make_zxid(1, c), Guess("c", c, c % 101)) for c in range(1, 21)]
    storage.apply(Append(txns))
    storage.sync()
    seg = sorted(p for p in storage.log.dir.iterdir() if p.is_file())[-1]
    data = bytearray(seg.read_bytes())
    data[len(data) // 2] ^= 0xFF  # a record in the middle of the range is damaged
    seg.write_bytes(bytes(data))
    header = SyncStart(session=5, epoch=1, mode="DIFF", zxid=0, reason="test", txns_total=20,
                       zxid_upto=make_zxid(1, 20))
    stream = DiskStream(ReadLog(to=2, session=5, epoch=1, after=0, upto=make_zxid(1, 20),
                                zxid_committed=make_zxid(1, 20), header=header))
    wake = WakePipe()
    reads = DiskReads(storage, 3, wake, lambda: False)
    sent: list = []
    ended: list[str] = []
    try:
        reads.start(stream)
        deadline = time.monotonic() + WAIT_S
        while not ended and time.monotonic() < deadline:
            select.select([wake.r], [], [], 0.5)
            wake.drain()
            reads.carry_out(lambda to, m: sent.append(m), lambda to, m: sent.append(m),
                            lambda text: None, lambda s, error: ended.append(error))
    finally:
        reads.close(2.0)
        storage.close()
        wake.close()
    assert ended and ended[0], "the read should have failed at the damaged record"
    assert isinstance(sent[0], SyncStart) and all(isinstance(m, SyncTxns) for m in sent[1:])
    assert len(sent) > 1 and stream.header_sent and 0 < stream.sent < 20
    print(f"sent the header and {stream.sent} txns, then: {ended[0]}")
