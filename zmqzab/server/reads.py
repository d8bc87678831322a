"""DIFF from disk in the node process: the reader thread reads, the loop sends.

A ``ReadLog`` (a DIFF from further back than the core's memory window) becomes the host's
``DiskStream`` (host/reads.py). The reader thread (storage/reader.py) reads its range a batch
at a time and hands each batch to the loop through a deque and the wake pipe; the loop sends
it. At most ``READ_BATCHES_AHEAD`` batches wait for the loop, so a long read never piles up in
memory: the reader waits for room.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from zmqzab.host.reads import DiskStream
from zmqzab.messages import PeerMessage, Txn
from zmqzab.server.wake import WakePipe
from zmqzab.storage.reader import LogReader, ReadJob
from zmqzab.storage.store import Storage
from zmqzab.zxid import fmt_zxid

#: Batches of a DIFF from disk read ahead of the socket thread (the reader waits beyond).
READ_BATCHES_AHEAD = 4


class DiskReads:
    def __init__(self, storage: Storage, batch_max: int, wake: WakePipe,
                 stopping: Callable[[], bool]) -> None:
        self._wake = wake
        self._stopping = stopping
        #: (job, batch) from the reader thread; (job, None) when the job ended.
        self._events: deque[tuple[ReadJob, list[Txn] | None]] = deque()
        self._room = threading.Semaphore(READ_BATCHES_AHEAD)
        self.reader = LogReader(storage, self._on_batch, self._on_done, batch_max=batch_max)

    def start(self, stream: DiskStream) -> None:
        read = stream.read
        self.reader.submit(ReadJob(after=read.after, upto=read.upto, tag=stream))

    def __bool__(self) -> bool:
        return bool(self._events)

    # ---------------------------------------------------------------- reader thread

    def _on_batch(self, job: ReadJob, txns: list[Txn]) -> None:
        # Wait for room: the socket thread sends at its pace, the reader never runs far ahead.
        while not self._room.acquire(timeout=1.0):
            if job.cancelled or self._stopping():
                return
        self._events.append((job, txns))
        self._wake.poke(b"r")

    def _on_done(self, job: ReadJob) -> None:
        self._events.append((job, None))
        self._wake.poke_quietly(b"r")

    # ---------------------------------------------------------------- socket thread

    def carry_out(self, send: Callable[[int, PeerMessage], None], send_quietly: Callable[[int, PeerMessage], None],
                  note: Callable[[str], None], done: Callable[[DiskStream, str], None]) -> None:
        """Send what the reader read, in order (``send`` for a stream's header, ``send_quietly``
        for its txns, which the event ring does not keep); report each end (``done``)."""
        events = self._events
        while events:
            job, txns = events.popleft()
            stream: DiskStream = job.tag
            to = stream.read.to
            if txns is not None:
                self._room.release()
                if job.cancelled:
                    continue
                header = stream.header()
                if header is not None:
                    send(to, header)
                send_quietly(to, stream.txns(txns))
                continue
            if not job.error:
                header = stream.header()  # an empty range still opens its stream
                if header is not None:
                    send(to, header)
            note(f"DIFF from disk to n{to}: {stream.sent} txns after {fmt_zxid(stream.read.after)}"
                 + (f"; stopped: {job.error}" if job.error else ""))
            done(stream, job.error)

    def cancel_all(self) -> None:
        self.reader.cancel_all()

    def close(self, timeout: float) -> None:
        self.reader.close(timeout)
