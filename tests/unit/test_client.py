"""The client library against tiny scripted fake nodes (a ROUTER on a port from the OS).

Each fake node answers every message it receives by calling its script; a script returns the
reply (sent at once), ``(reply, delay_s)`` (sent later), or None (no answer at all). No test
sleeps: every wait is the client's own poll with a deadline, or an Event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import zmq

from zmqzab.client import BadRequestError, Client, NoQuorumError, SessionExpiredError, UnreachableError
from zmqzab.config import ClusterConfig, NodeAddress, load_config, render_config
from zmqzab.messages import (
    ClientReply,
    ClientRequest,
    GameResult,
    Guess,
    NewGame,
    ReadReply,
    ReadRequest,
    client_decoder,
    encode,
)
from zmqzab.up.localcluster import free_ports
from zmqzab.zxid import make_zxid

pytestmark = [pytest.mark.client]

HOST = "127.0.0.1"

Script = Callable[["FakeNode", object], object]


def free_port() -> int:
    """A port the OS says is free now (nothing listens on it afterwards)."""
    return free_ports(1)[0]


class FakeNode:
    """A ROUTER on an OS-chosen port, served by a thread that answers per ``script``."""

    def __init__(self, node_id: int, script: Script) -> None:
        self.id = node_id
        self.script = script
        self.received: list[object] = []
        self.got_message = threading.Event()
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.bind(f"tcp://{HOST}:*")  # the OS picks the port
        self.port = int(self._sock.getsockopt_string(zmq.LAST_ENDPOINT).rsplit(":", 1)[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"fake-node-{node_id}",
                                        daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        later: list[tuple[float, bytes, bytes]] = []  # (due, identity, frame)
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        while not self._stop.is_set():
            now = time.monotonic()
            for item in [x for x in later if x[0] <= now]:
                later.remove(item)
                self._sock.send_multipart([item[1], item[2]])
            wait_ms = 50 if not later else max(0, int((min(x[0] for x in later) - now) * 1000))
            if not poller.poll(min(wait_ms, 50)):
                continue
            identity, payload = self._sock.recv_multipart()
            msg = client_decoder.decode(payload)
            self.received.append(msg)
            self.got_message.set()
            answer = self.script(self, msg)
            if answer is None:
                continue
            delay = 0.0
            if isinstance(answer, tuple):
                answer, delay = answer
            frame = encode(answer)
            if delay:
                later.append((time.monotonic() + delay, identity, frame))
            else:
                self._sock.send_multipart([identity, frame])
        self._sock.close(0)

    @property
    def writes(self) -> list[ClientRequest]:
        return [m for m in self.received if isinstance(m, ClientRequest)]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._ctx.term()


def free_ports_except(n: int, taken: set[int]) -> list[int]:
    """``n`` ports the OS hands out while all of them are held, none of them in ``taken``."""
    return [p for p in free_ports(n + len(taken)) if p not in taken][:n]


def make_config(tmp_path: Path, ports: dict[int, int]) -> ClusterConfig:
    """A config whose node ``i`` has client_port ``ports[i]``; the other ports are unused."""
    spare = iter(free_ports_except(3 * len(ports), set(ports.values())))
    nodes = [NodeAddress(id=i, host=HOST, peer_port=next(spare), pub_port=next(spare),
                         client_port=port, http_port=next(spare))
             for i, port in sorted(ports.items())]
    path = tmp_path / "cluster.toml"
    path.write_text(render_config(nodes))
    return load_config(path)


def ok_reply(msg: ClientRequest, node: int, counter: int = 7,
             message: str = "guess 2 of 3 recorded") -> ClientReply:
    result = GameResult(kind="guess_recorded", message=message, game=1, round=1, target=42,
                        guess_index=2, round_size=3)
    return ClientReply(msg.req_id, True, node, zxid=make_zxid(1, counter), result=result)


def status_data(node: FakeNode, role: str = "FOLLOWING", leader: int | None = 0) -> dict:
    return {"id": node.id, "role": role, "phase": "BROADCAST" if leader is not None else "ELECTION",
            "epoch": 1, "zxid_last": "1:7", "zxid_committed": "1:7", "leader": leader}


def answering(role: str = "FOLLOWING", leader: int | None = 0,
              write: Callable[[FakeNode, ClientRequest], object] | None = None) -> Script:
    """A script: status/state reads answered; writes handled by ``write`` (None: no answer)."""

    def script(node: FakeNode, msg: object) -> object:
        if isinstance(msg, ReadRequest):
            if msg.what == "status":
                return ReadReply(msg.req_id, node.id, status_data(node, role, leader))
            return ReadReply(msg.req_id, node.id, {"node": node.id, "role": role, "target": 42,
                                                    "zxid_applied": "1:7", "game": 1, "round": 1})
        return write(node, msg) if write is not None else None

    return script


@pytest.fixture
def fakes():
    started: list[FakeNode] = []

    def start(node_id: int, script: Script) -> FakeNode:
        fake = FakeNode(node_id, script)
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.close()


# --------------------------------------------------------------------------------------------


def test_guess_commits_and_returns_the_result(tmp_path, fakes):
    a = fakes(0, answering(write=lambda n, m: ok_reply(m, n.id)))
    config = make_config(tmp_path, {0: a.port})
    with Client(config, node=0, timeout=5, client_id="c1") as client:
        done = client.guess(42)
        second = client.new_game()
    assert (done.node, done.zxid, done.zxid_text) == (0, make_zxid(1, 7), "1:7")
    assert done.result.message == "guess 2 of 3 recorded"
    assert done.to_json()["result"]["kind"] == "guess_recorded"
    assert done.to_json()["zxid"] == "1:7"
    ops = [m.op for m in a.writes]
    assert ops[0] == Guess("c1", 1, 42, first=1)  # the session's first write
    # The next write takes the next seq, in the session that began at 1, having seen 1:7.
    assert ops[1] == NewGame("c1", 2, first=1, seen=make_zxid(1, 7))
    assert second.node == 0


def test_default_client_id_is_random_hex():
    config = ClusterConfig(path=None, nodes=(NodeAddress(0, HOST, 1, 2, 3, 4),))
    with Client(config) as one, Client(config) as two:
        assert len(one.client_id) == 16 and int(one.client_id, 16) >= 0
        assert one.client_id != two.client_id


def test_no_leader_on_one_node_then_success_on_the_next_with_the_same_seq(tmp_path, fakes):
    a = fakes(0, answering(write=lambda n, m: ClientReply(
        m.req_id, False, n.id, error="no leader: election in progress", error_kind="no_leader")))
    b = fakes(1, answering(write=lambda n, m: ok_reply(m, n.id)))
    config = make_config(tmp_path, {0: a.port, 1: b.port})
    with Client(config, node=0, timeout=5, client_id="c1") as client:
        done = client.guess(40)
    assert done.node == 1
    assert [m.op for m in a.writes] == [Guess("c1", 1, 40, first=1)]
    assert [m.op for m in b.writes] == [Guess("c1", 1, 40, first=1)]


def test_busy_moves_on_too(tmp_path, fakes):
    a = fakes(0, answering(write=lambda n, m: ClientReply(
        m.req_id, False, n.id, error="too many proposals in flight", error_kind="busy")))
    b = fakes(1, answering(write=lambda n, m: ok_reply(m, n.id)))
    config = make_config(tmp_path, {0: a.port, 1: b.port})
    with Client(config, node=0, timeout=5) as client:
        assert client.guess(40).node == 1


def test_no_answer_then_retry_with_the_same_seq(tmp_path, fakes):
    """One node; it swallows the first request: the client sends it again, same seq."""

    def write(node: FakeNode, msg: ClientRequest) -> object:
        return None if len(node.writes) == 1 else ok_reply(msg, node.id)

    a = fakes(0, answering(write=write))
    config = make_config(tmp_path, {0: a.port})
    with Client(config, timeout=5, client_id="c1") as client:
        done = client.guess(7)
    assert done.zxid_text == "1:7"
    assert [m.op for m in a.writes] == [Guess("c1", 1, 7, first=1), Guess("c1", 1, 7, first=1)]
    assert a.writes[0].req_id == a.writes[1].req_id


def test_a_late_reply_to_an_earlier_attempt_is_accepted(tmp_path, fakes):
    """Node 0 answers after the client gave up on it; node 1 never answers writes."""
    a = fakes(0, answering(write=lambda n, m: (ok_reply(m, n.id), 1.3)))
    b = fakes(1, answering(write=None))
    config = make_config(tmp_path, {0: a.port, 1: b.port})
    with Client(config, node=0, timeout=5) as client:
        done = client.guess(7)
    assert done.node == 0
    assert len(b.writes) == 1  # it did move on before the late reply came


def test_bad_request_is_not_retried(tmp_path, fakes):
    a = fakes(0, answering(write=lambda n, m: ClientReply(
        m.req_id, False, n.id, error="guess must be an integer from 0 to 100",
        error_kind="bad_request")))
    b = fakes(1, answering(write=lambda n, m: ok_reply(m, n.id)))
    config = make_config(tmp_path, {0: a.port, 1: b.port})
    with Client(config, node=0, timeout=5) as client:
        with pytest.raises(BadRequestError, match="node 0 refused the request: guess must be"):
            client.guess(7)
    assert b.writes == []


def test_no_quorum_error_when_nothing_answers(tmp_path):
    config = make_config(tmp_path, {0: free_port(), 1: free_port(), 2: free_port()})
    started = time.monotonic()
    with Client(config, timeout=1.5) as client:
        with pytest.raises(NoQuorumError) as info:
            client.guess(7)
    elapsed = time.monotonic() - started
    assert str(info.value).startswith(
        "no leader: 0 of 3 nodes reachable (no node answers); a write needs 2")
    assert "start the missing nodes" in str(info.value)
    assert info.value.reachable == ()
    assert 1.5 <= elapsed < 5.0


def test_no_quorum_error_names_the_nodes_that_answer(tmp_path, fakes):
    refuse = answering(role="LOOKING", leader=None, write=lambda n, m: ClientReply(
        m.req_id, False, n.id, error="no leader", error_kind="no_leader"))
    a = fakes(0, refuse)
    config = make_config(tmp_path, {0: a.port, 1: free_port(), 2: free_port(), 3: free_port(),
                                    4: free_port()})
    with Client(config, node=0, timeout=1.5) as client:
        with pytest.raises(NoQuorumError) as info:
            client.guess(7)
    assert str(info.value).startswith(
        "no leader: 1 of 5 nodes reachable (node 0 answers); a write needs 3")


def test_timeout_with_a_leader_says_so(tmp_path, fakes):
    a = fakes(0, answering(role="LEADING", leader=0, write=None))
    config = make_config(tmp_path, {0: a.port})
    with Client(config, timeout=1.5) as client:
        with pytest.raises(NoQuorumError) as info:
            client.guess(7)
    assert str(info.value).startswith(
        "timed out after 1.5 s: the cluster has a leader (node 0) but did not commit in time")
    assert info.value.leader == 0


def test_status_all_marks_an_unreachable_node_down(tmp_path, fakes):
    a = fakes(0, answering(role="LEADING", leader=0))
    config = make_config(tmp_path, {0: a.port, 1: free_port()})
    with Client(config) as client:
        nodes = client.status_all(timeout=0.5)
        assert client.read_status(1, timeout=0.2) is None
        assert client.read_status(0)["role"] == "LEADING"
    assert [n["id"] for n in nodes] == [0, 1]
    assert nodes[0]["reachable"] is True and nodes[0]["role"] == "LEADING"
    assert nodes[1] == {"id": 1, "reachable": False, "role": "DOWN", "phase": None,
                        "epoch": None, "zxid_last": None, "zxid_committed": None, "leader": None}


def test_read_state_prefers_the_leader(tmp_path, fakes):
    a = fakes(0, answering(role="FOLLOWING", leader=1))
    b = fakes(1, answering(role="LEADING", leader=1))
    config = make_config(tmp_path, {0: a.port, 1: b.port})
    with Client(config) as client:
        assert client.read_state()["node"] == 1
        assert client.read_state(0)["node"] == 0


def test_read_state_of_a_down_node_raises(tmp_path):
    config = make_config(tmp_path, {0: free_port()})
    with Client(config) as client:
        with pytest.raises(UnreachableError, match="node 0 did not answer"):
            client.read_state(0, timeout=0.2)
        with pytest.raises(UnreachableError, match="no node reachable"):
            client.read_state(timeout=0.2)


def test_an_attempt_waits_longer_under_the_classroom_message_delay(tmp_path):
    """With message_delay_ms a write's six links take six delays: an attempt that gave up after
    the plain 1 s would send every slowed-down write twice."""
    from zmqzab.client import ATTEMPT_WAIT_S
    from zmqzab.config import Timing

    nodes = [NodeAddress(id=0, host=HOST, peer_port=1, pub_port=2, client_port=3, http_port=4)]
    plain, slowed = tmp_path / "plain.toml", tmp_path / "slowed.toml"
    plain.write_text(render_config(nodes))
    slowed.write_text(render_config(nodes, timing=Timing(message_delay_ms=300, sync_limit_ticks=20)))
    with Client(load_config(plain)) as client:
        assert client.attempt_wait_s == ATTEMPT_WAIT_S
    with Client(load_config(slowed)) as client:
        assert client.attempt_wait_s >= ATTEMPT_WAIT_S + 6 * 0.3


def _expired_reply(msg: ClientRequest, node: int, counter: int) -> ClientReply:
    result = GameResult(kind="session_expired", message="session expired: client c1 has no record")
    return ClientReply(msg.req_id, True, node, zxid=make_zxid(1, counter), result=result)


def test_session_expired_on_a_write_sent_once_starts_a_new_session_and_resends(tmp_path, fakes):
    """Goal: a client whose record the game forgot keeps working (issue 17). Setup: a node that
    answers "session expired" to client c1 and commits anything else. Faults: the first answer
    is "session expired" to a write sent once (so it was not applied). Expected: the write is
    sent again under a new client id, as the first of a new session having seen the refusal's
    zxid, and commits; the next write continues that session."""
    a = fakes(0, answering(write=lambda n, m: _expired_reply(m, n.id, 9) if m.op.client_id == "c1"
                           else ok_reply(m, n.id, 10)))
    config = make_config(tmp_path, {0: a.port})
    with Client(config, node=0, timeout=5, client_id="c1") as client:
        client.session.first = 1  # a session that committed seq 1 long ago
        client.session.seq = 1
        done = client.guess(42)
        client.guess(43)
    ops = [m.op for m in a.writes]
    assert done.result.kind == "guess_recorded"
    assert ops[0] == Guess("c1", 2, 42, first=1)
    fresh = ops[1].client_id
    assert fresh != "c1" and ops[1] == Guess(fresh, 3, 42, first=3, seen=make_zxid(1, 9))
    assert ops[2] == Guess(fresh, 4, 43, first=3, seen=make_zxid(1, 10))


def test_session_expired_on_a_write_sent_twice_is_an_error_with_an_unknown_outcome(tmp_path, fakes):
    """Setup: node 0 never answers, node 1 answers "session expired". Expected: the write went
    to both, so an earlier copy may have been applied: SessionExpiredError says the outcome is
    unknown and how to go on; the client has a new session for the next write."""
    a = fakes(0, answering())
    b = fakes(1, answering(write=lambda n, m: _expired_reply(m, n.id, 9)))
    config = make_config(tmp_path, {0: a.port, 1: b.port})
    with Client(config, node=0, timeout=5, client_id="c1") as client:
        client.attempt_wait_s = 0.3
        with pytest.raises(SessionExpiredError, match="unknown; check the game"):
            client.guess(42)
        assert client.client_id != "c1" and client.session.seen == make_zxid(1, 9)
    assert [m.op.client_id for m in b.writes] == ["c1"]
