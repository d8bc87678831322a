"""`zmqzab chaos --netns`: each node in its own network namespace, partitions by routes.

Goal: partitions cut real TCP connections between namespaces and the history still checks out;
where namespaces cannot be made, --netns says what is missing and exits 2.
Setup: 3 nodes, 2 clients, 10 s, seed 20, the nemesis dealing only isolate_leader, split and
bridge (--faults); the unit tests fake a machine without root, without `ip`, or where `ip netns add` fails.
Faults: the nemesis (processes); the run needs root and `ip netns`, else it is skipped.
Expected: exit 0, verdict ok, partitions made by netns routes, a new leader elected after the
leader was isolated, no namespace or link of the run left; exit 2 and one line otherwise.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import zmqzab.chaos.netns as netns
from zmqzab.cli.app import app

runner = CliRunner()

SEED = 20  # first three faults: isolate_leader, split, bridge (a 1 | 2 split with 3 nodes)


def test_not_root_is_named(monkeypatch):
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    with pytest.raises(netns.NetnsError, match="--netns needs root"):
        netns.check_available()


def test_missing_ip_command_is_named(monkeypatch):
    monkeypatch.setattr(netns.os, "geteuid", lambda: 0)
    monkeypatch.setattr(netns.shutil, "which", lambda name: None)
    with pytest.raises(netns.NetnsError, match=r"`ip` command \(Debian package iproute2\)"):
        netns.check_available()


def test_failing_netns_add_is_named(monkeypatch):
    def refuse(*args, **kwargs):
        raise netns.NetnsError("`ip netns add x` failed: mount --make-shared /run/netns failed: Operation not permitted")

    monkeypatch.setattr(netns.os, "geteuid", lambda: 0)
    monkeypatch.setattr(netns.shutil, "which", lambda name: "/usr/sbin/ip")
    monkeypatch.setattr(netns, "_ip", refuse)
    with pytest.raises(netns.NetnsError, match="`ip netns add` does not work here .*Operation not permitted.*drop --netns"):
        netns.check_available()


def test_cli_exits_2_with_the_one_line(monkeypatch):
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    result = runner.invoke(app, ["chaos", "--netns", "--duration", "5"])
    assert result.exit_code == 2
    err = result.stderr if result.stderr_bytes is not None else result.output
    assert err.startswith("error: --netns needs root") and err.count("\n") == 1


def test_block_adds_and_removes_routes(monkeypatch):
    calls = []
    monkeypatch.setattr(netns, "_free_subnet", lambda: "10.77.9")
    monkeypatch.setattr(netns, "_ip", lambda *args, stdin=None: calls.append((args, stdin)))
    net = netns.Netns([0, 1, 2])
    net.block(0, {1, 2})
    net.block(0, {2})
    net.block(0, {2})  # nothing changes: no command
    ns = net.ns(0)
    assert calls == [(("-n", ns, "-batch", "-"), "route add unreachable 10.77.9.3/32\nroute add unreachable 10.77.9.4/32\n"),
                     (("-n", ns, "-batch", "-"), "route del unreachable 10.77.9.3/32\n")]


@pytest.fixture
def netns_machine():
    try:
        netns.check_available()
    except netns.NetnsError as exc:
        pytest.skip(f"this machine cannot run --netns: {exc}")


@pytest.mark.processes
def test_processes_netns_run_partitions_real_connections(tmp_path, netns_machine):
    report = tmp_path / "report"
    p = subprocess.run([sys.executable, "-m", "zmqzab", "chaos", "--netns", "--nodes", "3", "--clients", "2",
                        "--duration", "10", "--seed", str(SEED), "--report", str(report),
                        "--faults", "isolate_leader,split,bridge"],
                       capture_output=True, text=True, timeout=120)
    print(p.stdout[-2000:], p.stderr[-2000:])
    doc = json.loads((report / "report.json").read_text())
    assert p.returncode == 0, doc["violations"]
    stats = doc["stats"]
    assert doc["verdict"] == "ok" and stats["partitions_by"] == "netns routes"
    kinds = stats["faults_by_kind"]
    assert kinds["isolate_leader"] >= 1 and kinds["isolate_leader"] + kinds["split"] + kinds["bridge"] >= 2
    assert stats["elections"] >= 2  # the isolated leader lost its followers: a new epoch
    assert stats["ok"] >= 10
    run_line = next(line for line in p.stdout.splitlines() if "network namespaces" in line)
    prefix = run_line.split("network namespaces ")[1].split("-n")[0]
    assert prefix not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert prefix not in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
