"""Lesson "leader-crash-after-proposal": the leader's PROPOSAL reaches one follower only, then
the leader dies. The follower that logged it has the longest log, wins the election, and the
txn is committed in its history: ZAB never loses a txn half-way, nor applies it twice."""

from __future__ import annotations

from zmqzab.core.roles import Phase
from zmqzab.lessons.script import Script, fault, traced
from zmqzab.messages import Proposal, SyncTxns
from zmqzab.zxid import fmt_zxid


def run(s: Script) -> None:
    sim = s.sim
    ld = s.wait_serving()
    first = sim.request(ld, 40, client="alice")
    s.answered(first, "alice's guess is committed")
    s.until("every node applied it", lambda: all(s.peer(i).zxid_committed >= first.answer[2] for i in sim.ids), 10)
    s.say("serving", f"n{ld} leads epoch 1 and has committed alice's guess at "
          f"{fmt_zxid(first.answer[2])} on every node.")
    lucky = s.followers(ld)[0]

    def to_lucky_only(src: int, dst: int, msg) -> str | None:
        # The PROPOSAL, and the repair a follower would FETCH on seeing the leader ahead of it.
        return "drop" if src == ld and isinstance(msg, (Proposal, SyncTxns)) and dst != lucky else None

    sim.rules.append(to_lucky_only)
    request = sim.request(ld, 60, client="bob")
    s.say("request", f"bob sends the guess 60 to the leader n{ld}. The network will carry its "
          f"PROPOSAL to n{lucky} only.")
    got = s.when(f"bob's PROPOSAL reaches n{lucky}", lambda x: x.kind == "msg" and x.wire == "PROPOSAL"
                 and x.src == ld and x.dst == lucky and any(t.op.client_id == "bob" for t in x.msg.txns), 10)
    zxid = next(t.zxid for t in got.msg.txns if t.op.client_id == "bob")
    z = fmt_zxid(zxid)
    s.say("one-follower", f"PROPOSAL {z} reaches n{lucky} alone; the other followers never hear of it.")
    s.when(f"n{lucky}'s ACK of {z}", lambda x: x.kind == "send" and x.wire == "ACK" and x.src == lucky
           and x.msg.zxid == zxid, 10)
    s.expect(sim.nodes[lucky].disk.reported >= zxid, f"n{lucky} ACKs {z} once it is on its disk")
    s.expect(s.peer(ld).zxid_committed < zxid, f"{z} is not committed: 2 of 5 is no quorum")
    s.say("acked", f"n{lucky} writes {z} to disk and ACKs. Even with the leader's own copy that is 2 "
          f"of 5: no quorum, {z} is not committed.")
    sim.crash(ld, "scripted")
    sim.rules.remove(to_lucky_only)
    s.when("the leader crashes", fault(f"crash n{ld}"))
    s.say("half-sent", f"The leader n{ld} dies. {z} exists on n{lucky}'s disk (and maybe n{ld}'s), "
          "nowhere else, and no client was told it committed.", pause=True,
          question=f"Is bob's guess lost, committed, or could it go either way? What decides?")
    elected = s.when("a new election ends", traced("elected: "), 60)
    winner = int(elected.text.split("node ")[1].split()[0])
    s.expect(winner == lucky, f"n{lucky}, whose log is the longest, wins the election")
    s.say("elected", f"The others elect n{lucky}: votes compare (epoch, last logged zxid, id); all "
          f"are in epoch 1, and n{lucky}'s log ends at {z}, past the others' {fmt_zxid(first.answer[2])}.")
    s.when("the new leader is established", traced("role: LEADING / BROADCAST", lucky), 60)
    epoch = s.peer(lucky).epoch
    s.expect(epoch == 2, "the new leader's epoch is 2")
    s.until("a follower synced", lambda: any(s.sync_modes(i) for i in s.followers(lucky)), 20)
    s.expect(all(m == "DIFF" for i in s.followers(lucky) for m in s.sync_modes(i)[-1:]),
             "the followers sync by DIFF")
    s.say("established", f"n{lucky} leads epoch {epoch}. Its history, {z} included, is what every "
          f"follower must hold (sync by DIFF); a quorum ACKed NEWLEADER, so {z} is now committed "
          "though its first leader never committed it.", pause=True,
          question="What would have happened to bob's guess if n{0} had been down during this "
          "election?".format(lucky))
    s.answered(request, "bob's retry is answered", 60)
    answer = request.answer
    s.expect(answer[2] == zxid, f"bob's answer names the zxid of the first attempt, {z}")
    keys = [(sim.checkers.gtxn[x].op.client_id, sim.checkers.gtxn[x].op.seq) for x in sim.checkers.gz]
    s.expect(keys.count(("bob", 1)) == 1, "bob's guess is in the committed history once")
    s.expect(any(a[2] == "timeout" for a in request.attempts) and answer[1] != ld,
             "bob timed out and retried on another node")
    s.say("answered", f"bob heard nothing from the dead n{ld}, timed out and sent the same request "
          f"(same client and number) to n{answer[1]}. It is not applied twice: he is answered "
          f"with the original txn {z}.")
    sim.restart(ld)
    kept = s.peer(ld).zxid_last >= zxid
    s.until(f"n{ld} follows again", lambda: s.peer(ld) is not None and s.peer(ld).phase == Phase.BROADCAST, 60)
    mode = s.sync_modes(ld)[-1]
    s.say("rejoined", f"n{ld} restarts, finds n{lucky} leading epoch {epoch} and syncs by {mode}: "
          + (f"it had logged {z} itself before it died, so nothing of it is undone."
             if kept else f"its own copy of {z} never reached its disk, so it receives it now."),
          question="ZAB promises that a txn is delivered everywhere or nowhere. Which rule of the "
          "election makes that true here?")
