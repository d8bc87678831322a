"""The node's status view: what /status and the page show, built from the Peer and the node.

Built on the socket thread once per tick (Node._publish_status) and swapped in whole, so the
HTTP thread only ever reads a complete dict.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from zmqzab.core.roles import Phase
from zmqzab.messages import describe_op
from zmqzab.zxid import fmt_zxid

if TYPE_CHECKING:
    from zmqzab.server.node import Node

#: Txns of the log tail the page shows.
LOG_TAIL_TXNS = 16


def node_status(self: Node) -> dict[str, Any]:
    s = self.peer.status()
    s["game"] = self.peer.state.view()
    s["counters"] = {**self.counters, **vars(self.transport.counters),
                     "waiting_clients": len(self.replica.clients),
                     "curve_denied": self.auth.denied if self.auth is not None else 0}
    s["curve"] = self.auth is not None
    s["uptime_s"] = round(time.monotonic() - self.started_at, 3)
    s["tick_ms"] = self.config.timing.tick_ms
    s["fsync"] = self.config.storage.fsync
    s["snapshots"] = dict(self.snapshot_info)
    s["pid"] = os.getpid()
    s["cluster"] = [{"id": n.id, "http": self.config.http_url(n)} for n in self.config.nodes]
    s.update(_view_extras(self))
    return s

def _view_extras(self: Node) -> dict[str, Any]:
    """What the page shows beyond Peer.status(): log tail, quorum arithmetic, faults."""
    peer = self.peer
    timing = self.config.timing
    tail = peer.log.txns[-LOG_TAIL_TXNS:]
    committed = peer.zxid_committed
    learners = []
    # The quorum arithmetic is BROADCAST's: while the leader establishes its epoch there
    # are no proposals to count ACKs for.
    counting = peer.leading is not None and peer.leading.established
    if counting:
        learners = [ln for ln in peer.leading.learners.values() if ln.phase == Phase.BROADCAST]
    rows = []
    for txn in tail:
        z = txn.zxid
        row: dict[str, Any] = {"zxid": fmt_zxid(z), "cmd": describe_op(txn.op),
                               "client": txn.op.client_id[:12], "committed": z <= committed}
        if counting:
            ackers = [peer.id] if peer.zxid_durable >= z else []
            ackers += sorted(ln.id for ln in learners if ln.acked >= z)
            row["acks"] = len(ackers)
            row["ackers"] = ackers
        rows.append(row)
    votes = {}
    if peer.election is not None:
        votes = {str(i): v.leader for i, v in sorted(peer.election.received.items())}
    return {
        "http": self.config.http_url(self.addr),
        "log_base": fmt_zxid(peer.log.base),
        "log_tail": rows,
        "quorum": peer.quorum,
        "voters": list(peer.voters),
        "votes_received": votes,
        "last_sync": dict(peer.last_sync),
        "faults": {"blocked": sorted(self.transport.faults.blocked),
                   "message_delay_ms": timing.message_delay_ms},
        "heartbeat_ms": timing.heartbeat_ms,
        "down_after_ms": max(2 * timing.heartbeat_ms, 250),
        "control": self.control_url,
        "events_seq": self.events.seq,
        "events_boot": self.events.boot,
        "time_ms": round(time.time() * 1000),
    }
