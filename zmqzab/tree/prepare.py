"""The leader's half of a write: a request becomes a txn, or the error ZooKeeper gives.

Theory of operation (ZooKeeper's ``PrepRequestProcessor``): the leader checks each write in the
order ZooKeeper does (path, ACL, existence, version, children; each op's order is written at
its method) and returns the txn every replica will apply (zmqzab/tree/txns.py), or an
``ErrorTxn`` with the ``Code`` ZooKeeper returns. It checks against the tree *as it will be*
once every txn already proposed is applied: the committed tree plus an overlay of pending
changes (ZooKeeper's ``outstandingChanges``). Two creates of one path proposed back to back
give NODEEXISTS to the second; two sequential creates under one parent get two numbers.

The overlay maps a path to the view of the node after the last proposed txn that touched it
(None: deleted), tagged with that txn's zxid. ``applied(zxid)`` drops the views of txns now in
the tree (``FinalRequestProcessor`` does it as txns apply); ``reset()`` drops all (a new
leader starts from its tree). So the overlay holds at most what is in flight, bounded as the
proposals in flight are.

Not checked here, by the caller first (as ZooKeeper's ``sessionTracker.checkSession``): that
the session exists and is connected here (SESSIONEXPIRED, SESSIONMOVED) (zmqzab/tree/sessions.py).
TTL nodes answer UNIMPLEMENTED, as ZooKeeper does with extended types off (its default).

An ``ErrorTxn`` changes no replica. ZooKeeper still proposes it (its zxid keeps the reply in
the session's order behind its earlier writes); a caller that answers it at once must keep
that order itself.

Pure: no I/O, no clock (zxid comes in), no randomness.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from msgspec import Struct

from zmqzab.tree.acl import ACL, Id, Perms, check_acl, fixup_acl
from zmqzab.tree.errors import Code, KeeperError
from zmqzab.tree.limits import DATA_MAX_BYTES
from zmqzab.tree.paths import parent_of, path_problem
from zmqzab.tree.requests import MULTI_OPS, CreateMode, OpCode
from zmqzab.tree.stat import CONTAINER_OWNER, int32, is_ephemeral, next_version
from zmqzab.tree.tree import SPECIAL_PATHS, DataTree
from zmqzab.tree.txns import (CheckVersionTxn, CreateTxn, DeleteTxn, ErrorTxn, MultiTxn,
                              SetACLTxn, SetDataTxn, SubTxn, TreeTxn)


class View(Struct, frozen=True, gc=False):
    """What prepare needs of a node (ZooKeeper's ``ChangeRecord``)."""

    acl: tuple[ACL, ...]
    version: int
    cversion: int
    aversion: int
    ephemeral_owner: int
    child_count: int


class Preparer:
    """Prepares writes against ``tree`` plus the changes proposed and not yet applied."""

    def __init__(self, tree: DataTree) -> None:
        self.tree = tree
        #: path -> (zxid of the last proposed txn that changed it, its view then; None: deleted)
        self.pending: dict[str, tuple[int, View | None]] = {}
        #: (zxid, path) of every change in the order made, to drop them as txns apply
        #: (ZooKeeper's outstandingChanges queue beside its outstandingChangesForPath map).
        self._order: deque[tuple[int, str]] = deque()

    # ------------------------------------------------------------ the overlay

    def applied(self, zxid: int) -> None:
        """Txns up to ``zxid`` are in the tree now: their views are no longer needed."""
        while self._order and self._order[0][0] <= zxid:
            z, path = self._order.popleft()
            held = self.pending.get(path)
            if held is not None and held[0] == z:  # not changed again by a later txn
                del self.pending[path]

    def reset(self) -> None:
        """Forget every pending view (this node stops leading, or starts to)."""
        self.pending.clear()
        self._order.clear()

    def view(self, path: str) -> View | None:
        """The node at ``path`` as the leader sees it (None: there is none)."""
        if path in self.pending:
            return self.pending[path][1]
        n = self.tree.node(path)
        if n is None:
            return None
        return View(n.acl, n.version, n.cversion, n.aversion, n.ephemeral_owner, len(n.children))

    def _record(self, path: str) -> View:
        """``getRecordForPath``: the view, or NONODE."""
        v = self.view(path)
        if v is None:
            raise KeeperError(Code.NONODE, path)
        return v

    def _change(self, zxid: int, path: str, view: View | None) -> None:
        self.pending.pop(path, None)  # re-insert: the dict's order stays the order of change
        self.pending[path] = (zxid, view)
        self._order.append((zxid, path))

    # ------------------------------------------------------------ requests

    def prepare(self, opcode: int, request: object, session_id: int, auth_ids: Sequence[Id],
                zxid: int) -> TreeTxn:
        """The txn for one write request, or an ``ErrorTxn``; a success records its changes in
        the overlay under ``zxid`` (the zxid the caller proposes the txn with)."""
        if opcode == OpCode.multi:
            ops = getattr(request, "ops", None)
            if not isinstance(ops, (list, tuple)) or not all(isinstance(o, tuple) and len(o) == 2 for o in ops):
                return ErrorTxn(int(Code.BADARGUMENTS))
            return self.prepare_multi(ops, session_id, auth_ids, zxid)
        try:
            return self._one(opcode, request, session_id, auth_ids, zxid)
        except KeeperError as e:
            return ErrorTxn(int(e.code))

    def prepare_multi(self, ops: Sequence[tuple[int, object]], session_id: int,
                      auth_ids: Sequence[Id], zxid: int) -> MultiTxn:
        """A multi: each op prepared in turn against the changes of the ops before it. On the
        first failure the overlay goes back to what it was before the multi, the failing op
        becomes ``ErrorTxn(its code)`` and every op after it ``ErrorTxn(RUNTIMEINCONSISTENCY)``;
        the ops before it stay as prepared (apply answers them OK and applies none)."""
        saved = dict(self.pending)
        txns: list[SubTxn] = []
        failed = False
        for opcode, request in ops:
            if failed:
                txns.append(ErrorTxn(int(Code.RUNTIMEINCONSISTENCY)))
                continue
            try:
                if opcode not in MULTI_OPS:
                    raise KeeperError(Code.UNIMPLEMENTED, "", f"opcode {opcode} cannot be part of a multi")
                txn = self._one(opcode, request, session_id, auth_ids, zxid)
                if not isinstance(txn, SubTxn):
                    raise KeeperError(Code.UNIMPLEMENTED, "", f"opcode {opcode} cannot be part of a multi")
                txns.append(txn)
            except KeeperError as e:
                failed = True
                self.pending = saved
                txns.append(ErrorTxn(int(e.code)))
        return MultiTxn(tuple(txns))

    def _one(self, opcode: int, request: object, session_id: int, auth_ids: Sequence[Id], zxid: int) -> TreeTxn:
        match opcode:
            case OpCode.create | OpCode.create2 | OpCode.createContainer | OpCode.createTTL:
                return self._create(opcode, request, session_id, auth_ids, zxid)
            case OpCode.delete:
                return self._delete(request, auth_ids, zxid)
            case OpCode.setData:
                return self._set_data(request, auth_ids, zxid)
            case OpCode.setACL:
                return self._set_acl(request, auth_ids, zxid)
            case OpCode.check:
                return self._check(request, auth_ids)
            case OpCode.deleteContainer:
                return self.delete_container(getattr(request, "path", None), zxid)
        raise KeeperError(Code.UNIMPLEMENTED, "", f"opcode {opcode} is not a write the tree prepares")

    @staticmethod
    def _valid_path(path: object) -> str:
        if not isinstance(path, str) or path_problem(path):
            raise KeeperError(Code.BADARGUMENTS, str(path), path_problem(path))
        return path

    @staticmethod
    def _parent_for_create(path: object) -> str:
        """``validatePathForCreate``: a "/" somewhere and no NUL; the rest is checked later."""
        if not isinstance(path, str) or "/" not in path or "\0" in path:
            raise KeeperError(Code.BADARGUMENTS, str(path), "a create needs an absolute path without NUL")
        return parent_of(path) if path.rfind("/") > 0 else "/"

    @staticmethod
    def _parent_for_delete(path: object) -> str:
        """``getParentPathAndValidate``: a "/", no NUL, and not one of the special nodes."""
        if not isinstance(path, str) or "/" not in path or "\0" in path or path in SPECIAL_PATHS:
            raise KeeperError(Code.BADARGUMENTS, str(path), "not a path that can be deleted")
        return parent_of(path) if path.rfind("/") > 0 else "/"

    @staticmethod
    def _data(path: str, data: object) -> bytes | None:
        if data is None:
            return None  # ZooKeeper keeps null data apart from empty data
        if not isinstance(data, bytes):
            raise KeeperError(Code.BADARGUMENTS, path, "data must be bytes")
        if len(data) > DATA_MAX_BYTES:
            raise KeeperError(Code.BADARGUMENTS, path, f"data of {len(data)} bytes is over {DATA_MAX_BYTES} (jute.maxbuffer)")
        return data

    @staticmethod
    def _version(path: str, current: int, expected: object) -> int:
        """``checkAndIncVersion``: -1 matches any version; returns the next version."""
        if type(expected) is not int:
            raise KeeperError(Code.BADARGUMENTS, path, "version must be an integer")
        if expected != -1 and expected != current:
            raise KeeperError(Code.BADVERSION, path, f"expected version {expected}, node has {current}")
        return next_version(current)

    @staticmethod
    def _allow(view: View, perm: Perms, auth_ids: Sequence[Id], path: str) -> None:
        if not check_acl(view.acl, int(perm), auth_ids):
            raise KeeperError(Code.NOAUTH, path, f"{perm.name} is not granted to this session")

    def _create(self, opcode: int, req: object, session_id: int, auth_ids: Sequence[Id], zxid: int) -> CreateTxn:
        """``pRequest2TxnCreate``'s order: mode (BADARGUMENTS; TTL: UNIMPLEMENTED), a path
        with a parent (BADARGUMENTS), the ACL (INVALIDACL), the parent (NONODE), CREATE on the
        parent (NOAUTH), the sequential name, the full path (BADARGUMENTS), the node
        (NODEEXISTS), an ephemeral parent (NOCHILDRENFOREPHEMERALS), the data size."""
        path = getattr(req, "path", None)
        try:
            mode = CreateMode(getattr(req, "flags", None))
        except ValueError:
            raise KeeperError(Code.BADARGUMENTS, str(path), "unknown create flags") from None
        if opcode == OpCode.createContainer and mode != CreateMode.CONTAINER:
            raise KeeperError(Code.BADARGUMENTS, str(path), "createContainer needs the CONTAINER mode")
        if mode == CreateMode.CONTAINER and opcode != OpCode.createContainer:
            raise KeeperError(Code.BADARGUMENTS, str(path), "a container is created with createContainer")
        if mode.ttl:
            raise KeeperError(Code.UNIMPLEMENTED, str(path), "TTL nodes are not implemented (ZooKeeper's extended types off)")
        ttl = getattr(req, "ttl", -1)
        if type(ttl) is not int:
            raise KeeperError(Code.BADARGUMENTS, str(path), "ttl must be an integer")
        if opcode == OpCode.createTTL or ttl >= 0:
            raise KeeperError(Code.BADARGUMENTS, str(path), "a TTL needs a TTL mode")
        parent_path = self._parent_for_create(path)
        acl = fixup_acl(path, auth_ids, getattr(req, "acl", None))
        parent = self._record(parent_path)
        self._allow(parent, Perms.CREATE, auth_ids, path)
        if mode.sequential:
            path = path + "%010d" % parent.cversion
        if problem := path_problem(path):
            raise KeeperError(Code.BADARGUMENTS, path, problem)
        if self.view(path) is not None:
            raise KeeperError(Code.NODEEXISTS, path)
        if is_ephemeral(parent.ephemeral_owner):
            raise KeeperError(Code.NOCHILDRENFOREPHEMERALS, path)
        data = self._data(path, getattr(req, "data", None))
        # Java's int: after 2**31 - 1 creates the counter wraps, DataTree then keeps the
        # parent's cversion (it only moves forward) and the next sequential name exists already:
        # ZooKeeper's own behaviour, kept so that names never repeat.
        cversion = int32(parent.cversion + 1)
        owner = CONTAINER_OWNER if mode == CreateMode.CONTAINER else session_id if mode.ephemeral else 0
        self._change(zxid, parent_path, View(parent.acl, parent.version, cversion, parent.aversion,
                                             parent.ephemeral_owner, parent.child_count + 1))
        self._change(zxid, path, View(acl, 0, 0, 0, owner, 0))
        return CreateTxn(path, data, acl, owner, cversion)

    def _remove(self, zxid: int, path: str, parent_path: str, parent: View) -> DeleteTxn:
        self._change(zxid, parent_path, View(parent.acl, parent.version, parent.cversion, parent.aversion,
                                             parent.ephemeral_owner, parent.child_count - 1))
        self._change(zxid, path, None)
        return DeleteTxn(path)

    def _delete(self, req: object, auth_ids: Sequence[Id], zxid: int) -> DeleteTxn:
        """Order: the path (BADARGUMENTS), the parent (NONODE), DELETE on the parent (NOAUTH),
        the node (NONODE), the version (BADVERSION), its children (NOTEMPTY)."""
        path = getattr(req, "path", None)
        parent_path = self._parent_for_delete(path)
        parent = self._record(parent_path)
        self._allow(parent, Perms.DELETE, auth_ids, path)
        node = self._record(path)
        self._version(path, node.version, getattr(req, "version", None))
        if node.child_count > 0:
            raise KeeperError(Code.NOTEMPTY, path)
        return self._remove(zxid, path, parent_path, parent)

    def delete_container(self, path: object, zxid: int) -> TreeTxn:
        """``deleteContainer`` (the leader's own request for a ``container_candidates`` path):
        the path (BADARGUMENTS), the node (NONODE), children (NOTEMPTY: a child came meanwhile),
        a node that is not a container (BADVERSION, as ZooKeeper), the parent (NONODE)."""
        try:
            parent_path = self._parent_for_delete(path)
            node = self._record(path)
            if node.child_count > 0:
                raise KeeperError(Code.NOTEMPTY, path)
            if node.ephemeral_owner != CONTAINER_OWNER:
                # PrepRequestProcessor: a node that is not a container (nor a TTL node) is
                # never deleted by deleteContainer (BADVERSION), ephemeral or persistent.
                raise KeeperError(Code.BADVERSION, path, "not a container")
            parent = self._record(parent_path)
            return self._remove(zxid, path, parent_path, parent)
        except KeeperError as e:
            return ErrorTxn(int(e.code))

    def _set_data(self, req: object, auth_ids: Sequence[Id], zxid: int) -> SetDataTxn:
        """Order: the path (BADARGUMENTS), the node (NONODE), WRITE (NOAUTH), the data size
        (where ZooKeeper checks quotas), the version (BADVERSION)."""
        path = self._valid_path(getattr(req, "path", None))
        node = self._record(path)
        self._allow(node, Perms.WRITE, auth_ids, path)
        data = self._data(path, getattr(req, "data", None))
        version = self._version(path, node.version, getattr(req, "version", None))
        self._change(zxid, path, View(node.acl, version, node.cversion, node.aversion,
                                      node.ephemeral_owner, node.child_count))
        return SetDataTxn(path, data, version)

    def _set_acl(self, req: object, auth_ids: Sequence[Id], zxid: int) -> SetACLTxn:
        """Order: the path (BADARGUMENTS), the ACL (INVALIDACL), the node (NONODE), ADMIN
        (NOAUTH), the aversion (BADVERSION)."""
        path = self._valid_path(getattr(req, "path", None))
        acl = fixup_acl(path, auth_ids, getattr(req, "acl", None))
        node = self._record(path)
        self._allow(node, Perms.ADMIN, auth_ids, path)
        version = self._version(path, node.aversion, getattr(req, "version", None))
        # The new ACL is in the view at once: requests prepared before this one is applied are
        # checked against it (ZooKeeper's fix of the same TOCTOU in its ChangeRecord).
        self._change(zxid, path, View(acl, node.version, node.cversion, version,
                                      node.ephemeral_owner, node.child_count))
        return SetACLTxn(path, acl, version)

    def _check(self, req: object, auth_ids: Sequence[Id]) -> CheckVersionTxn:
        """Order: the path (BADARGUMENTS), the node (NONODE), READ (NOAUTH), the version
        (BADVERSION). The txn carries the version + 1, as ZooKeeper's does."""
        path = self._valid_path(getattr(req, "path", None))
        node = self._record(path)
        self._allow(node, Perms.READ, auth_ids, path)
        return CheckVersionTxn(path, self._version(path, node.version, getattr(req, "version", None)))

    # ------------------------------------------------------------ sessions

    def close_session(self, session_id: int, zxid: int) -> list[str]:
        """The ephemerals a closeSession of ``session_id`` deletes, as the leader sees them
        (the tree's, plus pending creates, minus pending deletes), sorted; their deletes go into
        the overlay. The list goes into the closeSession txn (ZooKeeper's paths2Delete) for
        ``DataTree.delete_ephemerals``."""
        paths = dict.fromkeys(self.tree.ephemerals.get(session_id, ()))
        for path, (_, v) in self.pending.items():
            if v is not None and v.ephemeral_owner == session_id:
                paths[path] = None
            else:
                paths.pop(path, None)
        out = sorted(paths)
        for path in out:
            parent_path = parent_of(path)
            parent = self.view(parent_path)
            if parent is not None:
                self._remove(zxid, path, parent_path, parent)
            else:
                self._change(zxid, path, None)
        return out

