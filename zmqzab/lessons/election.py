"""Lesson "election": five nodes start, vote, and one of them leads epoch 1."""

from __future__ import annotations

from zmqzab.core.roles import Role
from zmqzab.lessons.script import Script, delivered, sent, traced


def run(s: Script) -> None:
    sim = s.sim
    n = len(sim.ids)
    quorum = n // 2 + 1
    s.say("start", f"{n} nodes start with empty logs. Each is LOOKING: it has no leader and will "
          "not accept writes until a quorum agrees on one.")
    # The nodes sent their first votes as they started, before the script could see a send:
    # the lesson follows the deliveries (FIFO per link: the first one from a node is its first).
    first = s.when("the first VOTE arrives", delivered("VOTE"))
    s.say("first-vote", f"n{first.dst} receives n{first.src}'s VOTE for n{first.msg.vote.leader}. Every "
          "node starts by voting for itself and tells every other node: (its epoch, its last zxid, "
          "its id).", question="Every log is empty (last zxid 0:0). How do the nodes break the tie?")
    changed = s.when("a node changes its vote", lambda x: x.kind == "send" and x.wire == "VOTE"
                     and x.msg.vote.leader != x.src)
    best = max(sim.ids)
    s.say("vote-change", f"n{changed.src} changes its vote to n{changed.msg.vote.leader}: a vote with a "
          "higher (epoch, last zxid, id) wins, so with equal logs the highest id does. "
          f"Votes converge on n{best}.")
    s.expect(changed.msg.vote.leader > changed.src, "a node moves its vote to a better candidate only")
    elected = s.when("a node sees a quorum for one candidate", traced("elected: "))
    winner = int(elected.text.split("node ")[1].split()[0])
    s.expect(winner == best, f"with equal logs n{best}, the highest id, wins")
    s.say("quorum-of-votes", f"n{elected.node} has seen at least {quorum} of {n} nodes vote for n{winner}: "
          f"a quorum ({n} // 2 + 1 = {quorum}). It stops looking.", pause=True,
          question=f"Why {quorum} and not a plain majority of the nodes that happen to answer?")
    s.when("the winner's role changes to LEADING", traced("role: LEADING", winner))
    s.say("leading", f"n{winner} is LEADING, but not yet the leader of anything: first it must learn "
          "which epoch to start (discovery) and bring every follower's log in line with its own (sync).")
    # FOLLOWERINFOs may arrive before the winner knows it won: it handles them once LEADING.
    info = s.when("the leader handles a FOLLOWERINFO", traced("follower: node ", winner))
    follower = int(info.text.split("node ")[1].split()[0])
    s.say("followerinfo", f"n{winner} handles n{follower}'s FOLLOWERINFO: n{follower} wants to follow "
          "it and says the newest epoch it has accepted.")
    epoch = s.when("the leader picks the new epoch", traced("discovery: new epoch", winner))
    s.say("new-epoch", f"With a quorum of FOLLOWERINFOs, n{winner} picks epoch 1 (their highest "
          "accepted epoch + 1) and sends LEADERINFO; each follower promises (ACKEPOCH) to ignore "
          "leaders of older epochs.", question="What could go wrong if a follower did not write "
          "that promise to disk before answering?")
    s.expect(epoch.text.startswith("discovery: new epoch 1 "), "the first leader's epoch is 1")
    s.when("the leader is established", traced("role: LEADING / BROADCAST", winner))
    s.say("established", f"A quorum acknowledged NEWLEADER: n{winner} is established in epoch 1 "
          "and may now propose. Followers that were slower still get UPTODATE.", pause=True)
    s.until("every node follows the leader", s.serving)
    peers = [sim.nodes[i].peer for i in sim.ids]
    first_votes: dict[tuple[int, int], int] = {}
    for x in s.seen:  # FIFO per link: the first VOTE delivered on a link is the first sent on it
        if x.kind == "msg" and x.wire == "VOTE":
            first_votes.setdefault((x.src, x.dst), x.msg.vote.leader)
    s.expect(len(first_votes) == n * (n - 1) and all(v == src for (src, _), v in first_votes.items()),
             "every node's first vote, to every other node, is for itself")
    s.expect(sum(1 for p in peers if p.role == Role.LEADING) == 1, "exactly one node leads")
    s.expect(all(p.epoch == 1 for p in peers), "every node is in epoch 1")
    s.say("serving", f"Every node follows n{winner} in epoch 1: the cluster serves.",
          question=f"If n{winner} crashed now, which node would win the next election, and why?")
