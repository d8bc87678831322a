"""Start a Peer from what storage's recovery found, the same way in every driver.

``open_storage`` returns the core's ``Recovered`` itself (core/peer.py): there is no second
record to convert, so no driver can drop a field on the way. The simulator once built its own
copy without ``log_start``; a restarted simulated node then believed its disk started at its
newest snapshot and got SNAP where production DIFFs from disk.
"""

from __future__ import annotations

from random import Random

from zmqzab.core.peer import Peer, Recovered
from zmqzab.core.settings import CoreConfig
from zmqzab.state import ReplicatedState
from zmqzab.state import make_state as _make_state


def make_state(data: bytes | None) -> ReplicatedState:
    """The replicated state machine (zmqzab/state.py: the game, the data tree and the sessions):
    restored from a snapshot's bytes, or a new one."""
    return _make_state(data)


def new_peer(node_id: int, voters: list[int] | tuple[int, ...], config: CoreConfig, rng: Random,
             recovered: Recovered) -> Peer:
    """A Peer starting from ``recovered`` (``open_storage``'s result, passed whole)."""
    return Peer(node_id, voters, config, rng, make_state, recovered)
