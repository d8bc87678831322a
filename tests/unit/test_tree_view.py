"""The live view's tree and sessions (zmqzab/tree/view.py): built from a tree and a sessions
table made by applying txns, as every replica makes them."""

from __future__ import annotations

import json

import pytest

from tests.unit.tree_harness import SESSION, Zk
from zmqzab.tree.acl import OPEN_ACL_UNSAFE
from zmqzab.tree.requests import CreateMode, CreateRequest, OpCode
from zmqzab.tree.sessions import CloseSessionTxn, CreateSessionTxn, Sessions
from zmqzab.tree.view import (DATA_PREVIEW_CHARS, data_preview, sessions_view, tree_view)

pytestmark = [pytest.mark.zk]

OTHER = 0x100000ABCD0000
#: A session id of a node id >= 128: a negative Java long.
NEGATIVE = -0x7F00000000000001


class World:
    """A tree and its sessions table, both changed only by applying txns in zxid order."""

    def __init__(self) -> None:
        self.zk = Zk()
        self.sessions = Sessions()

    def open(self, session_id: int, timeout_ms: int = 10_000) -> None:
        self.zk.zxid += 1
        self.sessions.apply(CreateSessionTxn(session_id, timeout_ms), self.zk.zxid)
        self.zk.prep.applied(self.zk.zxid)

    def close(self, session_id: int) -> None:
        self.zk.zxid += 1
        self.sessions.apply(CloseSessionTxn(session_id), self.zk.zxid, self.zk.tree.delete_ephemerals)
        self.zk.prep.applied(self.zk.zxid)

    def view(self, watches=None, limit: int = 300) -> dict:
        return tree_view(self.zk.tree, self.sessions, watches or {}, limit)


def by_path(view: dict) -> dict[str, dict]:
    return {n["path"]: n for n in view["nodes"]}


@pytest.fixture
def w() -> World:
    return World()


def test_a_lock_recipe_shows_its_ephemeral_sequential_nodes(w):
    w.open(SESSION)
    w.open(OTHER)
    w.zk.create("/app")
    w.zk.create("/app/lock")
    a = w.zk.create("/app/lock/x-", b"", CreateMode.EPHEMERAL_SEQUENTIAL, session=SESSION)
    b = w.zk.create("/app/lock/x-", b"hello", CreateMode.EPHEMERAL_SEQUENTIAL, session=OTHER)
    assert (a.path, b.path) == ("/app/lock/x-0000000000", "/app/lock/x-0000000001")
    v = w.view({"/app/lock": 2, "/app/lock/x-0000000000": 1})
    nodes = by_path(v)
    x1 = nodes["/app/lock/x-0000000001"]
    assert x1 == {
        "path": "/app/lock/x-0000000001", "data": "hello", "data_hex": False, "data_length": 5,
        "version": 0, "cversion": 0, "aversion": 0, "num_children": 0,
        "czxid": f"0x{b.stat.czxid:x}", "mzxid": f"0x{b.stat.mzxid:x}",
        "ephemeral_owner": "0x100000abcd0000", "owner_open": True, "container": False,
        "seq_next": 2, "watches": 0}
    assert nodes["/app/lock/x-0000000000"]["ephemeral_owner"] == f"0x{SESSION:x}"
    assert nodes["/app/lock/x-0000000000"]["watches"] == 1
    lock = nodes["/app/lock"]
    assert (lock["cversion"], lock["num_children"], lock["watches"]) == (2, 2, 2)
    assert lock["ephemeral_owner"] is None and lock["owner_open"] is None
    assert nodes["/"]["seq_next"] is None
    assert v["znodes"] == 4 + 4 and v["truncated"] is False


def test_paths_come_parents_first_children_by_name(w):
    # "/a-b" sorts between "/a" and "/a/b" as plain strings ('-' < '/'): the view keeps a
    # parent's subtree together instead.
    for p in ("/b", "/a", "/a-b", "/a/z", "/a/b", "/a/b/c"):
        w.zk.create(p)
    assert [n["path"] for n in w.view()["nodes"]] == [
        "/", "/a", "/a/b", "/a/b/c", "/a/z", "/a-b", "/b", "/zookeeper", "/zookeeper/config",
        "/zookeeper/quota"]


def test_the_limit_keeps_the_first_nodes_and_says_truncated(w):
    w.zk.create("/q")
    for _ in range(20):
        w.zk.create("/q/item-", b"", CreateMode.PERSISTENT_SEQUENTIAL)
    v = w.view(limit=5)
    assert v["truncated"] is True and v["znodes"] == 4 + 21
    assert [n["path"] for n in v["nodes"]] == ["/", "/q", "/q/item-0000000000", "/q/item-0000000001",
                                               "/q/item-0000000002"]
    assert w.view(limit=25)["truncated"] is False
    assert len(w.view(limit=25)["nodes"]) == 25
    with pytest.raises(ValueError, match="limit"):
        w.view(limit=0)


def test_versions_and_the_sequential_counter_after_writes_and_deletes(w):
    w.zk.create("/q")
    w.zk.create("/q/n-", b"", CreateMode.PERSISTENT_SEQUENTIAL)
    w.zk.create("/q/n-", b"", CreateMode.PERSISTENT_SEQUENTIAL)
    w.zk.delete("/q/n-0000000000")
    w.zk.set_data("/q/n-0000000001", b"v1")
    r = w.zk.set_data("/q/n-0000000001", b"v2")
    n = by_path(w.view())["/q/n-0000000001"]
    # The delete left the parent's cversion: the next name is still 2, never a repeat of 0.
    assert (n["version"], n["seq_next"], n["data"], n["mzxid"]) == (2, 2, "v2", f"0x{r.stat.mzxid:x}")
    assert n["czxid"] != n["mzxid"]
    assert by_path(w.view())["/q"]["num_children"] == 1


def test_a_container_is_marked_and_owns_no_session(w):
    w.zk.do(OpCode.createContainer, CreateRequest("/c", b"", OPEN_ACL_UNSAFE, CreateMode.CONTAINER))
    c = by_path(w.view())["/c"]
    assert c["container"] is True and c["ephemeral_owner"] is None


def test_an_ephemeral_whose_session_is_not_open_is_flagged(w):
    # Prepare refuses an ephemeral of an unknown session on a leader; a replica applies what it
    # is given, so the view must show such a node as orphaned rather than hide it.
    w.zk.create("/e", b"", CreateMode.EPHEMERAL, session=OTHER)
    assert by_path(w.view())["/e"]["owner_open"] is False
    w.open(OTHER)
    assert by_path(w.view())["/e"]["owner_open"] is True


@pytest.mark.parametrize("data, preview, is_hex", [
    (b"", "", False),
    (b"hello", "hello", False),
    ("żółw ünïcode".encode(), "żółw ünïcode", False),
    (b"line1\nline2\tend", "line1\\nline2\\tend", False),
    (b"\x00\x01\xff", "0001ff", True),
    (b"bell\x07", "62656c6c07", True),
    (b"\xc3\x28", "c328", True),  # not UTF-8
])
def test_data_preview_is_text_when_printable_else_hex(data, preview, is_hex):
    assert data_preview(data) == (preview, is_hex)


def test_long_data_is_cut_to_the_preview_length():
    text, is_hex = data_preview(b"a" * 1000)
    assert not is_hex and len(text) == DATA_PREVIEW_CHARS and text == "a" * 63 + "…"
    exact, _ = data_preview(b"b" * DATA_PREVIEW_CHARS)
    assert exact == "b" * DATA_PREVIEW_CHARS
    text, is_hex = data_preview(bytes(range(256)) * 4096)  # 1 MiB, ZooKeeper's default max
    assert is_hex and len(text) <= DATA_PREVIEW_CHARS and text.endswith("…")
    assert text.startswith("000102")
    # A multi-byte character cut by the bytes read is not "binary".
    text, is_hex = data_preview("ż".encode() * 1000)
    assert not is_hex and text == "ż" * 63 + "…"
    # Newlines widen the text: the cut counts what is shown.
    text, _ = data_preview(b"\n" * 40)
    assert len(text) == DATA_PREVIEW_CHARS and text.endswith("…")


def test_the_view_reports_the_whole_data_length(w):
    w.zk.create("/big", b"x" * 5000)
    n = by_path(w.view())["/big"]
    assert n["data_length"] == 5000 and len(n["data"]) == DATA_PREVIEW_CHARS


def test_sessions_view_counts_ephemerals_and_takes_expiry_from_the_leader(w):
    w.open(OTHER, 10_000)
    w.open(SESSION, 4_000)
    w.zk.create("/e1", b"", CreateMode.EPHEMERAL, session=OTHER)
    w.zk.create("/e2", b"", CreateMode.EPHEMERAL, session=OTHER)
    leader = sessions_view(w.sessions, {OTHER: 7400}, w.zk.tree)
    assert leader == [
        {"id": f"0x{SESSION:x}", "timeout_ms": 4000, "expires_in_ms": None, "ephemerals": 0},
        {"id": "0x100000abcd0000", "timeout_ms": 10000, "expires_in_ms": 7400, "ephemerals": 2}]
    follower = sessions_view(w.sessions, None, w.zk.tree)
    assert [s["expires_in_ms"] for s in follower] == [None, None]
    assert [s["ephemerals"] for s in sessions_view(w.sessions, None)] == [None, None]


def test_a_closed_session_leaves_the_view_with_its_ephemerals(w):
    w.open(OTHER)
    w.zk.create("/e", b"", CreateMode.EPHEMERAL, session=OTHER)
    w.close(OTHER)
    assert sessions_view(w.sessions, {}, w.zk.tree) == []
    assert "/e" not in by_path(w.view())


def test_negative_session_ids_print_as_zookeeper_prints_them(w):
    w.open(NEGATIVE)
    [s] = sessions_view(w.sessions, {NEGATIVE: 1}, w.zk.tree)
    assert s["id"] == f"0x{NEGATIVE & (2**64 - 1):x}" and s["id"].startswith("0x80")


def test_sessions_view_is_bounded(w):
    for sid in range(1, 11):
        w.open(sid)
    assert [s["id"] for s in sessions_view(w.sessions, None, limit=3)] == ["0x1", "0x2", "0x3"]
    with pytest.raises(ValueError, match="limit"):
        sessions_view(w.sessions, None, limit=0)


def test_the_view_is_json(w):
    w.open(OTHER)
    w.zk.create("/e", b"\x00bin", CreateMode.EPHEMERAL, session=OTHER)
    doc = {"tree": w.view({"/e": 1}), "sessions": sessions_view(w.sessions, {OTHER: 5}, w.zk.tree)}
    assert json.loads(json.dumps(doc)) == doc


def test_a_znode_with_null_data_is_shown_as_empty():
    """zkCli's `create /x` sends null data, which the tree keeps as null (ZooKeeper tells it
    from empty data). The view once took len(None): every node died at its next status."""
    from zmqzab.state import ReplicatedState
    from zmqzab.messages import Txn
    from zmqzab.tree.acl import OPEN_ACL_UNSAFE
    from zmqzab.tree.txns import CreateTxn
    from zmqzab.tree.view import tree_view

    s = ReplicatedState()
    s.apply(Txn(1, CreateTxn("/x", None, OPEN_ACL_UNSAFE, 0, -1), 0))
    node = next(n for n in tree_view(s.tree, s.sessions, {})["nodes"] if n["path"] == "/x")
    assert node["data"] == "" and node["data_length"] == 0
