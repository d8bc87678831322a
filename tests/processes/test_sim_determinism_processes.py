"""Determinism across processes: `zmqzab sim` gives a byte-identical trace in another process
with a different PYTHONHASHSEED (in one process: tests/sim/test_determinism.py)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys


def test_trace_is_identical_across_processes_and_hash_seeds():
    """Goal: nothing in the simulated path depends on hashing order. Setup: `zmqzab sim --seed 5
    --trace` in two processes with PYTHONHASHSEED 1 and 2 (set and dict-of-str order differ).
    Expected: byte-identical output."""
    print("seed 5")
    digests = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-m", "zmqzab", "sim", "--seed", "5", "--ticks", "120",
                              "--trace"], capture_output=True, env=env, check=True).stdout
        assert b" ACK " in out and b"VOTE" in out
        digests.append(hashlib.sha256(out).hexdigest())
    assert digests[0] == digests[1]
