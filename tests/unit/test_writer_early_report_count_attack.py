"""Attack on 8cc762f (the durable-report rule in the host): nothing pinned the count a snapshot
batch's EARLY report carries.

storage/writer.py reports twice in a batch that holds a ``SaveSnapshot`` or ``CommitSnapshot``:
once just before the save (the disk's last zxid then, covering the ops before the save) and once
at the batch's end. host/durable.py drops a report that does not cover the last Truncate or
InstallSnapshot handed over, by that count (``reported_ops``). If the early report claimed the
whole batch (``self._completed + len(batch)``) or everything submitted (``self._submitted``)
instead of ``self._completed + k``, a batch ``[Append, SaveSnapshot, Truncate, Append]`` would
report the OLD log's last zxid as covering the Truncate, and the host would pass it to
``Peer.persisted``: the ABA of test_node_snapshot_batch_report_attack, inside one batch (the
Truncate and the refill queued behind the snapshot while the previous fsync stalled).

Neither mutation failed any test before this file (the node attack tests build a snapshot batch
ALONE, taken before the Truncate, and the simulator computes its early reports in sim/disk.py,
not with this writer; it also posts them only once the whole batch is synced). This test runs
the production writer with such a batch in one take and feeds its reports through the host's
rule: the pre-cut report must be dropped, the batch's own report taken.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from zmqzab.core.output import Append, Truncate
from zmqzab.host.durable import DurableReports
from zmqzab.messages import Guess, Txn
from zmqzab.storage.compaction import CommitSnapshot, SaveSnapshot
from zmqzab.storage.store import open_storage
from zmqzab.storage.writer import LogWriter
from zmqzab.zxid import make_zxid

pytestmark = [pytest.mark.storage]

WAIT = 10.0  # a bound for a stuck test, never a pause


def txn(counter: int, value: int) -> Txn:
    return Txn(zxid=make_zxid(1, counter), op=Guess("c1", counter, value))


@pytest.mark.parametrize("snapshot", ["save", "commit"])
def test_a_snapshot_batch_early_report_does_not_cover_a_truncate_after_the_save(tmp_path: Path, snapshot):
    storage, _ = open_storage(tmp_path)
    storage.write_epochs(1, 1)
    reports: list[tuple[int, int]] = []
    writer: LogWriter | None = None
    gate = threading.Event()

    def on_durable(zxid: int) -> None:  # on the writer thread, as node.py's _on_durable
        assert writer is not None
        reports.append((zxid, writer.reported_ops))

    def on_error(exc: BaseException) -> None:
        reports.append((-1, -1))
        gate.set()

    writer = LogWriter(storage, on_durable, on_error)
    host = DurableReports(0)
    first = [Append([txn(1, 1), txn(2, 1), txn(3, 1)])]
    host.handed_over(first)
    writer.submit_all(first)
    writer.flush_sync(WAIT)
    assert reports == [(make_zxid(1, 3), 1)]
    assert host.take(*reports[-1])
    # One take: a snapshot at (1,1), then a cut back to (1,1) and a refill of (1,2), (1,3) with
    # other txns (the same zxids: ABA). The early report names (1,3) of the OLD log.
    save = (SaveSnapshot(make_zxid(1, 1), b"game") if snapshot == "save"
            else CommitSnapshot(make_zxid(1, 1), gen=storage.gen + 99, size_bytes=4))  # skipped: a stale gen
    batch = [save, Truncate(make_zxid(1, 1)), Append([txn(2, 2), txn(3, 2)])]
    host.handed_over(batch)
    writer.submit_all(batch)
    writer.flush_sync(WAIT)
    writer.close(WAIT)
    storage.close()
    early, final = reports[1], reports[2]
    print(f"reports of the snapshot batch: early {early}, final {final}")
    assert len(reports) == 3 and early[0] == make_zxid(1, 3) and final[0] == make_zxid(1, 3)
    assert early[1] == 1, "the early report covers only the ops before the save"
    assert final[1] == 4
    assert not host.take(*early), "a report of the log before the Truncate passed the host's rule"
    assert host.take(*final) and host.zxid == make_zxid(1, 3)
