"""Classroom controls from the terminal (zmqzab crash/restart/pause/resume/partition/heal/
election/watch) against a real `zmqzab up`. Every wait polls a condition with a deadline."""

from __future__ import annotations

import json
import threading

import pytest
from typer.testing import CliRunner

from tests.polling import wait_for
from tests.processes.procs import ProcCluster
from zmqzab.up.localcluster import free_ports
from tests.processes.upcluster import UpCluster, http_json
from zmqzab.cli.app import app
from zmqzab.cli.control import watch_line
from zmqzab.client import Client
from zmqzab.config import NodeAddress, StorageConfig, render_config

pytestmark = [pytest.mark.web, pytest.mark.cli]


runner = CliRunner()


def zmqzab(c, *args: str):
    return runner.invoke(app, [*args, "--config", str(c.config_path)])


@pytest.fixture
def up(tmp_path):
    c = UpCluster(tmp_path)
    c.start()
    try:  # a set-up that fails must not leave five nodes running (it once did, under load)
        c.wait_leader()
        yield c
    finally:
        c.stop()


def others(c: UpCluster, i: int) -> list[int]:
    return [j for j in c.ids if j != i]


def test_crash_the_leader_then_restart_it_and_it_catches_up(up):
    """Goal: crash and restart from the terminal. Fault: kill -9 of the leader. Expected: a new
    leader among the others; writes go on; the restarted node syncs and follows."""
    old = up.wait_leader()
    r = zmqzab(up, "crash", str(old))
    assert r.exit_code == 0, r.output
    assert f"node {old} crashed" in r.output and "zmqzab restart" in r.output
    new = up.wait_leader(among=others(up, old))
    assert new != old
    state = http_json(up.control + "/control", headers=up.auth)[1]
    assert [n["alive"] for n in state["nodes"]] == [i != old for i in up.ids]
    with Client(up.config, node=new, timeout=10) as client:
        last = [client.guess(v).zxid_text for v in (11, 12, 13)][-1]
    assert zmqzab(up, "crash", str(old)).exit_code == 2  # not running: 409 -> bad input
    r = zmqzab(up, "restart", str(old))
    assert r.exit_code == 0 and f"node {old} started" in r.output, r.output
    assert up.wait_leader() == new
    st = wait_for(lambda: (lambda s: s if s and s["zxid_committed"] == last else None)(up.status(old)), 15,
                  "the restarted node to catch up")
    assert st["role"] == "FOLLOWING" and st["last_sync"]["mode"] in ("DIFF", "TRUNC", "SNAP")
    assert st["game"] == up.status(new)["game"]


def test_isolating_the_leader_moves_leadership_and_heal_brings_it_back(up):
    """Goal: partitions through the transport's fault rules. Fault: the leader cut off from
    every other node (both ways). Expected: the four others elect a leader of a newer epoch,
    the isolated one gives up leading; after heal it follows the new leader."""
    old = up.wait_leader()
    epoch = up.status(old)["current_epoch"]
    r = zmqzab(up, "partition", str(old))
    assert r.exit_code == 0, r.output
    assert "partition" in r.output and "zmqzab heal" in r.output
    rest = others(up, old)
    assert up.status(old)["faults"]["blocked"] == rest
    assert all(up.status(i)["faults"]["blocked"] == [old] for i in rest)
    new = up.wait_leader(among=rest)
    assert up.status(new)["current_epoch"] > epoch
    wait_for(lambda: (up.status(old) or {}).get("role") == "LOOKING", 10, "the cut-off leader to give up")
    assert up.status(old)["counters"]["dropped_by_fault_rules"] > 0
    r = zmqzab(up, "heal")
    assert r.exit_code == 0 and "healed" in r.output, r.output
    assert up.wait_leader() == new
    assert all(up.status(i)["faults"]["blocked"] == [] for i in up.ids)


def test_split_keeps_the_majority_writing_and_election_can_be_forced(up):
    r = zmqzab(up, "partition", "0,1", "2,3,4")
    assert r.exit_code == 0, r.output
    assert "{0, 1} | {2, 3, 4}" in r.output
    majority = up.wait_leader(among=[2, 3, 4])
    assert majority in (2, 3, 4)
    wait_for(lambda: all((up.status(i) or {}).get("role") == "LOOKING" for i in (0, 1)), 10,
             "the minority without a leader")
    with Client(up.config, node=2, timeout=10) as client:
        client.guess(5)
    assert zmqzab(up, "heal").exit_code == 0
    up.wait_leader()
    before = {i: up.status(i)["counters"]["elections"] for i in up.ids}
    r = zmqzab(up, "election")
    assert r.exit_code == 0 and "election forced" in r.output, r.output
    wait_for(lambda: up.leader() is not None and all(
        (up.status(i) or {}).get("counters", {}).get("elections", 0) > before[i] for i in up.ids),
        15, "a new election decided on every node")


def test_pause_and_resume(up):
    ld = up.wait_leader()
    f = others(up, ld)[0]
    r = zmqzab(up, "pause", str(f))
    assert r.exit_code == 0 and "zmqzab resume" in r.output, r.output
    state = http_json(up.control + "/control", headers=up.auth)[1]
    assert state["nodes"][f]["paused"] and state["nodes"][f]["alive"]
    assert up.status(f, timeout=0.3) is None  # stopped: not even its HTTP thread answers
    r = zmqzab(up, "resume", str(f))
    assert r.exit_code == 0, r.output
    wait_for(lambda: (up.status(f) or {}).get("phase") == "BROADCAST", 15, "the resumed node back")
    assert not http_json(up.control + "/control", headers=up.auth)[1]["nodes"][f]["paused"]


def test_watch_prints_the_event_stream(up):
    stop = threading.Event()

    def writer():
        with Client(up.config, timeout=10) as client:
            while not stop.is_set():
                client.guess(50)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        r = zmqzab(up, "watch", "--json", "--kinds", "commit", "--count", "5", "--duration", "30")
    finally:
        stop.set()
        t.join(15)
    assert r.exit_code == 0, r.output
    lines = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert len(lines) >= 5 and all(e["kind"] == "commit" and e["text"].startswith("committed") for e in lines)
    assert {e["node"] for e in lines} <= set(up.ids)


def test_watch_line_is_coloured_per_node_only_on_request():
    ev = {"t": 1_700_000_000_000, "kind": "role", "text": "LEADING / BROADCAST: established"}
    plain = watch_line(3, ev, colour=False, node_colour="36")
    assert plain.endswith("n3 role       LEADING / BROADCAST: established")
    assert "\x1b[" not in plain
    assert "\x1b[36mn3\x1b[0m" in watch_line(3, ev, colour=True, node_colour="36")


def test_controls_need_zmqzab_up(tmp_path):
    """Nodes started one by one have no controls: the commands say so and exit 3; bad input
    exits 2 before anything is sent."""
    ports = free_ports(20)  # held together by the OS: twenty different ports
    nodes = [NodeAddress(i, "127.0.0.1", *ports[4 * i: 4 * i + 4]) for i in range(5)]
    (tmp_path / "cluster.toml").write_text(render_config(nodes, storage=StorageConfig(data_dir=tmp_path / "data")))
    config = str(tmp_path / "cluster.toml")
    r = runner.invoke(app, ["crash", "1", "--config", config])
    assert r.exit_code == 3 and "zmqzab up" in r.output
    assert runner.invoke(app, ["crash", "9", "--config", config]).exit_code == 2
    r = runner.invoke(app, ["partition", "0,x", "2", "--config", config])
    assert r.exit_code == 2 and "comma-separated" in r.output
    (tmp_path / "alone").mkdir()
    c = ProcCluster(tmp_path / "alone")
    try:
        c.start_all()
        c.wait_leader()
        r = runner.invoke(app, ["heal", "--config", str(c.config_path)])
        assert r.exit_code == 3 and "read-only" in r.output
        assert c.status(0)["control"] is None
    finally:
        c.close()
