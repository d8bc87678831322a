"""A node's simulated disk: the production ``Storage`` behind a simulated group-commit writer.

Theory of operation. In production (storage/writer.py) the driver hands log ops to a writer
thread, which applies a batch, fsyncs once and reports the disk's last zxid; the driver turns
that into ``Peer.persisted(zxid)``. Here the writer is simulated and the disk is real:

* ``submit`` queues an op in memory. When the writer is idle it takes the whole queue as one
  batch and its fsync completes some simulated time later (the simulation schedules it).
* ``complete`` (the fsync is done) applies the batch to a real ``Storage`` in a temp dir and
  returns ``storage.last_zxid`` for ``persisted``. Storage runs with fsync off: *the simulation*
  decides what is durable, and everything it applied is.
* ``crash`` loses what the writer held. Optionally (the profile's ``torn``) part of the batch
  in flight reached the disk before the power went: a prefix of its ops is applied, and the
  last append is cut short mid-record, or followed by zeros, as a torn write leaves it. Restart
  then runs production recovery (``open_storage``), including its torn-tail repair.
* Epoch files are written synchronously, as in production (Output step 1).
* A ``SaveSnapshot`` (periodic snapshots, when the simulation takes them as node.py does) is
  carried out by production ``Storage.save_snapshot`` (save, seal, purge) in its batch; its
  report waits in ``reports`` for the simulation to tell the core where the log now starts.

So the files a restarted node recovers from are exactly what a real crash could have left.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

from zmqzab.core.output import Append, InstallSnapshot, LogOp, Truncate
from zmqzab.messages import encoder
from zmqzab.storage.compaction import SaveSnapshot, SnapshotSaved
from zmqzab.storage.store import SNAPSHOTS_KEPT, Recovered, Storage, open_storage
from zmqzab.storage.txnlog import RECORD_HEADER, list_segments


class SimDisk:
    def __init__(self, data_dir: Path, snapshots_kept: int = SNAPSHOTS_KEPT) -> None:
        self.dir = data_dir
        self.snapshots_kept = snapshots_kept
        #: What the periodic snapshots of completed batches did (the simulation takes them).
        self.reports: list[SnapshotSaved] = []
        self.storage: Storage | None = None
        #: Ops submitted and not yet taken by the writer.
        self.queue: list[LogOp | SaveSnapshot] = []
        #: The batch whose fsync is in progress (empty when the writer is idle).
        self.inflight: list[LogOp | SaveSnapshot] = []
        #: The last zxid the writer reported durable (what ``execute`` checks ACKs against).
        self.reported = 0
        #: What the disk durably holds, for the checkers: the snapshot's zxid and the zxids of
        #: the log after it (mirrored op by op, so no file is read while the simulation runs).
        self.durable_base = 0
        self.durable_zxids: set[int] = set()
        #: Scripted scenarios: fsyncs do not complete before this time (a hung disk).
        self.stalled_until = 0
        #: The epoch files' values (written synchronously, so durable).
        self.accepted_epoch = 0
        self.current_epoch = 0

    def open(self) -> Recovered:
        """Open the data dir through production recovery (a fresh process starting)."""
        self.storage, recovered = open_storage(self.dir, fsync=False, lock=False,
                                               snapshots_kept=self.snapshots_kept)
        self.queue, self.inflight, self.reports = [], [], []
        self.reported = recovered.last_zxid
        self.accepted_epoch, self.current_epoch = recovered.accepted_epoch, recovered.current_epoch
        self.durable_base = recovered.snapshot_zxid
        self.durable_zxids = {t.zxid for t in recovered.txns}
        return recovered

    @property
    def epochs(self) -> tuple[int, int]:
        return self.accepted_epoch, self.current_epoch

    def write_epochs(self, accepted: int | None, current: int | None) -> None:
        assert self.storage is not None
        self.storage.write_epochs(accepted, current)
        if accepted is not None:
            self.accepted_epoch = accepted
        if current is not None:
            self.current_epoch = current

    def submit(self, op: LogOp | SaveSnapshot) -> None:
        self.queue.append(op)

    def take_batch(self) -> bool:
        """The idle writer takes everything queued; True if a batch (and an fsync) started."""
        if self.inflight or not self.queue:
            return False
        self.inflight, self.queue = self.queue, []
        return True

    def complete(self) -> int:
        """The batch's fsync is done: it is on disk. Returns the disk's last zxid."""
        storage = self.storage
        assert storage is not None
        for op in self.inflight:
            self._apply(op)
            self._mirror(op)
        storage.sync()
        self.inflight = []
        self.reported = storage.last_zxid
        return self.reported

    def _mirror(self, op: LogOp) -> None:
        if type(op) is Append:
            self.durable_zxids.update(t.zxid for t in op.txns)
        elif type(op) is Truncate:
            self.durable_zxids = {z for z in self.durable_zxids if z <= op.zxid}
        elif type(op) is InstallSnapshot:
            self.durable_base, self.durable_zxids = op.zxid, set()

    def crash(self, rng: random.Random, torn_rate: float) -> tuple[int, str]:
        """The process dies. Returns (ops lost, a note on what reached the disk)."""
        storage = self.storage
        assert storage is not None
        batch, lost = self.inflight, len(self.inflight) + len(self.queue)
        note = ""
        if batch and torn_rate and rng.random() < torn_rate:
            # The writer had applied part of its batch (unsynced) when the power went.
            landed = rng.randint(1, len(batch))
            for op in batch[:landed]:
                self._apply(op)
                self._mirror(op)
            lost -= landed
            last = batch[landed - 1]
            storage.close()
            if type(last) is Append:
                note = self._tear(rng, last)
            note = f"{landed} unsynced op(s) reached the disk{note}"
        else:
            storage.close()
        self.storage = None
        self.queue, self.inflight = [], []
        return lost, note

    def _apply(self, op: LogOp | SaveSnapshot) -> None:
        storage = self.storage
        assert storage is not None
        if type(op) is SaveSnapshot:
            self.reports.append(storage.save_snapshot(op))
        else:
            storage.apply(op)

    def _tear(self, rng: random.Random, op: Append) -> str:
        """Damage the end of the newest segment as a write cut short would."""
        segments = list_segments(self.dir / "log")
        if not segments:
            return ""
        path = segments[-1].path
        size = path.stat().st_size
        if rng.random() < 0.5:
            # Cut inside the last record: its header or payload is incomplete.
            payload = encoder.encode(op.txns[-1])
            record = RECORD_HEADER.size + len(payload)
            cut = rng.randint(1, record - 1)
            os.truncate(path, size - cut)
            return f", the last record cut short by {cut} byte(s) (torn write)"
        # The file grew but its data never landed: zeros after the last record.
        zeros = rng.randint(1, 64)
        with open(path, "ab") as f:
            f.write(b"\0" * zeros)
        return f", followed by {zeros} zero byte(s) (torn write)"

    def close(self) -> None:
        if self.storage is not None:
            self.storage.close()
            self.storage = None
