"""Lesson "minority": the leader and one follower are cut off from the other three. The leader
still proposes, but 2 of 5 ACKs are no quorum: nothing commits there; it steps down, the
majority elects a new leader and commits; after the heal the old side's txn is cut away."""

from __future__ import annotations

from zmqzab.core.roles import Phase, Role
from zmqzab.lessons.script import Script, delivered, sent, traced
from zmqzab.zxid import fmt_zxid, zxid_epoch


def run(s: Script) -> None:
    sim = s.sim
    n = len(sim.ids)
    quorum = n // 2 + 1
    ld = s.wait_serving()
    first = sim.request(ld, 10, client="alice")
    s.answered(first, "alice's guess is committed")
    s.until("every node applied it", lambda: all(s.peer(i).zxid_committed >= first.answer[2] for i in sim.ids), 10)
    buddy = s.followers(ld)[0]
    rest = [i for i in sim.ids if i not in (ld, buddy)]
    s.say("serving", f"n{ld} leads epoch 1; alice's guess is committed at {fmt_zxid(first.answer[2])}.")
    sim.partition([[ld, buddy], rest])
    s.say("partition", f"The network splits: the leader n{ld} with n{buddy} (2 nodes) | "
          f"{', '.join(f'n{i}' for i in rest)} (3 nodes).", pause=True,
          question="Which side can still commit writes? Which side can elect a leader?")
    stranded = sim.request(ld, 20, client="bob")
    proposal = s.when("the leader proposes bob's guess", sent("PROPOSAL", src=ld, dst=buddy))
    zxid = proposal.msg.txns[-1].zxid
    z = fmt_zxid(zxid)
    s.say("proposal", f"bob's guess goes to n{ld}, which still believes it leads: PROPOSAL {z}.")
    s.when(f"n{buddy}'s ACK reaches the leader", delivered("ACK", src=buddy, dst=ld), 10)
    s.say("no-quorum", f"n{buddy} ACKs {z}: with n{ld} itself that is 2 of {n}, and {quorum} are "
          f"needed. The other ACKs can never arrive: {z} stays dashed, uncommitted.", pause=True,
          question="Why must the leader not commit with the ACKs it has, even though it is the leader?")
    limit = sim.core.sync_limit_ticks
    s.when("the old leader steps down", traced("role: LOOKING", ld), limit + 3)
    s.expect(s.peer(ld).zxid_committed < zxid, f"{z} was never committed in epoch 1")
    s.say("step-down", f"n{ld} heard from fewer than {quorum} nodes for syncLimit ({limit} ticks): it "
          "gives up leading and goes LOOKING. It cannot win an election without the other side.")
    s.until("the majority serves", lambda: s.leader() in rest, 60)
    new = s.leader()
    s.expect(s.peer(new).epoch == 2, "the majority's leader leads epoch 2")
    s.say("majority", f"{', '.join(f'n{i}' for i in rest)} are a quorum ({len(rest)} of {n}): they elect "
          f"n{new}, which leads epoch 2.")
    fresh = sim.request(new, 30, client="carol")
    s.answered(fresh, "carol's guess commits on the majority's side")
    s.expect(zxid_epoch(fresh.answer[2]) == 2, "the majority commits in epoch 2")
    s.say("commits", f"carol's guess commits at {fmt_zxid(fresh.answer[2])} on the majority's side, "
          f"while n{ld} and n{buddy} still cannot elect anyone.")
    s.ticks(5)
    sim.heal()
    s.say("heal", "The network heals.")
    s.until("every node follows the new leader", s.serving, 60)
    held = s.peer(ld).log.zxids
    s.expect(zxid not in held and zxid not in sim.checkers.gtxn, f"{z} is cut from n{ld}'s log and never committed")
    modes = s.sync_modes(ld)
    s.expect(modes and modes[-1] == "TRUNC", f"n{ld} was synced by TRUNC")
    s.say("rejoined", f"n{ld} and n{buddy} follow n{new}. n{ld}'s uncommitted {z} was cut away "
          f"(TRUNC): the majority's history wins.",
          question=f"bob was never told {z} committed; his client retried on another node. Can his "
          "guess be lost? Can it be applied twice?")
