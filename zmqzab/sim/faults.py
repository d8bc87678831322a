"""The fault phase's random faults: which node crashes, is paused or cut off, and when; crash
points inside an Output; power losses, bit rot, refused starts and the operator's resync.

Theory of operation
-------------------
At every tick boundary of the fault phase (``inject``), with the rates of the seed's profile
(profile.py): a random node (often the leader) crashes (kill -9: what the writer wrote stays in
the page cache, synced or not); a partition starts (a split, the leader isolated, one node
isolated, or one way) and heals after a while; a node is paused (its process stopped: no
ticks, no messages, no fsyncs, then a backlog) or told to start an election (the demo's
control, ``Peer.force_election``); a connection flaps (often a would-be leader's to one of its
learners) or a bridge partition starts (network.py carries these out); a power loss hits one
node's machine, or now and then every node's host: what was never fsynced is lost, sometimes
leaving a torn last record (disk.py).

Crash points (``crash_point``): at a discovery/sync Output a node may die in the middle of
carrying it out: before any of it, or after its epoch write and log hand-off and after k of its
sends (the crash points between every persist and send of the sync phase, ZAB_CHECKLIST).

Bit rot (``maybe_bit_rot``) on a crashed node's disk must make recovery refuse it
(``refused_for_rot``); the operator then resyncs it (``resync``) when the others can take over
its history (``resync_allowed``).

Crashes, partitions, pauses, forced elections and crash points draw from ``sim.rng_fault``;
power losses, bit rot and resyncs from ``sim.rng_disk_fault``; flaps and bridges from the
network's ``rng_conn``. Each stream is the seed's, so a seed fixes every fault.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from zmqzab.core.output import Output
from zmqzab.core.roles import Phase, Role
from zmqzab.messages import (Ack, AckEpoch, LeaderInfo, NewLeader, SnapAck, SnapChunk, SyncStart,
                             SyncTxns, UpToDate)
from zmqzab.sim.checkers import NodeView
from zmqzab.sim.events import Heal, Resync
from zmqzab.sim.trace import TICK
from zmqzab.storage.errors import CorruptLogError, CorruptSnapshotError, StorageError
from zmqzab.zxid import zxid_counter, zxid_epoch

if TYPE_CHECKING:
    from zmqzab.sim.simulation import SimNode, Simulation

#: Messages of the discovery and sync phases: an Output sending one is a crash point.
_SYNC_KINDS = (LeaderInfo, AckEpoch, SyncStart, SyncTxns, SnapChunk, SnapAck, NewLeader, UpToDate)


def inject(sim: Simulation) -> None:
    """Tick boundary of the fault phase: process faults, connection faults, then disk faults."""
    _process_faults(sim)
    _connection_faults(sim)
    _disk_faults(sim)


def _process_faults(sim: Simulation) -> None:
    """Crashes, partitions, pauses and forced elections."""
    prof, rng = sim.profile, sim.rng_fault
    if prof.crash and rng.random() < prof.crash:
        up = [n.id for n in sim.up_nodes()]
        if up:
            leader = sim.established_leader()
            victim = leader if leader is not None and rng.random() < 0.4 else rng.choice(up)
            sim.crash(victim, "random crash" + (" of the leader" if victim == leader else ""),
                      page_cache=True)  # kill -9; power losses: _disk_faults
    if prof.partition and not sim.net.partitioned and len(sim.ids) > 1 and rng.random() < prof.partition:
        _random_partition(sim)
    if prof.pause and rng.random() < prof.pause:
        up = [n.id for n in sim.up_nodes() if n.paused_until <= sim.now]
        if up:
            leader = sim.established_leader()
            victim = leader if leader in up and rng.random() < 0.5 else rng.choice(up)
            sim.counters["pause"] += 1
            sim.pause(victim, rng.randint(1, 3 * sim.core.sync_limit_ticks))
    if prof.force_election and rng.random() < prof.force_election:
        up = [n for n in sim.up_nodes() if n.paused_until <= sim.now]
        if up:
            node = rng.choice(up)
            peer = node.peer
            assert peer is not None
            sim.counters["force_election"] += 1
            sim.trace.add(sim.now, "fault", f"force an election on n{node.id}")
            sim._run_step(node, lambda: peer.force_election("forced by the simulation"))


def _connection_faults(sim: Simulation) -> None:
    """Flaps and bridge partitions (their own random stream: see profile.swarm_network)."""
    prof, rng = sim.profile, sim.net.rng_conn
    if prof.flap and rng.random() < prof.flap:
        up = [n.id for n in sim.up_nodes()]
        if len(up) >= 2:
            # A would-be leader (discovery or sync) and one of its learners: the follower
            # goes LOOKING at once and may end up with another would-be leader.
            peers = {i: sim.nodes[i].peer for i in up}
            hopeful = [i for i, p in peers.items()
                       if p is not None and p.role == Role.LEADING and p.phase != Phase.BROADCAST]
            if hopeful and rng.random() < prof.flap_leader:
                a = rng.choice(hopeful)
                st = peers[a].leading  # type: ignore[union-attr]
                others = [i for i in sorted(st.learners) if i in up] if st is not None else []
                b = rng.choice(others or [i for i in up if i != a])
                sim.net.flap(a, b, "a would-be leader and its learner")
            else:
                a, b = rng.sample(up, 2)
                sim.net.flap(a, b)
    if prof.bridge and not sim.net.partitioned and len(sim.ids) >= 3 and rng.random() < prof.bridge:
        ids = list(sim.ids)
        rng.shuffle(ids)
        middle, rest = ids[0], ids[1:]
        half = len(rest) // 2
        left, right = sorted(rest[:half]), sorted(rest[half:])
        sim.counters["bridge"] += 1
        sim.net.bridge(left, right, middle)
        sim.push(sim.now + rng.randint(3, 40) * TICK, Heal())


def _random_partition(sim: Simulation) -> None:
    rng = sim.rng_fault
    ids = list(sim.ids)
    kind = rng.choice(("split", "split", "isolate-leader", "isolate-one", "one-way"))
    leader = sim.established_leader()
    if kind == "isolate-leader" and leader is not None:
        side = [leader]
        if len(ids) > 3 and rng.random() < 0.5:
            side.append(rng.choice([i for i in ids if i != leader]))
        groups = [sorted(side), [i for i in ids if i not in side]]
    elif kind == "isolate-one":
        lone = rng.choice(ids)
        groups = [[lone], [i for i in ids if i != lone]]
    else:
        rng.shuffle(ids)
        k = rng.randint(1, len(ids) - 1)
        groups = [sorted(ids[:k]), sorted(ids[k:])]
    one_way = kind == "one-way"
    sim.counters["one_way_partition" if one_way else "partition"] += 1
    sim.net.partition(groups, one_way=one_way)
    sim.push(sim.now + rng.randint(3, 40) * TICK, Heal())


# ---------------------------------------------------------------------- crash points

def crash_point(sim: Simulation, node: SimNode, out: Output) -> int | None:
    """None, or where to crash in this Output: -1 before it, k after k of its sends."""
    if sim.crash_rule is not None:
        point = sim.crash_rule(node.id, out)
        if point is not None:
            return point
    if not sim.faults_on or sim.liveness:
        return None
    rate = sim.profile.sync_crash if _is_sync_output(node, out) else sim.profile.crash / 20
    if rate and sim.rng_fault.random() < rate:
        return sim.rng_fault.randint(-1, len(out.sends))
    return None


def _is_sync_output(node: SimNode, out: Output) -> bool:
    """True for an Output of discovery or sync: epochs written, sync messages, or log changes
    while the node is not yet broadcasting (ZAB_CHECKLIST: crash between persist and send)."""
    if out.epochs is not None:
        return True
    for send in out.sends:
        msg = send.msg
        if isinstance(msg, _SYNC_KINDS) or (isinstance(msg, Ack) and zxid_counter(msg.zxid) == 0):
            return True
    peer = node.peer
    return bool(out.log) and peer is not None and peer.phase != Phase.BROADCAST


# ---------------------------------------------------------------------- disk faults

def _disk_faults(sim: Simulation) -> None:
    """A power loss (one node's machine, now and then every node's host)."""
    prof, rng = sim.profile, sim.rng_disk_fault
    if not (prof.power_loss and rng.random() < prof.power_loss):
        return
    victims = list(sim.ids) if rng.random() < 0.1 else [rng.choice(sim.ids)]
    for i in victims:
        node = sim.nodes[i]
        if node.up:
            sim.crash(i, "power loss", "power_loss", page_cache=False)
        else:
            sim.counters["power_loss"] += 1
            note = node.disk.power_loss(sim.rng_disk, prof.torn)
            if "torn" in note:
                sim.counters["torn_write"] += 1
            sim.trace.add(sim.now, "fault", f"power loss at n{i}, which is down: {note}")


def maybe_bit_rot(sim: Simulation, node: SimNode) -> None:
    """Node ``node`` just crashed in the fault phase: a bit may flip on its disk (the profile's
    rate), if no other node's disk is damaged and the others could take over its history at
    once (the operator's resync needs a healthy quorum: without one, or in a cluster too small
    to have a quorum without this node, the damage is data loss, not a fault to recover from)."""
    prof = sim.profile
    if not (sim.faults_on and not sim.liveness and prof.bit_rot
            and sim.rng_disk_fault.random() < prof.bit_rot):
        return
    if len(sim.ids) - 1 < len(sim.ids) // 2 + 1:
        return
    if any(n.disk.rotted or n.refused for n in sim.nodes.values()):
        return
    if resync_allowed(sim, node):
        return  # the others could not take over its history: losing it would be data loss
    what = node.disk.rot(sim.rng_disk_fault)
    if what:
        sim.counters["bit_rot"] += 1
        sim.trace.add(sim.now, "fault", f"n{node.id}: {what}")


def refused_for_rot(sim: Simulation, node: SimNode, exc: StorageError) -> bool:
    """Recovery refused the data dir. Right if it is for a file the simulation damaged: the
    node stays down until the operator resyncs it. Else the caller reports a violation."""
    disk = node.disk
    path = getattr(exc, "path", None)
    if not disk.rotted or not isinstance(exc, (CorruptLogError, CorruptSnapshotError)) or path is None:
        return False
    rel = str(Path(path).relative_to(disk.dir)) if Path(path).is_relative_to(disk.dir) else ""
    if not any(r == rel or r.startswith(rel + "/") for r in disk.rotted) and rel != "snap":
        return False
    node.refused = True
    disk.close()
    sim.counters["refused_start"] += 1
    sim.trace.add(sim.now, "fault", f"n{node.id} refuses to start: {sim._sanitize(str(exc))}")
    sim.push(sim.now + sim.rng_disk_fault.randint(5, 30) * TICK, Resync(node.id))
    return True


def resync_allowed(sim: Simulation, node: SimNode) -> str:
    """The operator wipes a refused node only when no committed txn rests on its disk alone: a
    quorum of the others holds every committed txn durably under a currentEpoch that vouches
    for it in elections. Returns what is still missing ("" when allowed). Its epoch promise
    is no condition: a real operator cannot see it, and `--resync` keeps acceptedEpoch
    (storage/resync.py); waiting for the others to reach it hid seed 71181's bug from sweeps."""
    others = [sim.nodes[i] for i in sim.ids if i != node.id]
    quorum = len(sim.ids) // 2 + 1
    # A quorum of the others must vouch for the whole committed history in an election:
    # hold every committed txn durably, with a currentEpoch at least the newest one's epoch
    # (a node holding the txns under a lower currentEpoch, say one resynced a moment ago
    # and not yet past NEWLEADER, loses elections to nodes that lack them).
    gz = sim.checkers.gz
    need = zxid_epoch(gz[-1]) if gz else 0
    vouch = [n for n in others if n.disk.current_epoch >= need and all(
        z <= n.disk.durable_base or z in n.disk.durable_zxids for z in gz)]
    if len(vouch) < quorum:
        return (f"{len(vouch)} other node(s) hold every committed txn with currentEpoch >= {need}, "
                f"fewer than {quorum}")
    return ""


def resync(sim: Simulation, i: int) -> None:
    """The operator: `zmqzab node --resync` on a node refused for a damaged disk."""
    node = sim.nodes[i]
    if not node.refused:
        return
    missing = resync_allowed(sim, node)
    if missing:
        sim.push(sim.now + 5 * TICK, Resync(i))
        return
    sim.counters["resync"] += 1
    sim.trace.add(sim.now, "fault", f"operator: n{i} --resync (its data dir set aside; "
                  "it starts empty but for its acceptedEpoch, and the leader syncs it)")
    node.disk.wipe()
    node.refused = False
    sim.checkers.view[i] = NodeView()
    sim.restart(i)
