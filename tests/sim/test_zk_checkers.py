"""Each ZooKeeper checker of the simulator (zmqzab/sim/zk_checkers.py) fails on a broken history.

Every test feeds the checkers a committed history (or a client's reply) that a buggy server
could produce, applied by the real ``ReplicatedState``, and expects the named property to be
violated; a good history beside it passes. What bug each would catch is in its docstring.
"""

from __future__ import annotations

import pytest

from zmqzab.messages import Txn
from zmqzab.sim.checkers import Checkers, Violation
from zmqzab.sim.zk_checkers import ZkCheckers, client_stat
from zmqzab.sim.zkclients import Sent
from zmqzab.state import ReplicatedState
from zmqzab.tree.acl import OPEN_ACL_UNSAFE
from zmqzab.tree.sessions import CloseSessionTxn, CreateSessionTxn
from zmqzab.tree.txns import CreateTxn, DeleteTxn, SetDataTxn
from zmqzab.zk import records as r
from zmqzab.zk.opcodes import OpCode
from zmqzab.zkapi.ops import CLOSE_SESSION, CREATE_SESSION, ZkTxn
from zmqzab.zxid import make_zxid

pytestmark = pytest.mark.zk

S1, S2 = 0x100000000000001, 0x200000000000001


class History:
    """One node applying txns through the real state, watched by the checkers."""

    def __init__(self, nodes: int = 1) -> None:
        self.base = Checkers(list(range(1, nodes + 1)))
        self.zk = ZkCheckers(self.base)
        self.states = {i: ReplicatedState() for i in range(1, nodes + 1)}
        self.counter = 0
        self.cxid = 0

    def commit(self, inner, sid: int = S1, cxid: int | None = None, opcode: int | None = None,
               nodes: tuple[int, ...] = (1,)) -> int:
        self.counter += 1
        if cxid is None:
            self.cxid += 1
            cxid = self.cxid
        if opcode is None:
            opcode = (CREATE_SESSION if type(inner) is CreateSessionTxn else CLOSE_SESSION
                      if type(inner) is CloseSessionTxn else int(OpCode.create))
        txn = Txn(zxid=make_zxid(1, self.counter), op=ZkTxn(sid, cxid, opcode, inner), ts_ms=7)
        for node in nodes:
            self.apply(node, txn)
        return txn.zxid

    def apply(self, node: int, txn: Txn) -> None:
        state = self.states[node]
        result = state.apply(txn)
        grown = len(self.base.gz)
        self.base.on_applied(node, txn, result, 1)
        self.zk.on_applied(node, state, txn, result, len(self.base.gz) != grown)

    def session(self, sid: int = S1) -> None:
        self.commit(CreateSessionTxn(sid, 4000), sid=sid, cxid=0)


def create(path: str, owner: int = 0, cversion: int = -1, data: bytes = b"") -> CreateTxn:
    return CreateTxn(path, data, OPEN_ACL_UNSAFE, owner, cversion)


def violated(prop: str):
    return pytest.raises(Violation, match=f"^{prop}")


def test_ephemerals_of_a_closed_session_must_be_gone():
    """Bug caught: a closeSession whose paths (ZooKeeper's paths2Delete, listed by the leader's
    prepare) miss an ephemeral: every replica keeps a znode whose owner is gone, forever."""
    h = History()
    h.session()
    h.commit(create("/e1", owner=S1))
    h.commit(CloseSessionTxn(S1, None), cxid=0)  # a close that deletes them all: fine
    h.session(S2)
    h.commit(create("/e2", owner=S2), sid=S2)
    with violated("ephemerals die with their session"):
        h.commit(CloseSessionTxn(S2, ()), sid=S2, cxid=0)  # the leader listed none


def test_sequential_numbers_never_repeat_under_a_parent():
    """Bug caught: a sequential name from a stale parent cversion (a leader's prepare that
    forgot a pending create, or a cversion that went back): two clients get the same lock
    number. Deleting the first node does not make its number free again."""
    h = History()
    h.session()
    h.commit(create("/q"))
    h.commit(create("/q/s-0000000001"))
    h.commit(create("/q/s-0000000002"))
    h.commit(DeleteTxn("/q/s-0000000001"), opcode=int(OpCode.delete))
    with violated("sequential names never repeat"):
        h.commit(create("/q/lock-0000000001", cversion=4))


def test_a_failed_multi_creates_no_sequential_name():
    """A multi that failed created nothing: its name may be used by the next create."""
    from zmqzab.tree.txns import ErrorTxn, MultiTxn
    h = History()
    h.session()
    h.commit(create("/q"))
    h.commit(MultiTxn((create("/q/s-0000000001"), ErrorTxn(-110))), opcode=int(OpCode.multi))
    h.commit(create("/q/s-0000000001"))


def test_versions_never_go_back_on_a_node():
    """Bug caught: a setData txn whose version is not the node's + 1 (a prepare reading a stale
    version): a client's conditional write then succeeds against a version it never saw."""
    h = History()
    h.session()
    h.commit(create("/v"))
    h.commit(SetDataTxn("/v", b"1", 1), opcode=int(OpCode.setData))
    h.commit(SetDataTxn("/v", b"2", 2), opcode=int(OpCode.setData))
    with violated("znode versions only grow"):
        h.commit(SetDataTxn("/v", b"3", 1), opcode=int(OpCode.setData))


def test_a_recreated_znode_starts_its_versions_again():
    h = History()
    h.session()
    h.commit(create("/v"))
    h.commit(SetDataTxn("/v", b"1", 1), opcode=int(OpCode.setData))
    h.commit(DeleteTxn("/v"), opcode=int(OpCode.delete))
    h.commit(create("/v"))  # version 0 again: a new znode (new czxid)


def test_a_session_expires_at_most_once():
    """Bug caught: a leader whose expiry tracker proposes a closeSession twice (it lost the
    closing mark, or a new leader rebuilt its tracker from a stale table)."""
    h = History()
    h.session()
    h.commit(CloseSessionTxn(S1, None), cxid=0)
    with violated("a session expires at most once"):
        h.commit(CloseSessionTxn(S1, None), cxid=0)


def test_a_closed_session_never_comes_back():
    """Bug caught: a createSession proposed again for a closed id (a duplicated FORWARD of the
    createSession, a node handing out an id twice): the client's expired session lives again."""
    h = History()
    h.session()
    h.commit(CloseSessionTxn(S1, None), cxid=5)
    with violated("a closed session never comes back"):
        h.session()


def test_a_request_commits_at_most_once():
    """Bug caught: a FORWARD the network delivered twice, proposed twice by the leader: a
    write applied twice (a second sequential node nobody asked for)."""
    h = History()
    h.session()
    h.commit(create("/q"), cxid=3)
    h.counter += 1  # the same xid on another connection of the session (kazoo's numbering)
    h.apply(1, Txn(zxid=make_zxid(1, h.counter), ts_ms=7, op=ZkTxn(
        S1, 3, int(OpCode.create), create("/q/other"), 0x77)))
    with violated("a request commits at most once"):
        h.commit(create("/q/s-0000000001"), cxid=3)


def _replies(h: History, zxid: int):
    return h.base.gres[zxid]


def test_a_write_reply_must_be_the_committed_one():
    """Bug caught: a reply built from the wrong txn or the wrong connection's request (a
    create told a name that is not the one committed, a reply at a zxid of another session)."""
    h = History()
    h.session()
    zxid = h.commit(create("/q"), cxid=1)
    z2 = h.commit(create("/q/s-0000000001"), cxid=2)
    sent = Sent(2, int(OpCode.create), r.CreateRequest("/q/s-", b"", None, 2), 0)
    h.zk.on_reply("z1", S1, 0, sent, r.ReplyHeader(2, z2, 0), r.CreateResponse("/q/s-0000000001"))
    with violated("write replies agree with the committed history"):
        h.zk.on_reply("z1", S1, 0, sent, r.ReplyHeader(2, z2, 0), r.CreateResponse("/q/s-0000000000"))
    h.zk.session_zxid.clear()  # judged as a first reply (else its zxid going back fails first)
    with violated("write replies agree with the committed history"):
        h.zk.on_reply("z1", S1, 0, sent, r.ReplyHeader(2, zxid, 0), r.CreateResponse("/q/s-0000000001"))
    with violated("write replies agree with the committed history"):  # another session's txn
        h.zk.on_reply("z2", S2, 0, sent, r.ReplyHeader(2, z2, 0), r.CreateResponse("/q/s-0000000001"))


def test_a_read_must_show_the_tree_at_its_zxid():
    """Bug caught: a read served from a state other than the one its reply's zxid names (a
    read served before its session's write was applied, from a stale tree, or with a stat of
    another version): the client sees data the committed history never held at that point."""
    h = History()
    h.session()
    h.commit(create("/d", data=b"one"), cxid=1)
    z2 = h.commit(SetDataTxn("/d", b"two", 1), cxid=2, opcode=int(OpCode.setData))
    node = h.states[1].tree.nodes["/d"]
    good = r.GetDataResponse(b"two", client_stat(node))
    sent = Sent(3, int(OpCode.getData), r.GetDataRequest("/d", False), 0)
    h.zk.on_reply("z1", S1, 0, sent, r.ReplyHeader(3, z2, 0), good)
    with violated("reads agree with the committed history"):
        h.zk.on_reply("z1", S1, 0, sent, r.ReplyHeader(3, z2, 0), r.GetDataResponse(b"one", good.stat))
    with violated("reads agree with the committed history"):  # NONODE for a node that exists
        h.zk.on_reply("z2", S2, 0, sent, r.ReplyHeader(3, z2, -101), None)
    gone = Sent(4, int(OpCode.exists), r.ExistsRequest("/nothing", False), 0)
    with violated("reads agree with the committed history"):
        h.zk.on_reply("z2", S2, 0, gone, r.ReplyHeader(4, z2, 0), r.ExistsResponse(good.stat))


def test_zxids_in_a_session_never_go_back():
    """Bug caught: a reply with a zxid below one the session saw (a read served from a node
    behind the session's lastZxidSeen, or replies built out of apply order)."""
    h = History()
    h.zk.on_zxid("z1", S1, make_zxid(1, 5), "a reply")
    h.zk.on_zxid("z1", S1, make_zxid(1, 5), "a ping reply")
    h.zk.on_zxid("z2", S2, make_zxid(1, 2), "another session's reply")
    with violated("zxids in a session never go back"):
        h.zk.on_zxid("z1", S1, make_zxid(1, 4), "a reply")


def test_an_event_needs_a_watch():
    """Bug caught: a one-shot watch that fires twice, or an event sent to a connection that
    set no watch (watches keyed by the wrong connection)."""
    h = History()
    ev = r.WatcherEvent(3, 3, "/d")
    h.zk.on_event("z1", S1, ev, True)
    with violated("events only for watches held"):
        h.zk.on_event("z1", S1, ev, False)


def test_a_read_must_not_see_a_later_write_of_its_session():
    """Bug caught: a read queued behind its session's write W0 is served once W0 and the
    session's next write W1 were both applied (one batch), so it shows W1: the write's reply
    zxid is not above the read's."""
    h = History()
    h.session()
    z1 = h.commit(create("/d"), cxid=1)
    z2 = h.commit(SetDataTxn("/d", b"w1", 1), cxid=3, opcode=int(OpCode.setData))
    read = Sent(2, int(OpCode.getData), r.GetDataRequest("/d", False), 0)
    write = Sent(3, int(OpCode.setData), r.SetDataRequest("/d", b"w1", -1), 0)
    node = h.states[1].tree.nodes["/d"]
    h.zk.on_reply("z1", S1, 0, read, r.ReplyHeader(2, z2, 0), r.GetDataResponse(b"w1", client_stat(node)))
    with violated("a session's requests take effect in its order"):
        h.zk.on_reply("z1", S1, 0, write, r.ReplyHeader(3, z2, 0), r.SetDataResponse(client_stat(node)))
    assert z1 < z2


def test_a_watch_event_comes_before_a_reply_showing_its_change():
    """Bug caught: a watch event queued behind the replies of the step that applied its txn
    (or never sent): the client reads the new state, or learns a zxid past the change, and
    only then hears that its watch fired."""
    h = History()
    h.session()
    z1 = h.commit(create("/d"), cxid=1)
    h.zk.on_watch_set("z1", "data", "/d", z1)
    h.zk.on_zxid("z1", S1, z1, "a ping reply")  # nothing changed yet: fine
    z2 = h.commit(SetDataTxn("/d", b"new", 1), cxid=2, opcode=int(OpCode.setData))
    h.zk.on_watch_set("z2", "child", "/d", z1)  # no child of /d changed: not fired
    h.zk.on_zxid("z2", S2, z2, "a ping reply")
    with violated("a watch event comes before any reply that shows its change"):
        h.zk.on_zxid("z1", S1, z2, "a ping reply")
    h.zk.on_watches_fired("z1", [("data", "/d")])  # the event came: the ping after it is fine
    h.zk.on_zxid("z1", S1, z2, "a ping reply")


def test_an_event_needs_a_committed_change():
    """Bug caught: a watch fired for a txn that did not change what it watches (a setData
    trigger on the parent, a child watch fired by a data change)."""
    h = History()
    h.session()
    z1 = h.commit(create("/d"), cxid=1)
    h.zk.on_watch_set("z1", "data", "/d", z1)
    h.zk.on_watch_set("z2", "data", "/d", z1)
    with violated("events only for committed changes"):
        h.zk.on_watches_fired("z1", [("data", "/d")])
    h.commit(SetDataTxn("/d", b"x", 1), cxid=2, opcode=int(OpCode.setData))
    h.zk.on_watches_fired("z2", [("data", "/d")])


def test_a_session_reopens_only_with_its_password():
    """Bug caught: a reconnect whose password is not checked (or a session id that was never
    created taken as new): anyone who guesses an id takes over the session's ephemerals."""
    h = History()
    h.zk.on_probe("z1", "wrong password", r.ConnectResponse(0, 0, 0, bytes(16)), 1)
    with violated("a session is reopened only with its password"):
        h.zk.on_probe("z1", "wrong password", r.ConnectResponse(0, 4000, S1, bytes(16)), 1)


def test_set_watches_rearms_against_the_tree_as_it_is():
    """A node created and deleted while its exist watcher was away fires nothing at the
    reconnect (ZooKeeper's setWatches looks at the node now): the watch is armed again from
    setWatches' reply, and a reply after it is no late event."""
    h = History()
    h.session()
    z1 = h.commit(create("/q"), cxid=1)
    h.zk.on_watch_set("z1", "exist", "/q/x", z1)
    h.commit(create("/q/x"), cxid=2)
    z3 = h.commit(DeleteTxn("/q/x"), cxid=3, opcode=int(OpCode.delete))
    h.zk.on_watches_rearmed("z1", z3)
    h.zk.on_zxid("z1", S1, z3, "setWatches' reply")
    z4 = h.commit(create("/q/x"), cxid=4)
    with violated("a watch event comes before any reply that shows its change"):
        h.zk.on_zxid("z1", S1, z4, "a ping reply")


def test_a_live_session_is_never_answered_expired():
    """Bug caught: a node that has not applied a session's createSession yet answers the
    session's reconnect "expired" from its own table: the client loses a live session."""
    h = History()
    z1 = h.commit(CreateSessionTxn(S1, 4000), sid=S1, cxid=0)
    h.zk.on_told_expired("z1", S1, 2, z1)  # it had applied the create: its answer is its own
    h.zk.on_told_expired("z9", 0x7, 2, 0)  # a session never created: expired is right
    with violated("a live session is never answered expired"):
        h.zk.on_told_expired("z1", S1, 3, 0)
    h.commit(CloseSessionTxn(S1, None), cxid=0)
    h.zk.on_told_expired("z1", S1, 3, 0)  # closed since: expired is right anywhere


def test_a_parent_created_again_numbers_from_zero():
    """A parent deleted and created again (a container the leader removed) is a new znode:
    its sequential numbers start at 0 again, as in ZooKeeper."""
    h = History()
    h.session()
    h.commit(create("/q"))
    h.commit(create("/q/s-0000000000"))
    h.commit(DeleteTxn("/q/s-0000000000"), opcode=int(OpCode.delete))
    h.commit(DeleteTxn("/q"), opcode=int(OpCode.delete))
    h.commit(create("/q"))
    h.commit(create("/q/s-0000000000"))
