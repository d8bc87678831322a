"""Seed sweeps: run many seeds (in several processes if asked) and add up what happened.

Every seed is independent and deterministic, so a sweep is embarrassingly parallel: results
come back in seed order whatever the number of processes, and a failing seed is re-run alone
with ``zmqzab sim --seed N`` to get its whole trace.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from zmqzab.sim.options import SimOptions, SimResult
from zmqzab.sim.simulation import Simulation


@dataclass
class SweepSummary:
    nodes: int
    seeds: int = 0
    ticks: int = 0
    steps: int = 0
    messages: int = 0
    commits: int = 0
    requests: int = 0
    answered: int = 0
    faults: Counter = field(default_factory=Counter)
    failures: list[SimResult] = field(default_factory=list)
    #: The slowest convergence after healing, over the seeds that passed.
    liveness_max: int = 0

    def add(self, result: SimResult) -> None:
        self.seeds += 1
        self.ticks += result.ticks
        self.steps += result.steps
        self.messages += result.messages
        self.commits += result.commits
        self.requests += result.requests
        self.answered += result.answered
        self.faults.update(result.faults)
        if result.violation is not None:
            self.failures.append(result)
        elif result.liveness_ticks is not None:
            self.liveness_max = max(self.liveness_max, result.liveness_ticks)


def run_options(options: SimOptions) -> SimResult:
    with Simulation(options) as sim:
        return sim.run()


def sweep(
    seeds: Iterable[int],
    base: SimOptions,
    jobs: int = 1,
    on_result: Callable[[SimResult], None] | None = None,
    stop_on_failure: bool = False,
) -> SweepSummary:
    """Run ``base`` once per seed; ``on_result`` sees each result as it arrives (in order)."""

    options = [replace(base, seed=s, echo=None) for s in seeds]
    summary = SweepSummary(nodes=base.nodes)

    def take(result: SimResult) -> bool:
        summary.add(result)
        if on_result is not None:
            on_result(result)
        return stop_on_failure and result.violation is not None

    if jobs <= 1:
        for opt in options:
            if take(run_options(opt)):
                break
        return summary
    # fork keeps start-up cheap; the simulation holds no threads or locks to inherit.
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(jobs) as pool:
        for result in pool.imap(run_options, options, chunksize=4):
            if take(result):
                pool.terminate()
                break
    return summary
