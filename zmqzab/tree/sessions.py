"""Client sessions as replicated state: their txns, their table, their ids and passwords.

Theory of operation
-------------------
A ZooKeeper client holds a *session*: an id, a password and a negotiated timeout. Its ephemeral
znodes live exactly as long as it does. Sessions are replicated like everything else: the leader
proposes ``createSession`` when a client connects without a session, and ``closeSession`` when
the client says goodbye or the leader's expiry tracker (``expiry.py``) finds it silent for too
long. Every node applies both txns in zxid order to the same ``Sessions`` table (ZooKeeper's
``ZKDatabase.sessionsWithTimeouts``, saved in its snapshots), so after a leader change the new
leader knows every open session and restarts its tracker from the table (``expiry.py``).

What comes from where (so that ``apply`` stays deterministic):

* The session id is made by the node the client connects to, before the txn is proposed
  (``SessionIdGenerator``, ZooKeeper's ``SessionTrackerImpl.initializeNextSessionId``): the node
  id in the top byte, the node's clock in the 40 bits below, a counter in the low 16 bits. Two
  nodes never make the same id; one node makes increasing ids across restarts while its clock
  moves forward (its ``time_ms`` comes in as an argument).
* The timeout is negotiated by that node (``negotiate_timeout_ms``: clamped to
  [minSessionTimeout, maxSessionTimeout], ZooKeeper's ``ZooKeeperServer.processConnectRequest``)
  and travels in the txn, so no node reads its own config while applying.
* The password is never replicated: any node derives it from the id and the cluster's secret
  (``session_password``), so any node can check the password of a client that reconnects to it.
* ``closeSession`` deletes the session's ephemerals through the data tree's
  ``delete_ephemerals(session_id, zxid, paths)`` (passed in; see ``EphemeralDeleter``). ``paths``
  is what the leader listed in the txn (ZooKeeper's CloseSessionTxn.paths2Delete: the session's
  ephemerals as the leader saw them, pending creates included), or None for "every ephemeral
  the session holds".

Rules of ``Sessions.apply``:

* A txn at or below ``zxid_applied`` is already in the table (a log replayed over a snapshot): it
  changes nothing (``replayed``). Otherwise a replayed createSession could revive a session that
  was closed later.
* createSession of a new id opens it (``session_created``); of an open id, it sets the timeout
  again as ZooKeeper's ``commitSession`` does (``session_renewed``).
* closeSession of an open session deletes its ephemerals and removes it (``session_closed``);
  of a session that is not open it is a no-op result (``session_not_open``), not an error: it may
  have expired already, or a client's close raced the leader's. The tree is asked to delete the
  session's ephemerals in both cases, as ZooKeeper's ``DataTree.killSession`` does: if an
  ephemeral of an unknown session ever got in, the close still takes it away (normally it
  deletes nothing).
* createSession of a new id when ``SESSIONS_MAX`` sessions are open is ``rejected``.
* A txn whose session id does not fit a signed 64-bit long, or whose timeout is not in
  1..2**31-1 ms (jute's int), is ``rejected`` on every node alike: a buggy or hostile proposer
  cannot make nodes diverge.
"""

from __future__ import annotations

from typing import Protocol

import msgspec
from msgspec import Struct

from zmqzab.zxid import fmt_zxid

# --------------------------------------------------------------------------------------------
# Session ids (SessionTrackerImpl.initializeNextSessionId)

_MASK64 = (1 << 64) - 1
#: Session ids are Java longs on the wire (jute ``long``): signed 64-bit.
SESSION_ID_MIN = -(1 << 63)
SESSION_ID_MAX = (1 << 63) - 1
#: ZooKeeper's EphemeralType.CONTAINER_EPHEMERAL_OWNER (Long.MIN_VALUE): a container znode's
#: ephemeralOwner, so never a session id.
CONTAINER_EPHEMERAL_OWNER = SESSION_ID_MIN
#: A ConnectRequest with session id 0 asks for a new session, so 0 is never a session id.
NO_SESSION = 0
SERVER_ID_MAX = 255


def to_signed64(value: int) -> int:
    """``value`` taken modulo 2**64 and read as a Java long (two's complement)."""
    value &= _MASK64
    return value - (1 << 64) if value > SESSION_ID_MAX else value


def fmt_session_id(session_id: int) -> str:
    """A session id as ZooKeeper prints it (``0x`` + Long.toHexString: unsigned, no padding)."""
    return f"0x{session_id & _MASK64:x}"


def initial_session_id(server_id: int, time_ms: int) -> int:
    """ZooKeeper's first session id of a server: ``(time_ms << 24) >>> 8 | (server_id << 56)``
    in Java's 64-bit longs, as a signed long.

    The shift left by 24 drops all but the low 40 bits of the time; the unsigned shift right by 8
    puts them in bits 16..55 and leaves the top byte to the server id (ZOOKEEPER-1622) and the low
    16 bits zero, room for the ids that follow. Server ids of 128 and up give negative ids, as in
    ZooKeeper.
    """
    if type(server_id) is not int or not 0 <= server_id <= SERVER_ID_MAX:
        raise ValueError(f"server id must be 0..{SERVER_ID_MAX} (it fills the session id's top "
                         f"byte), got {server_id!r}")
    if type(time_ms) is not int:
        raise ValueError(f"time_ms must be an int (milliseconds), got {time_ms!r}")
    unsigned = (((time_ms << 24) & _MASK64) >> 8) | ((server_id << 56) & _MASK64)
    return to_signed64(unsigned)


class SessionIdGenerator:
    """The ids one node gives out: ``initial_session_id``, then +1 per session (Java's wrap).

    Ids that cannot be session ids are skipped (0: "new session" in a ConnectRequest;
    Long.MIN_VALUE: a container's owner), and so are ids in ``taken``, the open sessions: a node
    restarted with a clock that went back (or that gave out more ids than 65,536 per millisecond
    since) would otherwise hand out an id that is still open. The loop ends within
    ``len(taken) + 3`` steps.
    """

    __slots__ = ("server_id", "_next")

    def __init__(self, server_id: int, time_ms: int) -> None:
        self.server_id = server_id
        self._next = initial_session_id(server_id, time_ms)

    def next(self, taken: object = ()) -> int:
        """The next free id. ``taken`` is anything that answers ``in`` (a set, a ``Sessions``)."""
        while True:
            candidate = self._next
            self._next = to_signed64(candidate + 1)
            if candidate in (NO_SESSION, CONTAINER_EPHEMERAL_OWNER):
                continue
            if candidate in taken:  # type: ignore[operator]
                continue
            return candidate


# --------------------------------------------------------------------------------------------
# Passwords (ZooKeeperServer.generatePasswd / checkPasswd)

PASSWORD_LEN = 16
_PASSWORD_LABEL = b"zmqzab session password v1\x00"


def session_password(session_id: int, secret: bytes) -> bytes:
    """The 16-byte password of a session: HMAC-SHA256 keyed by the cluster's ``secret`` over a
    label and the session id (8 bytes, big-endian, signed), cut to 16 bytes.

    ZooKeeper uses ``new Random(sessionId ^ superSecret).nextBytes(passwd)`` with a constant
    superSecret, which anyone can recompute; keying an HMAC with a secret the nodes share (from
    the cluster config) keeps the property that matters, that every node derives the same
    password, and makes it unguessable to whoever lacks the secret. The label keeps this use of
    the secret apart from any other.
    """
    if not isinstance(secret, bytes | bytearray) or len(secret) == 0:
        raise ValueError("the session secret must be non-empty bytes (the cluster's shared "
                         "secret; every node needs the same one to check reconnects)")
    if type(session_id) is not int or not SESSION_ID_MIN <= session_id <= SESSION_ID_MAX:
        raise ValueError(f"session id {session_id!r} is not a signed 64-bit long")
    import hashlib  # here, not at the top: a node that serves no ZooKeeper session never loads it
    import hmac     # (~2 ms of its start-up, issue 14)

    message = _PASSWORD_LABEL + session_id.to_bytes(8, "big", signed=True)
    return hmac.new(bytes(secret), message, hashlib.sha256).digest()[:PASSWORD_LEN]


def check_password(session_id: int, password: bytes, secret: bytes) -> bool:
    """True if ``password`` is the session's (constant-time compare); a malformed one is False."""
    if not isinstance(password, bytes | bytearray) or len(password) != PASSWORD_LEN:
        return False
    if type(session_id) is not int or not SESSION_ID_MIN <= session_id <= SESSION_ID_MAX:
        return False
    from hmac import compare_digest

    return compare_digest(session_password(session_id, secret), bytes(password))


# --------------------------------------------------------------------------------------------
# Timeout negotiation (ZooKeeperServer.processConnectRequest)

#: jute's ``int``: a ConnectRequest's timeOut and CreateSessionTxn's timeOut are 32-bit.
TIMEOUT_MS_MAX = (1 << 31) - 1


def default_timeout_bounds_ms(tick_ms: int) -> tuple[int, int]:
    """ZooKeeper's defaults: minSessionTimeout = 2 x tickTime, maxSessionTimeout = 20 x tickTime."""
    if type(tick_ms) is not int or tick_ms < 1:
        raise ValueError(f"tick_ms must be a positive integer, got {tick_ms!r}")
    return 2 * tick_ms, 20 * tick_ms


def negotiate_timeout_ms(asked_ms: int, min_ms: int, max_ms: int) -> int:
    """The session timeout a client gets: the one it asked for, raised to ``min_ms`` and then
    lowered to ``max_ms`` (ZooKeeper's order). ValueError if the bounds are not
    1 <= min_ms <= max_ms <= 2**31-1 (ZooKeeper refuses such a config too)."""
    ints = type(min_ms) is int and type(max_ms) is int
    if not (ints and 1 <= min_ms <= max_ms <= TIMEOUT_MS_MAX):
        raise ValueError(f"session timeout bounds must satisfy 1 <= min <= max <= {TIMEOUT_MS_MAX} "
                         f"ms, got min {min_ms!r}, max {max_ms!r}: fix minSessionTimeout / "
                         f"maxSessionTimeout in the config")
    return min(max_ms, max(min_ms, asked_ms))


# --------------------------------------------------------------------------------------------
# A client's ConnectRequest (ZooKeeperServer.processConnectRequest / reopenSession)

CONNECT_NEW = "new"
CONNECT_REOPEN = "reopen"
CONNECT_EXPIRED = "expired"
CONNECT_REFUSED_BEHIND = "refused_behind"


class ConnectDecision(Struct, frozen=True, gc=False):
    """What a node does with a ConnectRequest, before any txn or round trip. ``outcome``:

    * ``new``: session id 0; negotiate the timeout, take an id from the node's
      ``SessionIdGenerator``, and forward a ``CreateSessionTxn`` to the leader;
    * ``reopen``: the password is the session's; the LEADER's tracker decides whether the session
      still lives (ZooKeeper's revalidateSession: ``ExpiryTracker.touch`` true), and the client
      gets its old id and password back;
    * ``expired``: wrong password; answer a ConnectResponse with timeout 0, session id 0 and a
      zero password, which the client reads as SESSION_EXPIRED (ZooKeeper's finishSessionInit
      with valid = false);
    * ``refused_behind``: the client has seen a zxid this node has not applied yet; close the
      connection without a reply so that the client tries another server (a client must never
      see the state go back in time).
    """

    outcome: str
    message: str


def connect_decision(session_id: int, password: bytes, last_zxid_seen: int, zxid_applied: int,
                     secret: bytes) -> ConnectDecision:
    """ZooKeeper's order: the lastZxidSeen check first (also for a new session), then a new
    session for id 0, else the password."""
    if last_zxid_seen > zxid_applied:
        return ConnectDecision(
            CONNECT_REFUSED_BEHIND,
            f"refusing session request for client as it has seen zxid {fmt_zxid(last_zxid_seen)}, "
            f"our last zxid is {fmt_zxid(zxid_applied)}: client must try another server")
    if session_id == NO_SESSION:
        return ConnectDecision(CONNECT_NEW, "new session")
    if not check_password(session_id, password, secret):
        return ConnectDecision(
            CONNECT_EXPIRED,
            f"invalid session {fmt_session_id(session_id)} for client: wrong password or not a "
            f"session this cluster made; the client must start a new session")
    return ConnectDecision(CONNECT_REOPEN,
                           f"reopening session {fmt_session_id(session_id)}: the leader checks it")


# --------------------------------------------------------------------------------------------
# Txns (zookeeper.jute: CreateSessionTxn {timeOut}, CloseSessionTxn {paths2Delete}; ZooKeeper
# takes the session id from the TxnHeader's clientId, which zmqzab's Txn does not have, so both
# carry it)


class CreateSessionTxn(Struct, frozen=True, gc=False, tag="zk_create_session", array_like=True):
    """Open a session. ``timeout_ms`` as negotiated by the node the client connected to."""

    session_id: int
    timeout_ms: int


class CloseSessionTxn(Struct, frozen=True, gc=False, tag="zk_close_session", array_like=True):
    """Close a session (the client's closeSession, or expiry) and delete its ephemerals:
    ``paths`` as the leader listed them (ZooKeeper's paths2Delete), None for all it holds."""

    session_id: int
    paths: tuple[str, ...] | None = None


SessionOp = CreateSessionTxn | CloseSessionTxn

SESSION_CREATED = "session_created"
SESSION_RENEWED = "session_renewed"
SESSION_CLOSED = "session_closed"
SESSION_NOT_OPEN = "session_not_open"
REPLAYED = "replayed"
REJECTED = "rejected"


class SessionResult(Struct, frozen=True, gc=False, omit_defaults=True):
    """What applying one session txn did. ``kind`` is one of: session_created, session_renewed,
    session_closed, session_not_open, replayed, rejected. ``deleted`` holds the paths of the
    ephemerals a close deleted, in the order the tree deleted them; ``tree_result`` is what the
    tree's ``delete_ephemerals`` returned (its watch triggers; in this process only, not for the
    wire)."""

    kind: str
    message: str
    session_id: int = 0
    timeout_ms: int = 0
    deleted: tuple[str, ...] = ()
    tree_result: object = None


class SessionRecord(Struct, frozen=True, gc=False, array_like=True):
    """One open session as the table, its snapshot and a new leader's tracker see it."""

    session_id: int
    timeout_ms: int


class SessionsSnapshot(Struct, frozen=True, tag="zmqzab.sessions", array_like=True):
    version: int
    zxid_applied: int
    sessions: list[SessionRecord]  # by session id


SNAPSHOT_VERSION = 1
#: Open sessions a table holds; a createSession beyond it is rejected on every node alike. The
#: leader refuses new sessions before this (it checks ``len(table)`` before proposing), so the
#: cap only stops a buggy or hostile proposer from growing every node's memory. The same number
#: on every node: a constant, not config.
SESSIONS_MAX = 100_000
_snapshot_encoder = msgspec.msgpack.Encoder()
_snapshot_decoder = msgspec.msgpack.Decoder(SessionsSnapshot)


class EphemeralDeleter(Protocol):
    """The data tree's ``delete_ephemerals``: delete the ephemeral znodes of ``session_id``
    (``paths``, or all it holds if None) as part of the txn ``zxid``. It returns the deleted
    paths, or a result with a ``deleted`` attribute holding them (the tree's TxnResult, which
    also carries the watch triggers)."""

    def __call__(self, session_id: int, zxid: int, paths: tuple[str, ...] | None) -> object: ...


def _deleted_paths(out: object) -> tuple[str, ...]:
    paths = getattr(out, "deleted", out)
    return tuple(paths) if paths is not None else ()


def _txn_problem(op: object) -> str | None:
    """Why a committed session txn cannot be applied, or None. Same answer on every node."""
    sid = op.session_id  # type: ignore[attr-defined]
    if type(sid) is not int or not SESSION_ID_MIN <= sid <= SESSION_ID_MAX:
        return f"session id {sid!r} is not a signed 64-bit long"
    if sid in (NO_SESSION, CONTAINER_EPHEMERAL_OWNER):
        return f"session id {fmt_session_id(sid)} is reserved"
    if type(op) is CreateSessionTxn:
        t = op.timeout_ms
        if type(t) is not int or not 1 <= t <= TIMEOUT_MS_MAX:
            return f"session timeout {t!r} ms is outside 1..{TIMEOUT_MS_MAX}"
    if type(op) is CloseSessionTxn and op.paths is not None:
        if not isinstance(op.paths, tuple) or not all(type(p) is str for p in op.paths):
            return "the paths of a closeSession must be strings"
    return None


# --------------------------------------------------------------------------------------------
# The table


class Sessions:
    """The open sessions and their timeouts, applied txn by txn in zxid order.

    ``apply`` is the only mutator. ``in`` answers whether a session is open (so a ``Sessions``
    can be a ``SessionIdGenerator``'s ``taken``).
    """

    __slots__ = ("zxid_applied", "sessions_max", "_timeouts")

    def __init__(self, sessions_max: int = SESSIONS_MAX) -> None:
        if type(sessions_max) is not int or sessions_max < 1:
            raise ValueError(f"sessions_max must be a positive integer, got {sessions_max!r}")
        self.zxid_applied = 0
        self.sessions_max = sessions_max
        # session id -> negotiated timeout (ms). Insertion order is apply order, the same on
        # every node that applied the same log, but a restored table has snapshot order, so
        # everything that leaves this class is sorted by session id.
        self._timeouts: dict[int, int] = {}

    def apply(self, op: SessionOp, zxid: int,
              delete_ephemerals: EphemeralDeleter | None = None) -> SessionResult:
        """Apply one committed session txn at ``zxid``; a close calls ``delete_ephemerals``
        (the tree's; None where no tree is kept). See the module docstring for the rules."""
        if zxid <= self.zxid_applied:
            sid = getattr(op, "session_id", 0)
            valid = type(sid) is int and SESSION_ID_MIN <= sid <= SESSION_ID_MAX
            return SessionResult(
                kind=REPLAYED, session_id=sid if valid else 0,
                message=f"txn {fmt_zxid(zxid)} was already applied (sessions applied up to "
                        f"{fmt_zxid(self.zxid_applied)})")
        self.zxid_applied = zxid
        if type(op) not in (CreateSessionTxn, CloseSessionTxn):
            return SessionResult(kind=REJECTED, message=f"not a session txn: {type(op).__name__}")
        problem = _txn_problem(op)
        if problem:
            return SessionResult(kind=REJECTED, message=problem)
        sid = op.session_id
        if type(op) is CreateSessionTxn:
            renewed = sid in self._timeouts
            if not renewed and len(self._timeouts) >= self.sessions_max:
                return SessionResult(
                    kind=REJECTED, session_id=sid,
                    message=f"too many open sessions ({len(self._timeouts)}, the most a node "
                            f"keeps); session {fmt_session_id(sid)} not created: close idle "
                            f"clients or wait for sessions to expire")
            self._timeouts[sid] = op.timeout_ms
            return SessionResult(
                kind=SESSION_RENEWED if renewed else SESSION_CREATED, session_id=sid,
                timeout_ms=op.timeout_ms,
                message=f"session {fmt_session_id(sid)} {'renewed' if renewed else 'created'} "
                        f"(timeout {op.timeout_ms} ms)")
        tree_result = delete_ephemerals(sid, zxid, op.paths) if delete_ephemerals else None
        deleted = _deleted_paths(tree_result)
        timeout_ms = self._timeouts.pop(sid, None)
        if timeout_ms is None:
            return SessionResult(
                kind=SESSION_NOT_OPEN, session_id=sid, deleted=deleted, tree_result=tree_result,
                message=f"session {fmt_session_id(sid)} is not open (expired or closed already)")
        return SessionResult(
            kind=SESSION_CLOSED, session_id=sid, timeout_ms=timeout_ms, deleted=deleted,
            tree_result=tree_result,
            message=f"session {fmt_session_id(sid)} closed ({len(deleted)} ephemeral"
                    f"{'' if len(deleted) == 1 else 's'} deleted)")

    def __contains__(self, session_id: object) -> bool:
        return session_id in self._timeouts

    def __len__(self) -> int:
        return len(self._timeouts)

    def timeout_ms(self, session_id: int) -> int | None:
        """The negotiated timeout of an open session, or None if it is not open."""
        return self._timeouts.get(session_id)

    def open_sessions(self) -> list[SessionRecord]:
        """Every open session with its timeout, by session id (for snapshots and for a new
        leader's ``ExpiryTracker.rebuild``)."""
        return [SessionRecord(session_id=sid, timeout_ms=self._timeouts[sid])
                for sid in sorted(self._timeouts)]

    # ----------------------------------------------------------------------------------------
    # snapshot / restore

    def snapshot(self) -> bytes:
        """The table as msgpack; equal tables give equal bytes, whatever order built them."""
        return _snapshot_encoder.encode(SessionsSnapshot(
            version=SNAPSHOT_VERSION, zxid_applied=self.zxid_applied,
            sessions=self.open_sessions()))

    @classmethod
    def restore(cls, data: bytes, sessions_max: int = SESSIONS_MAX) -> Sessions:
        """Rebuild a table from ``snapshot()`` bytes; ValueError if they are not a valid one."""
        try:
            snap = _snapshot_decoder.decode(data)
        except (msgspec.DecodeError, TypeError, ValueError) as exc:
            raise ValueError(f"not a zmqzab sessions snapshot ({len(data)} bytes): {exc}") from None
        if snap.version != SNAPSHOT_VERSION:
            raise ValueError(f"sessions snapshot version {snap.version} is not supported (this "
                             f"build reads version {SNAPSHOT_VERSION})")
        if snap.zxid_applied < 0:
            raise ValueError(f"sessions snapshot is inconsistent: zxid_applied is negative "
                             f"({snap.zxid_applied})")
        if len(snap.sessions) > sessions_max:
            raise ValueError(f"sessions snapshot at zxid {fmt_zxid(snap.zxid_applied)} holds "
                             f"{len(snap.sessions)} sessions, more than {sessions_max}")
        table = cls(sessions_max)
        table.zxid_applied = snap.zxid_applied
        for record in snap.sessions:
            problem = _txn_problem(CreateSessionTxn(record.session_id, record.timeout_ms))
            if problem:
                raise ValueError(f"sessions snapshot at zxid {fmt_zxid(snap.zxid_applied)} is "
                                 f"inconsistent: {problem}")
            if record.session_id in table._timeouts:
                raise ValueError(f"sessions snapshot at zxid {fmt_zxid(snap.zxid_applied)} is "
                                 f"inconsistent: session {fmt_session_id(record.session_id)} "
                                 f"appears twice")
            table._timeouts[record.session_id] = record.timeout_ms
        return table

    def view(self) -> list[dict]:
        """A JSON-able list for people: each open session's id (hex) and timeout, by id."""
        return [{"session": fmt_session_id(r.session_id), "timeout_ms": r.timeout_ms}
                for r in self.open_sessions()]

    def __repr__(self) -> str:
        return f"Sessions(open={len(self._timeouts)}, zxid_applied={fmt_zxid(self.zxid_applied)})"
