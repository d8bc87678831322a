"""Lesson "leader-crash-after-proposal": the leader's PROPOSAL reaches one follower only, then
the leader dies. The follower that logged it has the longest log, wins the election, and the
txn is committed in its history: ZAB never loses a txn half-way, nor applies it twice."""

from __future__ import annotations

from zmqzab.core.roles import Phase
from zmqzab.lessons.script import Script, delivered, fault, traced
from zmqzab.messages import Proposal, wire_name
from zmqzab.zxid import fmt_zxid


def run(s: Script) -> None:
    sim = s.sim
    ld = s.wait_serving()
    first = sim.request(ld, 40, client="alice")
    s.answered(first, "alice's guess is committed")
    s.say("serving", f"n{ld} leads epoch 1 and has committed alice's guess at "
          f"{fmt_zxid(first.answer[2])} on every node.")
    lucky = s.followers(ld)[0]

    def to_lucky_only(src: int, dst: int, msg) -> str | None:
        return "drop" if src == ld and isinstance(msg, Proposal) and dst != lucky else None

    sim.rules.append(to_lucky_only)
    died: list[int] = []

    def die_after_first_send(node: int, out) -> int | None:
        """The leader dies after the first send of its Output carrying the PROPOSAL."""
        if died or node != ld or not any(wire_name(x.msg) == "PROPOSAL" for x in out.sends):
            return None
        died.append(node)
        return 1

    sim.crash_rule = die_after_first_send
    request = sim.request(ld, 60, client="bob")
    s.say("request", f"bob sends the guess 60 to the leader n{ld}. The network will carry its "
          f"PROPOSAL to n{lucky} only, and n{ld} will die right after sending it.")
    crash = s.when("the leader crashes after its PROPOSAL", fault(f"crash n{ld}"))
    sim.rules.remove(to_lucky_only)
    got = s.when(f"the PROPOSAL reaches n{lucky}", delivered("PROPOSAL", src=ld, dst=lucky), 5)
    zxid = got.msg.txns[-1].zxid
    z = fmt_zxid(zxid)
    s.expect(not sim.nodes[ld].up, f"n{ld} died after sending PROPOSAL {z}")
    s.say("half-sent", f"n{ld} is dead. Its PROPOSAL {z} reached n{lucky} alone: n{lucky} logs {z}; "
          f"no other node ever heard of it, and nobody ACKed it to a living leader.", pause=True,
          question=f"Is bob's guess lost, committed, or could it go either way? What decides?")
    s.until(f"n{lucky} has {z} on disk", lambda: sim.nodes[lucky].disk.reported >= zxid, 5)
    elected = s.when("a new election ends", traced("elected: "), 60)
    winner = int(elected.text.split("node ")[1].split()[0])
    s.expect(winner == lucky, f"n{lucky}, whose log is the longest, wins the election")
    s.say("elected", f"The others elect n{lucky}: votes compare the last logged zxid first, and "
          f"n{lucky}'s log ends at {z}, past everyone else's {fmt_zxid(first.answer[2])}.")
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
