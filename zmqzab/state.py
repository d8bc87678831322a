"""The replicated state machine: the game, the data tree and the sessions, in one log.

Theory of operation
-------------------
Every committed txn goes to ``ReplicatedState.apply`` in zxid order, and apply hands it to the
part its op belongs to: a ``Guess`` or ``NewGame`` to the game (zmqzab/game/rules.py), a tree
txn (zmqzab/tree/txns.py) to the ``DataTree``, a ``CreateSessionTxn`` or ``CloseSessionTxn`` to
the ``Sessions`` table (zmqzab/tree/sessions.py), which deletes a closed session's ephemerals
through the tree's ``delete_ephemerals`` within the same txn (ZooKeeper's
``DataTree.killSession``). Like the three parts, apply reads nothing but the txn and the state
(the leader's ``ts_ms`` is the tree's ctime / mtime), so replicas that applied the same log hold
the same state, byte for byte in ``snapshot()``.

It lives here, beside messages.py, not in host/: it is pure (no I/O, clock, threads or global
random) and is used by the core (injected as its ``StateMachine``), the host, the simulator, the
chaos checker and the CLI alike.

One position for all three. ``zxid_applied`` is the state's; the game's and the table's own
``zxid_applied`` are set to it (the game's after every txn, the table's before it applies one
and before a snapshot: game ops, the hot path, skip that store), so their replay rules (a txn
at or below it changes nothing) hold for txns of the other parts too, and a part restored from
a snapshot knows where the whole state was. A txn at or below ``zxid_applied`` never reaches
the tree, which has no replay rule of its own.

Results. A game op returns its ``GameResult`` (exactly-once by (client id, seq), as before). A
tree or session txn returns a ``ZkResult``: ``kind`` and ``message`` like a GameResult (the
event view and the trace read those two), and the tree's ``TxnResult`` or the table's
``SessionResult`` whole. That is the hook for ZooKeeper's client port: the node that holds the
request answers it from ``ZkResult.tree`` / ``.session`` (error code, stat, created path, the
watch triggers) when the txn is applied there. A tree txn has no (client id, seq): its
``request_key`` is None, and the leader does not deduplicate it (ZooKeeper does not either: a
client that loses its connection mid-request learns the outcome by reading).

Snapshots. While no tree or session txn was ever applied, ``snapshot()`` is the game's own
snapshot, byte for byte: a game-only cluster writes what it wrote before (older builds can
read it, digests and traces are unchanged), and every existing data dir restores. From the
first tree or session txn on, it is a ``StateSnapshot`` holding the three parts' snapshots.
``restore`` reads both. Which format a state writes depends only on the log it applied, so two
replicas at the same zxid write the same bytes.
"""

from __future__ import annotations

from collections.abc import Hashable

import msgspec
from msgspec import Struct

from zmqzab.game.rules import Game, GameSnapshot
from zmqzab.messages import GameResult, Guess, NewGame, Op, Txn
from zmqzab.tree import snapshot as tree_snapshot
from zmqzab.tree.errors import Code
from zmqzab.tree.limits import DATA_MAX_BYTES
from zmqzab.tree.paths import path_problem
from zmqzab.tree.sessions import CloseSessionTxn, CreateSessionTxn, SessionResult, Sessions
from zmqzab.tree.tree import DataTree, TxnResult
from zmqzab.tree.txns import (CheckVersionTxn, CreateTxn, DeleteTxn, ErrorTxn, MultiTxn,
                              SetACLTxn, SetDataTxn, describe_txn)
from zmqzab.zkapi.ops import SessionTouches, ZkRequest, ZkTxn
from zmqzab.zkapi.prep import RequestPrep
from zmqzab.zxid import fmt_zxid

#: The game's ops: exactly-once by (client id, seq).
GAME_OPS = (Guess, NewGame)
TREE_TXNS = (CreateTxn, DeleteTxn, SetDataTxn, SetACLTxn, CheckVersionTxn, ErrorTxn, MultiTxn)
SESSION_TXNS = (CreateSessionTxn, CloseSessionTxn)
_GAME_OP_TYPES = frozenset(GAME_OPS)
_TREE_TXN_TYPES = frozenset(TREE_TXNS)
_SESSION_TXN_TYPES = frozenset(SESSION_TXNS)

#: ``ZkResult.kind`` of a tree txn that applied (err 0), of one the tree refused (err != 0:
#: an ErrorTxn, a failed multi, or a replay), of one at or below ``zxid_applied``, and of one
#: no node can apply (a path that is not a path: a buggy or hostile proposer).
TREE_APPLIED = "tree_applied"
TREE_ERROR = "tree_error"
REPLAYED = "replayed"
REJECTED = "rejected"

SNAPSHOT_VERSION = 1

#: Jute's ``int``: the range of a znode's versions (stat.py's ``int32``).
INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


class ZkResult(Struct, frozen=True, gc=False, omit_defaults=True):
    """What applying one tree or session txn did (in this process only: the client port reads
    it to answer; it is never encoded). ``kind``: tree_applied, tree_error, replayed, rejected,
    or a ``SessionResult`` kind (session_created, session_renewed, session_closed,
    session_not_open). ``err`` is the ``Code`` the client gets (0: OK)."""

    kind: str
    message: str
    err: int = 0
    tree: TxnResult | None = None
    session: SessionResult | None = None


#: What ``apply`` returns: the game's result for a game op, a ZkResult otherwise.
Result = GameResult | ZkResult


class StateSnapshot(Struct, frozen=True, tag="zmqzab.state", array_like=True):
    """The three parts' own snapshots (each keeps its format and version)."""

    version: int
    zxid_applied: int
    game: bytes
    tree: bytes
    sessions: bytes


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(StateSnapshot | GameSnapshot)


def is_game_op(op: object) -> bool:
    """A Guess or NewGame: an op with a client id and seq (exactly-once), the game's."""
    return type(op) in _GAME_OP_TYPES


def is_tree_txn(op: object) -> bool:
    return type(op) in _TREE_TXN_TYPES


def is_session_txn(op: object) -> bool:
    return type(op) in _SESSION_TXN_TYPES


def _paths_of(txn: object) -> list[str]:
    if type(txn) is MultiTxn:
        return [p for sub in txn.txns for p in _paths_of(sub)]
    path = getattr(txn, "path", None)
    return [] if path is None else [path]


def _tree_txn_problem(txn: object) -> str:
    """Why no replica can apply this committed tree txn, or "": the same answer everywhere.
    Prepare never writes these; the check keeps a hostile proposer from reaching the tree with
    a path it does not expect."""
    for path in _paths_of(txn):
        if problem := path_problem(path):
            return problem
    data = getattr(txn, "data", None)
    if data is not None and len(data) > DATA_MAX_BYTES:
        return f"data of {len(data)} bytes is over the {DATA_MAX_BYTES} byte limit"
    if problem := _version_problem(txn):
        return problem
    if type(txn) is MultiTxn:
        for sub in txn.txns:
            if type(sub) is MultiTxn:
                return "a multi cannot hold a multi"
            if (sub_data := getattr(sub, "data", None)) is not None and len(sub_data) > DATA_MAX_BYTES:
                return f"data of {len(sub_data)} bytes is over the {DATA_MAX_BYTES} byte limit"
            if problem := _version_problem(sub):
                return problem
    return ""


def _version_problem(txn: object) -> str:
    """A version or parent cversion that is not a jute int (prepare writes int32s, stat.py's
    ``int32``), or "". Unchecked, a create with parent_cversion 2**64-1 then one with -1 ("the
    parent's + 1") leaves a cversion of 2**64, which no snapshot can encode."""
    for name in ("parent_cversion", "version"):
        value = getattr(txn, name, None)
        if value is not None and not INT32_MIN <= value <= INT32_MAX:
            return f"{name} {value} is not a 32-bit int"
    return ""


class ReplicatedState:
    """The game, the data tree and the sessions; ``apply`` is the only mutator."""

    __slots__ = ("zxid_applied", "game", "tree", "sessions", "_zk_used", "_prep")

    def __init__(self, game: Game | None = None, tree: DataTree | None = None,
                 sessions: Sessions | None = None, zk_used: bool = False) -> None:
        self.game = game if game is not None else Game()
        self.tree = tree if tree is not None else DataTree()
        self.sessions = sessions if sessions is not None else Sessions()
        self.zxid_applied = self.game.zxid_applied
        #: True once a tree or session txn was applied (or restored): the snapshot format.
        self._zk_used = zk_used
        #: The leader's pending view for ZooKeeper requests (made when first needed).
        self._prep: RequestPrep | None = None

    # ----------------------------------------------------------------------------------------
    # apply

    def apply(self, txn: Txn) -> Result:
        """Apply one committed txn and return its result. Deterministic; see the docstring."""
        if type(txn.op) in _GAME_OP_TYPES:  # the hot path: as lean as the game's own apply
            game = self.game
            result = game.apply(txn)
            # The game moved its zxid_applied (a replay kept it); ours follows. The table's is
            # brought along where it is read (_apply_zk, snapshot).
            self.zxid_applied = game.zxid_applied
            return result
        return self._apply_zk(txn)

    def _apply_zk(self, txn: Txn) -> ZkResult:
        op = txn.op
        zxid = txn.zxid
        if type(op) is ZkTxn:  # a client's txn: its header is for the node that answers it
            op = op.txn
            if self._prep is not None:
                self._prep.applied(zxid)
        if zxid <= self.zxid_applied:
            return ZkResult(kind=REPLAYED, err=Code.RUNTIMEINCONSISTENCY,
                            message=f"txn {fmt_zxid(zxid)} was already applied (applied up to "
                                    f"{fmt_zxid(self.zxid_applied)})")
        self._zk_used = True
        self.sessions.zxid_applied = self.zxid_applied  # behind it after game ops (see apply)
        if type(op) in _SESSION_TXN_TYPES:
            r = self.sessions.apply(op, zxid, self.tree.delete_ephemerals)
            result: ZkResult = ZkResult(
                kind=r.kind, message=r.message, session=r,
                tree=r.tree_result if isinstance(r.tree_result, TxnResult) else None,
                err=Code.BADARGUMENTS if r.kind == REJECTED else Code.OK)
        elif type(op) in _TREE_TXN_TYPES:
            problem = _tree_txn_problem(op)
            if problem:
                result = ZkResult(kind=REJECTED, err=Code.BADARGUMENTS,
                                  message=f"{describe_txn(op)} cannot be applied: {problem}")
            else:
                t = self.tree.apply(op, zxid, txn.ts_ms)
                result = ZkResult(kind=TREE_ERROR if t.err else TREE_APPLIED, err=t.err, tree=t,
                                  message=_tree_message(op, t))
        else:
            result = ZkResult(kind=REJECTED, err=Code.BADARGUMENTS,
                              message=f"unknown operation {type(op).__name__}")
        self.zxid_applied = zxid
        self.game.zxid_applied = zxid
        self.sessions.zxid_applied = zxid
        return result

    # ----------------------------------------------------------------------------------------
    # the core's StateMachine (core/peer.py) and the host's exactly-once (host/replica.py)

    def prepare(self, op: Op, zxid: int) -> Op | None:
        """The leader's last step before it proposes ``op`` as the txn ``zxid``: a ZooKeeper
        client's request becomes its txn (zk/prep.py, ZooKeeper's PrepRequestProcessor); None:
        propose nothing (a follower's session touches). Every other op is proposed as it is."""
        if type(op) is ZkRequest or type(op) is SessionTouches:
            if self._prep is None:
                self._prep = RequestPrep(self.tree, self.sessions)
            return self._prep.prepare(op, zxid)
        return op

    def drain_touches(self) -> list[int]:
        """Session ids followers reported as heard from, since the last call (the leader's)."""
        return self._prep.drain_touches() if self._prep is not None else []

    def request_key(self, op: Op) -> Hashable:
        """(client id, seq) of a game op; None for a tree or session txn: the leader does not
        deduplicate those (see the module docstring)."""
        if type(op) in _GAME_OP_TYPES:
            return (op.client_id, op.seq)
        return None

    def is_applied(self, key: Hashable) -> bool:
        return key is not None and self.game.is_applied(key)  # type: ignore[arg-type]

    def answer_of(self, client_id: str, seq: int) -> tuple[int, GameResult] | None:
        """The game's remembered answer to (client id, seq), if any (``Game.answer_of``)."""
        return self.game.answer_of(client_id, seq)

    def advance_to(self, zxid: int) -> None:
        """Move the applied position to ``zxid`` and change nothing else: what applying a
        committed copy of an already applied game request does (the simulator's reference
        state, which applies each request once, skips the copy with this)."""
        if zxid > self.zxid_applied:
            self.zxid_applied = self.game.zxid_applied = self.sessions.zxid_applied = zxid

    # ----------------------------------------------------------------------------------------
    # snapshot / restore / view

    def snapshot(self) -> bytes:
        """The whole state as bytes: the game's own snapshot while only game ops were applied,
        else a ``StateSnapshot`` of the three parts. ``restore`` gives back an equal state."""
        if not self._zk_used:
            return self.game.snapshot()
        self.sessions.zxid_applied = self.zxid_applied  # behind it after game ops (see apply)
        return _encoder.encode(StateSnapshot(
            version=SNAPSHOT_VERSION, zxid_applied=self.zxid_applied, game=self.game.snapshot(),
            tree=tree_snapshot.dump(self.tree), sessions=self.sessions.snapshot()))

    @classmethod
    def restore(cls, data: bytes) -> ReplicatedState:
        """Rebuild the state from ``snapshot()`` bytes, of this build or of a game-only one;
        ValueError (naming what is wrong) for bytes that are neither."""
        try:
            snap = _decoder.decode(data)
        except (msgspec.DecodeError, TypeError, ValueError) as exc:
            raise ValueError(f"not a zmqzab state snapshot ({len(data)} bytes): {exc}") from None
        if isinstance(snap, GameSnapshot):
            return cls(Game.restore(data))  # written by a game-only state, or an older build
        if snap.version != SNAPSHOT_VERSION:
            raise ValueError(f"state snapshot version {snap.version} is not supported (this "
                             f"build reads version {SNAPSHOT_VERSION})")
        game = Game.restore(snap.game)
        sessions = Sessions.restore(snap.sessions)
        try:
            tree = tree_snapshot.load(snap.tree)
        except tree_snapshot.SnapshotError as exc:
            raise ValueError(f"state snapshot at zxid {fmt_zxid(max(snap.zxid_applied, 0))}: "
                             f"{exc}") from None
        if not game.zxid_applied == sessions.zxid_applied == snap.zxid_applied:
            raise ValueError(
                f"state snapshot is inconsistent: zxid {fmt_zxid(max(snap.zxid_applied, 0))}, but "
                f"its game is at {fmt_zxid(max(game.zxid_applied, 0))} and its sessions at "
                f"{fmt_zxid(max(sessions.zxid_applied, 0))}")
        return cls(game, tree, sessions, zk_used=True)

    def view(self, recent: int = 5) -> dict:
        """A JSON-able picture for people: the game's view (``Game.view``), and once ZooKeeper
        txns were applied, the tree's size and the open sessions."""
        v = self.game.view(recent)
        if self._zk_used:
            v["znodes"] = len(self.tree.nodes)
            v["ephemerals"] = sum(len(p) for p in self.tree.ephemerals.values())
            v["sessions"] = self.sessions.view()
        return v

    def __eq__(self, other: object) -> bool:
        """Equal states give equal snapshots (the checkers compare digests of those)."""
        if not isinstance(other, ReplicatedState):
            return NotImplemented
        return self.snapshot() == other.snapshot()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        if not self._zk_used:
            return repr(self.game)
        return (f"ReplicatedState({self.game!r}, znodes={len(self.tree.nodes)}, "
                f"{self.sessions!r})")


def _tree_message(op: object, t: TxnResult) -> str:
    what = describe_txn(op)  # type: ignore[arg-type]
    if not t.err:
        return what
    try:
        name = Code(t.err).name
    except ValueError:
        name = str(t.err)
    return f"{what}: {name}"


def make_state(data: bytes | None) -> ReplicatedState:
    """The replicated state machine: restored from a snapshot's bytes, or a new one."""
    return ReplicatedState.restore(data) if data else ReplicatedState()
