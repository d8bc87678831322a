"""Client records bound to who sent them, between real node processes (issue 17 item 2): with
CURVE a write under another key's client id is refused and counted; a seq far ahead is refused
at the node and the client keeps working; the CLI keeps one client id per terminal in a 0600
file and shows the player's display name."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import urllib.request

import pytest
import zmq

from zmqzab.client import Client
from zmqzab.messages import ClientRequest, Guess, decode_reply, encode
from zmqzab.security.curve import make_client
from zmqzab.security.keys import read_pair
from zmqzab.security.zap import client_user_id
from zmqzab.zxid import parse_zxid

from tests.polling import wait_for
from tests.processes.securecluster import SecureCluster, running_curve_cluster

pytestmark = [pytest.mark.security, pytest.mark.processes]


@pytest.fixture(scope="module")
def curve_cluster(tmp_path_factory):
    with running_curve_cluster(tmp_path_factory.mktemp("identity")) as c:
        yield c


def _ask_as(c: SecureCluster, key_name: str, node: int, op) -> object:
    """Send one write from a connection authenticated with ``key_name``; its reply."""
    pub, sec = read_pair(c.keys_dir / f"{key_name}.key_secret")
    ctx = zmq.Context()
    try:
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        make_client(sock, pub, sec, c.keys.keyring.node_public[node])
        sock.connect(c.config.node(node).client_endpoint)
        sock.send(encode(ClientRequest(1, op)))
        assert sock.poll(10_000), f"node {node} did not answer"
        return decode_reply(sock.recv())
    finally:
        ctx.destroy(linger=0)


def test_processes_curve_a_write_under_another_keys_client_id_is_refused_and_counted(curve_cluster):
    """Goal: the pre-emption of issue 17. Setup: the victim (key client-0) commits a guess.
    Faults: a process with the other client key (client-1) writes (victim id, next seq) first,
    and (victim id, 2**62). Expected: both refused as not its id, counted in
    client_ids_refused; the victim's real next write applies ITS value, not a cached answer."""
    c = curve_cluster
    ld = c.wait_leader()
    with Client(c.config, node=ld, timeout=10) as victim:
        victim.guess(20)
        assert victim.client_id.startswith(client_user_id(victim._keys.public) + ":")
        before = sum(c.counters(i)["client_ids_refused"] for i in c.ids)
        for seq in (victim.seq + 1, 2**62):
            reply = _ask_as(c, "client-1", ld, Guess(victim.client_id, seq, 99, 3, 1))
            assert not reply.ok and reply.error_kind == "bad_request"
            assert "does not belong to this connection's key" in reply.error
        assert sum(c.counters(i)["client_ids_refused"] for i in c.ids) == before + 2
        url = f"http://{c.config.node(ld).host}:{c.config.node(ld).http_port}/metrics"

        def refused_in_metrics() -> bool:  # /metrics reads a copy of the counters, made often
            text = urllib.request.urlopen(url, timeout=10).read().decode()
            return any(line.startswith("zmqzab_client_ids_refused_total")
                       and float(line.rsplit(" ", 1)[1]) >= 2 for line in text.splitlines())

        wait_for(refused_in_metrics, 10, "/metrics counting the refused writes")
        done = victim.guess(21)
        assert done.result.kind != "session_expired"
        state = victim.read_state(ld)
        mine = [g["value"] for g in state["guesses"] if g["client"] == victim.client_id]
        assert 99 not in mine and (21 in mine or done.result.kind == "round_closed")


def test_processes_a_seq_far_ahead_is_refused_and_the_client_keeps_working(curve_cluster):
    """Goal: the lock-out of issue 17. Setup: a client commits a guess. Faults: a second process
    holding the same key writes (its id, 2**62). Expected: answered "session expired" (too far
    ahead) by apply, as one txn that moves nothing (no node's intake refuses it: that would be
    true only on a game holding the client's latest write, see Game.refusal_at_once), and the
    client's next writes commit."""
    c = curve_cluster
    ld = c.wait_leader()
    with Client(c.config, node=ld, timeout=10) as client:
        client.guess(30)
        committed = c.status(ld)["zxid_committed"]
        reply = _ask_as(c, "client-0", ld, Guess(client.client_id, 2**62, 1, 3, client.session.first))
        assert reply.ok and reply.result.kind == "session_expired" and "ahead" in reply.result.message, reply
        assert reply.zxid == parse_zxid(committed) + 1  # logged once, as a refusal
        for value in (31, 32):
            assert client.guess(value).result.kind not in ("session_expired", "rejected")


def test_processes_cli_keeps_one_client_id_per_terminal_and_shows_the_name(curve_cluster, tmp_path):
    """Goal: a classroom does not fill the client table, and players see names. Setup: the CLI
    with its state dir in tmp_path. Expected: a new game and two guesses with --name ada use
    one client id (the session file, mode 0600, holds it and the last seq 3); the results and
    `zmqzab state` show "ada"."""
    c = curve_cluster
    env = dict(os.environ, ZMQZAB_STATE_DIR=str(tmp_path / "state"))
    run = [sys.executable, "-m", "zmqzab"]
    said = []
    for args in (["new-game"], ["guess", "41"], ["guess", "42"]):
        out = subprocess.run([*run, *args, "--name", "ada", "--config", str(c.config_path)],
                             capture_output=True, text=True, timeout=60, env=env, cwd=c.root)
        assert out.returncode == 0, out.stderr
        said.append(out.stdout)
    assert "ada started game" in said[0] and "ada set the target to 41" in said[1]
    files = list((tmp_path / "state" / "clients").glob("*.json"))
    assert len(files) == 1 and stat.S_IMODE(files[0].stat().st_mode) == 0o600
    session = json.loads(files[0].read_text())
    assert session["seq"] == 3 and session["first"] == 1
    out = subprocess.run([*run, "state", "--config", str(c.config_path)],
                         capture_output=True, text=True, timeout=60, env=env, cwd=c.root)
    assert out.returncode == 0 and " 42  ada" in out.stdout, out.stdout
    out = subprocess.run([*run, "state", "--json", "--config", str(c.config_path)],
                         capture_output=True, text=True, timeout=60, env=env, cwd=c.root)
    guesses = json.loads(out.stdout)["guesses"]
    assert [(g["client"], g["name"], g["value"]) for g in guesses] == [(session["client_id"], "ada", 42)]
    out = subprocess.run([*run, "guess", "7", "--name", "a\tb", "--config", str(c.config_path)],
                         capture_output=True, text=True, timeout=60, env=env, cwd=c.root)
    assert out.returncode == 2 and "--name" in out.stderr
