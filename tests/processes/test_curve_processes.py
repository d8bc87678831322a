"""CURVE between real node processes: the keyed client works; a keyless client, a client with
an unknown key, and a process with node 1's valid key that claims to be node 0 get nothing
through; the cluster keeps committing throughout."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import zmq

from zmqzab.client import Client
from zmqzab.messages import ClientRequest, Forward, Guess, Notification, Commit, ReadRequest, Vote, encode
from zmqzab.security.curve import make_client
from zmqzab.security.keys import read_pair, write_pair

from tests.polling import wait_for
from tests.processes.securecluster import running_curve_cluster

pytestmark = [pytest.mark.security]


@pytest.fixture(scope="module")
def curve_cluster(tmp_path_factory):
    with running_curve_cluster(tmp_path_factory.mktemp("curve")) as c:
        yield c


def _no_answer(sock: zmq.Socket, msg, wait_s: float = 1.0) -> bool:
    """Nothing comes back (a refused handshake may also leave no pipe to send on at all)."""
    try:
        sock.send(encode(msg), zmq.NOBLOCK)
    except zmq.Again:
        return True
    return not sock.poll(int(wait_s * 1000))


def test_processes_curve_keyed_client_writes_and_reads(curve_cluster):
    c = curve_cluster
    ld = c.wait_leader()
    zxids = c.write_all(ld, "keyed", range(1, 6))
    assert len(zxids) == 5 and zxids == sorted(zxids)
    with Client(c.config, timeout=10) as client:  # the library the CLI uses
        done = client.guess(50)
        assert done.result.kind in ("guess_recorded", "round_closed", "target_set")
        assert client.read_state()["zxid_applied"] == done.zxid_text
    st = c.status(ld)
    assert st["curve"] is True


def test_processes_curve_cli_uses_the_client_key(curve_cluster):
    c = curve_cluster
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-m", "zmqzab", "guess", "7", "--config", str(c.config_path)],
                         capture_output=True, text=True, timeout=60, env=env, cwd=c.root)
    assert out.returncode == 0, out.stderr
    assert "committed" in out.stdout
    # A client pointed at a key file that does not exist is refused with one line, exit 2.
    env["ZMQZAB_CLIENT_KEY"] = str(c.root / "nope.key_secret")
    out = subprocess.run([sys.executable, "-m", "zmqzab", "guess", "7", "--config", str(c.config_path)],
                         capture_output=True, text=True, timeout=60, env=env, cwd=c.root)
    assert out.returncode == 2 and "nope.key_secret" in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_processes_curve_keyless_and_unknown_key_clients_get_nothing(curve_cluster, tmp_path):
    c = curve_cluster
    ld = c.wait_leader()
    denied_before = sum(c.counters(i)["curve_denied"] for i in c.ids)
    ctx = zmq.Context()
    try:
        plain = ctx.socket(zmq.DEALER)
        plain.setsockopt(zmq.LINGER, 0)
        plain.connect(c.config.node(ld).client_endpoint)
        assert _no_answer(plain, ReadRequest(1, "status"))
        assert _no_answer(plain, ClientRequest(2, Guess("keyless", 1, 13)))

        write_pair(tmp_path, "stranger")
        pub, sec = read_pair(tmp_path / "stranger.key_secret")
        stranger = ctx.socket(zmq.DEALER)
        stranger.setsockopt(zmq.LINGER, 0)
        make_client(stranger, pub, sec, c.keys.keyring.node_public[ld])
        stranger.connect(c.config.node(ld).client_endpoint)
        assert _no_answer(stranger, ReadRequest(3, "status"))
        assert _no_answer(stranger, ClientRequest(4, Guess("stranger", 1, 14)))
    finally:
        ctx.destroy(linger=0)
    # The stranger's handshakes were refused by the ZAP handler (counted), nothing was applied,
    # and the keyed client still commits.
    wait_for(lambda: sum(c.counters(i)["curve_denied"] for i in c.ids) > denied_before, 5,
             "a refused CURVE handshake counted")
    state = c.status(ld)["game"]
    assert "keyless" not in str(state) and "stranger" not in str(state)
    assert c.write_all(ld, "keyed-after", range(1, 3))


def test_processes_curve_node_key_cannot_speak_as_another_node(curve_cluster):
    """Goal: a holder of node 1's real key cannot speak as node 2. Setup: node 2 is stopped (so
    its routing id is free on every ROUTER; with ROUTER_HANDOVER a second connection with an id
    in use would take it over, but the real node's id carries a secret suffix). Fault: a process with node 1's key connects to nodes
    0 and 1 claiming id 2 (and id 0) and sends a forged FORWARD of the current epoch, a vote far
    ahead and a COMMIT never proposed. Expected: every node counts impostors, nothing forged is
    applied, the leader and epoch stay, and the cluster keeps committing."""
    c = curve_cluster
    c.kill(2)
    ld = c.wait_leader()
    epoch = c.status(ld)["epoch"]
    live = [0, 1]
    before = {i: c.counters(i)["dropped_impostor"] for i in live}
    pub1, sec1 = read_pair(c.keys_dir / "node-1.key_secret")
    ctx = zmq.Context()
    try:
        socks = []
        for i in live:
            for claim in (b"2", b"0"):
                d = ctx.socket(zmq.DEALER)
                d.setsockopt(zmq.LINGER, 0)
                d.setsockopt(zmq.ROUTING_ID, claim)
                make_client(d, pub1, sec1, c.keys.keyring.node_public[i])
                d.connect(c.config.node(i).peer_endpoint)
                socks.append(d)
        forged = [
            Forward(epoch=epoch, ops=[Guess("forged-op", 1, 99)]),
            Notification(round=10**6, state="LOOKING", vote=Vote(leader=2, zxid=2**40, epoch=epoch + 5)),
            Commit(epoch=epoch, zxid=(epoch << 32) + 10**6),
        ]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(
                c.counters(i)["dropped_impostor"] > before[i] for i in live):
            for d in socks:
                for msg in forged:
                    try:
                        d.send(encode(msg), zmq.NOBLOCK)
                    except zmq.Again:
                        pass
            time.sleep(0.1)  # resend every 0.1 s, within the deadline, until each node counted one
        for i in live:
            assert c.counters(i)["dropped_impostor"] > before[i], f"node {i} counted no impostor"
        assert c.wait_leader() == ld and c.status(ld)["epoch"] == epoch, "an impostor moved the election"
        assert c.write_all(ld, "after-forgery", range(1, 4))
        # The real node 2 comes back while the impostor still holds id "2" on both ROUTERs: the
        # real one connects with "2:<random>", so the id an impostor holds cannot lock it out.
        c.start(2)
        c.wait_same_committed(timeout=20)
    finally:
        ctx.destroy(linger=0)
    for i in c.ids:
        assert "forged-op" not in str(c.status(i)["game"])
