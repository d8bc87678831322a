"""The node's client port: requests in, replies out (the client ROUTER socket).

Client writes drained from the socket in one loop pass are submitted as one batch (one
PROPOSAL) through the host, which answers each when this node applies its txn, matched by
(client id, seq) (host/clients.py). Reads, refusals and retries of applied requests are
answered at once. Replies produced in one loop pass go out as one multipart message per
client: a pipelining client gets its answers in batches (one frame each), a one-at-a-time
client sees a plain one-frame message. Requests that came in a BATCH frame (many requests in
one frame, messages.ClientBatch) are answered in one REPLIES frame per client per pass: a frame
costs a send here and a receive there, as much as the request's own handling (issue 14).

Who may write as whom (issue 17). With CURVE, every frame carries the ZAP ``User-Id`` of the key
that sent it (security/zap.py); a write whose client id does not start with that user id is
refused and counted (``client_ids_refused``), before anything else is looked up for it: no key
can pre-empt another's next seq, push its seq far ahead, or read the answers to its retries.
Without CURVE a client id is a claim (README, Security). Either way a seq that runs more than
``SEQ_AHEAD_MAX`` ahead of its client's record is refused by apply on every node, without moving
the record; one that falls more than ``SEQ_WINDOW`` behind it is refused here, as apply would
refuse it (``Replica.refusal``): the leader never logs a too-old one, so taking it would leave its
client waiting for an answer that never comes.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any

import msgspec
import zmq
from msgspec import Raw

from zmqzab.core.peer import NotReady
from zmqzab.core.roles import Role
from zmqzab.game.limits import request_problem
from zmqzab.game.rules import SESSION_EXPIRED
from zmqzab.messages import (
    ClientBatch,
    ClientReply,
    ClientRequest,
    DecodeError,
    EncodedReplyBatch,
    GameResult,
    Op,
    ReadReply,
    ReadRequest,
    Txn,
    decode_client,
    encode,
)
from zmqzab.security.drops import DropWarnings
from zmqzab.security.zap import client_id_owner_problem
from zmqzab.server.transport import DRAIN_LIMIT, NOBLOCK, drain, send_frames

if TYPE_CHECKING:
    from zmqzab.server.node import Node

#: Requests taken from one client message (a pipelining client sends a batch as frames, or as
#: BATCH frames): a message of more frames, or whose BATCH frames hold more requests, is dropped.
FRAMES_PER_MESSAGE_MAX = 10_000

#: Client requests are taken in one loop pass for at most this long; the rest wait for the next
#: pass, after the peers' messages and the tick. A client's flood of cheap requests (an 8-byte
#: status read costs ~30 us) must not hold the loop past a follower's sync limit (10 ticks of
#: 50 ms by default) and cost the cluster its leader (ZooKeeper throttles a client too):
#: tests/processes/test_client_batch_flood_attack_processes.py. A pipelined refill of 10,000
#: writes still fits in one pass (one PROPOSAL, issue 14).
PASS_S = 0.1
#: No more messages are read while this many requests wait (the socket's HWM holds the rest).
BACKLOG_MAX = FRAMES_PER_MESSAGE_MAX

#: A waiter: the client's socket identity, its request id, and whether the request came in a
#: BATCH frame (then its answer goes in a REPLIES frame).
Waiter = tuple[bytes, int, bool]
#: Replies of one pass to one client, encoded, by (socket identity, in a REPLIES frame or not).
#: Encoded when made: a reply object (a read's is the whole status) held till the end of a big
#: pass is work for the cyclic GC, again at every collection (test_client_batch_attack.py).
Outbox = dict[tuple[bytes, bool], list[bytes]]


class ClientPort:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.drops = DropWarnings(node.log.warning)
        #: Replies produced in one loop pass, by client: sent as one multipart message each.
        self.outbox: Outbox = {}
        #: Answers given in one Output (for the event ring).
        self.answered: list[tuple[Txn, GameResult]] = []
        #: Requests read and not taken yet (PASS_S): (to, request, CURVE user id).
        self.backlog: deque[tuple[tuple[bytes, bool], ClientRequest | ReadRequest, str | None]] = deque()
        #: With CURVE the frames are read as zmq.Frames, for their User-Id.
        self.curve = node.config.security.curve
        node.counters.setdefault("client_ids_refused", 0)

    # ---------------------------------------------------------------- replies

    def reply(self, to: tuple[bytes, bool], reply: ClientReply | ReadReply) -> None:
        """``to``: the client's socket identity, and whether it asked in a BATCH frame."""
        replies = self.outbox.get(to)
        if replies is None:
            self.outbox[to] = [encode(reply)]
        else:
            replies.append(encode(reply))

    def answer(self, waiters: list[Waiter], txn: Txn, result: GameResult) -> None:
        """The host's answer to requests taken here: their txn is applied (HostIO.answer)."""
        self.answered.append((txn, result))
        node_id = self.node.id
        for identity, req_id, batched in waiters:
            self.reply((identity, batched),
                       ClientReply(req_id=req_id, ok=True, node=node_id, zxid=txn.zxid, result=result))

    def flush(self) -> None:
        """One multipart message per client per loop pass: a REPLIES frame for the answers to
        BATCH frames, a frame per reply for the others."""
        outbox, self.outbox = self.outbox, {}
        sock = self.node.transport.client
        for (identity, batched), replies in outbox.items():
            frames = [encode(EncodedReplyBatch([Raw(r) for r in replies]))] if batched else replies
            try:
                send_frames(sock, [identity, *frames], NOBLOCK)
            except (zmq.Again, zmq.ZMQError):
                pass  # the client went away; it will retry elsewhere

    # ---------------------------------------------------------------- requests

    def serve(self) -> None:
        node = self.node
        ops: list[Op] = []
        takers: list[Waiter] = []
        backlog = self.backlog
        if len(backlog) < BACKLOG_MAX:
            self._read_messages(backlog)
        # At most PASS_S of requests per pass; the rest wait in the backlog for the next pass,
        # after the peers' messages and the tick (the loop comes back at once: ``backlog``).
        take, deadline, n = self._take_request, time.monotonic() + PASS_S, 0
        while backlog:
            to, request, user = backlog.popleft()
            take(to, request, ops, takers, user)
            n += 1
            if not n & 255 and time.monotonic() >= deadline:
                break
        if not ops:
            return
        try:
            out = node.replica.submit(ops, takers, ts_ms=int(time.time() * 1000))
        except NotReady as exc:
            if exc.output is not None:
                node.execute(exc.output)  # a step-down's votes and role change (ZK-1277)
            node.events.add("refused", (len(ops), str(exc)))
            for identity, req_id, batched in takers:
                self.reply((identity, batched), ClientReply(req_id=req_id, ok=False, node=node.id,
                                                            error=str(exc), error_kind=exc.kind))
            return
        node.counters["proposals_submitted"] += len(ops)
        peer = node.peer
        path = "proposing" if peer.role == Role.LEADING else f"forwarding to leader n{peer.leader_id}"
        node.events.add("client", (len(ops), ops[:3], path))
        node.execute(out)

    def _read_messages(self, backlog: deque) -> None:
        """Messages waiting on the socket, into ``backlog`` as (to, request, user), one message
        at a time until none waits, DRAIN_LIMIT were read, or the backlog holds BACKLOG_MAX."""
        sock, curve = self.node.transport.client, self.curve
        for _ in range(DRAIN_LIMIT):
            got = drain(sock, 1, copy=not curve)
            if not got:
                return
            frames = got[0]
            if len(frames) < 2 or len(frames) > FRAMES_PER_MESSAGE_MAX + 1:
                self._dropped(f"a message of {len(frames)} frames (2..{FRAMES_PER_MESSAGE_MAX + 1})")
                continue
            user: str | None = None
            if curve:  # one connection sent all of them: one User-Id
                user = frames[1].get("User-Id")
                frames = [f.bytes for f in frames]
            identity = frames[0]
            # FRAMES_PER_MESSAGE_MAX bounds the requests of a message, not only its frames: a
            # BATCH frame of 64 KiB holds 8,000 reads, each answered with the whole status.
            msgs: list[ClientRequest | ReadRequest | ClientBatch] = []
            count = 0
            for payload in frames[1:]:
                try:
                    msg = decode_client(payload)
                except DecodeError as exc:
                    self._dropped(f"{len(payload)} bytes do not decode ({str(exc)[:80]})")
                    continue
                count += len(msg.requests) if type(msg) is ClientBatch else 1
                if count > FRAMES_PER_MESSAGE_MAX:
                    break
                msgs.append(msg)
            if count > FRAMES_PER_MESSAGE_MAX:
                self._dropped(f"a message of more than {FRAMES_PER_MESSAGE_MAX} requests")
                continue
            for msg in msgs:
                if type(msg) is ClientBatch:
                    to = (identity, True)
                    backlog.extend([(to, request, user) for request in msg.requests])
                else:
                    backlog.append(((identity, False), msg, user))
            if len(backlog) >= BACKLOG_MAX:
                return

    def _take_request(self, to: tuple[bytes, bool], msg: ClientRequest | ReadRequest, ops: list[Op],
                      takers: list[Waiter], user: str | None) -> None:
        """One request: answered at once (reads, refusals, known answers) or queued. ``to``:
        the client's socket identity, and whether the request came in a BATCH frame."""
        node = self.node
        node.counters["client_requests"] += 1
        if isinstance(msg, ReadRequest):
            self.reply(to, ReadReply(req_id=msg.req_id, node=node.id, data=self._read(msg.what)))
            return
        problem = self._check_op(msg.op)
        if problem:
            self.reply(to, ClientReply(req_id=msg.req_id, ok=False, node=node.id,
                                       error=problem, error_kind="bad_request"))
            return
        if user is not None and (problem := client_id_owner_problem(user, msg.op.client_id)):
            node.counters["client_ids_refused"] += 1
            self.drops.dropped("client_id_refused", f"on client_port: {problem}")
            self.reply(to, ClientReply(req_id=msg.req_id, ok=False, node=node.id,
                                       error=problem, error_kind="bad_request"))
            return
        known = node.replica.known_answer(msg.op)
        if known is not None:  # a retry of an applied request: its original answer
            self.reply(to, ClientReply(req_id=msg.req_id, ok=True, node=node.id,
                                       zxid=known[0], result=known[1]))
            return
        refusal = node.replica.refusal(msg.op)
        if refusal is not None:  # too old: never logged, so answered now
            kind = "session_expired" if refusal.kind == SESSION_EXPIRED else "bad_request"
            self.reply(to, ClientReply(req_id=msg.req_id, ok=False, node=node.id,
                                       zxid=node.peer.zxid_applied,
                                       error=refusal.message, error_kind=kind))
            return
        ops.append(self._stamp(msg.op))
        takers.append((to[0], msg.req_id, to[1]))

    def _dropped(self, detail: str) -> None:
        self.node.counters["client_bad_frames"] += 1
        self.drops.dropped("client_bad_frame", f"on client_port: {detail}")

    def _check_op(self, op: Op) -> str:
        # The game's limits (game/limits.py) are the one source: the same checks plausible()
        # applies to a forwarded op and apply() to a committed one.
        return request_problem(op)

    def _stamp(self, op: Op) -> Op:
        """The round size goes into the txn, so apply() never reads a node's local config."""
        return msgspec.structs.replace(op, round_size=self.node.config.game.round_size)

    def _read(self, what: str) -> dict[str, Any]:
        node = self.node
        peer = node.peer
        if what == "state":
            return {"node": node.id, "role": str(peer.role), **peer.state.view()}
        if what == "digest":
            # The FULL state (client records included, which view() leaves out) at a known
            # applied zxid, for the chaos checker to compare with a replay of this node's disk
            # (chaos/checker.py state_digest: the same sha256 of Game.snapshot()).
            import hashlib  # here: only the chaos checker asks (a node's start-up, issue 14)

            return {"node": node.id, "zxid_applied": peer.zxid_applied,
                    "digest": hashlib.sha256(peer.state.snapshot()).hexdigest(),
                    "game": peer.state.view()}
        return node.status()
