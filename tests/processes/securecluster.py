"""Real node processes for the security tests: ProcCluster with a [security] table (CURVE client
sockets follow it), plus the raw sockets a hostile process would use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from zmqzab.config import SecurityConfig, Timing
from zmqzab.security.keys import keygen

from tests.processes.procs import ProcCluster


class SecureCluster(ProcCluster):
    """``curve=True``: keys for every node and two clients in ``root/keys`` (absolute path)."""

    def __init__(self, root: Path, n: int = 3, curve: bool = False, timing: Timing | None = None,
                 storage_extra: dict | None = None) -> None:
        self.keys_dir = root / "keys"
        if curve:
            keygen(self.keys_dir, list(range(n)), clients=2)
        super().__init__(root, n, timing, storage_extra, SecurityConfig(curve=curve, keys_dir=self.keys_dir))

    def counters(self, i: int) -> dict:
        st = self.status(i, timeout=2.0)
        assert st is not None, f"node {i} does not answer; console:\n{self.console(i)[-3000:]}"
        return st["counters"]

    def write_all(self, node: int, client: str, seqs: range) -> list[int]:
        """Guesses seq % 101 for each seq, in order, each acknowledged: their zxids."""
        zxids = []
        for seq in seqs:
            for _ in range(50):
                r = self.guess(node, seq % 101, client, seq, timeout=2.0)
                if r is not None and r.ok:
                    zxids.append(r.zxid)
                    break
            else:
                raise AssertionError(f"guess seq {seq} through node {node} never acknowledged")
        return zxids


@contextmanager
def running_curve_cluster(root: Path, n: int = 3) -> Iterator[SecureCluster]:
    """A CURVE cluster of ``n`` started nodes with a leader; closed at the end of the block."""
    c = SecureCluster(root, n=n, curve=True)
    c.start_all()
    try:
        c.wait_leader(timeout=20)
        yield c
    finally:
        c.close()
