"""The long fuzz run of a live cluster (not collected by pytest): several seeds, each a control
run and a fuzzed run of the same writes (tests/processes/hostile.py), compared.

    PYTHONPATH=. python tests/processes/fuzz_long.py [--seeds 3] [--writes 200] [--burst 300]
                                                   [--http 3000] [--seed 1]

Prints per seed what was sent, what each node dropped (by kind) and whether the outcome matched
the control run; exits 1 on the first difference or dead node (with the seed to rerun).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.processes.hostile import run, same_outcome  # noqa: E402

DROP_KEYS = ("dropped_bad_frame", "dropped_unknown_sender", "dropped_implausible", "dropped_impostor",
             "dropped_by_fault_rules", "client_bad_frames", "client_requests", "received")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1, help="first seed")
    ap.add_argument("--writes", type=int, default=200)
    ap.add_argument("--burst", type=int, default=300, help="garbage frames per socket kind before each write")
    ap.add_argument("--http", type=int, default=3000, help="hostile HTTP requests per run")
    args = ap.parse_args()
    total_inputs = 0
    for seed in range(args.seed, args.seed + args.seeds):
        with tempfile.TemporaryDirectory(prefix="zmqzab-fuzz-") as tmp:
            root = Path(tmp)
            control = run(root / "control", seed, args.writes, 0, fuzz=False)
            fuzzed = run(root / "fuzzed", seed, args.writes, args.burst, fuzz=True, http_requests=args.http)
        inputs = sum(fuzzed["sent"].values()) + sum(fuzzed["http"].values())
        total_inputs += inputs
        report = {"seed": seed, "inputs": inputs, "sent": fuzzed["sent"], "http_status": fuzzed["http"],
                  "kinds": fuzzed["kinds"], "seconds": fuzzed["seconds"],
                  "dropped": {i: {k: fuzzed["counters"][i].get(k) for k in DROP_KEYS} for i in (0, 1)},
                  "zxid_committed": fuzzed["zxid_committed"], "control_zxid_committed": control["zxid_committed"]}
        print(json.dumps(report))
        problems = same_outcome(control, fuzzed)
        if problems or 500 in fuzzed["http"]:
            print(f"seed {seed}: DIFFERS from the control run: {problems or fuzzed['http']}", file=sys.stderr)
            return 1
    print(f"{args.seeds} seeds, {total_inputs} hostile inputs: every run identical to its control run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
