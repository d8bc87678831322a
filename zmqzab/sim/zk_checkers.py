"""Checkers of ZooKeeper's data model and client protocol, over the simulator's committed history.

Theory of operation. ``Checkers`` (checkers.py) keeps G, the committed history, and a reference
state that applies G once in order; a node whose state at a zxid differs from every other's,
or from the reference's, already fails "equal game state at equal applied zxid": that check
compares a digest of the whole ``ReplicatedState`` snapshot (game, tree and sessions), so it
is property (a), identical trees and sessions at equal applied zxid. This module adds what a
digest cannot see, each a named property:

* per node, as it applies (``on_applied``):
  - "ephemerals die with their session": no znode's ephemeralOwner is a session that is not
    open (after every applied ZooKeeper txn);
  - "znode versions only grow": version, cversion and aversion of a znode (the same znode:
    same czxid) never go back on a node (a restart, which re-applies from a snapshot, starts
    the record again);
* over G, as it grows (``_commit``):
  - "sequential names never repeat": the 10-digit counter of a sequential name is never used
    twice under one parent znode (the simulated clients ask for digit-ending names only with
    the SEQUENTIAL flag; a parent deleted and created again is another znode);
  - "a session expires at most once" (a closeSession the leader's expiry proposed, cxid 0)
    and "a closed session never comes back" (no createSession of an id closed before);
  - "a request commits at most once": no two txns with one (session, cxid);
  - "a live session is never answered expired": a node that has not applied a session's
    createSession answers its reconnect "expired";
* over what the clients got (``on_reply``, ``on_event``, ``on_zxid``):
  - "replies in xid order" (the clients check it as they read);
  - "zxids in a session never go back": every reply's zxid, across reconnects;
  - "a session's requests take effect in its order": a write's zxid is above that of every
    read or ping its session sent before it (served from the tree as applied then), so no
    read shows a write sent after it (ZooKeeper's CommitProcessor applies that write only
    after the read was served);
  - "write replies agree with the committed history": a write's reply zxid is a txn of G with
    the request's (session, xid), its error code is the txn's, a create's name and stat, a
    setData's stat and a multi's results are the committed ones;
  - "reads agree with the committed history": a read's reply zxid is the serving node's
    applied zxid, so its answer must be the reference tree's at that zxid exactly (data,
    stat, children); with the previous property this is read-your-writes (the client's own
    write has a smaller zxid than any later reply);
  - "events only for watches held": a one-shot watch fires once, for a watch the client set;
  - "a watch event comes before any reply that shows its change": a reply at or after the
    first committed change of a watched znode comes after the watch's event.

A violation raises ``Violation``, the simulation stops and prints its trace tail and seed.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import TYPE_CHECKING, NoReturn

from zmqzab.messages import Txn
from zmqzab.sim.checkers import Violation
from zmqzab.state import ReplicatedState, Result, ZkResult
from zmqzab.tree.errors import Code
from zmqzab.tree.paths import parent_of
from zmqzab.tree.sessions import (CONTAINER_EPHEMERAL_OWNER, SESSION_CLOSED, CloseSessionTxn,
                                  CreateSessionTxn, fmt_session_id)
from zmqzab.tree.tree import DataTree, TxnResult
from zmqzab.tree.txns import CreateTxn, MultiTxn
from zmqzab.zk import records as r
from zmqzab.zk.opcodes import OpCode
from zmqzab.zkapi.ops import CLOSE_SESSION, CREATE_SESSION, ZkTxn
from zmqzab.zxid import fmt_zxid

if TYPE_CHECKING:
    from zmqzab.sim.checkers import Checkers

#: A sequential znode's name: ZooKeeper's ``%010d`` counter at its end.
_SEQUENTIAL = re.compile(r"^(.*/)[^/]*?(\d{10})$")
_READS = frozenset(int(o) for o in (OpCode.getData, OpCode.exists, OpCode.getChildren,
                                    OpCode.getChildren2, OpCode.getEphemerals,
                                    OpCode.getAllChildrenNumber, OpCode.multiRead))
_WRITES = frozenset(int(o) for o in (OpCode.create, OpCode.create2, OpCode.createContainer,
                                     OpCode.delete, OpCode.setData, OpCode.multi,
                                     OpCode.closeSession, OpCode.check))

#: A znode as the reference tree holds it at one zxid: data, stat, children (None: absent).
NodeState = tuple[bytes, r.Stat, tuple[str, ...]] | None


def op_name(opcode: int) -> str:
    try:
        return OpCode(opcode).name
    except ValueError:
        return f"opcode {opcode}"


def client_stat(n) -> r.Stat:
    """The tree's DataNode as a client's Stat, field by field (written here, not taken from the
    server's code, so that a server mapping fields wrongly is caught), with ZooKeeper's two
    rewrites (DataNode.copyStat): the node keeps cversion as its count of child creates and
    shows ``2 * cversion - numChildren`` (a jute int), and a container shows owner 0."""
    children = len(n.children)
    cversion = ((2 * n.cversion - children + (1 << 31)) % (1 << 32)) - (1 << 31)
    owner = 0 if n.ephemeral_owner == CONTAINER_EPHEMERAL_OWNER else n.ephemeral_owner
    return r.Stat(czxid=n.czxid, mzxid=n.mzxid, ctime=n.ctime, mtime=n.mtime, version=n.version,
                  cversion=cversion, aversion=n.aversion, ephemeral_owner=owner,
                  data_length=len(n.data or b""), num_children=children, pzxid=n.pzxid)


def node_state(tree: DataTree, path: str) -> NodeState:
    n = tree.nodes.get(path)
    return None if n is None else (n.data, client_stat(n), tuple(n.children))


def touched_paths(result: object) -> list[str]:
    """The znodes a txn's result says it changed, and their parents (cversion, pzxid,
    numChildren), in a fixed order."""
    out: dict[str, None] = {}

    def visit(t: TxnResult | None) -> None:
        if t is None:
            return
        for path in ((t.path,) if t.path else ()) + tuple(t.deleted):
            out[path] = None
            if path != "/":
                out[parent_of(path)] = None
        for sub in t.results:
            visit(sub)

    if isinstance(result, ZkResult):
        visit(result.tree)
    return list(out)


def _stat_of(body: object) -> r.Stat | None:
    return getattr(body, "stat", None)


class ZkCheckers:
    def __init__(self, base: Checkers) -> None:
        self.base = base
        #: path -> [(zxid, state after that txn)], from G through the reference tree
        self.history: dict[str, list[tuple[int, NodeState]]] = {}
        #: path -> [(zxid, watch tables its txn fired on the path: "data", "child")]
        self.fired: dict[str, list[tuple[int, frozenset[str]]]] = {}
        #: (parent, its czxid) -> {sequence number: zxid of the create that used it}
        self.sequences: dict[tuple[str, int], dict[int, int]] = {}
        #: session id -> zxid of the leader's expiry close / of its close
        self.expired: dict[int, int] = {}
        self.closed: dict[int, int] = {}
        #: session id -> zxid of the createSession that opened it
        self.created: dict[int, int] = {}
        #: (session id, connection, cxid) -> zxid of the txn it committed as
        self.committed: dict[tuple[int, int, int], int] = {}
        #: node -> (last ZooKeeper zxid applied, {path: (czxid, version, cversion, aversion)})
        self.nodes: dict[int, tuple[int, dict[str, tuple[int, int, int, int]]]] = {}
        #: session id -> the highest zxid its client saw; the highest of a reply served by a
        #: node's tree (a read, a ping, setWatches)
        self.session_zxid: dict[int, int] = {}
        self.served_zxid: dict[int, int] = {}
        #: client -> {(kind, path): zxid of the reply that set the watch}: its one-shot watches
        self.watches: dict[str, dict[tuple[str, str], int]] = {}
        self.counts: dict[str, int] = {}
        #: The tree before any txn ("/", "/zookeeper" and its children)
        self.initial = DataTree()

    def fail(self, prop: str, detail: str) -> NoReturn:
        raise Violation(prop, detail)

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    # ------------------------------------------------------------------ per node

    def on_applied(self, node: int, state: ReplicatedState, txn: Txn, result: Result, new: bool) -> None:
        """``node`` applied ``txn`` (``new``: it is the first to, so G just grew by it)."""
        op = txn.op
        if type(op) is not ZkTxn:
            return
        if new:
            self._commit(txn, result)
        tree, sessions = state.tree, state.sessions
        for owner in tree.ephemerals:
            if owner not in sessions:
                self.fail("ephemerals die with their session",
                          f"n{node} applied {fmt_zxid(txn.zxid)} and holds ephemeral(s) "
                          f"{sorted(tree.ephemerals[owner])[:3]} of session {fmt_session_id(owner)}, "
                          f"which is not open there")
        last, versions = self.nodes.get(node, (-1, {}))
        if txn.zxid <= last:
            versions = {}  # it re-applies from a snapshot: a new record
        self.nodes[node] = (txn.zxid, versions)
        for path in touched_paths(result):
            n = tree.nodes.get(path)
            if n is None:
                versions.pop(path, None)
                continue
            now = (n.czxid, n.version, n.cversion, n.aversion)
            before = versions.get(path)
            if before is not None and before[0] == now[0] and any(a < b for a, b in zip(now[1:], before[1:])):
                self.fail("znode versions only grow",
                          f"n{node} applied {fmt_zxid(txn.zxid)}: {path} (czxid "
                          f"{fmt_zxid(now[0])}) went from version/cversion/aversion "
                          f"{before[1:]} to {now[1:]}")
            versions[path] = now

    # ------------------------------------------------------------------ the committed history

    def _commit(self, txn: Txn, result: Result) -> None:
        op: ZkTxn = txn.op  # type: ignore[assignment]
        zxid, sid, inner = txn.zxid, op.session_id, op.txn
        ref = self.base.ref.tree
        for path in touched_paths(result):
            self.history.setdefault(path, []).append((zxid, node_state(ref, path)))
        fired: dict[str, set[str]] = {}
        for trigger in (result.tree.triggers if isinstance(result, ZkResult) and result.tree else ()):
            fired.setdefault(trigger.path, set()).add(str(trigger.table.value))
        for path, tables in fired.items():
            self.fired.setdefault(path, []).append((zxid, frozenset(tables)))
        if op.cxid != 0:
            # A request is its connection's (ZkTxn.origin) xid: kazoo numbers from 1 again on
            # every connection of a session.
            key = (sid, op.origin, op.cxid)
            if key in self.committed:
                self.fail("a request commits at most once",
                          f"session {fmt_session_id(sid)}'s request #{op.cxid} (connection "
                          f"{op.origin:#x}) committed at {fmt_zxid(self.committed[key])} and "
                          f"again at {fmt_zxid(zxid)}")
            self.committed[key] = zxid
        if type(inner) is CreateSessionTxn and isinstance(result, ZkResult) and result.err == 0:
            self.created.setdefault(sid, zxid)
            if sid in self.closed:
                self.fail("a closed session never comes back",
                          f"session {fmt_session_id(sid)} closed at {fmt_zxid(self.closed[sid])} "
                          f"is created again at {fmt_zxid(zxid)}")
        elif type(inner) is CloseSessionTxn:
            if op.opcode == CLOSE_SESSION and op.cxid == 0:
                if sid in self.expired:
                    self.fail("a session expires at most once",
                              f"the leader expired session {fmt_session_id(sid)} at "
                              f"{fmt_zxid(self.expired[sid])} and again at {fmt_zxid(zxid)}")
                self.expired[sid] = zxid
                self._count("expired")
            if isinstance(result, ZkResult) and result.kind == SESSION_CLOSED:
                self.closed[sid] = zxid
        if not isinstance(result, ZkResult) or result.err or result.tree is None:
            return  # nothing was created (a failed multi's ops before the failing one say OK)
        creates = inner.txns if type(inner) is MultiTxn else (inner,)
        for create in creates:
            if type(create) is not CreateTxn:
                continue
            m = _SEQUENTIAL.match(create.path)
            if m is None:
                continue
            parent, number = m.group(1), int(m.group(2))
            # Per parent znode: a parent deleted and created again (a container the leader
            # removed, an emptied node a client deleted) counts from 0 again, as in ZooKeeper.
            holder = ref.nodes.get(parent.rstrip("/") or "/")
            used = self.sequences.setdefault((parent, holder.czxid if holder else -1), {})
            if number in used:
                self.fail("sequential names never repeat",
                          f"{create.path} created at {fmt_zxid(zxid)} reuses the sequence number "
                          f"{number:010d} under {parent} of a create at {fmt_zxid(used[number])}")
            used[number] = zxid

    def state_at(self, path: str, zxid: int) -> NodeState:
        """``path`` in the reference tree once G up to ``zxid`` is applied."""
        entries = self.history.get(path)
        i = bisect_right(entries, zxid, key=lambda e: e[0]) if entries else 0
        return entries[i - 1][1] if i else node_state(self.initial, path)

    # ------------------------------------------------------------------ what the clients got

    def on_session_started(self, client: str, sid: int) -> None:
        if sid in self.closed:
            self.fail("a closed session never comes back",
                      f"{client} was given session {fmt_session_id(sid)}, closed at "
                      f"{fmt_zxid(self.closed[sid])}")
        self._count("sessions")

    def on_probe(self, client: str, probe: str, resp: r.ConnectResponse, node: int | None) -> None:
        """A ConnectRequest with a wrong password or a session that never existed must be
        answered "expired" (session id 0, timeout 0), as ZooKeeper answers it."""
        self._count(f"probe {probe}")
        if resp.session_id != 0 or resp.time_out > 0:
            self.fail("a session is reopened only with its password",
                      f"{client} reconnected to n{node} with {probe}, and was given session "
                      f"{fmt_session_id(resp.session_id)} (timeout {resp.time_out} ms)")

    def on_told_expired(self, client: str, sid: int, node: int, node_applied: int | None) -> None:
        """``node`` answered ``client``'s reconnect with session ``sid`` "expired". Only a
        node that applied the session's createSession can know it is gone (closed, or closing
        on the leader); one that has not applied it yet (``node_applied``, now, is below it)
        cannot have seen it closed: the session is alive and its client loses it."""
        created = self.created.get(sid)
        if (sid not in self.closed and created is not None and node_applied is not None
                and node_applied < created):
            self.fail("a live session is never answered expired",
                      f"{client}'s session {fmt_session_id(sid)}, created at {fmt_zxid(created)} "
                      f"and open, was answered expired by n{node}, which has applied only up to "
                      f"{fmt_zxid(node_applied)}: it does not know the session yet")

    def on_session_over(self, client: str, sid: int, why: str) -> None:
        self._count(f"session {why}")

    def on_connection_loss(self, client: str, sid: int, sent: object) -> None:
        self._count("connection loss")

    def on_zxid(self, client: str, sid: int, zxid: int, what: str, served: bool = True) -> None:
        """A reply at ``zxid``; ``served``: answered from the node's tree as applied then (a
        read, a ping), not a txn's own zxid."""
        if zxid <= 0 or not sid:
            return
        if served and zxid > self.served_zxid.get(sid, 0):
            self.served_zxid[sid] = zxid
        if served:
            self._check_watches(client, zxid, what)
        seen = self.session_zxid.get(sid, 0)
        if zxid < seen:
            self.fail("zxids in a session never go back",
                      f"{client} (session {fmt_session_id(sid)}) got {what} at {fmt_zxid(zxid)} "
                      f"after it had seen {fmt_zxid(seen)}")
        self.session_zxid[sid] = zxid

    def on_watch_set(self, client: str, kind: str, path: str, zxid: int) -> None:
        """``client`` holds a ``kind`` watch ("data", "exist", "child") on ``path`` from a reply
        at ``zxid``: the first committed change of ``path`` after ``zxid`` fires it."""
        self.watches.setdefault(client, {}).setdefault((kind, path), zxid)

    def on_watches_fired(self, client: str, fired: list[tuple[str, str]] | None) -> None:
        """One event fired the client's one-shot watches ``fired``: each for a change the
        committed history made after the watch was set. None: all of them are gone (its
        session ended)."""
        mine = self.watches.get(client)
        if not mine:
            return
        if fired is None:
            mine.clear()
            return
        for key in fired:
            since = mine.pop(key, None)
            if since is not None and self._change_after(key[0], key[1], since) is None:
                self.fail("events only for committed changes",
                          f"{client}'s {key[0]} watch on {key[1]} (set at {fmt_zxid(since)}) "
                          f"fired, but the committed history has not changed it since")

    def on_watches_rearmed(self, client: str, zxid: int) -> None:
        """setWatches (a reconnect) was answered at ``zxid``: what it did not fire is set again
        against the tree as it is there (ZooKeeper's DataTree.setWatches compares the node's
        state now, not its history: a node created and deleted while the client was away
        fires no exist watch)."""
        mine = self.watches.get(client)
        if mine:
            for key, since in mine.items():
                mine[key] = max(since, zxid)

    def _change_after(self, kind: str, path: str, zxid: int) -> int | None:
        """The zxid of the first committed txn after ``zxid`` that fires a ``kind`` watch on
        ``path`` (ZooKeeper's triggers, as the committed txns' results name them: a data or
        exist watch by a create, delete or setData of the node, a child watch by a child's
        create or delete or the node's delete; a multi that creates and deletes a node fires
        though it leaves the tree as it was)."""
        table = "child" if kind == "child" else "data"
        for at, tables in self.fired.get(path, ()):
            if at > zxid and table in tables:
                return at
        return None

    def _check_watches(self, client: str, zxid: int, what: str) -> None:
        mine = self.watches.get(client)
        if not mine or zxid <= 0:
            return
        for (kind, path), since in mine.items():
            change = self._change_after(kind, path, since)
            if change is not None and zxid >= change:
                self.fail("a watch event comes before any reply that shows its change",
                          f"{client} holds a {kind} watch on {path} (set at {fmt_zxid(since)}), "
                          f"changed at {fmt_zxid(change)}, but got {what} at {fmt_zxid(zxid)} "
                          "before the event")

    def on_event(self, client: str, sid: int, ev: r.WatcherEvent, held: bool) -> None:
        self._count("events")
        if not held:
            self.fail("events only for watches held",
                      f"{client} (session {fmt_session_id(sid)}) got event type {ev.type} for "
                      f"{ev.path}, a watch it does not hold (fired already, or never set)")

    def on_reply(self, client: str, sid: int, last_seen: int, sent, header: r.ReplyHeader,
                 body: object) -> None:
        """``client`` got ``header`` / ``body`` for its request ``sent`` (the xid matched)."""
        opcode = sent.opcode
        who = f"{client} (session {fmt_session_id(sid)}) request #{sent.xid} {op_name(opcode)}"
        self.on_zxid(client, sid, header.zxid, f"the reply to #{sent.xid}", opcode not in _WRITES)
        self._check_watches(client, header.zxid, f"the reply to #{sent.xid}")
        self._count("replies")
        if op_name(opcode).startswith("opcode ") and header.err != Code.UNIMPLEMENTED:
            self.fail("an unknown opcode is answered UNIMPLEMENTED",
                      f"{who} was answered err {header.err}, not UNIMPLEMENTED ({int(Code.UNIMPLEMENTED)})")
        if opcode in _WRITES:
            served = self.served_zxid.get(sid, 0)
            if 0 < header.zxid <= served:
                self.fail("a session's requests take effect in its order",
                          f"{who} committed at {fmt_zxid(header.zxid)}, but a read or ping the "
                          f"session sent before it was served from the tree at "
                          f"{fmt_zxid(served)}: that read saw this later write")
            self._check_write(who, sid, sent, header, body)
        elif opcode in _READS:
            self._check_read(who, sid, sent, header, body)

    def _check_write(self, who: str, sid: int, sent, header: r.ReplyHeader, body: object) -> None:
        prop = "write replies agree with the committed history"
        zxid = header.zxid
        txn = self.base.gtxn.get(zxid)
        op = txn.op if txn is not None else None
        if type(op) is not ZkTxn or op.session_id != sid or op.cxid != sent.xid:
            self.fail(prop, f"{who} was answered at {fmt_zxid(zxid)} (err {header.err}), but the "
                            f"committed txn there is "
                            + (repr(op)[:200] if op is not None else "none"))
        result = self.base.gres[zxid]
        assert isinstance(result, ZkResult)
        t = result.tree
        opcode = sent.opcode
        subs = t.results if t is not None else ()
        # A multi refused as a whole (an error txn: SESSIONMOVED, SESSIONEXPIRED) has no
        # sub-results: its error is in the reply header, as any write's (below).
        if opcode == OpCode.multi and (subs or not result.err):
            got = getattr(body, "results", None) if body is not None else None
            if header.err != 0 or got is None or len(got) != len(subs):
                self.fail(prop, f"{who}: the multi's reply (err {header.err}, "
                                f"{len(got) if got else 0} results) is not the {len(subs)} results "
                                f"committed at {fmt_zxid(zxid)}")
            failed = t is not None and t.err != 0
            for k, (g, s) in enumerate(zip(got, subs)):
                gerr = g.response.err if g.type == OpCode.error else 0
                if failed:
                    ok = g.type == OpCode.error and gerr == s.err
                else:
                    ok = gerr == 0 and (getattr(g.response, "path", s.path) == s.path) and (
                        _stat_of(g.response) is None or s.stat is None
                        or _stat_of(g.response) == _wire(s.stat))
                if not ok:
                    self.fail(prop, f"{who}: result {k} of the multi is {g}, but the txn committed "
                                    f"at {fmt_zxid(zxid)} gives err {s.err} path {s.path}")
            return
        if header.err != result.err:
            self.fail(prop, f"{who} was answered err {header.err}, but its txn at {fmt_zxid(zxid)} "
                            f"gave err {result.err} ({result.message})")
        if header.err or t is None:
            return
        path = getattr(body, "path", None)
        if opcode in (OpCode.create, OpCode.create2, OpCode.createContainer) and path != t.path:
            self.fail(prop, f"{who} was told it created {path}, but {t.path} was committed at "
                            f"{fmt_zxid(zxid)}")
        stat = _stat_of(body)
        if stat is not None and t.stat is not None and stat != _wire(t.stat):
            self.fail(prop, f"{who} was answered stat {stat}, but the txn at {fmt_zxid(zxid)} "
                            f"gave {_wire(t.stat)}")

    def _paths_at(self, zxid: int) -> dict[str, NodeState]:
        """Every znode of the reference tree at ``zxid`` (small trees: the simulator's)."""
        out = {}
        for path in sorted(set(self.history) | set(self.initial.nodes)):
            state = self.state_at(path, zxid)
            if state is not None:
                out[path] = state
        return out

    def _check_read(self, who: str, sid: int, sent, header: r.ReplyHeader, body: object) -> None:
        prop = "reads agree with the committed history"
        zxid = header.zxid
        if zxid > 0 and self.base.gz and zxid > self.base.gz[-1]:
            self.fail(prop, f"{who} was answered at {fmt_zxid(zxid)}, past the committed history")
        opcode = sent.opcode
        if opcode == OpCode.multiRead:
            got = getattr(body, "results", None)
            ops = sent.body.ops
            if header.err or got is None or len(got) != len(ops):
                self.fail(prop, f"{who}: a multiRead of {len(ops)} reads answered err {header.err}, "
                                f"{len(got) if got else 0} results")
            for op, result in zip(ops, got):
                err = result.response.err if result.type == OpCode.error else 0
                self._check_path_read(who, op.type, op.request.path, zxid, err, result.response)
            return
        if opcode == OpCode.getEphemerals:
            prefix = (sent.body.prefix_path or "").strip()
            want = sorted(p for p, (_, stat, _) in self._paths_at(zxid).items()
                          if stat.ephemeral_owner == sid
                          and (prefix in ("", "/") or p.startswith(prefix)))
            if header.err or sorted(body.ephemerals or ()) != want:
                self.fail(prop, f"{who}: getEphemerals({prefix!r}) answered "
                                f"{None if header.err else body.ephemerals} (err {header.err}) at "
                                f"{fmt_zxid(zxid)}; the session's ephemerals there: {want}")
            return
        if opcode == OpCode.getAllChildrenNumber:
            path = sent.body.path
            nodes = self._paths_at(zxid)
            prefix = "/" if path == "/" else path + "/"
            want = sum(1 for p in nodes if p != "/" and p.startswith(prefix)) if path in nodes else None
            got = None if header.err else body.total_number
            if got != want:
                self.fail(prop, f"{who}: getAllChildrenNumber({path}) answered {got} (err "
                                f"{header.err}) at {fmt_zxid(zxid)}; the committed tree has "
                                + ("no such node" if want is None else f"{want} below it"))
            return
        self._check_path_read(who, opcode, sent.body.path, zxid, header.err, body)

    def _check_path_read(self, who: str, opcode: int, path: str, zxid: int, err: int,
                         body: object) -> None:
        prop = "reads agree with the committed history"
        header = r.ReplyHeader(0, zxid, err)
        want = self.state_at(path, zxid)
        if want is None:
            if header.err == 0:
                self.fail(prop, f"{who}: {path} does not exist at {fmt_zxid(zxid)}, but the reply "
                                f"is {body}")
            return
        data, stat, children = want
        if header.err != 0:
            self.fail(prop, f"{who}: {path} exists at {fmt_zxid(zxid)} (version {stat.version}), "
                            f"but the reply says err {header.err}")
        if opcode == OpCode.getData:
            ok = body.data == data and body.stat == stat
        elif opcode == OpCode.exists:
            ok = body.stat == stat
        else:
            ok = sorted(body.children or ()) == sorted(children)
            if opcode == OpCode.getChildren2:
                ok = ok and body.stat == stat
        if not ok:
            self.fail(prop, f"{who}: the reply {body} is not {path} at {fmt_zxid(zxid)} in the "
                            f"committed history: data {data!r}, children {sorted(children)}, {stat}")


def _wire(s) -> r.Stat:
    return r.Stat(czxid=s.czxid, mzxid=s.mzxid, ctime=s.ctime, mtime=s.mtime, version=s.version,
                  cversion=s.cversion, aversion=s.aversion, ephemeral_owner=s.ephemeralOwner,
                  data_length=s.dataLength, num_children=s.numChildren, pzxid=s.pzxid)
