"""The ZooKeeper panel over real nodes and real ZooKeeper clients: the README's walk-through
(two kazoo clients on one Lock, the holder's node crashed, the lock passes), seen in the page.

Every wait polls a condition with a deadline (Playwright's, or tests/polling.py); no fixed sleeps.
"""

from __future__ import annotations

import threading

import pytest

from tests.processes.procs import ProcCluster

pytestmark = [pytest.mark.web, pytest.mark.zk]

kazoo_client = pytest.importorskip("kazoo.client", reason="kazoo is not installed (pip install kazoo)")

#: The shortest session timeout the nodes grant (ZkSettings.min_timeout_ms): the lock passes
#: one timeout after the holder's node dies.
SESSION_TIMEOUT_S = 4.0


def owners_in_lock(page) -> list[str]:
    """The sessions owning the lock's children, in the panel's order (holder first)."""
    return page.eval_on_selector_all('.zk-node[data-path^="/app/lock/"]', "els => els.map(e => e.dataset.owner)")


@pytest.fixture
def cluster(tmp_path):
    c = ProcCluster(tmp_path, n=3)
    try:
        c.start_all()
        yield c
    finally:
        c.close()


def test_browser_zk_panel_follows_a_kazoo_lock_over_real_nodes_processes(cluster, page):
    """Goal: the panel tells the story of a lock recipe on a real cluster. Setup: three nodes
    serving ZooKeeper clients; alice's kazoo client connected to one follower takes a Lock,
    bob's (on the other follower) waits for it; the page served by the leader. Faults: kill -9
    of alice's node. Expected: the panel shows both lock nodes, ephemeral, with their sessions
    in line (alice's first), each session on its node with a countdown; after the crash alice's
    session has no client; once the leader expires it, her lock node and session go, bob holds
    the lock, and the page raised no error."""
    leader = cluster.wait_leader(timeout=30)
    alice_node, bob_node = [i for i in cluster.ids if i != leader]
    port = {n.id: n.zk_port for n in cluster.config.nodes}
    clients = []
    try:
        for i in (alice_node, bob_node):
            k = kazoo_client.KazooClient(hosts=f"127.0.0.1:{port[i]}", timeout=SESSION_TIMEOUT_S)
            k.start(timeout=30)
            clients.append(k)
        alice, bob = clients
        alice_sid, bob_sid = (f"0x{k.client_id[0] & (2**64 - 1):x}" for k in clients)
        assert alice.Lock("/app/lock", "alice").acquire(timeout=20)
        bob_lock = bob.Lock("/app/lock", "bob")
        bob_holds = threading.Event()
        threading.Thread(target=lambda: bob_lock.acquire(timeout=120) and bob_holds.set(),
                         daemon=True).start()

        page.goto(cluster.config.node(leader).http_url + "/")
        page.wait_for_function(f"""(() => {{
            const owners = [...document.querySelectorAll('.zk-node[data-path^="/app/lock/"]')].map(e => e.dataset.owner);
            return owners.length === 2 && owners[0] === '{alice_sid}' && owners[1] === '{bob_sid}';
        }})()""", timeout=30_000)
        row = f'.zk-session[data-session="{alice_sid}"]'
        page.wait_for_function(f"document.querySelector('{row}') && document.querySelector('{row}').dataset.node === '{alice_node}'"
                               f" && document.querySelector('{row}').dataset.expiresMs !== ''", timeout=15_000)
        assert page.locator(f'.zk-session[data-session="{bob_sid}"]').get_attribute("data-node") == str(bob_node)

        cluster.kill(alice_node)
        page.wait_for_function(f"document.querySelector('{row}') === null || document.querySelector('{row}').dataset.node === ''",
                               timeout=15_000)
        # The leader expires alice's session: her lock node goes with it and the lock passes.
        page.wait_for_function(f"document.querySelector('{row}') === null", timeout=60_000)
        page.wait_for_function(
            f"""(() => {{
                const owners = [...document.querySelectorAll('.zk-node[data-path^="/app/lock/"]')].map(e => e.dataset.owner);
                return owners.length === 1 && owners[0] === '{bob_sid}';
            }})()""", timeout=15_000)
        assert bob_holds.wait(timeout=60), "bob never got the lock after alice's session expired"
        assert owners_in_lock(page) == [bob_sid]
        assert page.errors == []  # type: ignore[attr-defined]
    finally:
        for k in clients:
            try:
                k.stop()
                k.close()
            except Exception:  # noqa: BLE001 - alice's client cannot say goodbye to a dead node
                pass
