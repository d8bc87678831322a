"""Real processes with CURVE: a follower restarted while a leader is established joins it before
its first tick, as without CURVE (tests/processes/test_restart_joins_at_once_processes.py).

Why a CURVE variant (outside attack on helper C's reconnect-now): with CURVE every DEALER's
routing id carries a random suffix per process, the peer ROUTER reads a restarted node's dead
connection and its new one as two ids (no handover), each connection's handshake goes through
ZAP, and the reconnect-now runs in ``_recv_router_curve``: the path the keyless test never takes.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.processes.test_restart_joins_at_once_processes import RESTARTS, restart_a_follower_and_check_it_joins_at_once
from zmqzab.config import SecurityConfig, load_config
from zmqzab.security.keys import keygen
from zmqzab.up.localcluster import LocalCluster, derive_config, make_config

pytestmark = [pytest.mark.processes, pytest.mark.election, pytest.mark.security]


def test_a_restarted_follower_joins_the_established_leader_before_its_first_tick_with_curve_processes(tmp_path):
    """Goal: with CURVE, a follower restarted under an established leader joins it without
    waiting a tick. Setup: 3 real nodes, CURVE keys, ticks of 1 s (election_wait 1 tick), a
    leader elected. Fault: one follower is stopped (SIGTERM) and started again, three times.
    Expected: each time its log says it joined the established leader, "took 0 ticks"; the
    leader's and the other follower's reconnects-now are at most one per restart, plus one per
    peer at start-up (every DEALER starts due: each peer heard before our handshake with it is
    done; the bound said "plus one" and failed about every other run once both peers were heard
    early)."""
    keys = tmp_path / "keys"
    keygen(keys, [0, 1, 2], clients=1)
    base = load_config(make_config(tmp_path, 3))
    base = replace(base, timing=replace(base.timing, tick_ms=1000, election_wait_ticks=1),
                   security=SecurityConfig(curve=True, keys_dir=keys))
    c = LocalCluster(derive_config(tmp_path, base), tmp_path)
    try:
        _, victim = restart_a_follower_and_check_it_joins_at_once(c, " (CURVE)")
        for i in c.ids:
            if i == victim:
                continue
            counters = (c.status(i) or {}).get("counters", {})
            print(f"node {i} counters: {counters}")
            if "reconnects_now" in counters:
                assert counters["reconnects_now"] <= RESTARTS + len(c.ids) - 1
    finally:
        c.close()
