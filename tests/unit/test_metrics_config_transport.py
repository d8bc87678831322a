"""Metrics text, the classroom config (message_delay_ms) and the transport's delay and faults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from zmqzab.config import ConfigError, Timing, load_config, parse_config, render_config
from zmqzab.server.metrics import NodeMetrics, TimedSync, render
from zmqzab.up.control import ControlError, partition_blocked
from zmqzab.server.transport import Transport
from zmqzab.zxid import make_zxid

pytestmark = [pytest.mark.web]

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
SAMPLE = re.compile(r'^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? -?[0-9.e+]+$')


def test_metrics_render_is_valid_prometheus_text():
    m = NodeMetrics()
    m.elections_started += 2
    m.elected(4)
    m.elected(3)
    m.proposed(make_zxid(2, 3), 3)
    m.committed_to(make_zxid(2, 3))
    m.commits_txns += 3
    m.synced("SNAP", sent=True)
    m.fsync.observe(0.003)
    status = {"role": "LEADING", "phase": "BROADCAST", "accepted_epoch": 2, "current_epoch": 2,
              "events_seq": 17, "followers": {"1": {"lag": 2}, "0": {"lag": 0}, "2": {"lag": None}}}
    text = render(4, status, m, {"sent": 10, "received": 9, "dropped_by_fault_rules": 1,
                                 "client_requests": 3, "waiting_clients": 0})
    lines = text.strip().splitlines()
    for line in lines:
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or SAMPLE.match(line), line
    assert 'zmqzab_role{node="4",role="LEADING"} 1' in lines
    assert 'zmqzab_elections_total{node="4"} 2' in lines
    assert 'zmqzab_leader_changes_total{node="4"} 2' in lines
    assert 'zmqzab_proposals_total{node="4"} 3' in lines
    assert 'zmqzab_commits_total{node="4"} 3' in lines
    assert 'zmqzab_sync_total{node="4",mode="SNAP",direction="sent"} 1' in lines
    assert 'zmqzab_follower_lag_txns{node="4",follower="0"} 0' in lines
    assert 'zmqzab_follower_lag_txns{node="4",follower="1"} 2' in lines
    assert 'zmqzab_fsync_seconds_bucket{node="4",le="0.005"} 1' in lines
    assert 'zmqzab_fsync_seconds_count{node="4"} 1' in lines
    assert 'zmqzab_quorum_ack_seconds_count{node="4"} 1' in lines
    assert 'zmqzab_dropped_by_fault_rules_total{node="4"} 1' in lines


def test_timed_sync_times_the_sync_and_passes_everything_else_through():
    class Disk:
        last_zxid = 7
        synced = 0

        def sync(self):
            self.synced += 1

    m = NodeMetrics()
    disk = Disk()
    timed = TimedSync(disk, m.fsync)
    timed.sync()
    assert disk.synced == 1 and m.fsync.count == 1 and timed.last_zxid == 7


def test_the_classroom_config_is_slow_and_apart():
    c = load_config(CONFIG_DIR / "classroom.toml")
    assert c.timing.heartbeat_ms == 500
    assert c.timing.message_delay_ms > 0
    assert str(c.storage.data_dir) != "data"  # never the other configs' data
    ports = {p for n in c.nodes for p in (n.peer_port, n.pub_port, n.client_port, n.http_port)}
    for other in ("cluster.toml", "three.toml"):
        o = load_config(CONFIG_DIR / other)
        assert not ports & {p for n in o.nodes for p in (n.peer_port, n.pub_port, n.client_port, n.http_port)}
        assert o.timing.message_delay_ms == 0
    assert parse_config(render_config(c.nodes, c.timing, c.storage, c.game)) == c


def _with_timing(timing: str) -> str:
    return ('[[nodes]]\nid = 0\nhost = "127.0.0.1"\npeer_port = 1\npub_port = 2\nclient_port = 3\n'
            f'http_port = 4\n\n[timing]\n{timing}\n')


@pytest.mark.parametrize("timing, words", [
    ("message_delay_ms = -1", ["message_delay_ms = -1", "0..10000"]),
    ("message_delay_ms = 1.5", ["message_delay_ms", "float"]),
    ("message_delay_ms = 300", ["message_delay_ms = 300", "sync_limit_ticks", "500 ms"]),
    ("tick_ms = 100\nsync_limit_ticks = 25\ninit_limit_ticks = 3\nmessage_delay_ms = 200",
     ["init_limit_ticks", "300 ms"]),
])
def test_message_delay_is_validated(timing, words):
    with pytest.raises(ConfigError) as err:
        parse_config(_with_timing(timing), "x.toml")
    for w in words:
        assert w in str(err.value)


def test_message_delay_round_trips():
    c = parse_config(_with_timing("tick_ms = 100\nsync_limit_ticks = 25\ninit_limit_ticks = 60\n"
                                  "message_delay_ms = 300"))
    assert c.timing == Timing(tick_ms=100, sync_limit_ticks=25, init_limit_ticks=60, message_delay_ms=300)


class FakeTransport(Transport):
    """Transport's delay and fault logic without sockets."""

    def __init__(self, delay_s: float) -> None:  # noqa: D107 - no sockets on purpose
        from zmqzab.server.transport import Counters, FaultRules

        from collections import deque
        self.faults = FaultRules()
        self.counters = Counters()
        self.delay_s = delay_s
        self._delayed = deque()
        self.out: list[tuple[str, object]] = []

    def _send_now(self, to, frame):
        self.out.append((f"n{to}", frame))

    def _publish_now(self, frame):
        self.out.append(("pub", frame))


def test_delay_holds_messages_in_order_and_applies_a_partition_set_meanwhile():
    from zmqzab.messages import Ack, Commit

    t = FakeTransport(delay_s=10.0)
    t.send(1, Ack(session=1, epoch=1, zxid=1))
    t.publish(Commit(epoch=1, zxid=1))
    t.send(2, Ack(session=1, epoch=1, zxid=2))
    due = t.next_due()
    assert due is not None and t.out == []
    t.flush_delayed(due - 1)
    assert t.out == []
    t.faults.block({2})
    t.flush_delayed(due + 1)
    assert [o[0] for o in t.out] == ["n1", "pub"]
    assert t.counters.dropped_by_fault_rules == 1 and t.next_due() is None
    t.send(2, Ack(session=1, epoch=1, zxid=3))  # blocked at send time too
    assert t.next_due() is None and t.counters.dropped_by_fault_rules == 2


def test_partition_groups_are_validated_and_become_blocked_sets():
    groups, blocked = partition_blocked([[0, 1], [2, 3, 4]], (0, 1, 2, 3, 4))
    assert groups == [[0, 1], [2, 3, 4]]
    assert blocked[0] == {2, 3, 4} and blocked[3] == {0, 1}
    groups, blocked = partition_blocked([[3]], (0, 1, 2, 3, 4))  # the rest is one more group
    assert groups == [[0, 1, 2, 4], [3]] and blocked[3] == {0, 1, 2, 4} and blocked[0] == {3}
    for bad, words in [([[0, 1], [1, 2]], "two groups"), ([[0, 9]], "no node with id 9"),
                       ([[0, 1, 2, 3, 4]], "at least two groups"), ([["a"]], "list of node ids"),
                       ([], "groups"), ("0,1", "groups"), ([[True]], "list of node ids")]:
        with pytest.raises(ControlError) as err:
            partition_blocked(bad, (0, 1, 2, 3, 4))
        assert words in str(err.value)


def test_a_node_started_during_a_partition_reads_its_blocked_peers():
    from zmqzab.server.node import parse_blocked

    assert parse_blocked("0, 1,x,9,3", (0, 1, 2, 3, 4), me=3) == {0, 1}
    assert parse_blocked("", (0, 1, 2), me=0) == set()
