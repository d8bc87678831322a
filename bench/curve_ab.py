"""CURVE on against off, side by side: `zmqzab bench --workload pipe` on two configs, A B A B.

    PYTHONPATH=. python bench/curve_ab.py [--config config/cluster.toml] [--rounds 3] [--inflight 64]

A is the config as it is (keyless); B is the same with ``[security] curve = true`` and keys made
for the run in a temp dir. Prints each run's ops/s, the medians and the ratio B / A.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="config/cluster.toml")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--inflight", type=int, default=64)
    args = ap.parse_args()
    text = Path(args.config).read_text()
    if "[security]" in text:
        print(f"{args.config} has a [security] table already: give a keyless config", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="zmqzab-curve-ab-") as tmp:
        work = Path(tmp)
        keys = work / "keys"
        subprocess.run([sys.executable, "-m", "zmqzab", "keygen", "--dir", str(keys), "--nodes", "9",
                        "--clients", "1"], check=True, capture_output=True)
        curve = work / "curve.toml"
        curve.write_text(text + f'\n[security]\ncurve = true\nkeys_dir = "{keys}"\n')
        configs = {"A (keyless)": Path(args.config), "B (CURVE)": curve}
        runs: dict[str, list[float]] = {name: [] for name in configs}
        for r in range(args.rounds):
            for name, path in configs.items():
                out = work / "bench.json"
                subprocess.run([sys.executable, "-m", "zmqzab", "bench", "--workload", "pipe", "--inflight",
                                str(args.inflight), "--config", str(path), "--json", str(out)],
                               check=True, capture_output=True)
                ops = json.loads(out.read_text())["pipe"]["ops_s"]
                runs[name].append(ops)
                print(f"round {r + 1} {name}: {ops:.0f} ops/s", flush=True)
    medians = {name: statistics.median(v) for name, v in runs.items()}
    a, b = medians.values()
    for name, m in medians.items():
        print(f"median {name}: {m:.0f} ops/s  (runs: {', '.join(f'{x:.0f}' for x in runs[name])})")
    print(f"ratio CURVE / keyless: {b / a:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
