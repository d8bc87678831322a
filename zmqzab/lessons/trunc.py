"""Lesson "trunc": a follower logged txns of an old epoch that were never committed; the new
leader's history does not have them, so it tells the follower to cut them away (TRUNC)."""

from __future__ import annotations

from zmqzab.core.roles import Phase
from zmqzab.lessons.script import Script, delivered, traced
from zmqzab.zxid import fmt_zxid


def run(s: Script) -> None:
    sim = s.sim
    ld = s.wait_serving()
    first = sim.request(ld, 10, client="alice")
    s.answered(first, "alice's guess is committed")
    base = first.answer[2]
    s.until("every node applied it", lambda: all(s.peer(i).zxid_committed >= base for i in sim.ids), 10)
    f = s.followers(ld)[0]
    rest = [i for i in sim.ids if i not in (ld, f)]
    s.say("serving", f"n{ld} leads epoch 1; {fmt_zxid(base)} is committed everywhere.")
    sim.partition([[ld, f], rest])
    s.say("partition", f"The network splits: n{ld} and n{f} on one side, "
          f"{', '.join(f'n{i}' for i in rest)} on the other.")
    sim.request(ld, 20, client="bob")
    sim.request(ld, 21, client="carol")
    s.when(f"n{f} logs the PROPOSALs", delivered("PROPOSAL", src=ld, dst=f))
    s.until(f"n{f} has both txns on disk", lambda: sim.nodes[f].disk.reported >= base + 2, 10)
    extra = [z for z in s.peer(f).log.zxids if z > base]
    s.expect(len(extra) == 2 and s.peer(ld).zxid_committed == base,
             f"n{f} logs two txns after {fmt_zxid(base)} and none of them commits")
    shown = " and ".join(fmt_zxid(z) for z in extra)
    s.say("uncommitted", f"bob and carol guess through n{ld}. n{f} logs {shown} and ACKs, but 2 of 5 "
          f"is no quorum: nothing commits. Dashed boxes on n{ld} and n{f}.", pause=True,
          question=f"The other three never saw {shown}. If they elect a leader, what must happen to "
          f"these boxes on n{f}?")
    s.ticks(2)  # what was in flight to the other side is lost at the cut, not after the heal
    sim.crash(ld, "scripted")
    sim.crash(f, "scripted")
    sim.heal()
    s.say("crash", f"n{ld} and n{f} crash, and the network heals.")
    new = s.wait_serving("the other three serve")
    s.expect(new in rest and s.peer(new).epoch == 2, "the other three elect a leader of epoch 2")
    later = sim.request(new, 50, client="dave")
    s.answered(later, "a new guess is committed in epoch 2")
    s.say("epoch-2", f"n{new} leads epoch 2 and commits dave's guess at {fmt_zxid(later.answer[2])}: "
          f"the committed history is now {', '.join(fmt_zxid(z) for z in sim.checkers.gz)}.")
    sim.restart(f)
    s.expect(s.peer(f).zxid_last == extra[-1], f"n{f} restarts with {shown} in its log")
    s.say("restart", f"n{f} restarts with {shown} still in its log.")
    trunc = s.when("the leader decides TRUNC", traced(f"sync: TRUNC to node {f}", new), 60)
    s.say("trunc", f"n{new} compares: n{f}'s log ends at {fmt_zxid(extra[-1])}, an epoch-1 zxid its own "
          f"history does not hold. The last zxid both have is {fmt_zxid(base)}: n{new} sends TRUNC "
          f"{fmt_zxid(base)}, then the txns of epoch 2.", pause=True,
          question=f"Why is it safe to delete {shown}? Who could have been told they were committed?")
    s.until(f"n{f} follows again", lambda: s.peer(f) is not None and s.peer(f).phase == Phase.BROADCAST, 60)
    held = s.peer(f).log.zxids
    s.expect(s.sync_modes(f)[-1] == "TRUNC", f"n{f} was synced by TRUNC")
    s.expect(all(z not in held for z in extra), f"{shown} are gone from n{f}'s log")
    s.expect(all(z not in sim.checkers.gtxn for z in extra), f"{shown} were never committed")
    s.say("truncated", f"n{f} cut its log back to {fmt_zxid(base)} and appended epoch 2's txns: "
          f"{shown} are gone, never applied anywhere.",
          question="bob and carol were never told their guesses committed. Their clients retry on "
          "another node: can the same guesses still commit, and at which zxids?")
