"""The core's exceptions: a broken local invariant (the node stops) and a refused write (the
client is told why and retries). A malformed or stale peer message is neither: it is dropped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zmqzab.core.output import Output


class InvariantError(RuntimeError):
    """A local invariant is broken: the node must stop rather than serve wrong data."""


class NotReady(Exception):
    """``submit`` cannot take writes now; the message says why (for the client).

    ``output``: what the core did before refusing (a leader stepping down because its zxid
    counter ran out, ZK-1277: votes to send, traces, a role change), or None. The driver must
    carry it out like any other Output, or the election it started stays silent.
    """

    def __init__(self, reason: str, kind: str = "no_leader", output: Output | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.output = output
