"""Lesson "lock": ZooKeeper's lock recipe (kazoo's ``Lock``) over the simulator's ZooKeeper
clients (zmqzab/sim/zkclients.py, the real client frames to every node's client port): each
contender creates an ephemeral sequential znode under /lock; the lowest holds the lock; the
next one watches the znode just before its own. The holder's only node dies; its session
expires on the leader, the session's ephemeral goes, the watch fires and the lock passes on.
As README's walk-through with two kazoo terminals, the holder can reach that one node only
(``hosts`` naming a single server): with every node in its list it would reconnect and keep its
session, and the lock."""

from __future__ import annotations

from zmqzab.lessons.script import Script, fault
from zmqzab.sim.zkclients import EPHEMERAL, OPEN_ACL, SEQUENTIAL, ZkClient
from zmqzab.zk import records as r
from zmqzab.tree.errors import Code
from zmqzab.zk.opcodes import EventType, OpCode

#: The holder's session timeout (ms): 40 ticks of 50 ms, so that it expires within the lesson.
HOLDER_TIMEOUT_MS = 2_000


def run(s: Script) -> None:
    sim = s.sim
    assert sim.zk is not None, "the lock lesson needs ZooKeeper clients"
    sim.zk.new_requests = False  # the clients keep their sessions; the script sends the rest
    holder, waiter = sim.zk.clients
    holder.ask_ms, waiter.ask_ms = HOLDER_TIMEOUT_MS, 4_000
    for client in (holder, waiter):
        client.xids_per_connection = False
    ld = s.wait_serving()
    a, b = [i for i in sim.ids if i != ld][:2]

    def pin() -> None:
        # The holder's host list names node a only; the waiter's names node b first.
        holder.next_node = a
        if not waiter.connected:
            waiter.next_node = b

    s.every_step.append(pin)
    s.until("both clients connected", lambda: holder.connected and waiter.connected, 60)
    for client, node in ((holder, a), (waiter, b)):
        if client.node != node and client.conn is not None:
            sim.zk.cut(client.conn)  # it reconnects, to its pinned node, with its session
    s.until("both clients connected to their nodes", lambda: holder.connected and waiter.connected
            and holder.node == a and waiter.node == b, 60)
    s.say("sessions", f"Two clients hold sessions: {holder.name} on n{a} (the only node in its host "
          f"list, session timeout {holder.timeout_ms} ms), {waiter.name} on n{b}. n{ld} leads; "
          "every session lives in the replicated state, not on the node it connected to.")

    def send(client: ZkClient, what: str, opcode: int, body) -> tuple | None:
        """Send once and wait: the reply, or None when the request was lost with its
        connection (CONNECTIONLOSS: the network may cut a client's link; its outcome unknown)."""
        s.until(f"{client.name} is connected", lambda: client.connected, 30)
        xid = client.request(opcode, body)
        s.until(what, lambda: xid in client.replies or all(x.xid != xid for x in client.inflight), 30)
        return client.replies.get(xid)

    def call(client: ZkClient, what: str, opcode: int, body) -> tuple:
        """A request that may be sent again after CONNECTIONLOSS (kazoo's retry), once the
        client has reconnected with its session."""
        for _ in range(5):
            got = send(client, what, opcode, body)
            if got is not None:
                return got
        s.fail(f"{what}: the request was lost with its connection five times")
        raise AssertionError("unreachable")

    def contend(client: ZkClient) -> tuple[str, list[str]]:
        """kazoo's Lock: create an ephemeral sequential znode whose name holds this contender's
        id, unless one is there already (a create whose reply was lost may have happened);
        return it and the contenders in sequence order."""
        prefix = f"{client.name}__lock__"
        listing = lambda: sorted(call(client, f"{client.name} lists /lock", OpCode.getChildren,  # noqa: E731
                                      r.GetChildrenRequest("/lock", False))[1].children, key=lambda c: c[-10:])
        for _ in range(3):
            mine = [c for c in listing() if c.startswith(prefix)]
            if mine:
                break
            got = send(client, f"{client.name}'s contender znode is created", OpCode.create,
                       r.CreateRequest("/lock/" + prefix, client.name.encode(), OPEN_ACL,
                                       EPHEMERAL | SEQUENTIAL))
            s.expect(got is None or got[0].err == 0, f"{client.name} creates its contender znode")
        order = listing()
        return "/lock/" + next(c for c in order if c.startswith(prefix)), order

    header, _ = call(holder, "/lock is created", OpCode.create, r.CreateRequest("/lock", b"", OPEN_ACL, 0))
    s.expect(header.err in (0, Code.NODEEXISTS), "/lock exists")
    mine, order = contend(holder)
    s.expect(order == [mine.rsplit("/", 1)[1]], f"{mine} is the only contender")
    s.say("holder", f"{holder.name} creates {mine}: ephemeral (it lives as long as the session) and "
          f"sequential (the leader numbers it). It is the lowest under /lock: {holder.name} holds the lock.")
    theirs, order = contend(waiter)
    s.expect(order == [mine.rsplit("/", 1)[1], theirs.rsplit("/", 1)[1]], f"{theirs} comes after {mine}")
    header, _ = call(waiter, f"{waiter.name} watches {mine}", OpCode.exists, r.ExistsRequest(mine, True))
    s.expect(header.err == 0, f"{mine} exists when {waiter.name} sets its watch")
    s.say("waiter", f"{waiter.name} creates {theirs}, sees {mine} before it, and sets a watch on "
          f"{mine} alone (exists with watch). It waits.", pause=True,
          question="Why watch only the znode just before yours, not all of /lock's children?")
    s.ticks(5)
    sim.crash(a, "scripted: the holder's node dies")
    s.when(f"n{a} dies", fault(f"crash n{a}"))
    s.say("crash", f"n{a} dies. {holder.name}'s connection closes, and with n{a} the only node in its "
          "list it cannot reconnect.", pause=True,
          question=f"Does {holder.name} still hold the lock? Who decides, and when?")
    session = holder.session_id
    s.when(f"{holder.name} fails to reconnect", lambda x: x.kind == "client"
           and x.text.startswith(f"{holder.name} -> n{a} connect"), 20)
    s.when(f"n{a} refuses {holder.name}", lambda x: x.kind == "client"
           and x.text.startswith(f"{holder.name} connection to n{a} lost"), 20)
    open_then = [x.session_id for x in s.peer(s.leader() or ld).state.sessions.open_sessions()]
    s.expect(session in open_then, f"{holder.name}'s session is still open after n{a} died")
    s.say("retry", f"{holder.name} tries n{a} again: refused, it is down. Its session is still open "
          f"in the replicated state; the leader n{s.leader()} counts down its timeout "
          f"({holder.timeout_ms} ms) from the last time it heard of it.")
    leader_tree = lambda: sim.nodes[s.leader() or ld].peer.state.tree.nodes  # noqa: E731
    s.until(f"the leader expires {holder.name}'s session and deletes {mine}",
            lambda: mine not in leader_tree(), 2 * HOLDER_TIMEOUT_MS // 50 + 40)
    s.say("expired", f"The leader n{s.leader()} heard nothing of {holder.name}'s session for its "
          f"timeout: it proposed closeSession; once committed, every node deletes the session's "
          f"ephemeral {mine}.")
    s.until(f"{waiter.name}'s watch fires", lambda: any(
        ev.type == EventType.NodeDeleted and ev.path == mine for _, ev in waiter.events), 30)
    _, kids = call(waiter, f"{waiter.name} lists /lock again", OpCode.getChildren, r.GetChildrenRequest("/lock", False))
    s.expect(list(kids.children) == [theirs.rsplit("/", 1)[1]], f"{theirs} is now the lowest")
    s.until(f"{mine} is gone on every node", lambda: all(
        sim.nodes[i].peer.state.tree.nodes.get(mine) is None for i in sim.ids if sim.nodes[i].up), 10)
    open_now = [x.session_id for x in s.peer(s.leader() or ld).state.sessions.open_sessions()]
    s.expect(session not in open_now, f"{holder.name}'s session is closed")
    s.say("passed", f"{waiter.name}'s watch fires (NodeDeleted {mine}); it lists /lock again: {theirs} "
          f"is the lowest. {waiter.name} holds the lock.", pause=True,
          question=f"With every node in {holder.name}'s host list, what would have happened instead?")
