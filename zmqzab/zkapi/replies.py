"""The answers a node sends its ZooKeeper clients: replies to writes from what applying their
txn did, and reads served from its own tree (ZooKeeper's FinalRequestProcessor).

Pure: records in, frames out. The node's host (zmqzab/host/zk.py) owns the connections and
the watches and calls these with the tree as applied at the moment the reply is due, so that
a read shows every write its session sent before it (zk/session.py keeps that order).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from zmqzab.tree import reads
from zmqzab.tree.acl import Id
from zmqzab.tree.errors import Code
from zmqzab.tree.stat import Stat as TreeStat
from zmqzab.tree.tree import DataTree, TxnResult
from zmqzab.tree.watches import WatchManager
from zmqzab.zk import records as r
from zmqzab.zk.opcodes import AddWatchMode, OpCode
from zmqzab.zk.protocol import Request, encode_reply

#: A create's reply carries the stat for these (create2 and its kin), the path only for create.
_CREATE2_OPS = frozenset({int(OpCode.create2), int(OpCode.createContainer), int(OpCode.createTTL)})


def wire_stat(s: TreeStat) -> r.Stat:
    return r.Stat(s.czxid, s.mzxid, s.ctime, s.mtime, s.version, s.cversion, s.aversion,
                  s.ephemeralOwner, s.dataLength, s.numChildren, s.pzxid)


def wire_acl(acl: Sequence) -> tuple[r.ACL, ...]:
    return tuple(r.ACL(a.perms, r.Id(a.id.scheme, a.id.id)) for a in acl)


# ------------------------------------------------------------------------------- writes


def write_reply(request: Request, zxid: int, result: TxnResult | None, err: int) -> bytes:
    """The reply to a forwarded write whose txn was applied as ``zxid`` with ``result``."""
    xid = request.header.xid
    opcode = request.header.type
    if opcode == OpCode.multi and ((result is not None and result.results) or not err):
        return encode_reply(xid, zxid, 0, _multi_response(request, result, err))
    # A multi refused as a whole (SESSIONMOVED, SESSIONEXPIRED: an error txn, no sub-results)
    # is answered as ZooKeeper does (FinalRequestProcessor throws SessionMovedException): the
    # error in the reply header and no MultiResponse, not one ErrorResult per op under err 0.
    if err or result is None:
        return encode_reply(xid, zxid, err)
    if opcode == OpCode.create:
        return encode_reply(xid, zxid, 0, r.CreateResponse(result.path or ""))
    if opcode in _CREATE2_OPS:
        return encode_reply(xid, zxid, 0, r.Create2Response(result.path or "", wire_stat(result.stat)))
    if opcode == OpCode.setData:
        return encode_reply(xid, zxid, 0, r.SetDataResponse(wire_stat(result.stat)))
    if opcode == OpCode.setACL:
        return encode_reply(xid, zxid, 0, r.SetACLResponse(wire_stat(result.stat)))
    return encode_reply(xid, zxid, 0)  # delete, check, closeSession


def _multi_response(request: Request, result: TxnResult | None, err: int) -> r.MultiResponse:
    ops = getattr(request.body, "ops", ())
    subs = result.results if result is not None else ()
    out = []
    for k, op in enumerate(ops):
        sub = subs[k] if k < len(subs) else None
        code = sub.err if sub is not None else (err or Code.RUNTIMEINCONSISTENCY)
        failed = result is None or result.err != 0
        if failed:
            out.append(r.MultiResult(OpCode.error, r.ErrorResponse(code)))
            continue
        t = op.type
        if t == OpCode.create:
            out.append(r.MultiResult(t, r.CreateResponse(sub.path or "")))
        elif t in _CREATE2_OPS:
            out.append(r.MultiResult(t, r.Create2Response(sub.path or "", wire_stat(sub.stat))))
        elif t == OpCode.setData:
            out.append(r.MultiResult(t, r.SetDataResponse(wire_stat(sub.stat))))
        else:
            out.append(r.MultiResult(t, None))  # delete, check
    return r.MultiResponse(tuple(out))


# ------------------------------------------------------------------------------- reads


class ReadContext:
    """What a read needs besides the tree: who asks (watcher key, session, auth ids)."""

    __slots__ = ("watcher", "session_id", "auth")

    def __init__(self, watcher: Hashable, session_id: int, auth: Sequence[Id]) -> None:
        self.watcher = watcher
        self.session_id = session_id
        self.auth = auth


def serve_read(request: Request, zxid: int, tree: DataTree, watches: WatchManager,
               ctx: ReadContext, events: list) -> bytes:
    """A request the node answers itself, from ``tree`` as applied (``zxid``). Watch events
    that setWatches fires at once are appended to ``events`` (sent before the reply)."""
    xid = request.header.xid
    opcode = request.header.type
    body = request.body
    auth = ctx.auth
    if opcode == OpCode.exists:
        code, stat = reads.exists(tree, body.path)
        if body.watch:
            watches.register(ctx.watcher, opcode, body.path, code)
        if code:
            return encode_reply(xid, zxid, code)
        return encode_reply(xid, zxid, 0, r.ExistsResponse(wire_stat(stat)))
    if opcode == OpCode.getData:
        code, got = reads.get_data(tree, body.path, auth)
        if body.watch:
            watches.register(ctx.watcher, opcode, body.path, code)
        if code:
            return encode_reply(xid, zxid, code)
        return encode_reply(xid, zxid, 0, r.GetDataResponse(got[0], wire_stat(got[1])))
    if opcode in (OpCode.getChildren, OpCode.getChildren2):
        code, got = reads.get_children(tree, body.path, auth)
        if body.watch:
            watches.register(ctx.watcher, opcode, body.path, code)
        if code:
            return encode_reply(xid, zxid, code)
        if opcode == OpCode.getChildren:
            return encode_reply(xid, zxid, 0, r.GetChildrenResponse(tuple(got[0])))
        return encode_reply(xid, zxid, 0, r.GetChildren2Response(tuple(got[0]), wire_stat(got[1])))
    if opcode == OpCode.getACL:
        code, got = reads.get_acl(tree, body.path, auth)
        if code:
            return encode_reply(xid, zxid, code)
        return encode_reply(xid, zxid, 0, r.GetACLResponse(wire_acl(got[0]), wire_stat(got[1])))
    if opcode == OpCode.getAllChildrenNumber:
        code, n = reads.get_all_children_number(tree, body.path, auth)
        if code:
            return encode_reply(xid, zxid, code)
        return encode_reply(xid, zxid, 0, r.GetAllChildrenNumberResponse(n))
    if opcode == OpCode.getEphemerals:
        _, paths = reads.get_ephemerals(tree, ctx.session_id, body.prefix_path)
        return encode_reply(xid, zxid, 0, r.GetEphemeralsResponse(tuple(paths)))
    if opcode == OpCode.addWatch:
        if body.mode not in (AddWatchMode.PERSISTENT, AddWatchMode.PERSISTENT_RECURSIVE):
            return encode_reply(xid, zxid, Code.BADARGUMENTS)
        watches.add_watch(ctx.watcher, body.path, body.mode)
        return encode_reply(xid, zxid, 0, r.ErrorResponse(0))
    if opcode in (OpCode.removeWatches, OpCode.checkWatches):
        try:
            if opcode == OpCode.removeWatches:
                code = watches.remove_watches(ctx.watcher, body.path, body.type)
            else:
                code = watches.check_watches(ctx.watcher, body.path, body.type)
        except ValueError:
            code = Code.BADARGUMENTS
        return encode_reply(xid, zxid, int(code))
    if opcode in (OpCode.setWatches, OpCode.setWatches2):
        persistent = getattr(body, "persistent_watches", ())
        recursive = getattr(body, "persistent_recursive_watches", ())
        events.extend(watches.set_watches(
            tree, ctx.watcher, body.relative_zxid, body.data_watches, body.exist_watches,
            body.child_watches, persistent, recursive))
        return encode_reply(xid, zxid, 0)
    if opcode == OpCode.multiRead:
        return encode_reply(xid, zxid, 0, _multi_read(body, zxid, tree, auth))
    if opcode == OpCode.whoAmI:
        infos = tuple(r.ClientInfo(i.scheme, i.id) for i in auth)
        return encode_reply(xid, zxid, 0, r.WhoAmIResponse(infos))
    if opcode == OpCode.reconfig:
        return encode_reply(xid, zxid, Code.RECONFIGDISABLED)
    return encode_reply(xid, zxid, Code.UNIMPLEMENTED)


def _multi_read(body, zxid: int, tree: DataTree, auth) -> r.MultiResponse:
    out = []
    for op in getattr(body, "ops", ()):
        path = getattr(op.request, "path", None)
        if op.type == OpCode.getData:
            code, got = reads.get_data(tree, path, auth)
            out.append(r.MultiResult(OpCode.error, r.ErrorResponse(code)) if code else
                       r.MultiResult(op.type, r.GetDataResponse(got[0], wire_stat(got[1]))))
        elif op.type == OpCode.getChildren:
            code, got = reads.get_children(tree, path, auth)
            out.append(r.MultiResult(OpCode.error, r.ErrorResponse(code)) if code else
                       r.MultiResult(op.type, r.GetChildrenResponse(tuple(got[0]))))
        else:
            out.append(r.MultiResult(OpCode.error, r.ErrorResponse(Code.BADARGUMENTS)))
    return r.MultiResponse(tuple(out))

