"""Lesson "one-commit": one write from the client's request to PROPOSAL, ACKs, COMMIT and the
answer, with the quorum arithmetic counted from the ACKs that really arrived."""

from __future__ import annotations

from zmqzab.lessons.script import Script, delivered, sent
from zmqzab.zxid import fmt_zxid


def run(s: Script) -> None:
    sim = s.sim
    n = len(sim.ids)
    quorum = n // 2 + 1
    ld = s.wait_serving()
    s.say("serving", f"n{ld} leads epoch {s.peer(ld).epoch}; the other {n - 1} nodes follow it. "
          "Only the leader proposes: a write sent to a follower is forwarded to it.")
    request = sim.request(ld, 42, client="alice")
    s.say("request", f"A client, alice, sends the guess 42 to the leader n{ld}.")
    proposal = s.when("the leader's first PROPOSAL sent", sent("PROPOSAL", src=ld))
    zxid = proposal.msg.txns[-1].zxid
    z = fmt_zxid(zxid)
    s.say("proposal", f"n{ld} gives the guess the zxid {z} (epoch {zxid >> 32}, counter "
          f"{zxid & 0xFFFFFFFF}), hands it to its own disk and sends PROPOSAL {z} to every follower. "
          "Drawn dashed: logged, not committed.", pause=True,
          question="Could the leader tell alice 'done' now? What if it crashed a moment later?")
    first_ack = s.when("the first ACK reaches the leader", delivered("ACK", dst=ld))
    s.expect(sim.nodes[first_ack.src].disk.reported >= zxid, f"n{first_ack.src} ACKs {z} once it is on its disk")
    s.say("first-ack", f"n{first_ack.src} has written {z} to its disk (fsync) and only then ACKs. "
          "An ACK means: this txn survives my crash.")
    commit = s.when("the leader's COMMIT sent", sent("COMMIT", src=ld))
    ackers = sorted({x.src for x in s.seen[:s.seen.index(commit)]
                     if x.kind == "msg" and x.wire == "ACK" and x.dst == ld and x.msg.zxid == zxid})
    own = sim.nodes[ld].disk.reported >= zxid
    count = len(ackers) + (1 if own else 0)
    s.expect(commit.msg.zxid == zxid, f"the COMMIT is for {z}")
    s.expect(count >= quorum, f"the leader commits {z} only once a quorum ({quorum}) has it on disk")
    before = count - 1
    s.say("commit", f"ACKs from {', '.join(f'n{i}' for i in ackers)}"
          + (f" and n{ld}'s own disk" if own else "")
          + f": {count} of {n} nodes hold {z} on disk, and {count} >= {quorum} = {n} // 2 + 1. "
          + (f"With {before} it had to wait. " if count == quorum else "")
          + f"Now {z} is committed: n{ld} sends COMMIT.", pause=True,
          question=f"Any two groups of {quorum} out of {n} share at least one node. Why does that "
          f"make {z} safe from any future leader?")
    s.answered(request, "alice gets her answer")
    answer = request.answer
    s.expect(answer[2] == zxid, f"alice's answer names {z}")
    s.say("answer", f"n{answer[1]} applied {z} to its game and answers alice: "
          f"'{answer[3].message}'. She is told only after the commit.")
    s.until("every node applied the txn", lambda: all(
        sim.nodes[i].peer.zxid_committed >= zxid for i in sim.ids))
    late = [x.src for x in s.seen[s.seen.index(commit):]
            if x.kind == "msg" and x.wire == "ACK" and x.dst == ld and x.msg.zxid == zxid]
    s.say("everywhere", f"The COMMIT reached every follower; each applied {z}. "
          + (f"The ACK of {', '.join(f'n{i}' for i in late)} arrived after the commit: not needed, "
             "but it is on those disks too." if late else "Every ACK arrived before the commit."),
          question=f"With 2 followers down, could this cluster of {n} still commit? With 3?")
