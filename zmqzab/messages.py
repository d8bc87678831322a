"""Every message on the wire, as frozen, tagged msgspec Structs, and the decoders for them.

Names follow ZooKeeper's quorum packets (``Leader.java``: FOLLOWERINFO, LEADERINFO, ACKEPOCH,
DIFF/TRUNC/SNAP, NEWLEADER, UPTODATE, PROPOSAL, ACK, COMMIT, PING) and the fast leader election
``Notification``. Every peer message carries the epoch it belongs to, so a message that arrives
late (a DEALER may hold it while a peer is away, ZAB_CHECKLIST #6) is recognised and dropped.

Encoding is msgpack with ``array_like`` structs: compact, and one reused Decoder per union.
A frame that does not decode is a *remote* error: the caller drops and counts it.

The structs a node keeps by the hundred thousand (txns, their ops, game results) are frozen and
hold only scalars, strings and each other, so they cannot be part of a reference cycle: they are
``gc=False``, untracked by Python's cyclic GC. Otherwise each full collection would walk every
txn of the log window and every result of the game's session records, a pause of hundreds of
milliseconds on a loaded node (longer than syncLimit's heartbeat budget).
"""

from __future__ import annotations

import msgspec
from msgspec import Struct

from zmqzab.tree.sessions import CloseSessionTxn, CreateSessionTxn, fmt_session_id
from zmqzab.tree.txns import (CheckVersionTxn, CreateTxn, DeleteTxn, ErrorTxn, MultiTxn,
                              SetACLTxn, SetDataTxn, describe_txn)
from zmqzab.zkapi.ops import SessionTouches, ZkRequest, ZkTxn, describe_zk
from zmqzab.zxid import fmt_zxid, zxid_counter

# --------------------------------------------------------------------------------------------
# Replicated operations (the payload of a txn). The core never looks inside them.
#
# Three kinds share the log: the game's (Guess, NewGame: a client id and seq make each
# exactly-once), the data tree's (zmqzab/tree/txns.py, as the leader's prepare wrote them) and
# the sessions' (zmqzab/tree/sessions.py). zmqzab/state.py applies each to its part. Only the
# game's carry ``client_id``/``seq``: code that reads them asks ``state.is_game_op`` first.


class Guess(Struct, frozen=True, gc=False, tag="guess", array_like=True):
    """A guess. ``round_size`` is stamped by the leader so that apply never reads local config.

    ``first``, ``seen``: the client's session (its first seq, a zxid it had seen when it began;
    0 in ops of older builds); ``name``: a display name. What they do: zmqzab/game/rules.py.
    New fields go at the END with defaults, so logs of older builds still decode."""

    client_id: str
    seq: int
    value: int
    round_size: int = 3
    first: int = 0
    seen: int = 0
    name: str = ""


class NewGame(Struct, frozen=True, gc=False, tag="new_game", array_like=True):
    client_id: str
    seq: int
    round_size: int = 3
    first: int = 0
    seen: int = 0
    name: str = ""


#: The game's ops: what the game's client port takes and a follower forwards.
GameOp = Guess | NewGame

#: ZkTxn is how ZooKeeper clients' txns are logged; ZkRequest and SessionTouches only travel
#: to the leader (FORWARD), which prepares them (zmqzab/zk/ops.py). The bare tree and session
#: txns are the pure parts' own, which tests and tools log directly.
Op = (Guess | NewGame | CreateTxn | DeleteTxn | SetDataTxn | SetACLTxn | CheckVersionTxn
      | ErrorTxn | MultiTxn | CreateSessionTxn | CloseSessionTxn | ZkTxn | ZkRequest
      | SessionTouches)


class Txn(Struct, frozen=True, gc=False, array_like=True):
    """One entry of the replicated log. ``ts_ms`` is the leader's wall clock when it proposed."""

    zxid: int
    op: Op
    ts_ms: int = 0


class GameResult(Struct, frozen=True, gc=False, omit_defaults=True):
    """What applying one op did. ``kind`` is one of:

    target_set, guess_recorded, round_closed, new_game, rejected, session_expired.
    """

    kind: str
    message: str
    game: int = 0
    round: int = 0
    target: int | None = None
    guess_index: int = 0
    round_size: int = 0
    winner: str | None = None
    winning_value: int | None = None
    old_target: int | None = None
    new_target: int | None = None
    winner_name: str | None = None


# --------------------------------------------------------------------------------------------
# Peer messages: ROUTER/DEALER (election, discovery, sync, acks) and PUB/SUB (broadcast).


class Vote(Struct, frozen=True, array_like=True):
    """A vote for ``leader``: that node's currentEpoch and last logged zxid (FLE order)."""

    leader: int
    zxid: int
    epoch: int


class Notification(Struct, frozen=True, tag="NOTIFICATION", array_like=True):
    """Fast leader election notification. ``round`` is ZooKeeper's electionEpoch (logicalclock)."""

    round: int
    state: str  # LOOKING / FOLLOWING / LEADING of the sender
    vote: Vote


class FollowerInfo(Struct, frozen=True, tag="FOLLOWERINFO", array_like=True):
    session: int  # one per attempt to follow; echoed back so stale replies can be told apart
    accepted_epoch: int
    zxid_last: int
    zxid_base: int = 0  # txns at or below this are no longer in the follower's log (snapshot)


class LeaderInfo(Struct, frozen=True, tag="LEADERINFO", array_like=True):
    session: int
    epoch: int  # the new epoch the leader proposes


#: ACKEPOCH's ``current_epoch`` from a follower that had already accepted this epoch (ZooKeeper's
#: -1): the leader syncs it but does not count it toward the epoch's quorum.
NOT_COUNTED = -1


class AckEpoch(Struct, frozen=True, tag="ACKEPOCH", array_like=True):
    session: int
    epoch: int
    current_epoch: int
    zxid_last: int


class SyncStart(Struct, frozen=True, tag="SYNC", array_like=True):
    """DIFF, TRUNC or SNAP: how the follower's log is brought in line before NEWLEADER.

    TRUNC: cut the log back to ``zxid``. SNAP: replace state and log with the snapshot taken at
    ``zxid``, which follows in SNAPCHUNKs (``snapshot_bytes`` long, crc32 ``snapshot_crc``).
    DIFF: nothing to undo. In every mode TXNS follow, a chain from ``zxid`` to ``zxid_upto``
    (each names the zxid it continues), then NEWLEADER. ``txns_total`` is for progress only
    (exact unless part of the stream is read from the leader's disk).
    """

    session: int
    epoch: int
    mode: str
    zxid: int
    txns_total: int
    reason: str
    zxid_upto: int = -1
    snapshot_bytes: int = 0
    snapshot_crc: int = 0


class SnapChunk(Struct, frozen=True, tag="SNAPCHUNK", array_like=True):
    """Piece ``index`` of SNAP's snapshot (ZooKeeper streams it after the SNAP packet)."""

    session: int
    epoch: int
    index: int
    data: bytes


class SnapAck(Struct, frozen=True, tag="SNAPACK", array_like=True):
    """Cumulative: the follower holds chunks 0..``index``; the leader may send more (credit)."""

    session: int
    epoch: int
    index: int


class SyncTxns(Struct, frozen=True, tag="TXNS", array_like=True):
    """A contiguous run of txns from the leader's log (sync stream or gap repair).

    ``prev_zxid``: the txn of the leader's log just before the first one (-1: not said). The
    sync stream is a chain: a follower that holds anything else has lost a TXNS on the way.
    """

    session: int
    epoch: int
    txns: list[Txn]
    zxid_committed: int
    prev_zxid: int = -1


class NewLeader(Struct, frozen=True, tag="NEWLEADER", array_like=True):
    session: int
    epoch: int
    zxid: int  # makeZxid(epoch, 0), as in ZooKeeper


class Ack(Struct, frozen=True, tag="ACK", array_like=True):
    """Cumulative: the follower holds every txn up to ``zxid`` on disk (or NEWLEADER's zxid)."""

    session: int
    epoch: int
    zxid: int


class UpToDate(Struct, frozen=True, tag="UPTODATE", array_like=True):
    session: int
    epoch: int
    zxid_committed: int


class Proposal(Struct, frozen=True, tag="PROPOSAL", array_like=True):
    """One or more txns, contiguous, proposed in this epoch (a batch shares one message)."""

    epoch: int
    txns: list[Txn]


class Commit(Struct, frozen=True, tag="COMMIT", array_like=True):
    """Cumulative: every txn up to ``zxid`` is committed."""

    epoch: int
    zxid: int


class Ping(Struct, frozen=True, tag="PING", array_like=True):
    """Heartbeat. Leader -> all on PUB; follower -> leader on DEALER (with its session)."""

    epoch: int
    zxid_committed: int
    zxid_last: int
    session: int = 0


class FetchTxns(Struct, frozen=True, tag="FETCH", array_like=True):
    """A follower saw a gap on PUB/SUB: resend every txn after ``zxid_after`` (ROUTER/DEALER)."""

    session: int
    epoch: int
    zxid_after: int


class Forward(Struct, frozen=True, tag="FORWARD", array_like=True):
    """Client ops a follower took, forwarded to the leader to be proposed."""

    epoch: int
    ops: list[Op]


PeerMessage = (
    Notification
    | FollowerInfo
    | LeaderInfo
    | AckEpoch
    | SyncStart
    | SnapChunk
    | SnapAck
    | SyncTxns
    | NewLeader
    | Ack
    | UpToDate
    | Proposal
    | Commit
    | Ping
    | FetchTxns
    | Forward
)


def wire_name(msg: PeerMessage) -> str:
    """The message's wire tag, the name a learner finds in ZooKeeper's sources (VOTE for a
    notification, as ZooKeeper's logs say)."""
    if isinstance(msg, Notification):
        return "VOTE"
    return type(msg).__struct_config__.tag  # type: ignore[attr-defined]


def describe_op(op: Op) -> str:
    """One op for people: what it asks and who asked (client#seq)."""
    if isinstance(op, Guess):
        return f"guess {op.value} ({op.client_id}#{op.seq})"
    if isinstance(op, NewGame):
        return f"new-game ({op.client_id}#{op.seq})"
    if isinstance(op, CreateSessionTxn):
        return f"createSession {fmt_session_id(op.session_id)} (timeout {op.timeout_ms} ms)"
    if isinstance(op, CloseSessionTxn):
        which = "its ephemerals" if op.paths is None else f"{len(op.paths)} ephemeral(s)"
        return f"closeSession {fmt_session_id(op.session_id)} (deletes {which})"
    if isinstance(op, (CreateTxn, DeleteTxn, SetDataTxn, SetACLTxn, CheckVersionTxn, ErrorTxn, MultiTxn)):
        return describe_txn(op)
    if isinstance(op, (ZkTxn, ZkRequest, SessionTouches)):
        return describe_zk(op)
    return repr(op)


def _span(txns: list[Txn]) -> str:
    if not txns:
        return "none"
    if len(txns) == 1:
        return fmt_zxid(txns[0].zxid)
    return f"{fmt_zxid(txns[0].zxid)}..{fmt_zxid(txns[-1].zxid)}"


def describe(msg: PeerMessage) -> str:
    """One message in ZooKeeper's vocabulary, with the fields a reader needs: the one rendering
    for people, used by the simulator's trace and the node's event view alike."""
    match msg:
        case Notification(round=r, state=state, vote=v):
            return f"VOTE r{r} {state} for n{v.leader} (epoch {v.epoch}, {fmt_zxid(v.zxid)})"
        case FollowerInfo():
            return (f"FOLLOWERINFO s{msg.session % 1000:03d} acceptedEpoch {msg.accepted_epoch} "
                    f"last {fmt_zxid(msg.zxid_last)}")
        case LeaderInfo():
            return f"LEADERINFO s{msg.session % 1000:03d} epoch {msg.epoch}"
        case AckEpoch():
            counted = ("NOT COUNTED (epoch accepted already)" if msg.current_epoch == NOT_COUNTED
                       else f"currentEpoch {msg.current_epoch}")
            return (f"ACKEPOCH s{msg.session % 1000:03d} epoch {msg.epoch} {counted} "
                    f"last {fmt_zxid(msg.zxid_last)}")
        case SyncStart():
            return f"{msg.mode} {fmt_zxid(msg.zxid)} ({msg.txns_total} txns to come)"
        case SyncTxns():
            return f"TXNS {_span(msg.txns)} committed {fmt_zxid(msg.zxid_committed)}"
        case SnapChunk():
            return f"SNAPCHUNK #{msg.index} ({len(msg.data)} bytes)"
        case SnapAck():
            return f"SNAPACK #{msg.index}"
        case NewLeader():
            return f"NEWLEADER {fmt_zxid(msg.zxid)}"
        case Ack():
            return f"ACK {fmt_zxid(msg.zxid)}" + (" (NEWLEADER)" if zxid_counter(msg.zxid) == 0 else "")
        case UpToDate():
            return f"UPTODATE committed {fmt_zxid(msg.zxid_committed)}"
        case Proposal():
            shown = msg.txns[:3]  # a light batch (server/light.py) keeps only its first and last
            ops = ", ".join(describe_op(t.op) for t in shown)
            more = f", +{len(msg.txns) - len(shown)}" if len(msg.txns) > len(shown) else ""
            return f"PROPOSAL {_span(msg.txns)} [{ops}{more}]"
        case Commit():
            return f"COMMIT {fmt_zxid(msg.zxid)}"
        case Ping():
            return f"PING committed {fmt_zxid(msg.zxid_committed)} last {fmt_zxid(msg.zxid_last)}"
        case FetchTxns():
            return f"FETCH after {fmt_zxid(msg.zxid_after)}"
        case Forward():
            return f"FORWARD [{', '.join(describe_op(op) for op in msg.ops)}]"
    return type(msg).__name__


# --------------------------------------------------------------------------------------------
# Client messages (client_port ROUTER).


class ClientRequest(Struct, frozen=True, tag="REQUEST", array_like=True):
    """A write. (client_id, seq) makes it exactly-once; ``req_id`` matches the reply."""

    req_id: int
    op: Op


class ReadRequest(Struct, frozen=True, tag="READ", array_like=True):
    req_id: int
    what: str  # "state", "status" or "digest" (the chaos checker's full-state digest)


class ClientReply(Struct, frozen=True, tag="REPLY", array_like=True):
    """``error_kind``: no_leader, busy, bad_request, timeout, session_expired (empty when ok).
    ``zxid`` of a refusal: the node's applied zxid (a client starting a session has seen it)."""

    req_id: int
    ok: bool
    node: int
    zxid: int = 0
    result: GameResult | None = None
    error: str = ""
    error_kind: str = ""


class ReadReply(Struct, frozen=True, tag="READ_REPLY", array_like=True):
    req_id: int
    node: int
    data: dict


class ClientBatch(Struct, frozen=True, tag="BATCH", array_like=True):
    """Many requests in one frame, from a pipelining client. The node answers the requests of
    a BATCH frame with REPLIES frames (``ReplyBatch``): those answered in one loop pass in one
    frame. Why one frame and not one per request: each frame is a send and a receive on both
    sides, about as costly in Python as the request's own handling (issue 14). A client that
    sends plain REQUEST/READ frames still gets one frame per reply, as before BATCH existed;
    a node older than BATCH drops a BATCH frame as undecodable (the client times out)."""

    requests: list[ClientRequest | ReadRequest]


class ReplyBatch(Struct, frozen=True, tag="REPLIES", array_like=True):
    """The answers to requests that came in BATCH frames, in the order the node made them
    (match them by ``req_id``)."""

    replies: list[ClientReply | ReadReply]


class EncodedReplyBatch(Struct, frozen=True, tag="REPLIES", array_like=True):
    """The same frame as ``ReplyBatch``, made from replies encoded already (the node encodes
    each answer when it makes it: a pass's answers wait for its end as bytes, not as trees of
    objects the cyclic GC walks again and again). Encode only; clients decode ReplyBatch."""

    replies: list[msgspec.Raw]


ClientMessage = ClientRequest | ReadRequest | ClientBatch
ClientReplyMessage = ClientReply | ReadReply | ReplyBatch

# --------------------------------------------------------------------------------------------
# Encoders and decoders: create once, reuse (msgspec's advice; decoding is the hot path).

encoder = msgspec.msgpack.Encoder()
peer_decoder = msgspec.msgpack.Decoder(PeerMessage)
client_decoder = msgspec.msgpack.Decoder(ClientMessage)
reply_decoder = msgspec.msgpack.Decoder(ClientReplyMessage)
txn_decoder = msgspec.msgpack.Decoder(Txn)

DecodeError = msgspec.DecodeError  # re-exported: callers catch this one name


def encode(message: Struct) -> bytes:
    return encoder.encode(message)


def _strict(decoder: msgspec.msgpack.Decoder):
    """A decode function whose only failure is DecodeError.

    msgspec raises UnicodeDecodeError (a ValueError) for some invalid UTF-8 in tags and strings;
    a garbage frame from the network must be one kind of error the caller drops and counts.
    """
    decode = decoder.decode

    def strict(data: bytes):
        try:
            return decode(data)
        except ValueError as exc:  # DecodeError is a ValueError too
            if isinstance(exc, DecodeError):
                raise
            raise DecodeError(f"undecodable frame: {exc}") from None

    return strict


decode_peer = _strict(peer_decoder)
decode_client = _strict(client_decoder)
decode_reply = _strict(reply_decoder)
decode_txn = _strict(txn_decoder)
