"""Real zmqzab node processes for integration tests: ports from the OS, data in a temp dir,
every wait a poll of a condition with a deadline (never a fixed sleep).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import zmq

from zmqzab.config import GameConfig, NodeAddress, StorageConfig, Timing, load_config, render_config
from zmqzab.up.localcluster import free_ports  # noqa: F401 - tests import it from here
from zmqzab.messages import ClientReply, ClientRequest, Guess, ReadRequest, encode, reply_decoder



def wait_for(cond: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(interval)  # polling interval of a condition with a deadline
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class ProcCluster:
    def __init__(self, root: Path, n: int = 5, timing: Timing | None = None, storage_extra: dict | None = None):
        self.root = root
        ports = free_ports(4 * n)
        nodes = [NodeAddress(i, "127.0.0.1", *ports[4 * i : 4 * i + 4]) for i in range(n)]
        storage = StorageConfig(data_dir=root / "data", log_dir=root / "logs", fsync=True)
        if storage_extra:
            storage = replace(storage, **storage_extra)
        self.config_path = root / "cluster.toml"
        self.config_path.write_text(render_config(nodes, timing or Timing(), storage, GameConfig()))
        self.config = load_config(self.config_path)
        self.ids = list(range(n))
        self.procs: dict[int, subprocess.Popen] = {}
        self.ctx = zmq.Context()
        self.socks: dict[int, zmq.Socket] = {}
        self.req_id = 0

    # ------------------------------------------------------------------ processes

    def start(self, i: int) -> None:
        out = open(self.root / f"node-{i}.console", "ab")
        self.procs[i] = subprocess.Popen(
            [sys.executable, "-m", "zmqzab", "node", "--id", str(i), "--config", str(self.config_path)],
            stdout=out, stderr=subprocess.STDOUT, cwd=self.root,
        )

    def start_all(self) -> None:
        for i in self.ids:
            self.start(i)

    def kill(self, i: int, sig: int = signal.SIGKILL) -> None:
        p = self.procs.pop(i)
        p.send_signal(sig)
        p.wait(timeout=10)
        self._drop_socket(i)

    def stop_all(self, sig: int = signal.SIGTERM) -> None:
        for i in list(self.procs):
            self.procs[i].send_signal(sig)
        for i in list(self.procs):
            self.procs.pop(i).wait(timeout=15)
        for s in self.socks.values():
            s.close(0)
        self.socks.clear()

    def close(self) -> None:
        for i in list(self.procs):
            p = self.procs.pop(i)
            p.kill()
            p.wait(timeout=10)
        for s in self.socks.values():
            s.close(0)
        self.socks.clear()
        self.ctx.term()

    def console(self, i: int) -> str:
        path = self.root / f"node-{i}.console"
        return path.read_text(errors="replace") if path.exists() else ""

    # ------------------------------------------------------------------ client side

    def _socket(self, i: int) -> zmq.Socket:
        s = self.socks.get(i)
        if s is None:
            s = self.ctx.socket(zmq.DEALER)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(self.config.node(i).client_endpoint)
            self.socks[i] = s
        return s

    def _drop_socket(self, i: int) -> None:
        s = self.socks.pop(i, None)
        if s is not None:
            s.close(0)

    def _ask(self, i: int, msg, timeout: float):
        s = self._socket(i)
        s.send(encode(msg))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not s.poll(int(left * 1000)):
                self._drop_socket(i)  # a reply may still come; never read it as another's
                return None
            reply = reply_decoder.decode(s.recv())
            if reply.req_id == msg.req_id:
                return reply

    def status(self, i: int, timeout: float = 0.5) -> dict | None:
        self.req_id += 1
        r = self._ask(i, ReadRequest(self.req_id, "status"), timeout)
        return r.data if r is not None else None

    def statuses(self) -> dict[int, dict | None]:
        return {i: (self.status(i) if i in self.procs else None) for i in self.ids}

    def write(self, i: int, op, timeout: float = 2.0) -> ClientReply | None:
        self.req_id += 1
        return self._ask(i, ClientRequest(self.req_id, op), timeout)

    def guess(self, i: int, value: int, client: str, seq: int, timeout: float = 2.0) -> ClientReply | None:
        return self.write(i, Guess(client, seq, value), timeout)

    # ------------------------------------------------------------------ cluster views

    def leader(self) -> int | None:
        """The one node LEADING in BROADCAST that every running node follows, else None."""
        st = self.statuses()
        live = {i: s for i, s in st.items() if s is not None}
        leaders = [i for i, s in live.items() if s["role"] == "LEADING" and s["phase"] == "BROADCAST"]
        if len(leaders) != 1:
            return None
        ld = leaders[0]
        if all(s["phase"] == "BROADCAST" and s["leader"] == ld for s in live.values()):
            return ld
        return None

    def wait_leader(self, timeout: float = 15.0) -> int:
        return wait_for(lambda: self.leader(), timeout, "one leader followed by every running node")

    def wait_same_committed(self, timeout: float = 15.0) -> str:
        def same():
            st = [self.status(i) for i in sorted(self.procs)]
            if any(s is None for s in st):
                return None
            z = {s["zxid_committed"] for s in st}
            applied = {s["zxid_applied"] for s in st}
            return z.pop() if len(z) == 1 and z == applied else None

        return wait_for(same, timeout, "every running node at the same committed and applied zxid")
