"""Real processes: a node stopped (SIGSTOP), or cut off by a partition, while its peers are
killed and restarted hears them again when it is resumed (healed), and rejoins (issue 11,
defect 5). Marked ``processes``; the partition test needs root and `ip netns` (else skipped).

The cause (zmqzab/server/transport.py, ``handover``): the stopped node's peer ROUTER still held a dead
peer's connection under that peer's routing id (its node id) when the restarted peer's new
connection completed its handshake, because retiring the old connection waits until everything
it delivered has been read, and a peer that kept sending to the stopped node (votes while it
was LOOKING, one per tick) left a backlog there; behind a partition the dead peer's FIN never
arrives and the old connection does not close at all. libzmq then parks the new connection
unread, for good; the node never hears that peer again and stays LOOKING.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import zmq

from tests.polling import wait_for
from tests.processes.procs import ProcCluster
from zmqzab.chaos.netns import Netns, NetnsCluster, NetnsError, check_available
from zmqzab.config import NodeAddress, load_config, render_config
from zmqzab.up.localcluster import derive_config, free_ports, make_config
from zmqzab.messages import Notification, Vote
from zmqzab.server.transport import Transport

pytestmark = [pytest.mark.transport]


#: Messages each of the LOOKING nodes 3 and 4 sends (to node 0 and to each other, a vote per
#: tick each) before it is killed: about 25 s at the default tick of 50 ms. With 400 (10 s) the
#: test failed without the fix in 3 runs of 4, with 1000 in 4 of 4.
STALE_SENT = 1000


#: Votes the dead incarnation sent the stopped node (a LOOKING node sends one per tick): what
#: makes retiring its dead connection slow (without any, the new one is parked about half the time).
STALE_VOTES = 500


def vote(round_: int) -> Notification:
    return Notification(round=round_, state="LOOKING", vote=Vote(leader=1, zxid=0, epoch=1))


class Probe:
    """tests/processes/router_probe.py running node 0's Transport in its own process."""

    def __init__(self, config_path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.processes.router_probe", str(config_path), "0"],
                                     stdout=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.strip())

    def heard(self, sender: int, round_: int) -> bool:
        return f"{sender} {round_}" in self.lines

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


def tcp_established_to(port: int) -> int:
    """How many TCP connections to ``port`` are ESTABLISHED (Linux /proc/net/tcp): the kernel
    completes a connect to a stopped process, though no ZMTP handshake can start."""
    n = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote, state = fields[2], fields[3]
        if state == "01" and int(remote.split(":")[1], 16) == port:
            n += 1
    return n


def test_processes_stopped_node_hears_peers_restarted_meanwhile(tmp_path):
    """Goal: a node's peer socket, stopped while its peers die and restart, hears the new peers.
    Setup: 5 nodes; node 0's real Transport in its own process (router_probe.py); nodes 1-4
    played here, each by a Transport in its own zmq context; node 0 has read a vote from each.
    Faults: SIGSTOP node 0; each peer sends it STALE_VOTES votes (what a LOOKING node sends, one
    per tick) and dies (its context terminated); new nodes 1-4 start and their TCP connections
    to node 0 are made; SIGCONT node 0. Expected: node 0 reads a vote from every new peer.
    Before the fix each new peer went unheard with a probability of about 0.8 (its connection
    parked behind the dead one's routing id), so all four were heard in no trial. About 3 s."""
    ports = free_ports(4 * 5)
    nodes = [NodeAddress(i, "127.0.0.1", *ports[4 * i: 4 * i + 4]) for i in range(5)]
    path = tmp_path / "cluster.toml"
    path.write_text(render_config(nodes))
    config = load_config(path)
    peer_port = config.node(0).peer_port
    peers = [1, 2, 3, 4]
    probe = Probe(path)
    old_ctx = {p: zmq.Context() for p in peers}
    new_ctx = {p: zmq.Context() for p in peers}
    new: dict[int, Transport] = {}
    try:
        wait_for(lambda: "ready" in probe.lines, 30, "node 0's transport up")
        old = {p: Transport(old_ctx[p], config, p) for p in peers}
        for p in peers:
            wait_for(lambda: old[p].send(0, vote(1)) or probe.heard(p, 1), 15, f"node 0 hearing node {p}")

        probe.proc.send_signal(signal.SIGSTOP)
        for p in peers:
            for k in range(STALE_VOTES):
                old[p].send(0, vote(1000 + k))
            old[p].close()
            old_ctx[p].term()  # node p is gone: its connections close (node 0, stopped, does not see it)

        # The dead nodes' sides of their old connections are closing (FIN_WAIT), so ESTABLISHED
        # connections to node 0's peer port are the new nodes'.
        assert tcp_established_to(peer_port) == 0
        for p in peers:
            new[p] = Transport(new_ctx[p], config, p)
        wait_for(lambda: tcp_established_to(peer_port) == len(peers), 15,
                 "the new peers' TCP connections to the stopped node 0")
        probe.proc.send_signal(signal.SIGCONT)

        def all_heard():
            unheard = [p for p in peers if not probe.heard(p, 2)]
            for p in unheard:
                new[p].send(0, vote(2))  # dropped until its handshake is done (IMMEDIATE)
            return not unheard

        wait_for(all_heard, 15, "node 0 hearing every restarted peer (a connection parked behind a dead "
                                "one's routing id?)")
    finally:
        probe.close()
        for p in new:
            new[p].close()
        for ctx in new_ctx.values():
            ctx.term()


@pytest.fixture
def cluster(tmp_path):
    c = ProcCluster(tmp_path)
    c.start_all()
    yield c
    c.close()  # SIGKILL ends a stopped process too


def leader_of(c, nodes: list[int]) -> int | None:
    """The one node of ``nodes`` LEADING in BROADCAST and followed by all the others, else None."""
    st = {i: c.status(i) for i in nodes}
    if any(s is None for s in st.values()):
        return None
    lead = [i for i, s in st.items() if s["role"] == "LEADING" and s["phase"] == "BROADCAST"]
    if len(lead) != 1 or any(s["phase"] != "BROADCAST" or s["leader"] != lead[0] for s in st.values()):
        return None
    return lead[0]


def sent(c: ProcCluster, i: int) -> int:
    """Peer messages node i has sent (its transport's counter)."""
    return c.status(i)["counters"]["sent"]


def test_processes_node_stopped_while_its_peers_restart_rejoins_when_resumed(cluster):
    """Goal: a node that slept while its peers were killed and restarted rejoins once resumed.
    Setup: 5 nodes, one leader, a committed write. Faults: SIGSTOP node 0; kill -9 nodes 1 and
    2, so 3 and 4 have no quorum and stay LOOKING, sending node 0 a vote per tick; once each
    has sent STALE_SENT messages, kill -9 3 and 4; restart 1-4 and wait until they agree on a
    leader and commit a write; SIGCONT node 0. Expected: node 0 follows that leader in
    BROADCAST, in its epoch, and applies the write it missed. Before the fix node 0 stayed
    LOOKING in 4 runs of 4 (it must hear a quorum of peers, and a restarted peer whose dead
    connection still held votes went unheard with a probability of about 0.8; see the test
    above). About 30 s."""
    c = cluster
    ld = c.wait_leader()
    r = c.guess(ld, 42, "before", 1)
    assert r is not None and r.ok, r
    c.wait_same_committed()

    c.procs[0].send_signal(signal.SIGSTOP)
    c.kill(1)
    c.kill(2)
    base = {i: sent(c, i) for i in (3, 4)}
    wait_for(lambda: all(sent(c, i) >= base[i] + STALE_SENT for i in (3, 4)), 60,
             f"nodes 3 and 4, LOOKING without a quorum, sending {STALE_SENT} messages each")
    c.kill(3)
    c.kill(4)
    others = [1, 2, 3, 4]
    for i in others:
        c.start(i)
    ld = wait_for(lambda: leader_of(c, others), 30, f"a leader of nodes {others}")
    r = wait_for(lambda: c.guess(ld, 7, "while-0-slept", 1), 15, "a write while node 0 is stopped")
    assert r.ok, r
    leader_epoch = c.status(ld)["current_epoch"]

    c.procs[0].send_signal(signal.SIGCONT)

    def rejoined():
        s = c.status(0)
        return (s is not None and s["role"] == "FOLLOWING" and s["phase"] == "BROADCAST"
                and s["leader"] == ld and s["current_epoch"] == leader_epoch
                and s["zxid_applied"] == c.status(ld)["zxid_applied"]) or None

    wait_for(rejoined, 30, f"node 0 following node {ld} in epoch {leader_epoch}, caught up")


@pytest.fixture
def netns_cluster(tmp_path):
    """5 nodes, each in its own network namespace (zmqzab/chaos/netns.py); skipped where that
    cannot run (it needs root and `ip netns`)."""
    try:
        check_available()
    except NetnsError as exc:
        pytest.skip(f"this machine cannot run network namespaces: {exc}")
    base = load_config(make_config(tmp_path, 5))
    net = Netns(list(base.ids))
    net.up()
    c = NetnsCluster(derive_config(tmp_path, base, net.addrs, http_public=True), tmp_path, net)
    try:
        for i in c.ids:
            c.start(i)
        yield c
    finally:
        c.stop_all()
        c.close()
        left = net.down()
        assert left is None, f"namespaces left behind; remove them with: {left}"


def test_processes_node_cut_off_while_its_peers_restart_rejoins_when_healed(netns_cluster):
    """Goal: the partition form of defect 5: a node cut off by the network (not stopped) while
    every other node is killed and restarted rejoins once the partition heals.
    Setup: 5 nodes in network namespaces, one leader. Faults: node X (a follower) cut off from
    all four peers by routes (its TCP connections go silent: a killed peer's FIN never reaches
    it); kill -9 and restart each peer in turn, followers first and the leader last, waiting
    after each for the four to agree on a leader; heal. Expected: X follows the four's leader in
    BROADCAST, in its epoch. Before the fix X stayed LOOKING (5 runs of 5): its ROUTER still held
    each dead peer's half-open connection under the peer's id and parked the new one: no race
    here, the old connection never closes. About 5 s."""
    c = netns_cluster
    ld = wait_for(lambda: leader_of(c, c.ids), 30, "one leader of the 5 nodes")
    x = 0 if ld != 0 else 1
    others = [i for i in c.ids if i != x]
    c.partition([{x}, set(others)])
    for peer in sorted(others, key=lambda i: i == ld):  # the leader last: a new epoch at the end
        c.kill(peer)
        c.start(peer)
        ld = wait_for(lambda: leader_of(c, others), 30, f"a leader of nodes {others} after restarting {peer}")
    leader_epoch = c.status(ld)["current_epoch"]
    c.heal()

    def rejoined():
        s = c.status(x)
        return (s is not None and s["role"] == "FOLLOWING" and s["phase"] == "BROADCAST"
                and s["leader"] == ld and s["current_epoch"] == leader_epoch) or None

    wait_for(rejoined, 30, f"node {x} following node {ld} in epoch {leader_epoch} after the heal")
