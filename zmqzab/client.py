"""The client library: find a node, submit a write, retry safely, wait for the commit.

Theory of operation
-------------------
A client talks to the ``client_port`` ROUTER of any node through one DEALER per node (created
when first needed, LINGER 0). Every frame is one msgpack message from ``messages.py``.

A write is a ``ClientRequest(req_id, op)`` whose op carries ``(client_id, seq)``. The replicated
game applies an op at most once per ``(client_id, seq)`` and answers a duplicate with the
original result, so a write whose answer never came can always be sent again, to the same node
or another one, *with the same seq*. That is what ``Client.write`` does:

1. send to the chosen node (or a random one), wait up to ``ATTEMPT_WAIT_S`` (plus eight of the
   classroom's message delays) for the reply;
2. ``ok`` -> done. ``bad_request`` -> ``BadRequestError`` (retrying cannot help).
   ``no_leader`` / ``busy`` / no answer -> back off a little (waiting on the sockets, so a late
   reply still counts), then send the same request to the next node, round robin;
3. when the overall timeout is spent, ask every node for its status (``status_all``) and raise
   ``NoQuorumError`` with what is missing: "no leader: 2 of 5 nodes reachable (nodes 0, 3
   answer); a write needs 3".

One ``req_id`` is used for every attempt of one write, so the reply of an earlier attempt that
arrives late is accepted (it carries the same committed result). Replies to older requests
(other ``req_id``) are dropped.

Sessions (issue 17, zmqzab/game/rules.py). A client's writes belong to a ``ClientSession``: its
client id, its last seq, ``first`` (the seq of its first committed write) and ``seen`` (the
highest zxid a reply named). Every write carries ``first`` and ``seen``, so the game can tell a
retry of a forgotten request from a new one. When the game answers "session expired" (the
record expired or was evicted), the client starts a new session under a new client id; if the
refused write was sent only once, it was not applied and is sent again in the new session,
otherwise ``SessionExpiredError`` says that its outcome is unknown. A session that has seen
nothing yet (a new client, a new terminal) first reads a node's applied zxid and starts having
seen that: a start that has seen 0 is refused by the game as soon as any record was ever
forgotten (its ``horizon``), so every new client's first write would be refused once. With CURVE a client id
starts with the key's user id (security/zap.py), or the nodes refuse it. Reads (``ReadRequest``) are answered at once from the node's own
applied state; they are never forwarded.

No threads: every wait is a ``zmq.Poller`` poll with a deadline.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import zmq

from zmqzab.config import ClusterConfig
from zmqzab.messages import (
    ClientReply,
    ClientRequest,
    DecodeError,
    GameResult,
    Guess,
    NewGame,
    Op,
    ReadReply,
    ReadRequest,
    encode,
    decode_reply,
)
from zmqzab.game.rules import SESSION_EXPIRED
from zmqzab.security.curve import ClientKeys, client_keys
from zmqzab.security.zap import bound_client_id
from zmqzab.zxid import fmt_zxid, parse_zxid

#: How long one attempt waits for its reply before trying the next node: longer than a normal
#: commit (a few ms to ~100 ms with fsync), short enough to fail over quickly.
ATTEMPT_WAIT_S = 1.0
#: A write crosses up to six links (client -> follower -> leader -> followers -> leader ->
#: follower -> client); under the classroom's ``message_delay_ms`` each link waits that long,
#: so an attempt waits this many delays more, or every write would be sent twice.
ATTEMPT_DELAY_LINKS = 8
#: Back-off after a no_leader / busy answer, growing per attempt up to the max (an election
#: takes a few hundred ms; hammering the nodes does not make it faster).
BACKOFF_FIRST_S = 0.05
BACKOFF_MAX_S = 0.5
#: How long the status survey after a failed write waits for answers.
SURVEY_TIMEOUT_S = 0.5
#: How long a read of one node's state waits by default (reads are answered at once).
READ_TIMEOUT_S = 2.0
#: Outgoing messages queued per node socket while that node is away (Rule 7: bound it).
SNDHWM = 100

#: The status fields a DOWN node gets, so every entry of ``status_all`` has the same keys.
DOWN_FIELDS = ("phase", "epoch", "zxid_last", "zxid_committed", "leader")


class ClientError(Exception):
    """A request that did not succeed; ``str()`` is one line naming the cause and next step."""


class NoQuorumError(ClientError):
    """No commit within the timeout: no leader, too few nodes, or a slow cluster.

    ``reachable`` lists the node ids that answered a status read just after the timeout;
    ``leader`` is the leading node seen then (None if none).
    """

    def __init__(self, message: str, reachable: tuple[int, ...] = (), total: int = 0,
                 quorum: int = 0, leader: int | None = None) -> None:
        super().__init__(message)
        self.reachable = reachable
        self.total = total
        self.quorum = quorum
        self.leader = leader


class UnreachableError(ClientError):
    """The node asked (for a read) did not answer in time."""


class BadRequestError(ClientError):
    """The node refused the request as malformed; sending it again cannot help."""


class SessionExpiredError(ClientError):
    """The game no longer knows this client's session (its record expired or was evicted),
    and the write was sent more than once: whether it was applied is unknown. The client has
    started a new session; the next write uses it."""


class _Expired(Exception):
    """The game answered "session expired" to a write sent ``copies`` times."""

    def __init__(self, message: str, zxid: int, copies: int) -> None:
        super().__init__(message)
        self.zxid, self.copies = zxid, copies


@dataclass(slots=True)
class ClientSession:
    """What makes a client's writes exactly-once (module docstring); the CLI keeps it in a
    file between runs (cli/sessionfile.py). ``first`` 0: no write of it is known committed."""

    client_id: str
    seq: int = 0
    first: int = 0
    seen: int = 0
    #: Extra fields a holder keeps with it (the CLI: nothing yet); never sent.
    extra: dict = field(default_factory=dict)


def new_client_id(keys: ClientKeys | None) -> str:
    """A fresh random client id; with CURVE, one that belongs to the key."""
    suffix = os.urandom(8).hex()
    return bound_client_id(keys.user_id, suffix) if keys is not None else suffix


@dataclass(frozen=True, slots=True)
class WriteResult:
    """A committed write: the node that answered, the txn's zxid and what applying it did."""

    node: int
    zxid: int
    result: GameResult

    @property
    def zxid_text(self) -> str:
        return fmt_zxid(self.zxid)

    def to_json(self) -> dict[str, Any]:
        return {"zxid": self.zxid_text, "node": self.node, "result": msgspec.to_builtins(self.result)}


def _zxid_fields_as_text(data: dict[str, Any]) -> dict[str, Any]:
    """A zxid a person reads is ``epoch:counter``; turn any int ``zxid_*`` field into that."""
    for key, value in data.items():
        if key.startswith("zxid") and type(value) is int:
            data[key] = fmt_zxid(value)
    return data


def leader_of(nodes: list[dict]) -> dict | None:
    """The reachable LEADING node with the highest epoch in a ``status_all`` list, if any.

    Two nodes may both say LEADING for a moment (an old leader cut off from the quorum has not
    stepped down yet); the higher epoch is the current one.
    """
    leaders = [n for n in nodes if n.get("reachable") and n.get("role") == "LEADING"]
    if not leaders:
        return None
    return max(leaders, key=lambda n: (n.get("epoch") or 0, n["id"]))


def _nodes_phrase(ids: list[int] | tuple[int, ...], verb: str) -> str:
    """"nodes 0, 3 answer" / "node 2 answers" / "no node answers"."""
    if not ids:
        return f"no node {verb}s"
    if len(ids) == 1:
        return f"node {ids[0]} {verb}s"
    return f"nodes {', '.join(str(i) for i in ids)} {verb}"


class Client:
    """A zmqzab client. Use as a context manager, or call ``close()``.

    ``node``: the node to try first (a random one when None); writes fail over to the others.
    ``timeout``: seconds a write may take in all, retries included.
    ``client_id``: identifies this client's session for exactly-once writes (random if None;
    with CURVE, prefixed with the key's user id if it is not already). ``session``: a session
    to continue (the CLI's, kept between runs); it wins over ``client_id``. ``name``: a display
    name every write carries (the game's view shows it instead of the client id).
    ``before_send``: called with the session once a write has its seq, before it is sent (the
    CLI saves its session file there: a run killed with the write in flight must not leave the
    file at the old seq, or the next run sends the same (client id, seq) with another value and
    gets the first one's answer).
    """

    def __init__(self, config: ClusterConfig, node: int | None = None, timeout: float = 10.0,
                 client_id: str | None = None, rng: random.Random | None = None,
                 session: ClientSession | None = None, name: str = "",
                 before_send: Callable[[ClientSession], None] | None = None) -> None:
        if node is not None:
            config.node(node)  # ConfigError naming the valid ids
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, got {timeout!r}")
        self.config = config
        self.node = node
        self.timeout = timeout
        self.attempt_wait_s = ATTEMPT_WAIT_S + ATTEMPT_DELAY_LINKS * config.timing.message_delay_ms / 1000
        self._rng = rng or random.Random()
        self._req_id = 0
        #: CURVE keys when the config turns it on (KeyFileError, one line, if they are missing).
        self._keys = client_keys(config)
        if session is not None and self._keys is not None \
                and not session.client_id.startswith(f"{self._keys.user_id}:"):
            session = None  # kept under another key (ZMQZAB_CLIENT_KEY changed): not ours
        if session is None:
            if client_id is None:
                client_id = new_client_id(self._keys)
            elif self._keys is not None and not client_id.startswith(f"{self._keys.user_id}:"):
                client_id = bound_client_id(self._keys.user_id, client_id)
            session = ClientSession(client_id)
        self.session = session
        self.name = name
        self._before_send = before_send
        self._ctx: zmq.Context | None = zmq.Context()
        self._sockets: dict[int, zmq.Socket] = {}
        self._node_of: dict[zmq.Socket, int] = {}
        self._poller = zmq.Poller()

    @property
    def client_id(self) -> str:
        return self.session.client_id

    @property
    def seq(self) -> int:
        """The last seq used; the first write uses 1."""
        return self.session.seq

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every socket and the context; unsent requests are dropped (LINGER 0)."""
        for sock in self._sockets.values():
            sock.close(linger=0)
        self._sockets.clear()
        self._node_of.clear()
        if self._ctx is not None:
            self._ctx.term()
            self._ctx = None

    # ------------------------------------------------------------------ sockets

    def _socket(self, node_id: int) -> zmq.Socket:
        sock = self._sockets.get(node_id)
        if sock is None:
            if self._ctx is None:
                raise ClientError("client is closed: create a new Client")
            sock = self._ctx.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDHWM, SNDHWM)
            if self._keys is not None:
                self._keys.apply(sock, node_id)
            sock.connect(self.config.node(node_id).client_endpoint)
            self._sockets[node_id] = sock
            self._node_of[sock] = node_id
            self._poller.register(sock, zmq.POLLIN)
        return sock

    def _next_req_id(self) -> int:
        self._req_id += 1
        return self._req_id

    def _send(self, node_id: int, message: msgspec.Struct) -> bool:
        """Queue one message for a node; False if its queue is full (it has been away long)."""
        try:
            self._socket(node_id).send(encode(message), zmq.NOBLOCK)
            return True
        except zmq.Again:
            return False

    def _receive(self, deadline: float) -> tuple[int, ClientReply | ReadReply] | None:
        """The next decodable reply from any node until ``deadline``; None when it passes."""
        while True:
            wait_ms = int(max(0.0, deadline - time.monotonic()) * 1000)
            events = dict(self._poller.poll(wait_ms))
            if not events:
                if time.monotonic() >= deadline:
                    return None
                continue
            for sock in events:
                try:
                    frame = sock.recv(zmq.NOBLOCK)
                except zmq.Again:
                    continue
                try:
                    return self._node_of[sock], decode_reply(frame)
                except DecodeError:
                    continue  # a remote error: drop the frame

    # ------------------------------------------------------------------ writes

    def guess(self, value: int) -> WriteResult:
        """Guess ``value`` (0..100); returns once the txn is committed and applied."""
        return self.write(lambda client_id, seq: Guess(client_id, seq, value))

    def new_game(self) -> WriteResult:
        """Start a new game (the next guess sets the target)."""
        return self.write(lambda client_id, seq: NewGame(client_id, seq))

    def write(self, op_factory: Callable[[str, int], Op]) -> WriteResult:
        """Submit ``op_factory(client_id, seq)`` with the next seq; retry it until committed.

        Raises ``BadRequestError`` if a node refuses the op, ``NoQuorumError`` on timeout,
        ``SessionExpiredError`` if the session was forgotten and the outcome is unknown.
        """
        for restart in (False, True):
            try:
                return self._submit(op_factory)
            except _Expired as exc:
                self._new_session(exc.zxid)
                if exc.copies > 1 or restart:
                    raise SessionExpiredError(
                        f"{exc}: the game no longer knows this client's session, so whether this "
                        f"write was applied is unknown; check the game (zmqzab state), then write "
                        f"again (a new session, client id {self.client_id}, has started)"
                    ) from None
                # Sent once and refused: not applied. Send it again in the new session.
        raise AssertionError("unreachable")

    def _new_session(self, zxid: int) -> None:
        """A fresh client id; the zxid of the refusal is one this client has seen."""
        self.session = ClientSession(new_client_id(self._keys), self.session.seq,
                                     seen=max(self.session.seen, zxid), extra=self.session.extra)

    def _submit(self, op_factory: Callable[[str, int], Op]) -> WriteResult:
        """One write, retried on every node until it commits; ``_Expired`` on a session refusal."""
        session = self.session
        if not session.seen:
            self._learn_seen()
        session.seq += 1
        op = op_factory(session.client_id, session.seq)
        if type(op) is Guess or type(op) is NewGame:
            # Until a write of this session is known committed, each may be its first.
            op = msgspec.structs.replace(op, first=session.first or session.seq,
                                         seen=session.seen, name=self.name or op.name)
        if self._before_send is not None:
            self._before_send(session)  # the seq is used from here on, even if we die now
        request = ClientRequest(self._next_req_id(), op)
        ids = list(self.config.ids)
        first = self.node if self.node is not None else self._rng.choice(ids)
        position = ids.index(first)
        started = time.monotonic()
        deadline = started + self.timeout
        attempt = 0
        while time.monotonic() < deadline:
            target = ids[position % len(ids)]
            position += 1
            attempt += 1
            self._send(target, request)
            attempt_deadline = min(time.monotonic() + self.attempt_wait_s, deadline)
            refused = False
            while not refused:
                got = self._receive(attempt_deadline)
                if got is None:
                    break  # no answer: the next node
                from_node, reply = got
                if type(reply) is not ClientReply or reply.req_id != request.req_id:
                    continue  # the answer to an older request
                if reply.ok:
                    if reply.result is None:
                        raise ClientError(f"node {reply.node} answered ok without a result "
                                          f"(a node bug); check its log")
                    return self._committed(request, WriteResult(reply.node, reply.zxid, reply.result),
                                           attempt)
                if reply.error_kind == SESSION_EXPIRED:
                    raise _Expired(reply.error, reply.zxid, attempt)
                if reply.error_kind == "bad_request":
                    raise BadRequestError(f"node {reply.node} refused the request: {reply.error}")
                # no_leader, busy, timeout: only the node we are waiting on moves us on; a late
                # refusal from an earlier attempt says nothing about the current one.
                refused = from_node == target
            if refused:
                backoff = min(BACKOFF_FIRST_S * 2 ** min(attempt - 1, 8), BACKOFF_MAX_S)
                got_ok = self._wait_for_ok(request.req_id, min(time.monotonic() + backoff, deadline))
                if got_ok is not None:
                    return self._committed(request, got_ok, attempt)
        raise self._timeout_error(time.monotonic() - started)

    def _learn_seen(self) -> None:
        """Start the session having seen a zxid that a node has applied (module docstring).

        Safe for the horizon rule: every copy of this session's first write is sent after the
        read, so it is committed at a zxid above the one read, and a record it makes is newer
        than ``seen``. No answer within one attempt's wait: the session starts with 0 (the game
        may then refuse the first write once, as before)."""
        req_ids = set()
        for node_id in self.config.ids:
            req_id = self._next_req_id()
            if self._send(node_id, ReadRequest(req_id, "status")):
                req_ids.add(req_id)
        deadline = time.monotonic() + min(self.attempt_wait_s, self.timeout)
        while req_ids:
            got = self._receive(deadline)
            if got is None:
                return
            _, reply = got
            if type(reply) is not ReadReply or reply.req_id not in req_ids:
                continue
            req_ids.discard(reply.req_id)
            value = reply.data.get("zxid_applied") if isinstance(reply.data, dict) else None
            try:
                zxid = parse_zxid(value) if isinstance(value, str) else value
            except ValueError:
                continue
            if type(zxid) is int and zxid > 0:
                self.session.seen = max(self.session.seen, zxid)
                return

    def _committed(self, request: ClientRequest, done: WriteResult, copies: int) -> WriteResult:
        """A committed answer: the session learns from it, or it says the session is gone."""
        session = self.session
        session.seen = max(session.seen, done.zxid)
        if done.result.kind == SESSION_EXPIRED:
            raise _Expired(done.result.message, done.zxid, copies)
        op = request.op
        if not session.first and (type(op) is Guess or type(op) is NewGame):
            session.first = op.first
        return done

    def _wait_for_ok(self, req_id: int, until: float) -> WriteResult | None:
        """Back off until ``until`` while still taking a late ok reply for ``req_id``."""
        while True:
            got = self._receive(until)
            if got is None:
                return None
            _, reply = got
            if type(reply) is ClientReply and reply.req_id == req_id and reply.ok \
                    and reply.result is not None:
                return WriteResult(node=reply.node, zxid=reply.zxid, result=reply.result)

    def _timeout_error(self, elapsed: float) -> NoQuorumError:
        nodes = self.status_all(SURVEY_TIMEOUT_S)
        reachable = tuple(n["id"] for n in nodes if n["reachable"])
        total = len(nodes)
        quorum = self.config.quorum
        leading = leader_of(nodes)
        leader = leading["id"] if leading is not None else None
        answer = _nodes_phrase(reachable, "answer")
        if leading is not None and leading.get("phase", "BROADCAST") == "BROADCAST":
            message = (
                f"timed out after {self.timeout:.1f} s: the cluster has a leader (node {leader}) "
                f"but did not commit in time; retry, or raise --timeout if the cluster is busy"
            )
        elif len(reachable) < quorum:
            message = (
                f"no leader: {len(reachable)} of {total} nodes reachable ({answer}); a write needs "
                f"{quorum}: start the missing nodes (zmqzab up, or zmqzab node --id N) and retry"
            )
        elif leading is not None:
            message = (
                f"no leader: {len(reachable)} of {total} nodes reachable ({answer}); node {leader} "
                f"is leading but still in {leading.get('phase')} (not yet taking writes); retry "
                f"in a few seconds"
            )
        else:
            message = (
                f"no leader: {len(reachable)} of {total} nodes reachable ({answer}) but none is "
                f"leading yet (election in progress); retry in a few seconds"
            )
        return NoQuorumError(message, reachable=reachable, total=total, quorum=quorum,
                             leader=leader)

    # ------------------------------------------------------------------ reads

    def _read(self, node_ids: list[int], what: str, timeout: float) -> dict[int, dict]:
        """Ask every node in ``node_ids`` at once; the answers that came within ``timeout``."""
        req_ids: dict[int, int] = {}
        for node_id in node_ids:
            req_id = self._next_req_id()
            if self._send(node_id, ReadRequest(req_id, what)):
                req_ids[req_id] = node_id
        answers: dict[int, dict] = {}
        deadline = time.monotonic() + timeout
        while len(answers) < len(req_ids):
            got = self._receive(deadline)
            if got is None:
                break
            _, reply = got
            if type(reply) is ReadReply and reply.req_id in req_ids:
                answers[req_ids[reply.req_id]] = dict(reply.data)
        return answers

    def read_status(self, node: int, timeout: float = SURVEY_TIMEOUT_S) -> dict | None:
        """One node's status (role, phase, epochs, zxids, leader, ...); None if it is unreachable."""
        self.config.node(node)
        data = self._read([node], "status", timeout).get(node)
        if data is None:
            return None
        data.setdefault("id", node)
        data["reachable"] = True
        return _zxid_fields_as_text(data)

    def status_all(self, timeout: float = SURVEY_TIMEOUT_S) -> list[dict]:
        """One status per configured node (sorted by id), all asked in parallel.

        A node that did not answer within ``timeout`` is ``{"id": n, "reachable": False,
        "role": "DOWN", "phase": None, ...}``.
        """
        ids = list(self.config.ids)
        answers = self._read(ids, "status", timeout)
        nodes: list[dict] = []
        for node_id in ids:
            data = answers.get(node_id)
            if data is None:
                nodes.append({"id": node_id, "reachable": False, "role": "DOWN",
                              **{key: None for key in DOWN_FIELDS}})
            else:
                data.setdefault("id", node_id)
                data["reachable"] = True
                nodes.append(_zxid_fields_as_text(data))
        return nodes

    def read_state(self, node: int | None = None, timeout: float = READ_TIMEOUT_S) -> dict:
        """The game as one node has applied it (target, round, open guesses, recent rounds).

        With ``node`` None: the leader if one answers a status read, else any reachable node.
        Raises ``UnreachableError`` if the node (or every node) does not answer.
        """
        if node is None:
            nodes = [n for n in self.status_all(min(timeout, SURVEY_TIMEOUT_S)) if n["reachable"]]
            if not nodes:
                total = len(self.config.ids)
                raise UnreachableError(
                    f"no node reachable: 0 of {total} nodes answer; start the cluster "
                    f"(zmqzab up) or check --config"
                )
            leading = leader_of(nodes)
            node = (leading or nodes[0])["id"]
        else:
            self.config.node(node)
        data = self._read([node], "state", timeout).get(node)
        if data is None:
            raise UnreachableError(
                f"node {node} did not answer within {timeout:.1f} s: it is down or busy; "
                f"try another node (--node) or check it with zmqzab status"
            )
        data.setdefault("node", node)
        return _zxid_fields_as_text(data)
