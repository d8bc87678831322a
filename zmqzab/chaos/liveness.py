"""The chaos run's liveness check: a healed cluster heals.

After the nemesis has undone every fault (every node resumed, reconnected, restarted), within
``bound`` seconds: every node is LEADING or FOLLOWING the same leader in BROADCAST, and then a
fresh write, sent as a client does, is answered ok and applied on every node. A node stuck in
LOOKING (issue 11, defect 5: a node paused while its peers restarted never rejoined) fails it,
and the failure names each node's role and phase at the deadline.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field

from zmqzab.chaos.history import OK, Request
from zmqzab.chaos.workload import ChaosClient
from zmqzab.game.limits import VALUE_MAX, VALUE_MIN
from zmqzab.messages import Guess
from zmqzab.zxid import fmt_zxid, parse_zxid

#: Default bound: an election, a sync and a restarted node's start-up take a few seconds on a
#: loaded 2-core machine; a stuck node stays stuck for minutes.
LIVENESS_S = 30.0


@dataclass
class Liveness:
    ok: bool
    bound_s: float
    #: Seconds from the heal until every node was in BROADCAST under one leader (None: never).
    broadcast_after_s: float | None = None
    #: Seconds from the heal until the fresh write was applied on every node (None: never).
    committed_everywhere_after_s: float | None = None
    write_zxid: str | None = None
    detail: str = ""
    #: Each node's role / phase / leader / zxid_applied when the check ended.
    nodes: dict[int, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


def _describe(cluster) -> dict[int, str]:
    out = {}
    for i in cluster.ids:
        s = cluster.status(i, timeout=1.0)
        if s is None:
            out[i] = "not answering" + ("" if cluster.alive(i) else " (not running)")
        else:
            out[i] = f"{s['role']}/{s['phase']} leader {s['leader']} applied {s['zxid_applied']}"
    return out


def check_liveness(cluster, healed_at: float, bound: float, lane: int, seed: int, t0: float,
                   history: list[Request]) -> Liveness:
    """Run the check; the fresh write is appended to ``history`` (the checker sees it)."""
    deadline = healed_at + bound
    res = Liveness(ok=False, bound_s=bound)
    while time.monotonic() < deadline and cluster.in_broadcast() is None:
        time.sleep(0.1)
    if cluster.in_broadcast() is None:
        res.nodes = _describe(cluster)
        stuck = [f"n{i} {d}" for i, d in res.nodes.items()]
        res.detail = f"not every node LEADING or FOLLOWING in BROADCAST {bound:.0f}s after healing: " + "; ".join(stuck)
        return res
    res.broadcast_after_s = round(time.monotonic() - healed_at, 3)
    client = ChaosClient(lane, cluster.config, seed, t0, threading.Event())
    value = client.rng.randrange(VALUE_MIN, VALUE_MAX + 1)
    req = Request(lane, client.client_id, 1, "guess", value, invoked=client.now())
    history.append(req)
    client._perform(req, Guess(client.client_id, 1, value), list(cluster.ids))
    for s in client.socks.values():
        s.close(0)
    if req.outcome != OK:
        res.nodes = _describe(cluster)
        res.detail = f"the fresh write after healing was not answered ok ({req.outcome}: {', '.join(req.attempts)})"
        return res
    res.write_zxid = fmt_zxid(req.zxid)
    while time.monotonic() < deadline:
        st = {i: cluster.status(i) for i in cluster.ids}
        if all(s is not None and parse_zxid(s["zxid_applied"]) >= req.zxid for s in st.values()):
            res.committed_everywhere_after_s = round(time.monotonic() - healed_at, 3)
            res.ok = True
            res.nodes = {i: f"{s['role']}/{s['phase']} applied {s['zxid_applied']}" for i, s in st.items()}
            return res
        time.sleep(0.1)
    res.nodes = _describe(cluster)
    res.detail = f"the fresh write {res.write_zxid} was not applied on every node {bound:.0f}s after healing"
    return res
