"""A DIFF from disk (a ``ReadLog`` effect) being carried out: what it sends, in order.

The driver reads the range from its log a batch at a time (node: the reader thread; simulator:
a scheduled disk read) and sends, for each batch, ``header()`` if it gives one (the DIFF that
opens a sync stream, sent once, before the first txns) and ``txns(batch)``. At a successful
end, ``header()`` once more (an empty range still opens its stream). Then ``done(peer,
error)`` tells the core how far the stream got (``Peer.disk_read_done``): a leader
goes on with the rest of the sync from its memory.
"""

from __future__ import annotations

from zmqzab.core.output import Output, ReadLog
from zmqzab.core.peer import Peer
from zmqzab.messages import PeerMessage, SyncTxns, Txn


class DiskStream:
    __slots__ = ("read", "header_sent", "prev", "sent")

    def __init__(self, read: ReadLog) -> None:
        self.read = read
        self.header_sent = read.header is None  # a continuation: its stream began earlier
        #: The zxid of the last txn sent (each SyncTxns names the one before its first).
        self.prev = read.after
        #: Txns sent so far.
        self.sent = 0

    def header(self) -> PeerMessage | None:
        """The stream's opening message if it is still to be sent (then it counts as sent)."""
        if self.header_sent:
            return None
        self.header_sent = True
        return self.read.header

    def txns(self, batch: list[Txn]) -> SyncTxns:
        read = self.read
        msg = SyncTxns(read.session, read.epoch, batch, read.zxid_committed, self.prev)
        self.prev = batch[-1].zxid
        self.sent += len(batch)
        return msg

    def done(self, peer: Peer, error: str = "") -> Output:
        """The read ended (``error`` if it stopped short); the core's next step."""
        read = self.read
        return peer.disk_read_done(read.to, read.session, not error, self.header_sent, self.prev, error)
