"""Output: the ordered effects the driver must carry out after every call into the core.

Modelled on etcd-io/raft's ``Ready``: the core decides, the driver does, and the order of the
fields below is the durability order. ``execute()`` (zmqzab/host/effects.py) performs them in this
order and checks the one rule that matters most: no ACK leaves for a zxid that is not on disk.

1. ``epochs``  - write acceptedEpoch / currentEpoch atomically, synchronously, before anything
                 else. A LEADERINFO is answered (ACKEPOCH) in the same Output that raised
                 acceptedEpoch, so the answer can only leave after the file is durable.
2. ``log``     - hand log changes, in order, to the writer (truncate, install snapshot, append).
                 They become durable later; the writer reports the disk's last zxid and the
                 driver calls ``Peer.persisted(zxid)``. ACKs are emitted only from there.
3. ``sends``   - messages that do not depend on step 2 being durable (a PROPOSAL leaves before
                 the leader's own fsync; its own ACK is counted after).
3b. ``reads``  - DIFF from disk: txns the core no longer holds in memory, read from the log by
                 the driver (off the socket thread) and sent to one follower after the sends
                 above; the driver reports the end with ``Peer.disk_read_done``.
4. ``applied`` - committed txns with the game's result, in zxid order: answer waiting clients.
5. ``traces``  - role, phase, epoch and leader changes, for logs, /events and the simulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zmqzab.messages import GameResult, PeerMessage, SyncStart, Txn

#: ``Send.to`` for the leader's PUB socket (PROPOSAL, COMMIT, PING to every follower).
BROADCAST = -1


@dataclass(slots=True, frozen=True)
class EpochWrite:
    """New values for the epoch files; None leaves that file as it is."""

    accepted_epoch: int | None = None
    current_epoch: int | None = None


@dataclass(slots=True, frozen=True)
class Append:
    """Append txns (contiguous, each ``is_next`` of the one before) to the log."""

    txns: list[Txn]


@dataclass(slots=True, frozen=True)
class Truncate:
    """TRUNC: keep txns with zxid <= ``zxid``, drop the rest."""

    zxid: int


@dataclass(slots=True, frozen=True)
class InstallSnapshot:
    """SNAP: make ``data`` (the game at ``zxid``) the new base; the old log is discarded.

    Durable before anything appended after it (ZAB_CHECKLIST #15): the writer applies log ops
    in order and reports ``zxid`` only once the snapshot file is on disk.
    """

    zxid: int
    data: bytes


LogOp = Append | Truncate | InstallSnapshot


@dataclass(slots=True, frozen=True)
class Send:
    """A message to one peer (its ROUTER, through our DEALER) or to ``BROADCAST`` (our PUB)."""

    to: int
    msg: PeerMessage


@dataclass(slots=True, frozen=True)
class ReadLog:
    """Send txns ``after < zxid <= upto`` of our durable log to peer ``to``, as TXNS of ``session``
    and ``epoch`` (each naming the txn before it), ``header`` first if given.

    The driver first makes sure ``after`` is in the log (or is where the log starts) and sends
    ``header`` only then; it sends nothing else to ``to`` in between, and reports the outcome
    with ``Peer.disk_read_done(to, session, ok, header_sent, last)``. Why: the core keeps only a
    window of recent txns in memory (it cannot read files), and a follower just behind it should
    still get a DIFF rather than a whole snapshot.
    """

    to: int
    session: int
    epoch: int
    after: int
    upto: int
    zxid_committed: int
    header: SyncStart | None = None


@dataclass(slots=True, frozen=True)
class Trace:
    """Something a person may want to see: ``event`` is a short kind, ``text`` one line."""

    event: str
    text: str
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Output:
    epochs: EpochWrite | None = None
    log: list[LogOp] = field(default_factory=list)
    sends: list[Send] = field(default_factory=list)
    #: (txn, its result): a GameResult, or zmqzab/state.py's ZkResult for a tree/session txn.
    applied: list[tuple[Txn, GameResult | Any]] = field(default_factory=list)
    traces: list[Trace] = field(default_factory=list)
    reads: list[ReadLog] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.epochs or self.log or self.sends or self.applied or self.traces or self.reads)
