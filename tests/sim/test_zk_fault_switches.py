"""Server bugs planted in the ZooKeeper path of a random simulation: the checkers catch each.

Each test replaces one function of the server side (the leader's prepare, the replies, the
reads) with a version carrying a plausible bug, runs seeds with three ZooKeeper clients until
a run fails, and expects the property that bug breaks. The seed that caught it is printed.
The properties of an open, reported bug (test_zk_scenarios.KNOWN_OPEN) are counted, not
failed on, so that they do not hide the planted one.
"""

from __future__ import annotations

import pytest

import zmqzab.host.zk as host_zk
from tests.sim.test_zk_scenarios import KNOWN_OPEN
from zmqzab.sim.simulation import run_seed
from zmqzab.sim.zk_checkers import ZkCheckers
from zmqzab.tree.prepare import Preparer
from zmqzab.tree.sessions import CloseSessionTxn
from zmqzab.zk import records as r
from zmqzab.zk.opcodes import OpCode
from zmqzab.zk.protocol import encode_reply
from zmqzab.zkapi.ops import ZkTxn
from zmqzab.zkapi.prep import RequestPrep

pytestmark = pytest.mark.zk

#: Seeds tried per planted bug (each is caught well within it; the first seed is printed).
SEEDS = 30


def first_catch(monkeypatch, prop: str | tuple[str, ...]) -> int:
    fail = ZkCheckers.fail

    def counting_fail(self, p: str, detail: str) -> None:
        if p not in KNOWN_OPEN:
            fail(self, p, detail)

    monkeypatch.setattr(ZkCheckers, "fail", counting_fail)
    for seed in range(1, SEEDS + 1):
        result = run_seed(seed, ticks=150, zk_clients=3)
        if not result.ok:
            print(f"seed {seed}: {result.violation}")
            assert result.violation.prop in ((prop,) if isinstance(prop, str) else prop), result.violation
            return seed
    raise AssertionError(f"no seed of 1..{SEEDS} caught the planted bug ({prop})")


def test_a_close_that_lists_no_ephemerals(monkeypatch):
    """Planted: the leader's closeSession lists no paths to delete (ZooKeeper's paths2Delete
    taken from an empty view): the session's ephemerals outlive it on every node."""
    prepare = RequestPrep.prepare

    def broken(self, op, zxid):
        txn = prepare(self, op, zxid)
        if isinstance(txn, ZkTxn) and type(txn.txn) is CloseSessionTxn:
            return ZkTxn(txn.session_id, txn.cxid, txn.opcode, CloseSessionTxn(txn.session_id, ()))
        return txn

    monkeypatch.setattr(RequestPrep, "prepare", broken)
    first_catch(monkeypatch, "ephemerals die with their session")


def test_sequential_numbers_from_the_child_count(monkeypatch):
    """Planted: the sequential suffix from the parent's number of children instead of its
    cversion (which only grows): after a delete, a number is handed out again."""
    view = Preparer.view

    def broken(self, path):
        v = view(self, path)
        if v is None or path == "/":
            return v
        return type(v)(v.acl, v.version, v.child_count, v.aversion, v.ephemeral_owner, v.child_count)

    monkeypatch.setattr(Preparer, "view", broken)
    first_catch(monkeypatch, "sequential names never repeat")


def test_a_create_answered_with_the_name_it_asked_for(monkeypatch):
    """Planted: a create's reply carries the path the client asked for, not the one created
    (a sequential create told "/p0/s-" instead of "/p0/s-0000000007")."""
    write_reply = host_zk.write_reply

    def broken(request, zxid, result, err):
        if request.header.type == OpCode.create and not err:
            return encode_reply(request.header.xid, zxid, 0, r.CreateResponse(request.body.path))
        return write_reply(request, zxid, result, err)

    monkeypatch.setattr(host_zk, "write_reply", broken)
    first_catch(monkeypatch, "write replies agree with the committed history")


def test_a_read_reply_one_zxid_behind(monkeypatch):
    """Planted: a read's reply names the zxid before the one its tree was at (an off-by-one
    in the zxid a read reports): the answer is not the tree at the zxid it claims."""
    serve_read = host_zk.serve_read

    def broken(request, zxid, tree, watches, ctx, events):
        return serve_read(request, zxid - 1, tree, watches, ctx, events)

    monkeypatch.setattr(host_zk, "serve_read", broken)
    # Either checker sees it first: the reply's zxid is behind one the session saw already.
    first_catch(monkeypatch, ("reads agree with the committed history", "zxids in a session never go back"))
