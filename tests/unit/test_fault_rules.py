"""The transport's fault rules beyond partitions (one way, loss, duplication, delay), without
processes: what the chaos nemesis sets over the control route. Seeded rng, printed."""

import random

import pytest

from zmqzab.server.transport import FaultRules, check_rules

pytestmark = [pytest.mark.chaos, pytest.mark.transport]

IDS = (0, 1, 2, 3, 4)


def test_one_way_cuts_only_one_direction():
    f = FaultRules()
    f.set({"blocked_out": [1], "blocked_in": [2]})
    assert not f.allows_out(1) and f.allows_in(1)
    assert f.allows_out(2) and not f.allows_in(2)
    assert f.allows_out(3) and f.allows_in(3)
    f.set({})
    assert f.allows_out(1) and f.allows_in(2) and f.loss == 0 and f.delay_ms == 0


@pytest.mark.parametrize("seed", [1, 2])
def test_loss_and_duplication_rates_are_roughly_what_was_set(seed):
    print("seed", seed)
    f = FaultRules(rng=random.Random(seed))
    f.set({"loss": 0.3, "duplicate": 0.2})
    copies = [f.copies() for _ in range(5000)]
    lost, twice = copies.count(0) / 5000, copies.count(2) / 5000
    assert 0.25 < lost < 0.35 and 0.1 < twice < 0.2  # duplicate is drawn among the kept: 0.7 * 0.2
    f.set({})
    assert {f.copies() for _ in range(100)} == {1}


def test_rules_from_the_control_route_are_checked():
    assert check_rules({"blocked": [1]}, IDS) == {"blocked": [1]}
    assert check_rules({"blocked": [], "loss": 0.2, "delay_ms": 50}, IDS) == \
        {"blocked": [], "loss": 0.2, "delay_ms": 50.0}
    for bad, why in (({"loss": 1.0}, "loss"), ({"duplicate": -0.1}, "duplicate"), ({"delay_ms": "5"}, "delay_ms"),
                     ({"blocked_out": [9]}, "unknown node ids"), ({"blocked_in": "1"}, "list"),
                     ({"jitter": 3}, "unknown fault rules"), ([], "JSON object")):
        with pytest.raises(ValueError, match=why):
            check_rules(bad, IDS)


class SocketlessTransport:
    """Transport's send / hold / flush / hand-on logic, without sockets."""

    def __new__(cls):
        from collections import deque

        from zmqzab.server.transport import Counters, Transport

        class T(Transport):
            def __init__(self):  # noqa: D107 - no sockets on purpose
                self.faults = FaultRules(rng=random.Random(5))
                self.counters = Counters()
                self.delay_s = 0.0
                self._delayed = deque()
                self.out = []

            def _send_now(self, to, frame):
                self.out.append(to)

            def _publish_now(self, frame):
                self.out.append("pub")

        return T()


def test_a_delay_set_and_healed_keeps_each_link_fifo():
    from zmqzab.messages import Ack

    t = SocketlessTransport()
    t.faults.set({"delay_ms": 10_000})
    t.send(1, Ack(session=1, epoch=1, zxid=1))
    t.faults.set({})  # healed while a message is held
    t.send(1, Ack(session=1, epoch=1, zxid=2))
    assert t.out == []  # the second waits behind the first, as on one TCP link
    t.flush_delayed(t.next_due() + 20)
    assert t.out == [1, 1]
    t.send(1, Ack(session=1, epoch=1, zxid=3))
    assert t.out == [1, 1, 1] and t.next_due() is None


def test_one_way_and_loss_and_duplication_at_the_transport():
    from zmqzab.messages import Ack

    t = SocketlessTransport()
    t.faults.set({"blocked_out": [2]})
    t.send(2, Ack(session=1, epoch=1, zxid=1))
    t.send(3, Ack(session=1, epoch=1, zxid=1))
    assert t.out == [3] and t.counters.dropped_by_fault_rules == 1
    got: list = []
    t.faults.set({"duplicate": 0.9})
    for _ in range(20):
        t._take(got, 1, "m")
    assert len(got) > 25  # most handed on twice
    got.clear()
    t.faults.set({"loss": 0.9})
    for _ in range(20):
        t._take(got, 1, "m")
    assert len(got) < 10
