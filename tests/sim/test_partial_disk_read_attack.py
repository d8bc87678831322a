"""A DIFF from disk that breaks off after part of it was sent (the node's path) must not leave
the follower syncing forever.

The node's reader thread (server/reads.py) sends each batch as it reads it; if the read then
fails (a damaged record further on, an EIO), the leader has sent the DIFF header and part of
the txns, and ``disk_read_done(ok=False, header_sent=True)`` sends NEWLEADER "so the follower
syncs again". The follower sees the stream cut short and looks again; the leader, asked again,
DIFFs from the same disk, breaks off at the same record, and so on: the follower never syncs.

The simulator's ``_read_done`` read the whole range first and sent nothing on an error, so it
only ever took the other branch (nothing sent: SNAP) and never ran this one.
"""

from __future__ import annotations

from tests.sim.helpers import answered, followers, wait_serving
from zmqzab.core.roles import Phase
from zmqzab.core.settings import CoreConfig
from zmqzab.sim.simulation import SimOptions, Simulation


def scripted(seed: int, **kwargs) -> Simulation:
    print(f"scenario seed {seed}, 3 nodes")
    return Simulation(SimOptions(seed=seed, nodes=3, faults=False, workload=False, trace_keep=None, **kwargs))


def test_a_disk_read_that_breaks_off_midway_still_lets_the_follower_sync():
    """Setup: 3 nodes, calm network, a memory window of 4 txns, DIFF batches of 2 txns.
    Faults: follower F stops; 16 guesses commit; then one record in the middle of the leader's
    log on disk is damaged (as bit rot while the node runs, or an EIO); F restarts.
    Expected: F is beyond the leader's memory window, so the leader reads the gap from disk;
    the read breaks off at the damaged record after some batches were sent; F must still get
    in sync (a SNAP from memory) within a bound, and its game equal the leader's."""
    with scripted(17, core=CoreConfig(log_window_txns=4, sync_batch_txns=2)) as sim:
        ld = wait_serving(sim)
        lag = followers(sim, ld)[0]
        sim.crash(lag)
        for value in range(16):
            answered(sim, sim.request(ld, value, client="a"))
        sim.run_ticks(3)
        log_dir = sim.nodes[ld].disk.storage.log.dir
        segments = sorted(p for p in log_dir.iterdir() if p.is_file())
        seg = segments[-1]
        data = bytearray(seg.read_bytes())
        at = len(data) * 2 // 5  # a record in the middle of the range read from disk
        data[at] ^= 0xFF
        seg.write_bytes(bytes(data))
        sim.restart(lag)
        sim.run_until(lambda: sim.nodes[lag].peer.phase == Phase.BROADCAST, 150)
        broke = [e for e in sim.trace.entries if e[1] == "node" and e[2] == ld
                 and "broke off reading the disk" in str(e[3])]
        print(f"{len(broke)} DIFF(s) from disk broke off midway")
        sim.run_ticks(3)
        assert sim.nodes[lag].peer.state.snapshot() == sim.nodes[ld].peer.state.snapshot()

