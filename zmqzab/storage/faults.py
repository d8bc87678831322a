"""Deliberate storage bugs, for the simulator's tests only (like core/settings.py TEST_FAULTS).

Each name puts back one defect that was fixed in zmqzab/storage/store.py, so that the seed
sweep can prove it catches that class of bug (tests/sim/test_storage_fault_switches.py). Only
``open_storage(test_faults=...)`` takes them, and only the simulator passes any: no config file
or node flag can turn one on. ``zmqzab sim --inject-bug NAME`` accepts these names too.
"""

from __future__ import annotations

STORAGE_TEST_FAULTS = (
    # store.py: when no snapshot that the log covers from is usable, start from the log alone
    # (a hole before its first txn) and let the start-up purge count damaged snapshots (issue 11,
    # defect 2).
    "recover_over_hole",
    # store.py: report a recovered log durable without fsyncing it and its directory, so a tail
    # that a kill -9 left in the page cache counts as on disk (issue 11, defect 3).
    "trust_recovered_tail",
)


def check_storage_faults(names: frozenset[str]) -> None:
    unknown = sorted(set(names) - set(STORAGE_TEST_FAULTS))
    if unknown:
        raise ValueError(f"unknown storage test fault(s) {', '.join(unknown)}; known: "
                         f"{', '.join(STORAGE_TEST_FAULTS)}")
