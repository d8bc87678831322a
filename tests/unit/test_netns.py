"""`zmqzab chaos --netns`: each node in its own network namespace, partitions by routes.

Goal: partitions cut real TCP connections between namespaces and the history still checks out;
where namespaces cannot be made, --netns says what is missing and exits 2.
Setup: 3 nodes, 2 clients, 10 s, seed 20, the nemesis dealing only isolate_leader, split and
bridge (--faults); the unit tests fake a machine without root, without `ip`, or where `ip netns add` fails.
Faults: the nemesis (processes); the run needs root and `ip netns`, else it is skipped.
Expected: exit 0, verdict ok, partitions made by netns routes, a new leader elected after the
leader was isolated, no namespace or link of the run left; exit 2 and one line otherwise.
The run on real processes is tests/processes/test_netns_processes.py.
"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import zmqzab.chaos.netns as netns
from zmqzab.cli.app import app

pytestmark = [pytest.mark.chaos]

runner = CliRunner()


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
