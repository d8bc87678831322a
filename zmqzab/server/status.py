"""The node's status view: what /status and the page show, built from the Peer and the node.

Built on the socket thread once per tick while someone reads it (Node._publish_status) and
swapped in whole, so the HTTP thread only ever reads a complete dict.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from zmqzab.core.status import LearnerStatus, PeerStatus, TailTxn
from zmqzab.messages import describe_op
from zmqzab.state import is_game_op
from zmqzab.tree.view import sessions_view, tree_view
from zmqzab.zxid import fmt_zxid, zxid_counter, zxid_epoch

if TYPE_CHECKING:
    from zmqzab.core.peer import Peer
    from zmqzab.server.node import Node

#: Txns of the log tail the page shows.
LOG_TAIL_TXNS = 16


def node_status(self: Node) -> dict[str, Any]:
    s = core_view(self.peer)
    s["counters"] = {**self.counters, **vars(self.transport.counters),
                     "waiting_clients": len(self.replica.clients),
                     "curve_denied": self.auth.denied if self.auth is not None else 0}
    if self.zk is not None:
        s["counters"].update(self.zk.server.counters)
        s["zk"] = zk_status(self)
    s["curve"] = self.auth is not None
    s["uptime_s"] = round(time.monotonic() - self.started_at, 3)
    s["tick_ms"] = self.config.timing.tick_ms
    s["fsync"] = self.config.storage.fsync
    s["snapshots"] = dict(self.snapshot_info)
    s["pid"] = os.getpid()
    s["cluster"] = [{"id": n.id, "http": self.config.http_url(n)} for n in self.config.nodes]
    s.update(_view_extras(self))
    return s


#: The ZooKeeper part of /status is rebuilt when something in it changed, or after this many
#: ticks (the expiry countdown): the tree's view costs milliseconds on a big tree, and the
#: status is published every tick.
ZK_STATUS_REFRESH_TICKS = 10


def zk_status(self: Node) -> dict[str, Any]:
    """The ZooKeeper part of /status: this node's connections and watches, the tree and the
    sessions as applied here (the leader adds each session's time to expiry)."""
    server = self.zk.server
    state = self.peer.state
    ticks = self.replica.ticks
    key = (state.zxid_applied, len(server.conns), server.watches.watch_count(),
           server.tracker is None)
    cached = self._zk_status
    if cached is not None and cached[0] == key and ticks - cached[1] < ZK_STATUS_REFRESH_TICKS:
        return cached[2]
    out = zk_view(server, state, self.addr.zk_port)
    self._zk_status = (key, ticks, out)
    return out


def zk_view(server: Any, state: Any, port: int | None) -> dict[str, Any]:
    """A ZkServer's connections and watches, the tree and the sessions as applied (also the
    simulator's nodes': zmqzab/record/sim.py)."""
    view = server.view()
    return {"port": port, **view,
            "tree": tree_view(state.tree, state.sessions, server.watches.path_counts()),
            "sessions": sessions_view(state.sessions, server.expiry_ms(), state.tree)}


def core_view(peer: Peer) -> dict[str, Any]:
    """What a Peer alone tells the page (its status and its game): the part of /status a
    simulated node has too (zmqzab/record/sim.py builds the rest)."""
    s = peer_view(peer.status(LOG_TAIL_TXNS))
    s["game"] = peer.state.view()
    return s


def peer_view(ps: PeerStatus) -> dict[str, Any]:
    """The core's part of /status, JSON-able, from its typed status (never from core internals)."""
    view: dict[str, Any] = {
        "id": ps.id,
        "role": str(ps.role),
        "phase": str(ps.phase),
        "leader": ps.leader,
        "epoch": ps.epoch,
        "accepted_epoch": ps.accepted_epoch,
        "current_epoch": ps.current_epoch,
        "zxid_last": fmt_zxid(ps.zxid_last),
        "zxid_durable": fmt_zxid(max(ps.zxid_durable, 0)),
        "zxid_committed": fmt_zxid(ps.zxid_committed),
        "zxid_applied": fmt_zxid(ps.zxid_applied),
        "zxid_disk_base": fmt_zxid(ps.zxid_disk_base),
        "round": ps.round,
        "vote": None,
        "followers": {},
        "last_sync": dict(ps.last_sync),
    }
    if ps.vote is not None:
        v = ps.vote
        view["vote"] = {"leader": v.leader, "zxid": fmt_zxid(v.zxid), "epoch": v.epoch}
    if ps.established is not None:
        view["followers"] = {str(ln.id): _learner_row(ps, ln) for ln in ps.learners}
        view["established"] = ps.established
    view.update(
        log_base=fmt_zxid(ps.log_base),
        log_tail=[_tail_row(ps, t) for t in ps.log_tail],
        quorum=ps.quorum,
        voters=list(ps.voters),
        votes_received={str(i): v.leader for i, v in ps.votes_received},
    )
    return view


def _learner_row(ps: PeerStatus, ln: LearnerStatus) -> dict[str, Any]:
    same_epoch = zxid_epoch(ln.acked) == zxid_epoch(ps.zxid_last)
    row: dict[str, Any] = {
        "phase": str(ln.phase),
        "acked": fmt_zxid(ln.acked),
        "lag": max(0, zxid_counter(ps.zxid_last) - zxid_counter(ln.acked)) if same_epoch else None,
        "heard_ticks_ago": ln.heard_ticks_ago,
        "sync_mode": str(ln.sync_mode or ""),
    }
    if ln.snap_sending:
        row.update(snap_chunks_sent=ln.snap_chunks_sent, snap_chunks_acked=ln.snap_chunks_acked,
                   snap_chunks=ln.snap_chunks)
    if ln.disk_reading:
        row["disk_reading"] = True
    return row


def _client_label(op: Any) -> str:
    """Who wrote a game op, for the log tail: its display name, else its id's own part (under
    CURVE an id is "<key's user id>:<random>", and the key part is the same for every id of
    one key)."""
    name = getattr(op, "name", "")
    if name:
        return name
    return op.client_id.rpartition(":")[2][:12]


def _tail_row(ps: PeerStatus, t: TailTxn) -> dict[str, Any]:
    txn = t.txn
    row: dict[str, Any] = {"zxid": fmt_zxid(txn.zxid), "cmd": describe_op(txn.op),
                           # A tree or session txn has no game client (zmqzab/state.py).
                           "client": _client_label(txn.op) if is_game_op(txn.op) else "",
                           "committed": txn.zxid <= ps.zxid_committed}
    if t.ackers is not None:
        row["acks"] = len(t.ackers)
        row["ackers"] = list(t.ackers)
    return row


def _view_extras(self: Node) -> dict[str, Any]:
    """What the page shows beyond the peer's status: the node's faults, timing, events."""
    timing = self.config.timing
    return {
        "http": self.config.http_url(self.addr),
        "faults": {"blocked": sorted(self.transport.faults.blocked),
                   "message_delay_ms": timing.message_delay_ms},
        "heartbeat_ms": timing.heartbeat_ms,
        "down_after_ms": max(2 * timing.heartbeat_ms, 250),
        "control": self.control_url,
        "events_seq": self.events.seq,
        "events_boot": self.events.boot,
        "time_ms": round(time.time() * 1000),
    }
