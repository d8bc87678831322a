"""What a simulated run is asked to do (``SimOptions``), what it reports (``SimResult``), and the
seed-derived random streams every part of the simulator draws from.

A run is reproduced from its options alone: ``SimOptions.reproduce`` is the command line that
runs it again, and ``derive_rng`` gives each purpose (network, disk, faults, clients, each
node's incarnation) a stream of its own, so that adding a draw in one part leaves every other
part's draws as they were.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from zmqzab.core.settings import CoreConfig
from zmqzab.sim.checkers import Violation
from zmqzab.sim.profile import (FaultProfile, swarm_core_config, swarm_disk_faults, swarm_network,
                                swarm_profile)
from zmqzab.host.durable import HOST_TEST_FAULTS
from zmqzab.storage.faults import STORAGE_TEST_FAULTS

NODES_MIN, NODES_MAX = 1, 9
#: Client requests time out (and are retried elsewhere) after this many ticks.
CLIENT_TIMEOUT_TICKS = 12


def derive_rng(seed: int, *parts: object) -> random.Random:
    """An independent stream per purpose: seeding with a str hashes it with SHA-512 (not
    PYTHONHASHSEED), so the stream depends on the seed and the parts only."""
    return random.Random("zmqzab-sim:" + ":".join(str(p) for p in (seed, *parts)))


@dataclass(frozen=True)
class SimOptions:
    seed: int = 1
    nodes: int = 5
    #: Ticks with faults; then the liveness phase.
    ticks: int = 300
    #: The liveness phase must converge, and a fresh write commit everywhere, within this many
    #: ticks (None: ``liveness_bound`` of the run's core timing).
    liveness_ticks: int | None = None
    #: Inject random faults (swarm profile from the seed). False: a calm network, for scripts.
    faults: bool = True
    clients: int = 3
    #: Deliberate bugs, to show the checkers catch them: CoreConfig.test_faults names go to
    #: every Peer, storage/faults.py names to every open_storage, host/durable.py names to
    #: every Replica.
    test_faults: frozenset[str] = frozenset()
    #: Override the seed's profile / core knobs (scripted scenarios).
    profile: FaultProfile | None = None
    core: CoreConfig | None = None
    #: Trace entries kept (None: all, for --trace and the determinism test).
    trace_keep: int | None = 400
    #: Receives each trace line as it happens (``zmqzab sim --trace``).
    echo: Callable[[str], None] | None = None
    #: Start the client workload at once (scripted scenarios drive their own requests).
    workload: bool = True
    #: Periodic snapshots as node.py takes them ([storage] snapshot_every_txns), saved and
    #: purged by the simulated writer keeping ``snapshots_kept``. 0: never. None: drawn from
    #: the seed in random runs (small intervals, or none), never in calm and scripted ones.
    snapshot_every_txns: int | None = None
    #: None: drawn from the seed in random runs (1..3), 2 in calm and scripted ones.
    snapshots_kept: int | None = None
    #: Simulated ZooKeeper clients (zkclients.py) on every node's client port; 0: none, and
    #: the run is what it was before they existed, trace and all.
    zk_clients: int = 0
    #: Sees what each node would stream to the page (zmqzab/record/sim.py's SimRecorder), or
    #: None. It only reads: a recorded run is the same run.
    recorder: Any = None
    #: Durable reports reach the host as node.py's loop takes them (sim/reports.py): late,
    #: coalesced, and again at other wake-ups. Off: each at its fsync's completion, once.
    report_schedules: bool = False

    def reproduce(self) -> str:
        line = f"zmqzab sim --seed {self.seed} --nodes {self.nodes} --ticks {self.ticks}"
        if self.snapshot_every_txns is not None:
            line += f" --snapshot-every {self.snapshot_every_txns}"
        if self.snapshots_kept is not None:
            line += f" --snapshots-kept {self.snapshots_kept}"
        if self.zk_clients:
            line += f" --zk-clients {self.zk_clients}"
        if self.report_schedules:
            line += " --report-schedules"
        for name in sorted(self.test_faults):
            line += f" --inject-bug {name}"
        return line


@dataclass
class SimResult:
    options: SimOptions
    violation: Violation | None
    faults: Counter
    ticks: int
    steps: int
    messages: int
    commits: int
    requests: int
    answered: int
    liveness_ticks: int | None
    profile: str
    trace_tail: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.violation is None


@dataclass(frozen=True)
class Settings:
    """What the seed decides about a run, where the options leave it open."""

    #: The fault phase's rates (a calm profile without faults).
    profile: FaultProfile
    #: The protocol's knobs, with the options' core test faults turned on.
    core: CoreConfig
    #: The options' test faults that storage/faults.py knows, for every open_storage.
    storage_faults: frozenset[str]
    snapshot_every_txns: int
    snapshots_kept: int
    #: The clients' round size (guesses per game).
    round_size: int
    #: The options' test faults that host/durable.py knows, for every Replica.
    host_faults: frozenset[str] = frozenset()
    #: Per new client request: a leap ahead or a stale copy instead (sim/workload.py).
    stale_copies: float = 0.0


def draw_settings(options: SimOptions) -> Settings:
    """The run's fault profile, core knobs and snapshot policy: from the options where they
    set them, else drawn from the seed (random runs) or the defaults (calm runs)."""
    seed = options.seed
    knobs = derive_rng(seed, "profile")
    if options.profile is not None:
        profile = options.profile
    elif options.faults:
        profile = swarm_network(derive_rng(seed, "net-profile"), swarm_profile(knobs))
    else:
        profile = FaultProfile()
    base = options.core if options.core is not None else (
        swarm_core_config(knobs, CoreConfig()) if options.faults else CoreConfig())
    core_faults = frozenset(options.test_faults) - frozenset(STORAGE_TEST_FAULTS) - frozenset(HOST_TEST_FAULTS)
    core = replace(base, test_faults=core_faults | base.test_faults)
    storage_faults = frozenset(options.test_faults) & frozenset(STORAGE_TEST_FAULTS)
    # Disk faults and snapshot settings come from a stream of their own, so that every draw
    # above (network, crashes, protocol knobs) is what it was before the disk model.
    disk_knobs = derive_rng(seed, "disk-profile")
    random_disk = options.faults and options.profile is None
    if random_disk:
        profile = swarm_disk_faults(profile, disk_knobs)
    every = options.snapshot_every_txns
    if every is None:
        every = disk_knobs.choice((0, 8, 20, 50)) if random_disk else 0
    kept = options.snapshots_kept
    if kept is None:
        kept = disk_knobs.choice((1, 2, 3)) if random_disk else 2
    # The clients' stale copies from a stream of their own too (sim/workload.py).
    stale = derive_rng(seed, "client-profile").choice((0.0, 0.0, 0.03, 0.1)) if random_disk else 0.0
    return Settings(profile, core, storage_faults, every, kept, knobs.choice((2, 3)),
                    frozenset(options.test_faults) & frozenset(HOST_TEST_FAULTS), stale)
