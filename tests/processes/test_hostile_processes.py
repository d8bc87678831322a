"""A live node's sockets under hostile input: peer ROUTER, SUB, client ROUTER and HTTP.

Goal: garbage changes nothing but counters. Setup: two real nodes of a three-node cluster
(tests/processes/hostile.py); a control run of 30 writes, then the same writes with a fuzzer
in the absent node's place sending random bytes, truncated msgpack, wrong tags and field
types, impossible values, old- and far-epoch messages, replays of the leader's broadcast (as
node 2 and as the leader), wrong frame counts, oversized frames and hostile HTTP. Expected:
both nodes alive, the same leader, epoch, committed zxid and game as the control run, every
kind of drop counted in /metrics, and at most one warning per kind per interval in the log.
The seed is printed; a longer run is tests/processes/fuzz_long.py.
"""

from __future__ import annotations

import os
import random
import urllib.request

import pytest

from tests.processes.hostile import run, same_outcome

pytestmark = [pytest.mark.security]


def test_processes_hostile_input_changes_nothing_but_counters(tmp_path):
    seed = int(os.environ.get("ZMQZAB_FUZZ_SEED", random.randrange(2**32)))
    print(f"seed {seed} (rerun with ZMQZAB_FUZZ_SEED={seed})")
    control = run(tmp_path / "control", seed, writes=30, burst=0, fuzz=False)
    fuzzed = run(tmp_path / "fuzzed", seed, writes=30, burst=80, fuzz=True, http_requests=300)
    print({k: fuzzed[k] for k in ("sent", "kinds", "http", "seconds")})
    assert not same_outcome(control, fuzzed), same_outcome(control, fuzzed)
    sent = fuzzed["sent"]
    assert sent["peer"] + sent["sub"] + sent["client"] >= 3 * 30 * 80 * 0.9
    for i in (0, 1):
        counters = fuzzed["counters"][i]
        for kind in ("bad_frame", "unknown_sender", "implausible"):
            assert counters[f"dropped_{kind}"] > 0, (i, kind, counters)
        assert counters["client_bad_frames"] > 0
    assert sum(fuzzed["counters"][i]["dropped_impostor"] for i in (0, 1)) > 0  # topic != publisher
    assert 500 not in fuzzed["http"], fuzzed["http"]
    # One warning per kind per interval: a few lines, not thousands.
    for i in (0, 1):
        warnings = [ln for ln in fuzzed["console"][i].splitlines() if "dropped" in ln and "WARNING" in ln]
        assert 0 < len(warnings) <= 12, warnings


def test_processes_metrics_name_each_kind_of_drop(tmp_path):
    """/metrics after a short fuzz: zmqzab_dropped_input_total by kind, client drops counted."""
    from tests.processes.securecluster import SecureCluster
    from tests.processes.hostile import Fuzzer, Garbage

    c = SecureCluster(tmp_path, n=3)
    try:
        c.start(0)
        c.start(1)
        leader = c.wait_leader(timeout=20)
        f = Fuzzer(c.config, Garbage(1, c.status(leader)["epoch"]), leader, [0, 1])
        try:
            for _ in range(5):
                f.burst(40)
                c.write_all(leader, "m", range(1, 2))
        finally:
            f.close()
        text = urllib.request.urlopen(f"{c.config.http_url(c.config.node(leader))}/metrics", timeout=5).read().decode()
        assert 'zmqzab_dropped_input_total{node="%d",kind="bad_frame"}' % leader in text
        assert "zmqzab_client_bad_frames_total" in text and "zmqzab_curve_denied_total" in text
    finally:
        c.close()
