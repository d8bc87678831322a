"""Attack on LocalCluster.block (the nemesis's partitions and heals): a heal sent right after a
restart, before the new process listens on HTTP, used to be dropped (the connection refused was
taken for "it died meanwhile"). The node kept the partition of its start (ZMQZAB_BLOCKED) for
the rest of the run and stayed LOOKING: test_chaos_snapshots_processes failed its liveness
check (and the lagging node then misled the checker: test_checker_lagging_node_attack.py).
Now the rules are retried while the process lives."""

from __future__ import annotations

import http.client

import pytest

from zmqzab.up import localcluster
from zmqzab.up.localcluster import LocalCluster, make_config

pytestmark = [pytest.mark.processes, pytest.mark.chaos]


class _Resp:
    status = 200

    def read(self) -> bytes:
        return b"{}"


def _fake_http(refusals: int, sent: list[dict]):
    """An HTTPConnection whose first ``refusals`` requests are refused (not listening yet)."""

    class Conn:
        def __init__(self, host, port, timeout=None) -> None:
            pass

        def request(self, method, url, body=None, headers=None) -> None:
            if len(sent) < refusals:
                sent.append({})
                raise ConnectionRefusedError(111, "Connection refused")
            sent.append({"url": url, "body": body})

        def getresponse(self) -> _Resp:
            return _Resp()

        def close(self) -> None:
            pass

    return Conn


@pytest.mark.parametrize("alive", [True, False], ids=["starting", "dead"])
def test_a_heal_sent_before_a_restarted_node_listens_reaches_it(tmp_path, monkeypatch, alive):
    c = LocalCluster(make_config(tmp_path, 3), tmp_path)
    try:
        sent: list[dict] = []
        monkeypatch.setattr(http.client, "HTTPConnection", _fake_http(3, sent))
        monkeypatch.setattr(localcluster.time, "sleep", lambda s: None)  # no wait: the fake decides
        monkeypatch.setattr(c, "alive", lambda i: alive if sent else True)
        c.set_blocked(1, set())
        if alive:
            assert len(sent) == 4 and sent[-1]["url"] == "/control/faults", sent
            assert '"blocked": []' in sent[-1]["body"]
        else:
            assert len(sent) == 1  # a dead node gets its rules when it restarts
    finally:
        c.close()
