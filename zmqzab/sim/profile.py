"""How hostile one simulated run is: fault rates and protocol knobs, drawn from the seed.

Swarm testing (Groce et al., "Swarm Testing", ISSTA 2012; TigerBeetle's VOPR does the same):
instead of one fixed mix of faults for every seed, each seed draws its own profile. Some seeds
are calm, some drop a tenth of all messages, some crash nodes every few ticks, some never
partition. A bug that needs "many crashes but few drops" is found by the seeds whose profile
happens to say so, where an average of everything would have hidden it.

Rates are per message (drop, duplicate, reorder, delay spike), per tick (crash, partition) or
per crash point (sync_crash: a node's Output during discovery/sync, see simulation.py).
Time is in simulated units: ``TICK`` (100) units per protocol tick.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from zmqzab.core.settings import CoreConfig
from zmqzab.zxid import COUNTER_MAX


@dataclass(frozen=True, slots=True)
class FaultProfile:
    #: Network latency is uniform in 1..latency_max units (a tick is 100).
    latency_max: int = 10
    drop: float = 0.0
    duplicate: float = 0.0
    #: The message ignores its link's FIFO order and may overtake earlier ones.
    reorder: float = 0.0
    #: The message is held up for one to eight ticks (a stalled connection).
    delay_spike: float = 0.0
    #: A point-to-point message to an unreachable or down peer waits in the sender's DEALER queue
    #: and arrives after the heal or restart (ZAB_CHECKLIST #6), instead of being lost.
    hold: float = 0.0
    #: Per tick: crash a random node (sometimes the leader).
    crash: float = 0.0
    #: Per discovery/sync Output: crash the node between its persist and its sends.
    sync_crash: float = 0.0
    #: Per tick, while none is active: start a partition.
    partition: float = 0.0
    #: fsync latency is uniform in 1..fsync_max units.
    fsync_max: int = 5
    #: The fsync takes one to five ticks instead.
    slow_fsync: float = 0.0
    #: On a crash: part of the unsynced writes reached the disk, the last one cut short.
    torn: float = 0.0
    #: A crashed node stays down for 1..downtime_max ticks.
    downtime_max: int = 30
    #: Per tick: stop a node's process for 1..3 x syncLimit ticks (SIGSTOP, a long GC pause):
    #: no ticks, no messages handled, no fsyncs; then it resumes with a backlog.
    pause: float = 0.0
    #: Per tick: a node gives up its role and starts an election (the demo's control).
    force_election: float = 0.0
    #: Per tick: the connections between two running nodes close and reopen (a network blip, a
    #: reset): both ends' socket monitors report it (``Peer.peer_unreachable``), and what was in
    #: flight between them is lost, or arrives late (see ``stale_delivery``).
    flap: float = 0.0
    #: The share of flaps aimed at a would-be leader still in discovery or sync and one of its
    #: learners: followers move between would-be leaders while their epochs are being decided.
    flap_leader: float = 0.0
    #: A message in flight on a connection that flapped arrives anyway, after the new
    #: connection's messages (ZeroMQ may still read the old one), instead of being lost.
    stale_delivery: float = 0.0
    #: Per tick, while no partition is active: a bridge partition (Jepsen's "bridge"): two
    #: halves cut from each other and one node reaching both, so both halves plus that node are
    #: majorities and it is pulled between two would-be leaders until the heal.
    bridge: float = 0.0
    # Disk faults (sim/disk.py), drawn by ``swarm_disk_faults`` from a stream of their own.
    #: Per tick: a node's machine loses power (its page cache with it); now and then every
    #: node's (one host).
    power_loss: float = 0.0
    #: Per writer batch that installs a SNAP, saves a snapshot and purges, or truncates: the
    #: node dies just before one of that batch's fsyncs (kill -9 or power loss).
    file_op_crash: float = 0.0
    #: Per crash: a bit flips on the node's disk while it is down (a snapshot or a segment).
    bit_rot: float = 0.0

    def calm(self) -> FaultProfile:
        """The same latencies, no faults: the liveness phase ("heal everything")."""
        return replace(self, drop=0.0, duplicate=0.0, reorder=0.0, delay_spike=0.0, crash=0.0,
                       sync_crash=0.0, partition=0.0, slow_fsync=0.0, torn=0.0, pause=0.0,
                       force_election=0.0, flap=0.0, flap_leader=0.0, stale_delivery=0.0, bridge=0.0,
                       power_loss=0.0, file_op_crash=0.0, bit_rot=0.0)

    def describe(self) -> str:
        parts = [f"latency<={self.latency_max}u", f"fsync<={self.fsync_max}u"]
        for name in ("drop", "duplicate", "reorder", "delay_spike", "hold", "crash", "sync_crash",
                     "partition", "slow_fsync", "torn", "pause", "force_election", "flap",
                     "flap_leader", "stale_delivery", "bridge", "power_loss", "file_op_crash", "bit_rot"):
            value = getattr(self, name)
            if value:
                parts.append(f"{name}={value:g}")
        return " ".join(parts)


def swarm_profile(rng: random.Random) -> FaultProfile:
    """A random profile; at least one kind of fault is always on."""
    while True:
        profile = FaultProfile(
            latency_max=rng.choice((2, 10, 40)),
            drop=rng.choice((0.0, 0.0, 0.01, 0.05, 0.15)),
            duplicate=rng.choice((0.0, 0.01, 0.05)),
            reorder=rng.choice((0.0, 0.01, 0.05)),
            delay_spike=rng.choice((0.0, 0.005, 0.02)),
            hold=rng.choice((0.0, 0.5, 1.0)),
            crash=rng.choice((0.0, 0.01, 0.03, 0.06)),
            sync_crash=rng.choice((0.0, 0.05, 0.2)),
            partition=rng.choice((0.0, 0.01, 0.03)),
            fsync_max=rng.choice((1, 10, 50)),
            slow_fsync=rng.choice((0.0, 0.01, 0.05)),
            torn=rng.choice((0.0, 0.5, 1.0)),
            downtime_max=rng.choice((5, 30)),
            pause=rng.choice((0.0, 0.01, 0.03)),
            force_election=rng.choice((0.0, 0.0, 0.01)),
        )
        if profile.calm() != profile:
            return profile


def swarm_network(rng: random.Random, profile: FaultProfile) -> FaultProfile:
    """Add the connection faults (flaps, stale deliveries, bridge partitions) to ``profile``.

    Drawn from a stream of their own (Simulation passes one), so the draws above and every
    seed whose connection faults come out off behave exactly as before they existed."""
    flap = rng.choice((0.0, 0.0, 0.02, 0.05, 0.1))
    return replace(
        profile,
        flap=flap,
        flap_leader=rng.choice((0.5, 0.9)) if flap else 0.0,
        stale_delivery=rng.choice((0.0, 0.3, 0.7)) if flap else 0.0,
        bridge=rng.choice((0.0, 0.0, 0.01, 0.03)),
    )


def swarm_disk_faults(profile: FaultProfile, rng: random.Random) -> FaultProfile:
    """The disk faults of a random profile, from their own stream (``rng``), so that adding
    them left every other draw of every seed as it was."""
    return replace(
        profile,
        power_loss=rng.choice((0.0, 0.0, 0.005, 0.02)),
        file_op_crash=rng.choice((0.0, 0.1, 0.3)),
        bit_rot=rng.choice((0.0, 0.0, 0.1, 0.3)),
    )


def swarm_core_config(rng: random.Random, base: CoreConfig) -> CoreConfig:
    """Protocol knobs that open rarely travelled paths: small windows (DIFF from disk, SNAP),
    small sync batches (several TXNS messages per sync, and SNAP in many small chunks with
    little credit), a small zxid counter (ZK-1277's forced new epoch)."""
    knobs = replace(
        base,
        log_window_txns=rng.choice((4, 16, 200_000)),
        sync_batch_txns=rng.choice((1, 3, 5000)),
        fetch_max_txns=rng.choice((2, 50_000)),
        zxid_counter_max=rng.choice((12, 40, COUNTER_MAX, COUNTER_MAX)),
    )
    # Derived, not drawn: another draw would change every seed's profile after it.
    # A game snapshot is a few KiB here: these make it tens of chunks, yet a SNAP still ends well
    # within the liveness phase at the slowest latency.
    chunks = {1: (1024, 2), 3: (4096, 3)}.get(knobs.sync_batch_txns)
    if chunks is not None:
        knobs = replace(knobs, snap_chunk_bytes=chunks[0], snap_chunks_inflight_max=chunks[1])
    # SNAP instead of a DIFF that outweighs the snapshot: the default's 64 KiB floor is never
    # reached by a simulated history, so a quarter of the profiles SNAP every follower that lacks
    # anything committed (factor 0), a quarter weigh sizes as the default does, the rest never.
    size = {12: (0.0, 0), 40: (0.33, 0)}.get(knobs.zxid_counter_max)
    if size is not None:
        knobs = replace(knobs, snapshot_size_factor=size[0], snapshot_size_min_diff_bytes=size[1])
    return knobs
