"""`zmqzab chaos`: faults under load on real processes, with a history checker (zmqzab/chaos/)."""

from __future__ import annotations

import errno
from pathlib import Path
from typing import Annotated

import typer

from zmqzab.cli.common import EXIT_CODES, fail, load

NODES_DEFAULT = 5


def chaos(
    nodes: Annotated[int | None, typer.Option("--nodes", min=1, max=9, help="Nodes in the throwaway "
                                              f"cluster (default {NODES_DEFAULT}; with --config, its nodes).",
                                              show_default=False)] = None,
    duration: Annotated[float, typer.Option("--duration", min=5.0, max=86400.0,
                                            help="Seconds of faults under load.")] = 60.0,
    clients: Annotated[int, typer.Option("--clients", min=1, max=64, help="Concurrent clients.")] = 4,
    seed: Annotated[int | None, typer.Option("--seed", min=0, help="Seed of the workload and the "
                                             "nemesis (default: random, printed).")] = None,
    report: Annotated[Path | None, typer.Option("--report", file_okay=False,
                                                help="Directory for report.json, history.json, "
                                                     "timeline.html and recording.zrec (default: in the "
                                                     "run's temp dir).")] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the nodes' data dirs after the run.")] = False,
    config: Annotated[Path | None, typer.Option("--config", "-c", dir_okay=False, help="Run the cluster this "
                                                "file describes (nodes, ports, timing, game, CURVE); its "
                                                "data_dir and log_dir are not used. Its ports must be free.")] = None,
    netns: Annotated[bool, typer.Option("--netns", help="Each node in its own network namespace (root, "
                                        "iproute2): partitions cut real TCP connections.")] = False,
    inject_bug: Annotated[list[str] | None, typer.Option(
        "--inject-bug", metavar="NAME", help="TEST ONLY: run the nodes with this deliberate core bug (repeatable; "
        "names in zmqzab/core/settings.py TEST_FAULTS), to prove the checker reports a violation. "
        "Never for a real cluster.")] = None,
    scenario: Annotated[str | None, typer.Option("--scenario", help="A fixed fault sequence instead of the "
                                                 "random nemesis: paused-rejoin (a node paused ~30 s while "
                                                 "the leader is killed twice; 5 nodes or more).")] = None,
    power_loss: Annotated[bool, typer.Option("--power-loss/--no-power-loss", help="Nodes record their fsyncs "
                                             "so that the nemesis can cut a node's power (its unsynced "
                                             "writes lost).")] = True,
    faults: Annotated[str | None, typer.Option("--faults", help="Comma-separated nemesis moves to deal "
                                               "(default: all): kill, kill_leader, power_loss, pause, "
                                               "pause_leader, long_pause, isolate, isolate_leader, "
                                               "long_isolate, split, bridge, one_way, loss, delay, "
                                               "duplicate, leader_twice, pause_across_restarts, "
                                               "clean_restart, clean_restart_leader; and, "
                                               "only when named, power_loss_all (every node's power "
                                               "cut at once).")] = None,
    liveness: Annotated[float, typer.Option("--liveness", min=1.0, max=3600.0, help="Seconds after healing "
                                            "within which every node must be LEADING or FOLLOWING and a "
                                            "fresh write applied everywhere.")] = 30.0,
    record: Annotated[bool, typer.Option("--record/--no-record", help="Write recording.zrec in the report "
                                         "dir: every node's events and status, the nemesis's faults and "
                                         "the verdict, for zmqzab replay.")] = True,
    record_max_mb: Annotated[float, typer.Option("--record-max-mb", min=0.001, max=100_000, help="The "
                                                 "recording's size bound (MiB of uncompressed frames).")] = 50,
) -> None:
    """Start a cluster on free ports, break it while clients write, then check the history.

    The nemesis composes faults that overlap while a quorum survives: kill -9 (also the leader,
    also twice in a row), power loss (unsynced writes lost), pauses beyond the sync limit and
    long ones (20-40 s, across other nodes' restarts and new epochs), partitions (a minority,
    the leader alone, majority | rest, a bridge node, one way) and message loss, delay and
    duplication. At the end it heals; within --liveness seconds every node must be LEADING or
    FOLLOWING and a fresh write applied everywhere; then it waits for equal logs and checks:
    logs identical where they overlap and without holes, every logged op sent by a client, every
    ok write in the log once at its zxid, no duplicates, refused writes absent, real-time order,
    answers equal to a replay, each node's full state equal to a replay of its own disk,
    snapshots equal to a replay, no node stopped on an error. Exit 0 only when every check
    holds.
    """
    from zmqzab.chaos.netns import NetnsError, check_available
    from zmqzab.chaos.runner import Options, run

    if config is not None:
        cfg = load(config)  # a bad config is exit 2 with its one-line message
        if nodes is not None and nodes != len(cfg.nodes):
            fail(f"--nodes {nodes} does not match the {len(cfg.nodes)} nodes of {config}: drop --nodes "
                 f"(with --config the run has the config's nodes), or drop --config")
        nodes = len(cfg.nodes)
        _check_keys(cfg, config)
        if not netns:  # in namespaces of their own the nodes' ports collide with nothing here
            _check_ports(cfg, config)
    from zmqzab.core.settings import TEST_FAULTS

    bugs = tuple(sorted(set(inject_bug or ())))
    unknown = [b for b in bugs if b not in TEST_FAULTS]
    if unknown:
        fail(f"--inject-bug {', '.join(unknown)}: no such test fault; known: {', '.join(TEST_FAULTS)}")
    if netns:
        try:
            check_available()
        except NetnsError as exc:
            fail(str(exc))
    from zmqzab.chaos.nemesis import MOVES, OPT_IN_MOVES, SCENARIOS

    moves = tuple(m.strip() for m in faults.split(",") if m.strip()) if faults is not None else MOVES
    unknown = sorted(set(moves) - set(MOVES) - set(OPT_IN_MOVES))
    if unknown or not moves:
        fail(f"--faults {faults!r}: unknown moves {unknown} (the moves are {', '.join(MOVES + OPT_IN_MOVES)})")
    if {"power_loss", "power_loss_all"} & set(moves) and not power_loss:
        fail("--faults power_loss / power_loss_all need the fsync witness: drop --no-power-loss")

    if scenario is not None and scenario not in SCENARIOS:
        fail(f"unknown scenario {scenario!r}: the scenarios are {', '.join(SCENARIOS)}")
    if scenario is not None and (nodes or NODES_DEFAULT) < 5:
        fail(f"--scenario {scenario} needs 5 nodes or more (it keeps two nodes down at once): use --nodes 5")
    raise typer.Exit(run(Options(nodes=nodes or NODES_DEFAULT, duration=duration, clients=clients, seed=seed,
                                 report=report, keep=keep, config=config, netns=netns, scenario=scenario,
                                 power_loss=power_loss, liveness_s=liveness, moves=moves,
                                 inject_bugs=bugs,
                                 record_cap=int(record_max_mb * 1024 * 1024) if record else None)))


def _check_keys(cfg, path: Path) -> None:
    """With CURVE the clients and probes use the config's client key, as `zmqzab guess` does."""
    from zmqzab.security.curve import client_keys, node_keys
    from zmqzab.security.keys import KeyFileError

    try:
        client_keys(cfg)
        for i in cfg.ids:
            node_keys(cfg, i)
    except KeyFileError as exc:
        fail(f"{path}: {exc}")


def _check_ports(cfg, path: Path) -> None:
    from zmqzab.up.localcluster import unbindable_ports

    for what, exc in unbindable_ports(cfg):
        if exc.errno == errno.EADDRINUSE:
            fail(f"{path}: {what} is already in use (is that cluster running?): stop that cluster first, "
                 f"or drop --config to run on free ports")
        fail(f"{path}: cannot bind {what} ({exc.strerror or exc}): chaos starts the nodes on this machine; "
             f"use a config whose hosts are this machine's, add --netns, or drop --config")


def register(app: typer.Typer) -> None:
    app.command(epilog=EXIT_CODES)(chaos)
