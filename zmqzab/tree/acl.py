"""ACLs as ZooKeeper has them: ``Id``, ``ACL``, ``Perms``, the ``Ids`` presets, the schemes
world, auth, digest and ip, ``fixupACL`` and ``checkACL``.

An ACL entry grants ``perms`` (a bit set of ``Perms``) to an ``Id`` (scheme, id):

* ``world:anyone`` is everyone;
* ``digest:user:base64(sha1("user:password"))`` is whoever sent ``addauth digest user:password``
  (``DigestAuthenticationProvider.generateDigest``);
* ``ip:10.0.0.0/8`` is a client address in the network (``IPAuthenticationProvider``);
* ``auth`` (any id) stands, at create and setACL time only, for the creator's authenticated ids:
  ``fixup_acl`` replaces it by them (ZooKeeper's ``PrepRequestProcessor.fixupACL``), so the tree
  never stores an ``auth`` entry.

The digest is computed where a request is prepared (the leader, or where ``addauth`` arrives),
never inside apply: a txn carries finished ACLs, and every replica stores the same ones.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Iterable, Sequence
from enum import IntFlag

from msgspec import Struct

from zmqzab.tree.errors import Code, KeeperError
from zmqzab.tree.limits import ACL_MAX_ENTRIES


class Perms(IntFlag):
    """``ZooDefs.Perms``."""

    READ = 1
    WRITE = 2
    CREATE = 4
    DELETE = 8
    ADMIN = 16
    ALL = 31


class Id(Struct, frozen=True, gc=False, array_like=True):
    """``org.apache.zookeeper.data.Id``: who (``scheme``, ``id``)."""

    scheme: str
    id: str


class ACL(Struct, frozen=True, gc=False, array_like=True):
    """``org.apache.zookeeper.data.ACL``: ``perms`` granted to ``id``."""

    perms: int
    id: Id


ANYONE_ID_UNSAFE = Id("world", "anyone")
#: Stands for the creator's authenticated ids (replaced by ``fixup_acl``).
AUTH_IDS = Id("auth", "")
#: ``ZooDefs.Ids.OPEN_ACL_UNSAFE``: anyone may do anything.
OPEN_ACL_UNSAFE: tuple[ACL, ...] = (ACL(int(Perms.ALL), ANYONE_ID_UNSAFE),)
#: ``ZooDefs.Ids.CREATOR_ALL_ACL``: all rights to the creator's authenticated ids.
CREATOR_ALL_ACL: tuple[ACL, ...] = (ACL(int(Perms.ALL), AUTH_IDS),)
#: ``ZooDefs.Ids.READ_ACL_UNSAFE``: anyone may read.
READ_ACL_UNSAFE: tuple[ACL, ...] = (ACL(int(Perms.READ), ANYONE_ID_UNSAFE),)

#: Schemes whose ids count as authenticated for the ``auth`` scheme (``isAuthenticated()``:
#: digest yes, ip no).
AUTHENTICATED_SCHEMES = ("digest",)
#: The scheme whose ids bypass every ACL check (ZooKeeper's ``super``, set by
#: ``zookeeper.DigestAuthenticationProvider.superDigest``).
SUPER_SCHEME = "super"


def generate_digest(id_password: str) -> str:
    """``DigestAuthenticationProvider.generateDigest``: "user:pw" -> "user:base64(sha1(user:pw))".

    The hash covers the whole "user:password" string, the name is kept in clear."""
    import hashlib  # here: only a digest ACL needs it (a node's start-up, issue 14)

    user = id_password.split(":", 1)[0]
    sha1 = hashlib.sha1(id_password.encode("utf-8")).digest()
    return f"{user}:{base64.b64encode(sha1).decode('ascii')}"


def digest_auth_id(id_password: str) -> Id:
    """The id a session gains by ``addauth digest user:password``."""
    return Id("digest", generate_digest(id_password))


def _java_split_count(text: str, sep: str) -> int:
    """How many parts Java's ``String.split`` returns (trailing empty strings removed)."""
    parts = text.split(sep)
    while parts and parts[-1] == "":
        parts.pop()
    return len(parts) if parts else 1 if text == "" else 0


def _ip_network(spec: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(spec, strict=False)
    except ValueError:
        return None


def id_is_valid(scheme: str, ident: str) -> bool:
    """``ServerAuthenticationProvider.isValid`` for the schemes this server knows."""
    if scheme == "digest":
        return _java_split_count(ident, ":") == 2
    if scheme == "ip":
        return _ip_network(ident) is not None
    return False


def _matches(scheme: str, auth_id: str, acl_id: str) -> bool:
    """``ServerAuthenticationProvider.matches``: the session's id ``auth_id`` and the ACL's."""
    if scheme == "ip":
        net = _ip_network(acl_id)
        try:
            addr = ipaddress.ip_address(auth_id)
        except ValueError:
            return False
        return net is not None and addr.version == net.version and addr in net
    return auth_id == acl_id


def check_acl(acl: Sequence[ACL], perm: int, auth_ids: Iterable[Id]) -> bool:
    """``ZooKeeperServer.checkACL``: may a session with ``auth_ids`` do ``perm`` on a node with
    ``acl``? An empty ACL allows everything; a ``super`` id passes every check; otherwise an
    entry must grant the permission to world:anyone or to one of the session's ids."""
    if not acl:
        return True
    ids = list(auth_ids)
    if any(a.scheme == SUPER_SCHEME for a in ids):
        return True
    for entry in acl:
        if not entry.perms & perm:
            continue
        if entry.id.scheme == "world" and entry.id.id == "anyone":
            return True
        for auth in ids:
            if auth.scheme == entry.id.scheme and _matches(auth.scheme, auth.id, entry.id.id):
                return True
    return False


def fixup_acl(path: str, auth_ids: Sequence[Id], acl: Sequence[object] | None) -> tuple[ACL, ...]:
    """``PrepRequestProcessor.fixupACL``: the ACL a create or setACL stores, or INVALIDACL.

    Duplicates go (first kept); world:anyone is kept; ``auth`` entries become one entry per
    authenticated id of the session with the same perms (none: INVALIDACL); any other scheme
    must be one this server knows and its id valid for it. ``acl`` may hold any objects with
    ``perms`` and ``id.scheme`` / ``id.id`` (the codec's records): the result is this module's
    frozen ``ACL``s."""
    if not isinstance(acl, (list, tuple)) or not acl:
        raise KeeperError(Code.INVALIDACL, path, "an ACL needs at least one entry")
    unique: list[ACL] = []
    for entry in acl:
        ident = getattr(entry, "id", None)
        perms = getattr(entry, "perms", None)
        scheme = getattr(ident, "scheme", None)
        value = getattr(ident, "id", None)
        if value is None and scheme == "auth":
            value = ""  # kazoo writes the empty id as a null string; the auth scheme ignores it
        if type(perms) is not int or not isinstance(scheme, str) or not isinstance(value, str):
            raise KeeperError(Code.INVALIDACL, path, f"malformed ACL entry {entry!r}")
        a = ACL(perms, Id(scheme, value))
        if a not in unique:
            unique.append(a)
    if len(unique) > ACL_MAX_ENTRIES:
        raise KeeperError(Code.INVALIDACL, path, f"more than {ACL_MAX_ENTRIES} ACL entries")
    out: list[ACL] = []
    for a in unique:
        if a.id.scheme == "world" and a.id.id == "anyone":
            out.append(a)
        elif a.id.scheme == "auth":
            authenticated = [i for i in auth_ids if i.scheme in AUTHENTICATED_SCHEMES]
            if not authenticated:
                raise KeeperError(Code.INVALIDACL, path,
                                  "the auth scheme needs an authenticated session (addauth digest user:password first)")
            out.extend(ACL(a.perms, i) for i in authenticated)
        elif id_is_valid(a.id.scheme, a.id.id):
            out.append(a)
        else:
            raise KeeperError(Code.INVALIDACL, path, f"unknown scheme or invalid id {a.id.scheme}:{a.id.id}")
    return tuple(out)
