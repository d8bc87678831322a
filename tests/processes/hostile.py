"""Hostile input for a live cluster, from one seed: what a fuzzer sends to a node's sockets.

The cluster has three nodes; only nodes 0 and 1 run (a quorum of two), and the fuzzer takes
the absent node 2's place on the network: it binds node 2's PUB port (the nodes' SUB for node 2
connects to it) and connects DEALERs to the running nodes' peer ROUTERs with routing ids of its
choosing. It never sends anything a correct client or a correct node 2 could send that would
change the game: every peer message is undecodable, of an unknown or wrong sender, implausible,
from an old or far-ahead epoch, or a replay of the leader's own traffic; every client request
is refused (bad value, seq or client id) or a read. So the game state and committed zxid must
end up exactly as in a control run of the same writes without the fuzzer.
"""

from __future__ import annotations

import http.client
import random
import socket
import time

import msgspec
import zmq

from zmqzab.messages import (
    Ack,
    AckEpoch,
    ClientRequest,
    Commit,
    FetchTxns,
    FollowerInfo,
    Forward,
    Guess,
    LeaderInfo,
    NewGame,
    NewLeader,
    Notification,
    Ping,
    Proposal,
    ReadRequest,
    SyncStart,
    SyncTxns,
    Txn,
    UpToDate,
    Vote,
    encode,
)
from zmqzab.zxid import make_zxid

PEER_KINDS = ("random", "truncated", "wrong_tag", "wrong_types", "impossible", "epoch_far", "replay")
CLIENT_KINDS = ("random", "truncated", "wrong_tag", "wrong_types", "refused", "read")
#: ROUTER identities the fuzzer claims: the absent node, unknown ids, garbage.
ROUTING_IDS = (b"2", b"7", b"255", b"-1", b"abc", b"\x00\xff", b"01")
FAR = 10**6


class Garbage:
    """Seeded generators of hostile frames (``epoch``: the cluster's current epoch)."""

    def __init__(self, seed: int, epoch: int) -> None:
        self.rng = random.Random(seed)
        self.epoch = epoch
        self.replays: list[bytes] = []
        self.counts: dict[str, int] = {}

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def _bytes(self, n_max: int = 200) -> bytes:
        return self.rng.randbytes(self.rng.randrange(0, n_max))

    def _int(self) -> int:
        r = self.rng
        return r.choice([-1, -(2**63), 2**32, 2**63 - 1, 2**64 - 1, r.randrange(-1000, 1000),
                         r.randrange(2**64)])

    def _values(self, n: int) -> list:
        r = self.rng
        pool = [None, True, 1.5, "x" * r.randrange(50), b"\x00", [], {}, self._int(), -5]
        return [r.choice(pool) for _ in range(n)]

    def _stale_or_far(self) -> int:
        return self.rng.choice([0, self.epoch - 1 if self.epoch > 1 else 0, self.epoch + FAR, 2**32 - 1])

    def _valid_looking_peer(self) -> bytes:
        """Well-formed, plausible, but from an old or far-ahead epoch (the core's epoch checks)."""
        e = self._stale_or_far()
        z = make_zxid(e, self.rng.randrange(1, 1000))
        s = self.rng.randrange(2**32)
        op = Guess("fuzz", 1, 50)
        return encode(self.rng.choice([
            Ack(s, e, z), Commit(e, z), Proposal(e, [Txn(z, op)]), Ping(e, z, z, s), FetchTxns(s, e, 0),
            Forward(e, [op]), UpToDate(s, e, z), NewLeader(s, e, make_zxid(e, 0)), LeaderInfo(s, e),
            SyncStart(s, e, "DIFF", 0, 0, "fuzz"), SyncTxns(s, e, [Txn(z, op)], z),
            Notification(self.rng.randrange(FAR), "LEADING", Vote(2, z, e)),
            Notification(self.rng.randrange(FAR), "LOOKING", Vote(2, z, e)),
        ]))

    def _impossible_peer(self) -> bytes:
        e = self.epoch
        r = self.rng
        return encode(r.choice([
            Commit(e, make_zxid(e + FAR, 1)),  # a COMMIT from an epoch that has not happened
            Commit(-1, -1), Ack(-1, e, 5), Ping(e, -5, -5, 0),
            Proposal(e, [Txn(make_zxid(e + 1, 1), Guess("fuzz", 1, 50))]),
            Proposal(e, []),
            Notification(1, "LOOKING", Vote(r.choice([7, 255, -1]), 0, 0)),  # unknown node id
            Notification(1, "WINNING", Vote(2, 0, 0)),
            NewLeader(1, e, make_zxid(e, 99)),
            SyncStart(1, e, "MAGIC", 0, 0, ""),
            Forward(e, [Guess("fuzz", 1, 101)]), Forward(e, [NewGame("", 1)]), Forward(e, [Guess("x" * 200, 1, 5)]),
            FollowerInfo(1, 2**40, 0, 0), AckEpoch(1, -1, 0, 0),
        ]))

    def peer(self) -> tuple[str, bytes]:
        kind = self.rng.choice(PEER_KINDS)
        self._count(f"peer_{kind}")
        if kind == "random":
            return kind, self._bytes()
        if kind == "truncated":
            raw = self._valid_looking_peer()
            return kind, raw[: self.rng.randrange(len(raw))]
        if kind == "wrong_tag":
            return kind, msgspec.msgpack.encode([self.rng.choice(["ACKK", "", "guess", "REQUEST", "READ_REPLY"]),
                                                 *self._values(4)])
        if kind == "wrong_types":
            tag = self.rng.choice(["ACK", "COMMIT", "PROPOSAL", "NOTIFICATION", "FORWARD", "PING", "SYNC"])
            return kind, msgspec.msgpack.encode([tag, *self._values(self.rng.randrange(0, 7))])
        if kind == "impossible":
            return kind, self._impossible_peer()
        if kind == "replay" and self.replays:
            return kind, self.rng.choice(self.replays)
        return "epoch_far", self._valid_looking_peer()

    def client(self) -> tuple[str, bytes]:
        kind = self.rng.choice(CLIENT_KINDS)
        self._count(f"client_{kind}")
        r = self.rng
        if kind == "random":
            return kind, self._bytes()
        if kind == "truncated":
            raw = encode(ClientRequest(r.randrange(100), Guess("fuzz", 1, 50)))
            return kind, raw[: r.randrange(len(raw))]
        if kind == "wrong_tag":
            return kind, msgspec.msgpack.encode(["COMMIT", *self._values(3)])
        if kind == "wrong_types":
            return kind, msgspec.msgpack.encode(["REQUEST", *self._values(r.randrange(0, 4))])
        if kind == "read":
            return kind, encode(ReadRequest(r.randrange(2**32), r.choice(["state", "status", "", "x" * 99])))
        bad = r.choice([Guess("fuzz", 1, 101), Guess("fuzz", 1, -1), Guess("fuzz", 0, 5), Guess("fuzz", -9, 5),
                        Guess("", 1, 5), Guess("y" * 129, 1, 5), NewGame("fuzz", 0), Guess("fuzz", 1, 2**40),
                        # session fields (issue 17): first after seq, a negative zxid seen, bad names
                        Guess("fuzz", 1, 5, 3, 2), Guess("fuzz", 1, 5, 3, 1, -1),
                        Guess("fuzz", 1, 5, 3, 1, 0, "n" * 33), NewGame("fuzz", 1, 3, 1, 0, "\x1b[2J")])
        return "refused", encode(ClientRequest(r.randrange(2**32), bad))


class Fuzzer:
    """The sockets of the hostile process (see the module docstring)."""

    def __init__(self, config, garbage: Garbage, leader: int, targets: list[int]) -> None:
        self.ctx = zmq.Context()
        self.g = garbage
        self.targets = targets
        # Bound in node 2's place; the nodes' SUB for node 2 connects here by itself.
        self.pub = self.ctx.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub.bind(config.node(2).pub_endpoint)
        self.dealers: list[zmq.Socket] = []
        for i in targets:
            for rid in ROUTING_IDS + (str(i).encode(),):  # its own id too
                d = self.ctx.socket(zmq.DEALER)
                d.setsockopt(zmq.LINGER, 0)
                d.setsockopt(zmq.ROUTING_ID, rid)
                d.setsockopt(zmq.SNDHWM, 10_000)
                d.connect(config.node(i).peer_endpoint)
                self.dealers.append(d)
        self.clients = []
        for i in targets:
            c = self.ctx.socket(zmq.DEALER)
            c.setsockopt(zmq.LINGER, 0)
            c.setsockopt(zmq.SNDHWM, 10_000)
            c.connect(config.node(i).client_endpoint)
            self.clients.append(c)
        # Listen to the leader's broadcast, to replay it later (as node 2, and as the leader).
        self.tap = self.ctx.socket(zmq.SUB)
        self.tap.setsockopt(zmq.LINGER, 0)
        self.tap.setsockopt(zmq.SUBSCRIBE, b"")
        self.tap.connect(config.node(leader).pub_endpoint)
        self.leader_topic = str(leader).encode()
        self.sent = {"peer": 0, "sub": 0, "client": 0, "multipart": 0}

    def record(self) -> None:
        while self.tap.poll(0):
            frames = self.tap.recv_multipart()
            if len(frames) == 2 and len(self.g.replays) < 500:
                self.g.replays.append(frames[1])

    def _send(self, sock: zmq.Socket, frames: list[bytes]) -> bool:
        try:
            sock.send_multipart(frames, zmq.NOBLOCK)
            return True
        except zmq.Again:
            return False

    def burst(self, n: int) -> None:
        r = self.g.rng
        self.record()
        for _ in range(n):
            _, payload = self.g.peer()
            if self._send(r.choice(self.dealers), [payload]):
                self.sent["peer"] += 1
            _, payload = self.g.peer()
            topic = r.choice([b"2", b"2", self.leader_topic, b"0", b"", b"zz"])
            if self._send(self.pub, [topic, payload]):
                self.sent["sub"] += 1
            _, payload = self.g.client()
            if self._send(r.choice(self.clients), [payload]):
                self.sent["client"] += 1
            if r.random() < 0.02:  # wrong frame counts on every path
                shape = [payload] * r.choice([0, 2, 3])
                self._send(r.choice(self.dealers), shape or [b""])
                self._send(self.pub, [b"2", payload, payload])
                self._send(self.pub, [b"2"])
                self.sent["multipart"] += 1
        while any(c.poll(0) for c in self.clients):  # answers to reads and refusals: discard
            for c in self.clients:
                while c.poll(0):
                    c.recv_multipart()

    def oversized(self, client_bytes: int, peer_bytes: int) -> None:
        """One frame above each MAXMSGSIZE: ZeroMQ drops the connection, which reconnects."""
        self._send(self.clients[0], [b"\x00" * client_bytes])
        self._send(self.dealers[0], [b"\x00" * peer_bytes])
        self._send(self.pub, [b"2", b"\x00" * peer_bytes])

    def close(self) -> None:
        self.ctx.destroy(linger=0)


def http_fuzz(host: str, port: int, rng: random.Random, n: int) -> dict[int, int]:
    """``n`` hostile HTTP requests: random methods, paths, headers, bodies, and raw garbage.
    Returns the count of each status code (0: the server closed the connection)."""
    statuses: dict[int, int] = {}
    methods = ["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD", "PATCH", "BREW", "G\x00T"]
    paths = ["/", "/status", "/metrics", "/events?backlog=-1", "/events?since=x", "/events?kinds=%00",
             "/control/faults", "/control/election", "/control/../../etc/passwd", "/" + "a" * 5000,
             "/index.html?%ff%fe", "//", "/control/", "/events?status=1&backlog=999999"]
    for k in range(n):
        code = 0
        if rng.random() < 0.2:
            s = socket.create_connection((host, port), timeout=2)
            try:
                # Random bytes, or limits (issue 17): an over-long request line, a header flood,
                # a head over the server's limit.
                raw = rng.choice([rng.randbytes(rng.randrange(1, 400)), b"GET /" + b"a" * 70_000,
                                  b"GET /status HTTP/1.1\r\n" + b"X: y\r\n" * 300,
                                  b"GET /status HTTP/1.1\r\nX-Pad: " + b"p" * 20_000])
                s.sendall(raw + b"\r\n\r\n")
                data = s.recv(64)
                code = int(data[9:12]) if data.startswith(b"HTTP/") and data[9:12].isdigit() else 0
            except OSError:
                pass
            finally:
                s.close()
        else:
            conn = http.client.HTTPConnection(host, port, timeout=2)
            try:
                headers = {"Content-Type": rng.choice(["application/json", "text/plain", "", "application/json; x"]),
                           "X-Zmqzab-Token": rng.choice(["", "x", "0" * 32]),
                           "Origin": rng.choice(["null", "http://evil.example", "http://127.0.0.1",
                                                 f"http://127.0.0.1:{port}"]),
                           # DNS rebinding: the attacker's own name in Host (issue 17)
                           "Host": rng.choice([f"127.0.0.1:{port}", f"localhost:{port}", "evil.example",
                                               f"127.0.0.1.evil.example:{port}"])}
                if rng.random() < 0.3:
                    headers["Content-Length"] = rng.choice(["-1", "abc", "99999999", "0"])
                body = rng.choice([b"", b"{}", b"[]", b'{"blocked": [0, 1]}', b'{"blocked": "x"}',
                                   b'{"reason": ' + b'"a"' * 10 + b"}", rng.randbytes(rng.randrange(200))])
                path = rng.choice(paths)
                if path.startswith("/events") and "status=1" in path:
                    path = path.replace("status=1", "status=2")  # a live stream would not end
                conn.putrequest(rng.choice(methods[:7]), path, skip_host=True, skip_accept_encoding=True)
                for key, value in headers.items():
                    conn.putheader(key, value)
                if "Content-Length" not in headers:
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
                resp = conn.getresponse()
                code = resp.status
                if not path.startswith("/events") or code != 200:
                    resp.read()
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()
        statuses[code] = statuses.get(code, 0) + 1
    return statuses


def run(root, seed: int, writes: int, burst: int, fuzz: bool, http_requests: int = 0,
        oversized: bool = True) -> dict:
    """Nodes 0 and 1 of a 3-node cluster take ``writes`` guesses in order (alternating the
    follower and the leader); with ``fuzz``, a burst of garbage goes to every socket before
    each write. Returns what must match a control run, and what the fuzzer saw."""
    from tests.polling import wait_for
    from tests.processes.securecluster import SecureCluster

    root.mkdir(parents=True, exist_ok=True)
    c = SecureCluster(root, n=3)
    fuzzer = None
    try:
        c.start(0)
        c.start(1)
        leader = c.wait_leader(timeout=20)
        epoch = c.status(leader)["epoch"]
        follower = 1 - leader
        garbage = Garbage(seed, epoch)
        http_codes: dict[int, int] = {}
        if fuzz:
            fuzzer = Fuzzer(c.config, garbage, leader, [0, 1])
        t0 = time.monotonic()
        for seq in range(1, writes + 1):
            if fuzzer is not None:
                fuzzer.burst(burst)
                if oversized and seq == writes // 2:
                    from zmqzab.server.transport import CLIENT_MAX_MESSAGE_BYTES, MAX_MESSAGE_BYTES

                    fuzzer.oversized(CLIENT_MAX_MESSAGE_BYTES + 1, MAX_MESSAGE_BYTES + 1)
                if http_requests:
                    for i in (0, 1):
                        n = max(1, http_requests // (2 * writes))
                        for code, k in http_fuzz("127.0.0.1", c.config.node(i).http_port, garbage.rng, n).items():
                            http_codes[code] = http_codes.get(code, 0) + k
            node = follower if seq % 2 else leader
            c.write_all(node, "ctl", range(seq, seq + 1))
        if fuzzer is not None:
            fuzzer.burst(burst)  # garbage after the last write too: it must not move anything
        z = c.wait_same_committed(timeout=20)
        elapsed = time.monotonic() - t0
        alive = {i: c.procs[i].poll() is None for i in (0, 1)}
        statuses = {i: c.status(i, timeout=2.0) for i in (0, 1)}
        wait_for(lambda: all(s is not None for s in statuses.values()), 1, "both nodes answer")
        return {
            "zxid_committed": z,
            "epoch": {i: s["epoch"] for i, s in statuses.items()},
            "leader": leader,
            "game": {i: s["game"] for i, s in statuses.items()},
            "alive": alive,
            "counters": {i: s["counters"] for i, s in statuses.items()},
            "sent": dict(fuzzer.sent) if fuzzer else {},
            "kinds": dict(sorted(garbage.counts.items())),
            "http": http_codes,
            "seconds": round(elapsed, 1),
            "console": {i: c.console(i) for i in (0, 1)},
        }
    finally:
        if fuzzer is not None:
            fuzzer.close()
        c.close()


def same_outcome(control: dict, fuzzed: dict) -> list[str]:
    """What differs between a control run and a fuzzed run (empty: identical)."""
    problems = []
    for key in ("zxid_committed", "epoch", "leader", "game"):
        if control[key] != fuzzed[key]:
            problems.append(f"{key}: control {control[key]!r} != fuzzed {fuzzed[key]!r}")
    if not all(fuzzed["alive"].values()):
        problems.append(f"a node died: {fuzzed['alive']}")
    return problems
