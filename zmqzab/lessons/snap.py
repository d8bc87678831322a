"""Lesson "snap": a follower down while the leader commits a dozen txns and purges its log
comes back too far behind for a DIFF: the leader sends its whole state (SNAP), then the rest."""

from __future__ import annotations

from zmqzab.core.roles import Phase
from zmqzab.lessons.script import Script, delivered, traced
from zmqzab.zxid import fmt_zxid

#: Guesses committed while the follower is down (the lesson's log window is 4 txns).
GUESSES = 12


def run(s: Script) -> None:
    sim = s.sim
    window = sim.core.log_window_txns
    ld = s.wait_serving()
    lag = s.followers(ld)[0]
    s.say("serving", f"n{ld} leads epoch 1. For a DIFF each node keeps only its last {window} "
          "committed txns in memory (a small window, for the lesson); older ones are read from disk.")
    for value in (1, 2):
        s.answered(sim.request(ld, value, client="bob"), f"bob's guess {value} is committed")
    s.until(f"n{lag} applied them", lambda: s.peer(lag).zxid_committed >= s.peer(ld).zxid_committed, 10)
    s.ticks(1)
    sim.crash(lag, "scripted")
    s.say("down", f"bob's two guesses commit on every node; then n{lag} goes down. Its log ends at "
          f"{fmt_zxid(sim.nodes[lag].disk.reported)}.")
    for value in range(GUESSES):
        s.answered(sim.request(ld, value, client="alice"), f"guess {value} is committed")
    s.ticks(2)
    last = s.peer(ld).zxid_committed
    s.say("writes", f"Meanwhile {GUESSES} more guesses commit, up to {fmt_zxid(last)}.")
    sim.compact(ld)
    start = sim.nodes[ld].disk.storage.log_start
    s.expect(start > sim.nodes[lag].disk.reported, f"n{ld}'s log on disk starts after n{lag}'s last zxid")
    s.say("purged", f"n{ld} takes a snapshot of its game at {fmt_zxid(last)} and purges its log: "
          f"on disk it now starts after {fmt_zxid(start)}.", pause=True,
          question=f"n{lag} comes back with a log ending at {fmt_zxid(sim.nodes[lag].disk.reported)}. "
          f"Which txns can n{ld} still send it one by one?")
    sim.restart(lag)
    s.say("restart", f"n{lag} restarts and looks for the leader.")
    s.when("the leader decides SNAP", traced(f"sync: SNAP to node {lag}", ld), 60)
    s.say("snap", f"n{lag}'s last zxid is older than anything n{ld} still holds in memory or on disk: "
          "no DIFF can bridge the gap. n{0} sends SNAP: its whole game as of the snapshot, in "
          "chunks, then any txns after it.".format(ld), pause=True,
          question="Why is sending the state cheaper here than sending every txn since the start?")
    chunk = s.when("the first SNAPCHUNK arrives", delivered("SNAPCHUNK", src=ld, dst=lag), 20)
    s.say("chunks", f"SNAPCHUNK {chunk.msg.index} arrives: {len(chunk.msg.data)} bytes of the "
          f"snapshot. n{lag} installs the snapshot only once every chunk is in.")
    s.until(f"n{lag} follows again", lambda: s.peer(lag) is not None and s.peer(lag).phase == Phase.BROADCAST, 60)
    s.expect(s.sync_modes(lag)[-1] == "SNAP", f"n{lag} was synced by SNAP")
    s.ticks(3)
    s.expect(s.peer(lag).state.snapshot() == s.peer(ld).state.snapshot(),
             f"n{lag}'s game equals n{ld}'s")
    s.say("caught-up", f"n{lag} installed the snapshot and follows: its "
          f"game equals n{ld}'s, though it never saw the {GUESSES} guesses one by one.",
          question=f"If n{lag} crashed now, where would its restart begin: at the snapshot, or at 0:0?")
