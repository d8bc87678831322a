"""Periodic snapshots in the node process: a forked child writes the file.

The host decides when (host/snapshots.py: every ``snapshot_every_txns`` applied txns, one at a
time). The node takes the snapshot of the game at that exact applied zxid without stopping for
it: it forks, and the child (a copy-on-write image of this instant) encodes the game and writes
the snapshot file, which a big game takes seconds to do; the loop only pays for the fork. When
the child is done, the writer commits the file after the appends it covers, rolls the log and
purges (storage/compaction.py) and reports back through the wake pipe; the loop then tells the
host where the log on disk now starts.
"""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from zmqzab.host.replica import Replica
from zmqzab.server.events import EventLog
from zmqzab.server.wake import WakePipe
from zmqzab.state import ReplicatedState
from zmqzab.storage.compaction import CommitSnapshot, SaveSnapshot, SnapshotSaved
from zmqzab.storage.durable import TMP_SUFFIX
from zmqzab.storage.snapshot import PREFIX_SIZE, snapshot_name
from zmqzab.storage.store import Storage
from zmqzab.storage.verify import dir_bytes
from zmqzab.zxid import fmt_zxid


class ForkedSnapshots:
    def __init__(self, storage: Storage, submit: Callable[[Any], None], wake: WakePipe, log: Any,
                 events: EventLog, info: dict[str, Any]) -> None:
        # submit: hands an op to the writer thread (after the appends it covers); info: what
        # the status view shows of snapshots (updated in place).
        self.storage, self._submit, self._wake = storage, submit, wake
        self.log, self.events, self.info = log, events, info
        self._reports: deque[SnapshotSaved] = deque()
        #: Forked snapshot writers that finished: (zxid, gen, paused_s, child_s, ok, size).
        self._children: deque[tuple[int, int, float, float, bool, int]] = deque()
        #: The child writing a snapshot now, if any: (pid, zxid, the thread that waits for it).
        self._inflight: tuple[int, int, threading.Thread] | None = None
        self._reaping = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._reports or self._children)

    # ---------------------------------------------------------------- socket thread

    def take(self, zxid: int, state: ReplicatedState) -> bool:
        """Snapshot ``state`` at applied ``zxid`` (HostIO.take_snapshot): always in flight."""
        if self._fork(zxid, state) is None:
            t0 = time.perf_counter()
            self._submit(SaveSnapshot(zxid, state.snapshot(), time.perf_counter() - t0))
        return True

    def take_at_exit(self, zxid: int, state: ReplicatedState | None, timeout: float) -> CommitSnapshot | None:
        """A clean stop (node.py ``close``), the loop ended: the snapshot at applied ``zxid``
        written as ``take`` writes it, but awaited here, at most ``timeout`` seconds. Returns the
        ``CommitSnapshot`` to hand the writer, or None: nothing to commit, or the child failed
        or ran out of time (then it is killed and its ``.tmp`` deleted; said in the log).

        ``state`` None: the last snapshot started is already at ``zxid`` (nothing applied
        since); only a child of it that the loop has not carried out yet is committed. Else a
        child at ``zxid`` is awaited, not forked again (one file name, one writer), and children
        at older zxids are superseded: killed, their ``.tmp`` deleted."""
        deadline = time.monotonic() + timeout
        done = None
        for entry in self._children:  # finished, never carried out by the loop
            if entry[0] == zxid:
                done = entry
            else:
                self._unlink_tmp(entry[0])
        inflight = self._inflight
        superseded: int | None = None
        if done is None and inflight is not None:
            pid, child_zxid, waiter = inflight
            if child_zxid != zxid:
                superseded = child_zxid
                self._kill(pid, child_zxid, waiter, deadline)
                if waiter.is_alive():
                    self.log.warning(f"no snapshot at exit: the snapshot writer at {fmt_zxid(child_zxid)} "
                                     "does not stop")
                    return None
                inflight = None
        if done is None and inflight is None:
            if state is None:
                # No child left at ``zxid``: the loop handed its file to the writer already;
                # or the child killed above was older (a SNAP installed since is the snapshot
                # at ``zxid``). Said here, where it is known: not "being saved" after a kill.
                if superseded is None:
                    self.log.info(f"no snapshot at exit: the snapshot at {fmt_zxid(zxid)} is being saved")
                else:
                    self.log.info(f"no snapshot at exit: the snapshot at {fmt_zxid(zxid)} came from the leader "
                                  f"(SNAP); the one in flight at {fmt_zxid(superseded)} was stopped")
                return None
            waiter = self._fork(zxid, state)
            if waiter is None:
                return None  # encoding on this thread could outlast the time a stop may take
            inflight = (waiter.pid, zxid, waiter)
        if done is None:
            assert inflight is not None
            pid, _, waiter = inflight
            waiter.join(max(0.0, deadline - time.monotonic()))
            if waiter.is_alive():
                self.log.warning(f"no snapshot at exit: writing it at {fmt_zxid(zxid)} took longer than "
                                 f"{timeout:.1f} s; a restart starts from the last snapshot and the log")
                self._kill(pid, zxid, waiter, time.monotonic() + 1.0)
                return None
            done = next((entry for entry in self._children if entry[0] == zxid), None)
        if done is None or not done[4]:
            self.log.warning(f"no snapshot at exit: the process writing it at {fmt_zxid(zxid)} failed")
            self._unlink_tmp(zxid)
            return None
        _, gen, paused, child_s, _, size = done
        return CommitSnapshot(zxid, gen, size, paused, child_s)

    def saved_at_exit(self, zxid: int) -> SnapshotSaved | None:
        """The writer's report on the snapshot at exit (once it has committed it)."""
        return next((report for report in self._reports if report.zxid == zxid), None)

    def _fork(self, zxid: int, state: ReplicatedState) -> _Waiter | None:
        """Fork a child that writes the snapshot's ``.tmp``; a thread waits for it. None if the
        fork failed (said in the log)."""
        gen = self.storage.gen
        t0 = time.perf_counter()
        # Objects alive now move to the GC's permanent generation: later full collections skip
        # them, and they do not touch (copy) the child's pages (Python's advice before fork).
        gc.freeze()
        try:
            pid = os.fork()
        except OSError as exc:
            self.log.warning(f"cannot fork a snapshot writer ({exc}): writing the snapshot on the loop")
            return None
        if pid == 0:  # the child: the game as it is now, one file, then exit (never returns)
            code = 1
            try:
                self.storage.snapshots.write_tmp(zxid, state.snapshot(), gen)
                code = 0
            finally:
                os._exit(code)
        paused = time.perf_counter() - t0
        waiter = _Waiter(pid, target=self._await_child, args=(pid, zxid, gen, paused, t0),
                         name="zmqzab-snapshot-wait", daemon=True)
        self._inflight = (pid, zxid, waiter)
        waiter.start()
        return waiter

    def _kill(self, pid: int, zxid: int, waiter: threading.Thread, deadline: float) -> None:
        """Stop a snapshot child (its waiter reaps it) and delete its ``.tmp``."""
        with self._reaping:
            inflight = self._inflight
            if inflight is not None and inflight[0] == pid:  # not reaped: the pid is still the child's
                os.kill(pid, signal.SIGKILL)
        waiter.join(max(0.0, deadline - time.monotonic()))
        if not waiter.is_alive():
            self._unlink_tmp(zxid)

    def carry_out(self, replica: Replica) -> None:
        """What the children and the writer reported since the last wake-up."""
        while self._children:
            self._written(replica, *self._children.popleft())
        while self._reports:
            self._saved(replica, self._reports.popleft())

    def _written(self, replica: Replica, zxid: int, gen: int, paused: float, child_s: float, ok: bool,
                 size: int) -> None:
        if ok:
            self._submit(CommitSnapshot(zxid, gen, size, paused, child_s))
            return
        replica.snapshot_failed()
        self.log.error(f"the process writing the snapshot at {fmt_zxid(zxid)} failed; the next snapshot "
                       "tries again")
        self._unlink_tmp(zxid)

    def _saved(self, replica: Replica, report: SnapshotSaved) -> None:
        if report.skipped:
            self.log.debug(f"snapshot at {fmt_zxid(report.zxid)} skipped: {report.skipped}")
            replica.snapshot_saved(report.log_start)
            return
        if report.error:
            self.log.error(f"snapshot at {fmt_zxid(report.zxid)}: {report.error}; the log keeps growing until "
                           "a snapshot succeeds")
        else:
            purged = (f"; purged {len(report.segments_deleted)} log segment(s), {len(report.snapshots_deleted)} "
                      f"snapshot(s)" if report.segments_deleted or report.snapshots_deleted else "")
            how = (f"written by a child process in {report.child_s * 1000:.0f} ms (the node paused "
                   f"{report.taken_s * 1000:.1f} ms to fork it), committed in {report.write_s * 1000:.1f} ms"
                   if report.child_s else
                   f"taken in {report.taken_s * 1000:.1f} ms, written in {report.write_s * 1000:.1f} ms")
            self.log.info(f"snapshot at {fmt_zxid(report.zxid)}: {report.size_bytes} bytes, {how}{purged}; "
                          f"the log holds every txn after {fmt_zxid(report.log_start)}")
        replica.snapshot_saved(report.log_start)
        info = self.info
        info.update(log_start=fmt_zxid(report.log_start), disk_bytes=dir_bytes(self.storage.data_dir))
        if not report.error:
            info.update(zxid=fmt_zxid(report.zxid), bytes=report.size_bytes,
                        paused_ms=round(report.taken_s * 1000, 1), child_ms=round(report.child_s * 1000, 1),
                        commit_ms=round(report.write_s * 1000, 1))
        self.events.add("note", f"snapshot at {fmt_zxid(report.zxid)}" + (f" failed: {report.error}"
                                                                        if report.error else ""))

    # ---------------------------------------------------------------- other threads

    def on_saved(self, report: SnapshotSaved) -> None:  # called on the writer thread
        self._reports.append(report)
        self._wake.poke(b"s")

    def _await_child(self, pid: int, zxid: int, gen: int, paused: float, t0: float) -> None:
        # Its own thread: the loop never waits for the child. Reaped under the lock, so that
        # _kill never signals a pid the kernel has given to another process meanwhile.
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        with self._reaping:
            _, status = os.waitpid(pid, 0)
            if self._inflight is not None and self._inflight[0] == pid:
                self._inflight = None
        child_s = time.perf_counter() - t0
        ok = os.waitstatus_to_exitcode(status) == 0
        size = 0
        try:
            size = os.stat(self._tmp(zxid)).st_size - PREFIX_SIZE
        except OSError:
            ok = False
        self._children.append((zxid, gen, paused, child_s, ok, size))
        # If the node stopped meanwhile, the .tmp is deleted at the next start.
        self._wake.poke_quietly(b"s")

    def _tmp(self, zxid: int) -> Path:
        return self.storage.snapshots.dir / (snapshot_name(zxid) + TMP_SUFFIX)

    def _unlink_tmp(self, zxid: int) -> None:
        try:
            os.unlink(self._tmp(zxid))
        except OSError:
            pass


class _Waiter(threading.Thread):
    """The thread that waits for one snapshot child (``pid``)."""

    def __init__(self, pid: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pid = pid
