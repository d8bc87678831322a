"""zmqzab's deterministic simulator: the real protocol code, a simulated world, one seed.

Theory of operation
-------------------
Tests with real processes find wiring bugs; they cannot steer the interleavings where consensus
protocols break: a crash between a persist and a send, a stale vote arriving late, a partition
during sync. Following TigerBeetle's VOPR and FoundationDB's simulation, this package runs N
production ``Peer``s (zmqzab/core) through production ``execute()`` (zmqzab/host/effects.py) in one
thread, against

* a simulated network (network.py): latency, FIFO per connection, drops, duplicates,
  reordering, delay spikes, partitions both ways or one way, DEALER queues that deliver late;
* a simulated disk (disk.py): a group-commit writer in front of a real ``Storage`` whose
  fsyncs go to a page-cache model: a kill -9 keeps unsynced writes, a power loss drops them
  (files and directory entries, sometimes leaving a torn tail); crashes inside a snapshot
  install, a purge or a TRUNC; bit rot, refused starts and the operator's resync; a restart
  goes through production recovery;
* simulated time: ticks, with node clocks out of step, and many message steps between ticks;
* simulated clients (workload.py): guesses and new games against random nodes, retried after
  timeouts, with the history of every request;
* with ``--zk-clients N``, ZooKeeper clients (zkclients.py) speaking the real frames to every
  node's client port (host/zk.py's ZkServer, driven as the node drives it), judged by
  zk_checkers.py against the committed history.

Every random choice comes from ``random.Random`` streams derived from the seed (never the
global ``random``, never the wall clock, never set or dict order), so a seed reproduces a run
byte for byte. After every step the checkers (checkers.py) test ZAB's safety properties; after
the fault phase everything is healed and the cluster must converge (liveness). A failure names
the property, shows the tail of the trace (trace.py) and the line that reproduces it.

The modules: simulation.py (the event loop over events.py's typed events, and the nodes'
lifecycle: start, crash, restart, pause), network.py, faults.py (which faults, when), disk.py,
workload.py, checkers.py (safety), liveness.py (after the heal), options.py (what a run is
asked and reports), profile.py (the seed's fault rates), trace.py, sweep.py, zkclients.py and
zk_checkers.py (ZooKeeper's sessions, tree and replies).

Entry points: ``zmqzab sim`` (zmqzab/cli/sim.py), ``Simulation`` / ``SimOptions`` / ``run_seed``
for tests and scripted scenarios, ``sweep`` for many seeds. Fault rates are drawn per seed
(profile.py: swarm testing). Deliberate bugs (``CoreConfig.test_faults``, and storage's
storage/faults.py) prove the checkers can fail.
"""

from zmqzab.sim.checkers import Violation
from zmqzab.sim.profile import FaultProfile
from zmqzab.sim.options import SimOptions, SimResult
from zmqzab.sim.simulation import Simulation, run_seed
from zmqzab.sim.sweep import SweepSummary, sweep

__all__ = ["FaultProfile", "SimOptions", "SimResult", "Simulation", "SweepSummary", "Violation",
           "run_seed", "sweep"]
