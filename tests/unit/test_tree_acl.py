"""ACLs: the digest as ZooKeeper computes it, fixupACL (auth expansion, INVALIDACL) and
checkACL (world, digest, ip, super, the permission bits)."""

from __future__ import annotations

import pytest

from zmqzab.tree.acl import (ACL, CREATOR_ALL_ACL, OPEN_ACL_UNSAFE, READ_ACL_UNSAFE, Id, Perms,
                             check_acl, digest_auth_id, fixup_acl, generate_digest)
from zmqzab.tree.errors import Code, KeeperError

pytestmark = [pytest.mark.zk]

ALICE = digest_auth_id("alice:secret")
BOB = digest_auth_id("bob:other")
IP = Id("ip", "127.0.0.1")


def test_digest_is_zookeepers():
    # The value `echo -n user:password | openssl dgst -binary -sha1 | openssl base64` gives,
    # and the one ZooKeeper's documentation and kazoo's make_digest_acl_credential produce.
    assert generate_digest("user:password") == "user:tpUq/4Pn5A64fVZyQ0gOJ8ZWqkY="
    # The whole "user:password" is hashed, and a password may hold colons.
    assert generate_digest("u:a:b") != generate_digest("u:a")
    assert ALICE == Id("digest", generate_digest("alice:secret"))


def test_presets():
    assert int(Perms.ALL) == 31 == Perms.READ | Perms.WRITE | Perms.CREATE | Perms.DELETE | Perms.ADMIN
    assert [int(p) for p in (Perms.READ, Perms.WRITE, Perms.CREATE, Perms.DELETE, Perms.ADMIN)] == [1, 2, 4, 8, 16]
    assert OPEN_ACL_UNSAFE == (ACL(31, Id("world", "anyone")),)
    assert CREATOR_ALL_ACL == (ACL(31, Id("auth", "")),)
    assert READ_ACL_UNSAFE == (ACL(1, Id("world", "anyone")),)


def test_world_anyone_grants_exactly_its_bits():
    acl = READ_ACL_UNSAFE
    assert check_acl(acl, Perms.READ, [])
    for perm in (Perms.WRITE, Perms.CREATE, Perms.DELETE, Perms.ADMIN):
        assert not check_acl(acl, perm, [ALICE])


def test_digest_grants_only_the_matching_id():
    acl = (ACL(Perms.READ | Perms.WRITE, ALICE),)
    assert check_acl(acl, Perms.WRITE, [IP, ALICE])
    assert not check_acl(acl, Perms.WRITE, [BOB])
    assert not check_acl(acl, Perms.WRITE, [])
    assert not check_acl(acl, Perms.DELETE, [ALICE])
    # the same id text under another scheme is another id
    assert not check_acl(acl, Perms.READ, [Id("ip", ALICE.id)])


def test_ip_scheme_matches_networks():
    acl = (ACL(Perms.ALL, Id("ip", "10.1.0.0/16")),)
    assert check_acl(acl, Perms.READ, [Id("ip", "10.1.2.3")])
    assert not check_acl(acl, Perms.READ, [Id("ip", "10.2.0.1")])
    assert not check_acl(acl, Perms.READ, [Id("ip", "not-an-address")])
    assert check_acl((ACL(Perms.READ, IP),), Perms.READ, [IP])


def test_empty_acl_and_super_allow_everything():
    assert check_acl((), Perms.ADMIN, [])
    assert check_acl((ACL(Perms.READ, ALICE),), Perms.ADMIN, [Id("super", "")])


def test_fixup_expands_auth_to_the_sessions_authenticated_ids():
    assert fixup_acl("/n", [IP, ALICE, BOB], CREATOR_ALL_ACL) == (ACL(31, ALICE), ACL(31, BOB))


def test_fixup_keeps_order_and_drops_duplicates():
    acl = (ACL(1, ALICE), ACL(31, Id("world", "anyone")), ACL(1, ALICE))
    assert fixup_acl("/n", [], acl) == (ACL(1, ALICE), ACL(31, Id("world", "anyone")))


@pytest.mark.parametrize("acl,auth", [
    ((), []),  # empty
    (None, []),
    (CREATOR_ALL_ACL, []),  # auth without authentication
    (CREATOR_ALL_ACL, [IP]),  # ip ids are not authenticated ones
    ((ACL(31, Id("world", "everyone")),), []),  # world has one id
    ((ACL(31, Id("digest", "alice")),), []),  # digest ids are user:hash
    ((ACL(31, Id("digest", "a:b:c")),), []),
    ((ACL(31, Id("ip", "300.1.1.1")),), []),
    ((ACL(31, Id("sasl", "alice")),), []),  # a scheme this server does not know
    (("not an acl",), []),
])
def test_fixup_refuses_invalid_acls(acl, auth):
    with pytest.raises(KeeperError) as e:
        fixup_acl("/n", auth, acl)
    assert e.value.code == Code.INVALIDACL


def test_fixup_accepts_records_of_another_type_with_the_same_fields():
    class JuteId:
        scheme, id = "world", "anyone"

    class JuteACL:
        perms, id = 31, JuteId()

    assert fixup_acl("/n", [], [JuteACL()]) == OPEN_ACL_UNSAFE


def test_codes_are_zookeepers():
    assert {c.name: int(c) for c in (Code.OK, Code.RUNTIMEINCONSISTENCY, Code.BADARGUMENTS, Code.NONODE,
                                     Code.NOAUTH, Code.BADVERSION, Code.NOCHILDRENFOREPHEMERALS,
                                     Code.NODEEXISTS, Code.NOTEMPTY, Code.SESSIONEXPIRED, Code.INVALIDACL,
                                     Code.SESSIONMOVED, Code.NOWATCHER, Code.THROTTLEDOP)} == {
        "OK": 0, "RUNTIMEINCONSISTENCY": -2, "BADARGUMENTS": -8, "NONODE": -101, "NOAUTH": -102,
        "BADVERSION": -103, "NOCHILDRENFOREPHEMERALS": -108, "NODEEXISTS": -110, "NOTEMPTY": -111,
        "SESSIONEXPIRED": -112, "INVALIDACL": -114, "SESSIONMOVED": -118, "NOWATCHER": -121,
        "THROTTLEDOP": -127}
    assert len({int(c) for c in Code}) == len(Code)  # no alias hides a code
