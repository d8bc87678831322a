"""Real zmqzab node processes for integration tests: the package's LocalCluster (ports from the
OS, data in a temp dir, processes by PID) plus what tests want on top of it: writes over a
client socket kept per node, and waits that poll a condition with a deadline and fail with what
they waited for (never a fixed sleep).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import zmq

from zmqzab.config import ClusterConfig, SecurityConfig, StorageConfig, Timing
from zmqzab.messages import ClientReply, ClientRequest, Guess, encode, reply_decoder
from zmqzab.security.curve import client_socket
from zmqzab.security.zap import bound_client_id
from zmqzab.up.localcluster import LocalCluster, make_config

from tests.polling import wait_for


def base_config(timing: Timing | None = None, storage_extra: dict | None = None,
                security: SecurityConfig | None = None) -> ClusterConfig:
    """The settings a test cluster starts from (fsync on); make_config adds nodes and paths."""
    return ClusterConfig(None, (), timing or Timing(), StorageConfig(fsync=True, **(storage_extra or {})),
                         security=security or SecurityConfig())


class ProcCluster(LocalCluster):
    """``n`` nodes on 127.0.0.1 in ``root`` (fsync on); ``storage_extra`` overrides storage
    settings, ``security`` the [security] table (CURVE client sockets follow it)."""

    def __init__(self, root: Path, n: int = 5, timing: Timing | None = None, storage_extra: dict | None = None,
                 security: SecurityConfig | None = None):
        super().__init__(make_config(root, n, base_config(timing, storage_extra, security)), root)
        self.root = root
        self.socks: dict[int, zmq.Socket] = {}
        self.req_id = 0

    # ------------------------------------------------------------------ processes

    def start_all(self) -> None:
        for i in self.ids:
            self.start(i)

    def kill(self, i: int, sig: int = signal.SIGKILL) -> None:
        """kill -9 (LocalCluster.kill), or another signal (SIGTERM: a clean stop), then wait."""
        if sig == signal.SIGKILL:
            super().kill(i)
        else:
            p = self.procs.pop(i)
            p.send_signal(sig)
            p.wait(timeout=10)
        self._drop_socket(i)

    def stop_all(self) -> None:
        super().stop_all()
        self._drop_sockets()

    def close(self) -> None:
        self._drop_sockets()
        super().close()

    def console(self, i: int) -> str:
        path = self.root / f"node-{i}.console"
        return path.read_text(errors="replace") if path.exists() else ""

    # ------------------------------------------------------------------ client side

    def _socket(self, i: int) -> zmq.Socket:
        s = self.socks.get(i)
        if s is None:
            s = self.socks[i] = client_socket(self.ctx, self.config, i, self.keys)
        return s

    def _drop_socket(self, i: int) -> None:
        s = self.socks.pop(i, None)
        if s is not None:
            s.close(0)

    def _drop_sockets(self) -> None:
        for i in list(self.socks):
            self._drop_socket(i)

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

    def status(self, i: int, timeout: float = 0.5, what: str = "status") -> dict | None:
        return super().status(i, timeout, what)

    def statuses(self) -> dict[int, dict | None]:
        return {i: self.status(i) for i in self.ids}

    def write(self, i: int, op, timeout: float = 2.0) -> ClientReply | None:
        self.req_id += 1
        return self._ask(i, ClientRequest(self.req_id, op), timeout)

    def guess(self, i: int, value: int, client: str, seq: int, timeout: float = 2.0) -> ClientReply | None:
        """With CURVE the client id is made the client key's own (``<user id>:client``), as
        the nodes require; ``write`` sends an op as it is."""
        if self.keys is not None:
            client = bound_client_id(self.keys.user_id, client)
        return self.write(i, Guess(client, seq, value), timeout)

    # ------------------------------------------------------------------ cluster views

    def wait_leader(self, timeout: float = 15.0) -> int:
        # LocalCluster.leader: the one node LEADING in BROADCAST that every running node follows.
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
