"""`zmqzab chaos --config FILE`: the chaos run on the cluster a config describes.

Goal: the harness runs FILE's nodes (ids, ports, timing, CURVE) with storage in its own temp
dir, and refuses at once when FILE cannot be run here.
Setup: a 3-node config on ports from the OS whose data_dir / log_dir must stay untouched; with
CURVE, keys from `zmqzab keygen` in a relative keys_dir.
Faults: the nemesis, short runs (processes); a listener on one of FILE's ports; --nodes that
disagrees with FILE.
Expected: exit 0, verdict ok, faults counted, FILE's storage dirs never created; exit 2 with a
one-line message naming the port, or the node counts.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zmqzab.cli.app import app
from zmqzab.config import NodeAddress, SecurityConfig, StorageConfig, load_config, render_config
from zmqzab.up.localcluster import derive_config, free_ports

pytestmark = [pytest.mark.chaos, pytest.mark.config]

runner = CliRunner()


def write_config(root: Path, n: int = 3, security: SecurityConfig = SecurityConfig()) -> Path:
    ports = free_ports(4 * n)
    nodes = [NodeAddress(i, "127.0.0.1", *ports[4 * i: 4 * i + 4]) for i in range(n)]
    storage = StorageConfig(data_dir=root / "real-data", log_dir=root / "real-logs")
    path = root / "real.toml"
    path.write_text(render_config(nodes, storage=storage, security=security))
    return path


def chaos(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, dict]:
    report = cwd / "report"
    p = subprocess.run([sys.executable, "-m", "zmqzab", "chaos", "--clients", "2", "--report", str(report), *args],
                       capture_output=True, text=True, timeout=120, cwd=cwd)
    print(p.stdout[-2000:], p.stderr[-2000:])
    return p, json.loads((report / "report.json").read_text())


def stderr_of(result) -> str:
    return result.stderr if result.stderr_bytes is not None else result.output


def test_derived_config_keeps_nodes_and_moves_storage(tmp_path):
    base = load_config(write_config(tmp_path))
    (tmp_path / "run").mkdir()
    derived = load_config(derive_config(tmp_path / "run", base, {1: "10.77.3.3"}, http_public=True))
    assert [(n.id, n.peer_port, n.http_port) for n in derived.nodes] == \
        [(n.id, n.peer_port, n.http_port) for n in base.nodes]
    assert derived.node(1).host == "10.77.3.3" and derived.node(0).host == "127.0.0.1"
    assert derived.storage.data_dir == tmp_path / "run" / "data"
    assert derived.storage.log_dir == tmp_path / "run" / "logs"
    assert derived.security.http_public and not base.security.http_public
    assert derived.timing == base.timing and derived.game == base.game


def test_port_in_use_exits_2_naming_the_port(tmp_path):
    path = write_config(tmp_path)
    port = load_config(path).node(1).client_port
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
        s.listen()
        result = runner.invoke(app, ["chaos", "--config", str(path), "--duration", "5"])
    assert result.exit_code == 2, result.output
    err = stderr_of(result)
    assert f"client_port {port} of node 1 on 127.0.0.1 is already in use" in err
    assert "stop that cluster first, or drop --config" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "real-data").exists()


def test_nodes_that_disagree_with_the_config_exit_2(tmp_path):
    path = write_config(tmp_path)
    result = runner.invoke(app, ["chaos", "--config", str(path), "--nodes", "5"])
    assert result.exit_code == 2
    assert f"--nodes 5 does not match the 3 nodes of {path}" in stderr_of(result)


def test_bad_config_exits_2_with_its_one_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[[nodes]]\nid = 0\nprot = 7100\n")
    result = runner.invoke(app, ["chaos", "--config", str(path)])
    assert result.exit_code == 2
    assert "unknown key 'prot'" in stderr_of(result) and stderr_of(result).count("\n") == 1


def test_processes_chaos_on_a_config_passes_and_leaves_its_storage_alone(tmp_path):
    path = write_config(tmp_path)
    p, doc = chaos(["--config", str(path), "--nodes", "3", "--duration", "8", "--seed", "4"], tmp_path)
    assert p.returncode == 0, doc["violations"]
    assert doc["verdict"] == "ok" and doc["nodes"] == 3
    assert doc["stats"]["faults"] >= 1 and doc["stats"]["ok"] >= 10
    assert doc["stats"]["partitions_by"] == "transport fault rules"
    assert not (tmp_path / "real-data").exists() and not (tmp_path / "real-logs").exists()


def test_processes_chaos_on_a_curve_config_passes(tmp_path):
    """The nodes, the chaos clients and the status probes all speak CURVE with keygen's keys."""
    keygen = subprocess.run([sys.executable, "-m", "zmqzab", "keygen", "--dir", "keys", "--nodes", "3"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=30)
    assert keygen.returncode == 0, keygen.stderr
    # A relative keys_dir, resolved against where chaos runs (as for `zmqzab guess`).
    path = write_config(tmp_path, security=SecurityConfig(curve=True, keys_dir=Path("keys")))
    p, doc = chaos(["--config", str(path), "--duration", "6", "--seed", "9"], tmp_path)
    assert p.returncode == 0, doc["violations"]
    assert doc["verdict"] == "ok" and doc["stats"]["faults"] >= 1 and doc["stats"]["ok"] >= 10
    assert not (tmp_path / "real-data").exists()
