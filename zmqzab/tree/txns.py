"""The tree's txns: what the leader's prepare decides and every replica applies.

ZooKeeper splits a write in two (``PrepRequestProcessor`` / ``DataTree.processTxn``): the
leader checks the request against its view (existence, versions, ACLs), resolves everything
that could differ between replicas (the sequential name, the new version, the parent's new
cversion, the ACL with ``auth`` expanded, the digest of a password) and writes the result as a
txn; every replica then applies the txn without a choice left. These structs are those txns,
tagged and ``array_like`` like zmqzab/messages.py's ops, frozen and ``gc=False`` (they hold
only scalars, bytes, strings and each other).

Differences from ZooKeeper's records, each for a reason:

* ``CreateTxn`` carries the ``ephemeral_owner`` itself (ZooKeeper's has a boolean and takes
  the session from the txn header; its container and TTL creates are separate records): one
  record for every kind of node, and apply needs no header;
* ``CloseSessionTxn`` and ``CreateSessionTxn`` live with the sessions (zmqzab/tree/sessions.py);
  a close applies ``DataTree.delete_ephemerals``.
"""

from __future__ import annotations

from msgspec import Struct

from zmqzab.tree.acl import ACL
from zmqzab.tree.errors import Code
from zmqzab.tree.stat import CONTAINER_OWNER


class CreateTxn(Struct, frozen=True, gc=False, tag="zk_create", array_like=True):
    """Create ``path`` (its sequential suffix already resolved). ``parent_cversion`` is the
    parent's cversion after this create (the leader's view + 1)."""

    path: str
    data: bytes | None  # None: ZooKeeper's null data (a client read gets null back)
    acl: tuple[ACL, ...]
    ephemeral_owner: int
    parent_cversion: int


class DeleteTxn(Struct, frozen=True, gc=False, tag="zk_delete", array_like=True):
    path: str


class SetDataTxn(Struct, frozen=True, gc=False, tag="zk_set_data", array_like=True):
    """Replace the data of ``path``; ``version`` is the node's new version."""

    path: str
    data: bytes | None
    version: int


class SetACLTxn(Struct, frozen=True, gc=False, tag="zk_set_acl", array_like=True):
    """Replace the ACL of ``path``; ``version`` is the node's new aversion."""

    path: str
    acl: tuple[ACL, ...]
    version: int


class CheckVersionTxn(Struct, frozen=True, gc=False, tag="zk_check", array_like=True):
    """A multi's check that passed: changes nothing."""

    path: str
    version: int


class ErrorTxn(Struct, frozen=True, gc=False, tag="zk_error", array_like=True):
    """A request refused by prepare (``err`` is a ``Code`` value): changes nothing. In a multi
    it marks the failing op (its code) and the ops after it (RUNTIMEINCONSISTENCY)."""

    err: int


SubTxn = CreateTxn | DeleteTxn | SetDataTxn | SetACLTxn | CheckVersionTxn | ErrorTxn


class MultiTxn(Struct, frozen=True, gc=False, tag="zk_multi", array_like=True):
    """All or nothing: every op applies, or (one is an ``ErrorTxn``) none does."""

    txns: tuple[SubTxn, ...]


TreeTxn = CreateTxn | DeleteTxn | SetDataTxn | SetACLTxn | CheckVersionTxn | ErrorTxn | MultiTxn


def _owner(ephemeral_owner: int) -> str:
    if ephemeral_owner == 0:
        return ""
    if ephemeral_owner == CONTAINER_OWNER:
        return " container"
    return f" ephemeral of session 0x{ephemeral_owner & 0xFFFFFFFFFFFFFFFF:x}"


def describe_txn(txn: TreeTxn) -> str:
    """One txn for people (``zmqzab log``, the trace, the event view): the op, its path and
    what it sets, in ZooKeeper's words; data by size, never its bytes."""
    match txn:
        case CreateTxn():
            return (f"create {txn.path}{_owner(txn.ephemeral_owner)} ({len(txn.data or b'')} bytes, "
                    f"parent cversion {txn.parent_cversion})")
        case DeleteTxn():
            return f"delete {txn.path}"
        case SetDataTxn():
            return f"setData {txn.path} ({len(txn.data or b'')} bytes, version {txn.version})"
        case SetACLTxn():
            acl = ", ".join(f"{a.id.scheme}:{a.id.id.split(':', 1)[0]}={a.perms}" for a in txn.acl)
            return f"setACL {txn.path} [{acl}] (aversion {txn.version})"
        case CheckVersionTxn():
            return f"check {txn.path} (version {txn.version})"
        case ErrorTxn():
            try:
                return f"error {Code(txn.err).name}"
            except ValueError:
                return f"error {txn.err}"
        case MultiTxn():
            return "multi [" + "; ".join(describe_txn(t) for t in txn.txns) + "]"
    return repr(txn)
