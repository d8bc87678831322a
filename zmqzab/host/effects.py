"""execute(): carry out a core Output in the durability order, for production and simulation.

The node driver and the simulator differ only in the ``Effects`` they pass: real files, sockets
and a writer thread, or a simulated disk and network. The order is the one documented on
``Output`` (core/output.py):

1. epochs, written atomically and synchronously, first;
2. log ops handed, in order, to the writer;
3. sends: after 1 (an ACKEPOCH must not leave before acceptedEpoch is on disk) and checked:
   an ACK never names a zxid the writer has not reported durable;
3b. reads: DIFF from disk, started after the sends (what they send follows them);
4. applied txns: answer waiting clients;
5. traces.
"""

from __future__ import annotations

from typing import Protocol

from zmqzab.core.output import BROADCAST, LogOp, Output, ReadLog, Trace
from zmqzab.messages import Ack, GameResult, PeerMessage, Txn
from zmqzab.zxid import fmt_zxid, zxid_counter


class DurabilityError(RuntimeError):
    """The core asked to ACK something that is not on disk: a bug; the node must stop."""


class Effects(Protocol):
    def write_epochs(self, accepted: int | None, current: int | None) -> None: ...

    def submit_log(self, op: LogOp) -> None: ...

    def durable_zxid(self) -> int: ...

    def send(self, to: int, msg: PeerMessage) -> None: ...

    def publish(self, msg: PeerMessage) -> None: ...

    def read_log(self, read: ReadLog) -> None: ...

    def applied(self, txn: Txn, result: GameResult) -> None: ...

    def trace(self, trace: Trace) -> None: ...


def execute(out: Output, io: Effects) -> None:
    if out.epochs is not None:
        io.write_epochs(out.epochs.accepted_epoch, out.epochs.current_epoch)
    for op in out.log:
        io.submit_log(op)
    for send in out.sends:
        msg = send.msg
        # NEWLEADER's ACK names makeZxid(epoch, 0): the core waited for durability before it.
        if isinstance(msg, Ack) and zxid_counter(msg.zxid) and msg.zxid > io.durable_zxid():
            raise DurabilityError(
                f"ACK for {fmt_zxid(msg.zxid)} but the log is durable only to {fmt_zxid(io.durable_zxid())}"
            )
        if send.to == BROADCAST:
            io.publish(msg)
        else:
            io.send(send.to, msg)
    for read in out.reads:
        io.read_log(read)
    for txn, result in out.applied:
        io.applied(txn, result)
    for trace in out.traces:
        io.trace(trace)
