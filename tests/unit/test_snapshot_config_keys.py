"""[storage] snapshot_every_txns and snapshots_kept: defaults, validation, rendering."""

from __future__ import annotations

import pytest

from zmqzab.config import ConfigError, NodeAddress, StorageConfig, parse_config, render_config

pytestmark = [pytest.mark.snapshots, pytest.mark.config]

NODE = '[[nodes]]\nid = 0\nhost = "127.0.0.1"\npeer_port = 1\npub_port = 2\nclient_port = 3\nhttp_port = 4\n'


def test_defaults_and_round_trip() -> None:
    cfg = parse_config(NODE)
    assert (cfg.storage.snapshot_every_txns, cfg.storage.snapshots_kept) == (100_000, 3)
    storage = StorageConfig(snapshot_every_txns=10, snapshots_kept=1)
    text = render_config([NodeAddress(0, "127.0.0.1", 1, 2, 3, 4)], storage=storage)
    assert parse_config(text).storage == storage


@pytest.mark.parametrize("line, message", [
    ("snapshot_every_txns = 0", "snapshot_every_txns = 0 is out of range (allowed: >= 1)"),
    ("snapshots_kept = 0", "snapshots_kept = 0 is out of range (allowed: 1..1000)"),
    ('snapshots_kept = "3"', "snapshots_kept must be an integer"),
    ("snapshot_every = 5", "unknown key 'snapshot_every'"),
])
def test_bad_values_are_named(line: str, message: str) -> None:
    with pytest.raises(ConfigError, match="\\[storage\\]") as err:
        parse_config(NODE + f"[storage]\n{line}\n", "c.toml")
    assert message in str(err.value)


def test_snapshot_size_factor_default_round_trip_and_off() -> None:
    """ZooKeeper's snapshotSizeFactor: 0.33 by default; an integer or a negative (off) parses."""
    assert parse_config(NODE).storage.snapshot_size_factor == 0.33
    for value in (-1.0, 0.0, 2.5):
        storage = StorageConfig(snapshot_size_factor=value)
        text = render_config([NodeAddress(0, "127.0.0.1", 1, 2, 3, 4)], storage=storage)
        assert parse_config(text).storage == storage
    # Negative zero is written negative: off, not "SNAP always" (it compares equal to 0).
    for written in ("-0.0", "-0e0"):  # (TOML reads an integer -0 as plain 0)
        factor = parse_config(NODE + f"[storage]\nsnapshot_size_factor = {written}\n").storage.snapshot_size_factor
        assert factor < 0, (written, factor)
    assert parse_config(NODE + "[storage]\nsnapshot_size_factor = 1\n").storage.snapshot_size_factor == 1.0


@pytest.mark.parametrize("line, message", [
    ('snapshot_size_factor = "0.33"', "snapshot_size_factor must be a number, got a string"),
    ("snapshot_size_factor = true", "snapshot_size_factor must be a number"),
    ("snapshot_size_factor = nan", "snapshot_size_factor must be a number"),
    ("snapshot_size_factor = inf", "snapshot_size_factor = inf is out of range (allowed: at most 1000; negative turns it off)"),
    ("snapshot_size_factor = 1e9", "is out of range"),
])
def test_bad_snapshot_size_factor_is_named(line: str, message: str) -> None:
    with pytest.raises(ConfigError, match="\\[storage\\]") as err:
        parse_config(NODE + f"[storage]\n{line}\n", "c.toml")
    assert message in str(err.value)
