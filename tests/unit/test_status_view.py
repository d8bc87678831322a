"""The core's part of /status, built from the typed ``PeerStatus`` (server/status.py's
``peer_view``), on a core-harness cluster: no processes, no sockets.

The keys and values are those the page (index.html) and tests/web/test_view_processes.py read.
"""

import dataclasses
import json

import pytest

from tests.core.harness import Cluster
from zmqzab.core.roles import Phase, Role
from zmqzab.server.status import LOG_TAIL_TXNS, peer_view
from zmqzab.zxid import fmt_zxid


def serving_cluster() -> tuple[Cluster, int]:
    c = Cluster(3, seed=7)
    c.run_until(c.serving, 200)
    ld = c.leader()
    c.submit(ld, 40, "a", 1)
    c.submit(ld, 30, "b", 1)
    c.tick(2)
    return c, ld


def test_leader_and_follower_views_show_the_quorum_arithmetic():
    """Goal: the page's leader and follower tables come from the typed status. Setup: 3 nodes,
    two guesses committed and ACKed by all. Expected: the leader lists both followers in
    BROADCAST with lag 0 and every txn of the tail acked by all three (itself first); a
    follower shows no follower table, no acks, and its last sync, done."""
    c, ld = serving_cluster()
    last = fmt_zxid(c.peers[ld].zxid_last)
    view = peer_view(c.peers[ld].status(LOG_TAIL_TXNS))
    json.dumps(view)  # JSON-able as it is
    assert (view["role"], view["phase"], view["leader"], view["vote"]) == ("LEADING", "BROADCAST", ld, None)
    assert view["established"] is True and view["votes_received"] == {}
    assert view["quorum"] == 2 and view["voters"] == [0, 1, 2]
    others = [i for i in c.ids if i != ld]
    assert sorted(view["followers"]) == [str(i) for i in others]
    for row in view["followers"].values():
        assert row["phase"] == "BROADCAST" and row["acked"] == last and row["lag"] == 0
        assert row["sync_mode"] in ("DIFF", "TRUNC", "SNAP") and "disk_reading" not in row
    tail = view["log_tail"]
    assert [t["cmd"] for t in tail] == ["guess 40 (a#1)", "guess 30 (b#1)"] and tail[-1]["zxid"] == last
    for t in tail:
        assert t["committed"] and t["acks"] == 3 and t["ackers"] == [ld, *others]

    follower = peer_view(c.peers[others[0]].status(LOG_TAIL_TXNS))
    assert follower["role"] == "FOLLOWING" and follower["leader"] == ld and follower["followers"] == {}
    assert "established" not in follower and all("acks" not in t for t in follower["log_tail"])
    assert follower["last_sync"]["mode"] in ("DIFF", "TRUNC", "SNAP") and follower["last_sync"]["done"]


def test_a_looking_node_shows_its_vote_and_the_votes_it_received():
    """Goal: the election panel's data. Setup: 3 nodes serving; the leader crashes and a
    follower's leader heartbeat times out. Expected: a LOOKING node shows its proposal (vote,
    with the zxid as epoch:counter) and the votes of its round by node id, its own included."""
    c, ld = serving_cluster()
    c.crash(ld)
    looking = [i for i in c.ids if i != ld][0]
    c.run_until(lambda: c.peers[looking].role == Role.LOOKING, 200)
    ps = c.peers[looking].status(LOG_TAIL_TXNS)
    view = peer_view(ps)
    assert view["phase"] == str(Phase.ELECTION) and view["leader"] is None and view["epoch"] == 0
    assert view["vote"] == {"leader": ps.vote.leader, "zxid": fmt_zxid(ps.vote.zxid), "epoch": ps.vote.epoch}
    assert str(looking) in view["votes_received"] and view["followers"] == {}


def test_a_status_is_a_frozen_copy():
    """Goal: a view may keep a PeerStatus while the core moves on. Setup: a follower's status,
    then more writes. Expected: the status cannot be changed and still shows the old log."""
    c, ld = serving_cluster()
    f = next(i for i in c.ids if i != ld)
    ps = c.peers[f].status(LOG_TAIL_TXNS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ps.epoch = 99  # type: ignore[misc]
    with pytest.raises(TypeError):
        ps.last_sync["done"] = False  # type: ignore[index]
    c.submit(ld, 10, "c", 1)
    c.tick(2)
    assert len(ps.log_tail) == 2 and c.peers[f].status(LOG_TAIL_TXNS).zxid_last > ps.zxid_last
