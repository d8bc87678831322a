"""Prometheus text for ``GET /metrics``: counters the node keeps, rendered on the HTTP thread.

The node's threads only bump plain ints and histogram buckets (``NodeMetrics``): once per
message batch, per Output or per fsync, never per txn beyond an integer add. Rendering reads
them without a lock: a scrape may see one counter a moment ahead of another, which Prometheus
tolerates. Names follow Prometheus conventions: ``_total`` counters, base units (seconds).
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import deque
from typing import Any

from zmqzab.core.roles import SyncMode

#: fsync of one batch: from a RAM disk (~50 µs) to a slow disk (~100 ms+).
FSYNC_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
#: PROPOSAL sent -> committed by a quorum of ACKs (the leader's view).
QUORUM_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: Proposals whose commit latency is still to be measured (oldest forgotten beyond this).
INFLIGHT_MAX = 10_000
SYNC_MODES = tuple(mode.value for mode in SyncMode)


class Histogram:
    __slots__ = ("buckets", "counts", "sum", "count")

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def lines(self, name: str, labels: str) -> list[str]:
        out = []
        cumulative = 0
        sep = "," if labels else ""
        for bound, n in zip(self.buckets, self.counts):
            cumulative += n
            out.append(f'{name}_bucket{{{labels}{sep}le="{bound:g}"}} {cumulative}')
        cumulative += self.counts[-1]
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {cumulative}')
        out.append(f"{name}_sum{{{labels}}} {self.sum:.6f}")
        out.append(f"{name}_count{{{labels}}} {self.count}")
        return out


class NodeMetrics:
    """What ``/metrics`` reports beyond the status snapshot. Bumped by the node's threads."""

    def __init__(self) -> None:
        self.elections_started = 0
        self.elections_decided = 0
        self.leader_changes = 0
        self.leader_seen: int | None = None
        self.proposals_txns = 0
        self.proposal_messages = 0
        self.commits_txns = 0
        self.sync_sent = {m: 0 for m in SYNC_MODES}
        self.sync_received = {m: 0 for m in SYNC_MODES}
        self.fsync = Histogram(FSYNC_BUCKETS_S)
        self.quorum_ack = Histogram(QUORUM_BUCKETS_S)
        #: (last zxid of a PROPOSAL, perf_counter when sent), oldest first (leader only).
        self.inflight: deque[tuple[int, float]] = deque(maxlen=INFLIGHT_MAX)

    def proposed(self, zxid_last: int, txns: int) -> None:
        self.proposal_messages += 1
        self.proposals_txns += txns
        self.inflight.append((zxid_last, time.perf_counter()))

    def committed_to(self, zxid: int) -> None:
        """The leader committed up to ``zxid``: observe every proposal that is now committed."""
        inflight = self.inflight
        if not inflight:
            return
        now = time.perf_counter()
        while inflight and inflight[0][0] <= zxid:
            self.quorum_ack.observe(now - inflight.popleft()[1])

    def elected(self, leader: int | None) -> None:
        self.elections_decided += 1
        if leader != self.leader_seen:
            if self.leader_seen is not None or leader is not None:
                self.leader_changes += 1
            self.leader_seen = leader

    def synced(self, mode: str, sent: bool) -> None:
        table = self.sync_sent if sent else self.sync_received
        if mode in table:
            table[mode] += 1


class TimedSync:
    """Storage as the log writer sees it, with ``sync()`` (flush + fsync) timed.

    Everything else is the wrapped Storage's own attribute.
    """

    def __init__(self, storage: Any, histogram: Histogram) -> None:
        self._storage = storage
        self._histogram = histogram

    def sync(self) -> None:
        t0 = time.perf_counter()
        self._storage.sync()
        self._histogram.observe(time.perf_counter() - t0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._storage, name)


def _metric(out: list[str], name: str, kind: str, help_text: str, samples: list[tuple[str, Any]]) -> None:
    out.append(f"# HELP {name} {help_text}")
    out.append(f"# TYPE {name} {kind}")
    for labels, value in samples:
        out.append(f"{name}{{{labels}}} {value}" if labels else f"{name} {value}")


def render(node_id: int, status: dict[str, Any], m: NodeMetrics, counters: dict[str, Any]) -> str:
    """The Prometheus text exposition (version 0.0.4) of one node."""
    n = f'node="{node_id}"'
    out: list[str] = []
    _metric(out, "zmqzab_up", "gauge", "1 while the node process serves metrics.", [(n, 1)])
    role = status.get("role", "")
    _metric(out, "zmqzab_role", "gauge", "1 for the node's current ZAB role (LOOKING, FOLLOWING, LEADING).",
            [(f'{n},role="{r}"', int(role == r)) for r in ("LOOKING", "FOLLOWING", "LEADING")])
    phase = status.get("phase", "")
    _metric(out, "zmqzab_phase", "gauge", "1 for the node's current phase.",
            [(f'{n},phase="{p}"', int(phase == p)) for p in ("ELECTION", "DISCOVERY", "SYNC", "BROADCAST")])
    _metric(out, "zmqzab_accepted_epoch", "gauge", "acceptedEpoch (persisted).",
            [(n, status.get("accepted_epoch", 0))])
    _metric(out, "zmqzab_current_epoch", "gauge", "currentEpoch (persisted).",
            [(n, status.get("current_epoch", 0))])
    _metric(out, "zmqzab_elections_started_total", "counter", "Elections this node entered (LOOKING).",
            [(n, m.elections_started)])
    _metric(out, "zmqzab_elections_total", "counter", "Elections this node saw decided.",
            [(n, m.elections_decided)])
    _metric(out, "zmqzab_leader_changes_total", "counter",
            "Times the leader this node follows or is changed to another node.", [(n, m.leader_changes)])
    _metric(out, "zmqzab_proposals_total", "counter", "Txns this node proposed as leader.",
            [(n, m.proposals_txns)])
    _metric(out, "zmqzab_proposal_messages_total", "counter", "PROPOSAL messages (batches) sent.",
            [(n, m.proposal_messages)])
    _metric(out, "zmqzab_commits_total", "counter", "Txns committed and applied to the game on this node.",
            [(n, m.commits_txns)])
    _metric(out, "zmqzab_sync_total", "counter",
            "Sync streams by mode: sent (as leader) or received (as follower).",
            [(f'{n},mode="{mode}",direction="sent"', m.sync_sent[mode]) for mode in SYNC_MODES]
            + [(f'{n},mode="{mode}",direction="received"', m.sync_received[mode]) for mode in SYNC_MODES])
    lags = []
    for fid, f in sorted((status.get("followers") or {}).items(), key=lambda kv: int(kv[0])):
        if f.get("lag") is not None:
            lags.append((f'{n},follower="{fid}"', f["lag"]))
    _metric(out, "zmqzab_follower_lag_txns", "gauge",
            "Leader only: txns the follower has not acknowledged yet.", lags)
    out.append("# HELP zmqzab_fsync_seconds Time of one log sync (flush + fsync) by the writer thread.")
    out.append("# TYPE zmqzab_fsync_seconds histogram")
    out.extend(m.fsync.lines("zmqzab_fsync_seconds", n))
    out.append("# HELP zmqzab_quorum_ack_seconds Leader only: PROPOSAL sent to committed by a quorum.")
    out.append("# TYPE zmqzab_quorum_ack_seconds histogram")
    out.extend(m.quorum_ack.lines("zmqzab_quorum_ack_seconds", n))
    for key, help_text in (
        ("sent", "Peer messages sent."),
        ("received", "Peer messages received."),
        ("dropped_send", "Peer messages dropped: send queue full or peer not connected."),
        ("dropped_bad_frame", "Peer frames dropped because they did not decode."),
        ("dropped_by_fault_rules", "Peer messages dropped by a partition (fault rules)."),
        ("client_requests", "Client requests received."),
        ("client_bad_frames", "Client frames dropped: undecodable, or a message of impossible shape."),
        ("client_ids_refused", "Client writes refused: with CURVE, a client id of another key."),
        ("curve_denied", "CURVE handshakes the ZAP handler refused (unknown or wrong-domain key)."),
        ("zk_requests", "ZooKeeper client requests received on zk_port."),
        ("zk_writes", "ZooKeeper writes (and closeSession) sent to the leader to be proposed."),
        ("zk_reads", "ZooKeeper requests answered from this node's tree."),
        ("zk_connects", "ZooKeeper ConnectRequests received."),
        ("zk_sessions_expired", "Leader only: ZooKeeper sessions expired (closeSession proposed)."),
        ("zk_bad_frames", "ZooKeeper connections closed for a frame that is not the protocol."),
        ("zk_events", "ZooKeeper watch events sent."),
    ):
        if key in counters:
            _metric(out, f"zmqzab_{key}_total", "counter", help_text, [(n, counters[key])])
    # Hostile or broken input by kind (transport.py; one rate-limited warning per kind in the log).
    _metric(out, "zmqzab_dropped_input_total", "counter",
            "Peer messages dropped unread, by kind: bad_frame, unknown_sender, implausible, impostor.",
            [(f'{n},kind="{kind}"', counters[f"dropped_{kind}"])
             for kind in ("bad_frame", "unknown_sender", "implausible", "impostor") if f"dropped_{kind}" in counters])
    _metric(out, "zmqzab_waiting_clients", "gauge", "Client requests waiting for their commit.",
            [(n, counters.get("waiting_clients", 0))])
    _metric(out, "zmqzab_events_total", "counter", "Events recorded for /events.",
            [(n, status.get("events_seq", 0))])
    return "\n".join(out) + "\n"
