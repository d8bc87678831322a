"""The tree's txns on the wire: every kind round-trips through msgpack, alone and in one union
with the game's ops (as they will share the log's ``Txn.op``), and the tags do not collide."""

from __future__ import annotations

import msgspec
import pytest

from zmqzab.messages import Guess, NewGame
from zmqzab.tree.acl import ACL, OPEN_ACL_UNSAFE, Id
from zmqzab.tree.stat import CONTAINER_OWNER
from zmqzab.tree.txns import (CheckVersionTxn, CreateTxn, DeleteTxn, ErrorTxn, MultiTxn, SetACLTxn,
                              SetDataTxn, TreeTxn)

pytestmark = [pytest.mark.zk]

SAMPLES = [
    CreateTxn("/a/b0000000001", b"\x00\xff", OPEN_ACL_UNSAFE, 0x1234, 2),
    CreateTxn("/c", b"", (ACL(31, Id("digest", "u:h=")),), CONTAINER_OWNER, 1),
    DeleteTxn("/a"),
    SetDataTxn("/a", b"x" * 100, 7),
    SetACLTxn("/a", (ACL(1, Id("world", "anyone")), ACL(16, Id("ip", "10.0.0.0/8"))), -(1 << 31)),
    CheckVersionTxn("/a", 3),
    ErrorTxn(-101),
    MultiTxn((CreateTxn("/m", b"", OPEN_ACL_UNSAFE, 0, 1), ErrorTxn(-110), ErrorTxn(-2))),
    MultiTxn(()),
]


@pytest.mark.parametrize("txn", SAMPLES, ids=lambda t: type(t).__name__)
def test_round_trip(txn):
    data = msgspec.msgpack.encode(txn)
    assert msgspec.msgpack.Decoder(TreeTxn).decode(data) == txn
    assert msgspec.msgpack.Decoder(TreeTxn | Guess | NewGame).decode(data) == txn


def test_tags_are_distinct_from_each_other_and_the_games():
    tags = [t.__struct_config__.tag for t in (CreateTxn, DeleteTxn, SetDataTxn, SetACLTxn, CheckVersionTxn,
                                               ErrorTxn, MultiTxn, Guess, NewGame)]
    assert len(set(tags)) == len(tags)


def test_a_multi_cannot_nest():
    nested = msgspec.msgpack.encode(MultiTxn((MultiTxn(()),)))  # type: ignore[arg-type]
    with pytest.raises(msgspec.ValidationError):
        msgspec.msgpack.Decoder(TreeTxn).decode(nested)
