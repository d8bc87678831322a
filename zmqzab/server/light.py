"""What the event ring (events.py) keeps of a message: no txn lists, no snapshot bytes."""

from __future__ import annotations

from collections.abc import Sequence

from zmqzab.messages import PeerMessage, Proposal, SnapChunk, SyncTxns


class Ends(Sequence):
    """The first and the last item of a list, and its length: all the event ring reads of a
    batch of txns or answers. The ring keeps 2000 events; holding whole batches in it would
    keep hundreds of thousands of txns alive under load, beyond the log window."""

    __slots__ = ("first", "last", "n")

    def __init__(self, items: list) -> None:
        self.first, self.last, self.n = items[0], items[-1], len(items)

    @classmethod
    def of(cls, items: list) -> Sequence:
        return items if len(items) <= 2 else cls(items)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            # The kept items whose places fall in the slice (describe() shows a batch's first
            # ops with txns[:3]; it counts the rest by what it got).
            places = range(self.n)[index]
            return [item for place, item in ((0, self.first), (self.n - 1, self.last)) if place in places]
        if index in (0, -self.n):
            return self.first
        if index in (-1, self.n - 1):
            return self.last
        raise IndexError(f"only the first and the last of {self.n} items are kept")

    def __iter__(self):
        yield self.first
        yield self.last


def light(msg: PeerMessage) -> PeerMessage:
    """``msg`` as the event ring keeps it."""
    t = type(msg)
    if t is Proposal and len(msg.txns) > 2:
        return Proposal(msg.epoch, Ends(msg.txns))  # type: ignore[arg-type]
    if t is SyncTxns and len(msg.txns) > 2:
        return SyncTxns(msg.session, msg.epoch, Ends(msg.txns), msg.zxid_committed, msg.prev_zxid)  # type: ignore[arg-type]
    if t is SnapChunk:
        return SnapChunk(msg.session, msg.epoch, msg.index, b"")
    return msg
