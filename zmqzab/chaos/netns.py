"""`zmqzab chaos --netns`: every node in its own Linux network namespace, so a partition cuts
real TCP connections instead of asking the nodes' transports to drop messages.

Theory of operation
-------------------
One run makes, all named with a per-run prefix ``zmqzab<run>`` (``run``: 4 hex digits) so a
leftover of a crashed run can be found (``ip netns list | grep ^zmqzab``, ``ip -o link | grep
zmqzab``) and removed (``Netns.cleanup_command``):

* a bridge ``zmqzab<run>br`` in the harness's (root) namespace, holding ``10.77.<k>.1/24``: the
  harness and the chaos clients reach every node through it, partitioned or not;
* per node a namespace ``zmqzab<run>-n<id>`` with loopback up and the inside end (``eth0``) of
  a veth pair whose outside end ``zmqzab<run>v<id>`` is a port of the bridge; the node's
  address is ``10.77.<k>.<2 + its position>``. ``<k>`` is a /24 no address or route of this
  machine uses yet. Nothing has a default route: traffic stays between these namespaces.

Nodes start as ``ip netns exec <ns> python -m zmqzab node ...`` (``ip`` execs the command, so
the PID is the node's own, for kill -9 and SIGSTOP). Their config (``derive_config``) names
the namespace addresses as hosts and sets ``http_public`` so each node's HTTP binds its
namespace address, where the harness can reach it; reads need no token, controls still do.

Partitions: a node cut off from a peer gets an ``unreachable`` host route to the peer's
address in its own namespace, and the peer one back, so neither sends the other a packet.
Established TCP connections go silent (segments are not routed, the peer hears nothing, as
when a cable is pulled) and a new connect fails at once with "no route to host". Why routes:
they are in every kernel and in iproute2, which ``ip netns`` needs anyway; this machine has no
iptables or nft, and its kernel has no tc classifiers (flower, u32) to drop by address. Routes
live in the namespace, not the process: a node killed and restarted during a partition comes
back partitioned, and a paused node is cut off at once. The transport's fault rules are not
used in this mode.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

from zmqzab.up.localcluster import LocalCluster

PREFIX = "zmqzab"
SUBNET_PREFIX = "10.77"
IP_TIMEOUT_S = 10.0


class NetnsError(Exception):
    """--netns cannot run here; ``str()`` is one line saying what is missing."""


def _ip(*args: str, stdin: str | None = None) -> None:
    p = subprocess.run(["ip", *args], input=stdin, capture_output=True, text=True, timeout=IP_TIMEOUT_S)
    if p.returncode != 0:
        raise NetnsError(f"`ip {' '.join(args)}` failed: {p.stderr.strip() or p.returncode}")


def check_available() -> None:
    """Raise NetnsError naming what is missing: root, the ``ip`` command, or namespaces."""
    if os.geteuid() != 0:
        raise NetnsError("--netns needs root (it makes network namespaces, veth links and a bridge): "
                         "run as root, or drop --netns to partition through the transport's fault rules")
    if shutil.which("ip") is None:
        raise NetnsError("--netns needs the `ip` command (Debian package iproute2): install it, or drop --netns")
    probe = f"{PREFIX}-probe-{os.getpid()}"
    try:
        _ip("netns", "add", probe)
    except (NetnsError, OSError, subprocess.TimeoutExpired) as exc:
        raise NetnsError(f"--netns: `ip netns add` does not work here ({exc}); drop --netns") from None
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=IP_TIMEOUT_S)


def _free_subnet() -> str:
    """A 10.77.k /24 that no address or route of the root namespace uses (two runs at once, or
    a leftover of a crashed one, each keep their own)."""
    used = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True,
                          timeout=IP_TIMEOUT_S).stdout
    used += subprocess.run(["ip", "-4", "addr"], capture_output=True, text=True, timeout=IP_TIMEOUT_S).stdout
    for k in range(1, 255):
        if f"{SUBNET_PREFIX}.{k}." not in used:
            return f"{SUBNET_PREFIX}.{k}"
    raise NetnsError(f"--netns: every {SUBNET_PREFIX}.x.0/24 is in use on this machine; remove leftovers "
                     f"(ip netns list | grep ^{PREFIX}) and try again")


class Netns:
    """The namespaces, veths and bridge of one run. ``up`` builds them, ``down`` removes every one."""

    def __init__(self, ids: list[int]) -> None:
        self.run = secrets.token_hex(2)
        self.ids = sorted(ids)
        self.subnet = _free_subnet()
        self.bridge = f"{PREFIX}{self.run}br"
        self.harness_addr = f"{self.subnet}.1"
        self.addrs = {i: f"{self.subnet}.{2 + pos}" for pos, i in enumerate(self.ids)}
        self.routes: dict[int, set[int]] = {i: set() for i in self.ids}  # node -> peers cut off

    def ns(self, i: int) -> str:
        return f"{PREFIX}{self.run}-n{i}"

    def veth(self, i: int) -> str:
        """The outside end, on the bridge (at most 15 characters: zmqzab + 4 + v + 3)."""
        return f"{PREFIX}{self.run}v{i}"

    def up(self) -> None:
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.harness_addr}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for i in self.ids:
            ns, veth = self.ns(i), self.veth(i)
            _ip("netns", "add", ns)
            _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
            _ip("link", "set", veth, "master", self.bridge, "up")
            _ip("-n", ns, "addr", "add", f"{self.addrs[i]}/24", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", ns, "link", "set", "lo", "up")

    def block(self, i: int, peers: set[int]) -> None:
        """Node i's namespace routes nothing to ``peers`` (the caller blocks the other way too)."""
        cmds = [f"route add unreachable {self.addrs[p]}/32" for p in sorted(peers - self.routes[i])]
        cmds += [f"route del unreachable {self.addrs[p]}/32" for p in sorted(self.routes[i] - peers)]
        if cmds:
            _ip("-n", self.ns(i), "-batch", "-", stdin="\n".join(cmds) + "\n")
        self.routes[i] = set(peers)

    def down(self) -> str | None:
        """Remove everything this run made. None when nothing is left, else the command that
        removes it. Each veth pair goes by name: a namespace whose name is deleted lives on
        (with its end of the pair) while a socket in it still waits to retransmit, e.g. one
        closed by a node killed during a partition."""
        for i in self.ids:
            subprocess.run(["ip", "link", "del", self.veth(i)], capture_output=True, timeout=IP_TIMEOUT_S)
            subprocess.run(["ip", "netns", "del", self.ns(i)], capture_output=True, timeout=IP_TIMEOUT_S)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, timeout=IP_TIMEOUT_S)
        names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=IP_TIMEOUT_S).stdout
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, timeout=IP_TIMEOUT_S).stdout
        mine = f"{PREFIX}{self.run}"
        return self.cleanup_command() if mine in names or mine in links else None

    def cleanup_command(self) -> str:
        """Removes every namespace and link of this run, whatever is left of it."""
        mine = f"{PREFIX}{self.run}"
        return (f"for ns in $(ip netns list | grep -o '^{mine}-n[0-9]*'); do ip netns del $ns; done; "
                f"for l in $(ip -o link | grep -o '{mine}[a-z0-9]*'); do ip link del $l; done")


class NetnsCluster(LocalCluster):
    """A LocalCluster whose nodes run in ``net``'s namespaces and are partitioned by routes."""

    def __init__(self, config_path: Path, workdir: Path, net: Netns) -> None:
        super().__init__(config_path, workdir)
        self.net = net

    def node_command(self, i: int) -> list[str]:
        return ["ip", "netns", "exec", self.net.ns(i), *super().node_command(i)]

    def node_env(self, i: int) -> dict[str, str]:
        env = super().node_env(i)
        env.pop("ZMQZAB_BLOCKED")  # the routes in its namespace cut it off, not its transport
        return env

    def block(self, i: int, peers: set[int]) -> None:
        # Alive, dead or paused alike: the routes belong to the namespace.
        self.net.block(i, peers)
