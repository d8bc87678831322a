"""cluster.toml -> typed, validated config.

A config names every node of the cluster (id, host and four ports) and the settings all nodes
share: timing, storage and the game. Every node must be started with the same file: quorum
arithmetic and the ports of peers come from it.

Validation is strict and the error is one line a person can act on: it names the file, the
table and the key, and says what is allowed (``ConfigError``). Unknown keys are errors rather
than ignored, because a typo (``prot = 7100``) silently falling back to a default is the kind of
mistake that costs an afternoon.

Only ``[[nodes]]`` is required; ``[timing]``, ``[storage]``, ``[game]`` and ``[security]`` and
each of their keys may be left out and take the defaults below. Relative storage paths are kept as written
and so resolve against the working directory of the process, not the config file's directory
(``zmqzab up`` and ``zmqzab node`` run from the repository root and share ``data/``, ``logs/``).
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The game refuses round sizes outside its limits: the config accepts exactly those.
from zmqzab.game.limits import ROUND_SIZE_MAX, ROUND_SIZE_MIN

DEFAULT_CONFIG_PATH = Path("config/cluster.toml")

NODES_MIN = 1
NODES_MAX = 9
NODE_ID_MIN = 0
NODE_ID_MAX = 255
PORT_MIN = 1
PORT_MAX = 65535
MESSAGE_DELAY_MAX_MS = 10_000  # a classroom delay; longer is a mistake, not a demo
SNAPSHOTS_KEPT_MIN = 1  # 1 works, but leaves nothing to fall back on if that snapshot is damaged
SNAPSHOTS_KEPT_MAX = 1000
#: Above this a snapshot_size_factor means "never SNAP for size" anyway; a typo like 33 for
#: 0.33 still passes, so the bound only stops infinities and nonsense.
SNAPSHOT_SIZE_FACTOR_MAX = 1000.0

PORT_KEYS = ("peer_port", "pub_port", "client_port", "http_port")
#: ZooKeeper's clientPort: optional (0 or absent: this node serves no ZooKeeper clients).
ZK_PORT_KEY = "zk_port"
ALL_PORT_KEYS = (*PORT_KEYS, ZK_PORT_KEY)
NODE_KEYS = ("id", "host", *PORT_KEYS)
TOP_LEVEL_KEYS = ("nodes", "timing", "storage", "game", "security", "zookeeper", "processes")
#: [processes] cpu_affinity: see ProcessesConfig.
CPU_AFFINITY_CHOICES = ("auto", "spread", "off")
#: A session's timeout in ms is negotiated into [min, max] (ZooKeeper's minSessionTimeout /
#: maxSessionTimeout, whose defaults are 2 and 20 ticks of 2 s: 4 s and 40 s).
SESSION_TIMEOUT_MIN_MS = 100
SESSION_TIMEOUT_MAX_MS = 24 * 3600 * 1000


class ConfigError(Exception):
    """A config that cannot be used; ``str()`` is one line naming the file, the key and the fix."""


def _host_in_url(host: str) -> str:
    # An IPv6 literal needs brackets in a URL / ZeroMQ endpoint.
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True, slots=True)
class NodeAddress:
    """Where one node listens. Each port is bound by this node only."""

    id: int
    host: str
    peer_port: int  # ROUTER: everything peers send to this node
    pub_port: int  # PUB: the leader's PROPOSAL / COMMIT / PING
    client_port: int  # ROUTER: client requests
    http_port: int  # status, events, metrics, index.html
    zk_port: int = 0  # ZooKeeper's client protocol (clientPort); 0: not served

    @property
    def peer_endpoint(self) -> str:
        return f"tcp://{_host_in_url(self.host)}:{self.peer_port}"

    @property
    def pub_endpoint(self) -> str:
        return f"tcp://{_host_in_url(self.host)}:{self.pub_port}"

    @property
    def client_endpoint(self) -> str:
        return f"tcp://{_host_in_url(self.host)}:{self.client_port}"

    @property
    def http_url(self) -> str:
        return f"http://{_host_in_url(self.host)}:{self.http_port}"


@dataclass(frozen=True, slots=True)
class Timing:
    """Protocol timing. The core counts time in ticks of ``tick_ms``; every limit is in ticks.

    Names after ZooKeeper's tickTime / initLimit / syncLimit / finalizeWait.
    """

    #: Length of one tick in milliseconds (ZooKeeper's tickTime): how often tick() is called.
    tick_ms: int = 50
    #: The leader sends a PING every this many ticks.
    heartbeat_ticks: int = 1
    #: While syncing (discovery + sync), a follower that hears nothing from its leader for this
    #: many ticks goes back to election (ZooKeeper's initLimit).
    init_limit_ticks: int = 20
    #: After sync, a follower that hears nothing from its leader for this many ticks goes back to
    #: election, and a leader that hears from less than a quorum for this many ticks steps down
    #: (ZooKeeper's syncLimit).
    sync_limit_ticks: int = 10
    #: Once a quorum agrees on a vote, the election waits this many ticks for a better vote
    #: before deciding (ZooKeeper's finalizeWait, 200 ms).
    election_wait_ticks: int = 2
    #: Hold every peer message this long before sending it (0: off). A classroom switch that
    #: makes PROPOSAL -> ACK -> COMMIT slow enough to watch; must stay below half of
    #: sync_limit_ticks * tick_ms (and of init_limit_ticks * tick_ms), or followers time out.
    message_delay_ms: int = 0

    @property
    def heartbeat_ms(self) -> int:
        return self.tick_ms * self.heartbeat_ticks


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """Where nodes keep their files. Relative paths are relative to the working directory."""

    data_dir: Path = Path("data")  # txn logs, epoch files, snapshots (per node below it)
    log_dir: Path = Path("logs")  # node-<id>.log
    fsync: bool = True  # False is UNSAFE: a crash may lose acknowledged txns (benchmarks only)
    #: Committed txns each node keeps in memory. A follower further behind is sent the older
    #: txns from the log on disk (DIFF), or SNAP if they were purged. Bounds a node's memory.
    log_window_txns: int = 50_000
    #: Take a snapshot of the game every this many applied txns (ZooKeeper's snapCount); the
    #: log is rolled there, and older snapshots and log segments are purged.
    snapshot_every_txns: int = 100_000
    #: Snapshots kept (the newest and the ones before it, to fall back on if the newest is
    #: damaged); log segments older than the oldest kept one are deleted. ZooKeeper's
    #: autopurge.snapRetainCount.
    snapshots_kept: int = 3
    #: A clean stop (SIGTERM, SIGINT) saves a snapshot of what was applied since the last one,
    #: so that a restart starts from it instead of applying its log again (ClickHouse Keeper's
    #: create_snapshot_on_exit). Off: the log after the last snapshot stays on disk as it is
    #: (the chaos checker judges it after its final stop).
    snapshot_on_exit: bool = True
    #: ZooKeeper's snapshotSizeFactor: a follower behind by more than this times the snapshot's
    #: size in txns (and by 64 KiB or more) gets SNAP instead of DIFF. Negative: always DIFF.
    snapshot_size_factor: float = 0.33


@dataclass(frozen=True, slots=True)
class GameConfig:
    #: Guesses per round. The leader stamps it into each txn; apply never reads this config.
    round_size: int = 3


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    """CurveZMQ and the HTTP bind (zmqzab/security/). The defaults are the loopback demo: no keys."""

    #: Encrypt and authenticate every ZeroMQ socket with CURVE; keys from ``keys_dir``
    #: (``zmqzab keygen``). Off: anyone who reaches a port can talk to the cluster.
    curve: bool = False
    #: node-<id>.key / .key_secret and client-<n>.key / .key_secret, relative to the working
    #: directory like the storage paths.
    keys_dir: Path = Path("config/keys")
    #: False: every node's HTTP binds 127.0.0.1 (view and metrics for this machine only).
    #: True: it binds the node's host; controls there still need `zmqzab up`'s token.
    http_public: bool = False
    #: curve = false on a non-loopback host: a node refuses to start unless this says the
    #: plaintext network is trusted on purpose (security/plaintext.py).
    insecure: bool = False


@dataclass(frozen=True, slots=True)
class ZooKeeperConfig:
    """ZooKeeper's client protocol on each node's ``zk_port`` (zmqzab/host/zk.py)."""

    #: A client's asked session timeout is moved into [min, max] (ZooKeeper's
    #: minSessionTimeout / maxSessionTimeout; its defaults, 4 s and 40 s at tickTime 2 s).
    min_session_timeout_ms: int = 4_000
    max_session_timeout_ms: int = 40_000
    #: Keys the session passwords (an HMAC of the session id), so that every node can check a
    #: reconnecting client's password. Every node must have the same one; a cluster that
    #: faces untrusted clients sets its own.
    session_secret: str = "zmqzab-demo-session-secret"
    #: ZooKeeper's zookeeper.DigestAuthenticationProvider.superDigest ("super:<base64 sha1>",
    #: as `zmqzab zk` or ZooKeeper's DigestAuthenticationProvider prints it): a client that
    #: authenticates with its digest passes every ACL. Empty: no super user.
    super_digest: str = ""
    #: ZooKeeper's maxClientCnxns: connections one address may hold open to one node (0: no
    #: limit). ZooKeeper's default, 60.
    max_client_cnxns: int = 60
    #: ZooKeeper's globalOutstandingLimit: requests one node holds for its clients in all;
    #: past it the node stops reading its clients until some are answered.
    outstanding_max: int = 1000


@dataclass(frozen=True, slots=True)
class ProcessesConfig:
    """How a node's process sits on its machine (zmqzab/server/affinity.py)."""

    #: "auto": when more nodes of this config share a machine than it has CPUs (the classroom
    #: cluster on a laptop), each keeps all its threads on one CPU, the machine's nodes spread
    #: over its CPUs in turn; "spread": so even when they fit; "off": the OS places them.
    #: Why: a node's socket loop, ZeroMQ I/O thread and log writer hand every message to each
    #: other; on one CPU those hand-offs are local wake-ups instead of cross-CPU interrupts
    #: (docs/benchmarks.md, "One CPU per node").
    cpu_affinity: str = "auto"


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """The whole cluster. ``path`` is where it came from; it does not take part in equality."""

    path: Path | None = field(compare=False)
    nodes: tuple[NodeAddress, ...]
    timing: Timing = Timing()
    storage: StorageConfig = StorageConfig()
    game: GameConfig = GameConfig()
    security: SecurityConfig = SecurityConfig()
    zookeeper: ZooKeeperConfig = ZooKeeperConfig()
    processes: ProcessesConfig = ProcessesConfig()

    def __post_init__(self) -> None:
        # Sorted by id so that every node iterates its peers in the same order (STYLE rule 11).
        object.__setattr__(self, "nodes", tuple(sorted(self.nodes, key=lambda n: n.id)))

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(n.id for n in self.nodes)

    @property
    def quorum(self) -> int:
        return len(self.nodes) // 2 + 1

    def http_host(self, node: NodeAddress) -> str:
        """Where ``node``'s HTTP listens: 127.0.0.1 unless ``[security] http_public``."""
        return node.host if self.security.http_public else "127.0.0.1"

    def http_url(self, node: NodeAddress) -> str:
        return f"http://{_host_in_url(self.http_host(node))}:{node.http_port}"

    def node(self, node_id: int) -> NodeAddress:
        for n in self.nodes:
            if n.id == node_id:
                return n
        valid = ", ".join(str(i) for i in self.ids)
        where = f"{self.path}: " if self.path is not None else ""
        raise ConfigError(f"{where}no node with id {node_id!r} (valid ids: {valid})")


# --------------------------------------------------------------------------------------------
# Loading


def _shown(value: Any) -> str:
    """A value as it would be written in TOML (``true``, not Python's ``True``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _toml_str(value)
    return repr(value)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return "a date/time"


class _Table:
    """One TOML table being read: knows its file and its name so every error can say both."""

    def __init__(self, path: str, where: str, data: dict[str, Any]) -> None:
        self.path = path
        self.where = where  # e.g. "[timing]" or "[[nodes]] #2"
        self.data = data

    def error(self, text: str) -> ConfigError:
        return ConfigError(f"{self.path}: {self.where}: {text}")

    def check_keys(self, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> None:
        # Sorted so that, with several bad keys, the message does not depend on file order.
        for key in sorted(self.data):
            if key not in allowed:
                raise self.error(f"unknown key {key!r} (allowed: {', '.join(allowed)})")
        for key in required:
            if key not in self.data:
                raise self.error(f"missing key {key!r} (required: {', '.join(required)})")

    def get_int(self, key: str, default: int, low: int, high: int | None = None) -> int:
        value = self.data.get(key, default)
        # bool is an int subclass in Python; `fsync = true` typed into a port must not pass.
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(f"{key} must be an integer, got {_kind(value)} ({_shown(value)})")
        if value < low or (high is not None and value > high):
            allowed = f"{low}..{high}" if high is not None else f">= {low}"
            raise self.error(f"{key} = {value} is out of range (allowed: {allowed})")
        return value

    def get_float(self, key: str, default: float, high: float) -> float:
        """A number (an integer is one too) at most ``high``; negative is allowed (it means off)."""
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise self.error(f"{key} must be a number, got {_kind(value)} ({_shown(value)})")
        if value > high:
            raise self.error(f"{key} = {value} is out of range (allowed: at most {high:g}; negative turns it off)")
        if value == 0 and math.copysign(1.0, value) < 0:
            return -1.0  # "-0.0" is written negative, so it means off too (it compares as 0: always)
        return float(value)

    def get_bool(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.error(f"{key} must be true or false, got {_kind(value)} ({_shown(value)})")
        return value

    def get_str(self, key: str, default: str) -> str:
        value = self.data.get(key, default)
        if not isinstance(value, str):
            raise self.error(f"{key} must be a string, got {_kind(value)} ({_shown(value)})")
        if not value.strip():
            raise self.error(f"{key} must not be empty")
        return value


def _sub_table(path: str, raw: dict[str, Any], name: str) -> _Table:
    value = raw.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(
            f"{path}: {name!r} must be a table written [{name}], "
            f"got {_kind(value)} ({_shown(value)})"
        )
    return _Table(path, f"[{name}]", value)


def _timing(path: str, raw: dict[str, Any]) -> Timing:
    t = _sub_table(path, raw, "timing")
    d = Timing()
    t.check_keys(("tick_ms", "heartbeat_ticks", "init_limit_ticks", "sync_limit_ticks",
                  "election_wait_ticks", "message_delay_ms"))
    timing = Timing(
        tick_ms=t.get_int("tick_ms", d.tick_ms, 1),
        heartbeat_ticks=t.get_int("heartbeat_ticks", d.heartbeat_ticks, 1),
        init_limit_ticks=t.get_int("init_limit_ticks", d.init_limit_ticks, 1),
        sync_limit_ticks=t.get_int("sync_limit_ticks", d.sync_limit_ticks, 1),
        election_wait_ticks=t.get_int("election_wait_ticks", d.election_wait_ticks, 1),
        message_delay_ms=t.get_int("message_delay_ms", d.message_delay_ms, 0, MESSAGE_DELAY_MAX_MS),
    )
    # A follower must be able to hear at least one PING before it gives up on its leader.
    for key in ("sync_limit_ticks", "init_limit_ticks"):
        limit = getattr(timing, key)
        if limit <= timing.heartbeat_ticks:
            raise t.error(
                f"{key} = {limit} must be greater than heartbeat_ticks = "
                f"{timing.heartbeat_ticks}, or followers time out between heartbeats"
            )
    # A delayed message still has to make a round trip within the liveness limits.
    for key in ("sync_limit_ticks", "init_limit_ticks"):
        limit_ms = getattr(timing, key) * timing.tick_ms
        if 2 * timing.message_delay_ms >= limit_ms:
            raise t.error(
                f"message_delay_ms = {timing.message_delay_ms} must be below half of {key} * "
                f"tick_ms = {limit_ms} ms, or a round trip outlasts the liveness limit"
            )
    return timing


def _storage(path: str, raw: dict[str, Any]) -> StorageConfig:
    t = _sub_table(path, raw, "storage")
    d = StorageConfig()
    t.check_keys(("data_dir", "log_dir", "fsync", "log_window_txns", "snapshot_every_txns",
                  "snapshots_kept", "snapshot_on_exit", "snapshot_size_factor"))
    return StorageConfig(
        data_dir=Path(t.get_str("data_dir", str(d.data_dir))),
        log_dir=Path(t.get_str("log_dir", str(d.log_dir))),
        fsync=t.get_bool("fsync", d.fsync),
        log_window_txns=t.get_int("log_window_txns", d.log_window_txns, 1),
        snapshot_every_txns=t.get_int("snapshot_every_txns", d.snapshot_every_txns, 1),
        snapshots_kept=t.get_int("snapshots_kept", d.snapshots_kept, SNAPSHOTS_KEPT_MIN,
                                 SNAPSHOTS_KEPT_MAX),
        snapshot_on_exit=t.get_bool("snapshot_on_exit", d.snapshot_on_exit),
        snapshot_size_factor=t.get_float("snapshot_size_factor", d.snapshot_size_factor, SNAPSHOT_SIZE_FACTOR_MAX),
    )


def _game(path: str, raw: dict[str, Any]) -> GameConfig:
    t = _sub_table(path, raw, "game")
    t.check_keys(("round_size",))
    return GameConfig(
        round_size=t.get_int("round_size", GameConfig().round_size, ROUND_SIZE_MIN, ROUND_SIZE_MAX)
    )


def _security(path: str, raw: dict[str, Any]) -> SecurityConfig:
    t = _sub_table(path, raw, "security")
    d = SecurityConfig()
    t.check_keys(("curve", "keys_dir", "http_public", "insecure"))
    return SecurityConfig(
        curve=t.get_bool("curve", d.curve),
        keys_dir=Path(t.get_str("keys_dir", str(d.keys_dir))),
        http_public=t.get_bool("http_public", d.http_public),
        insecure=t.get_bool("insecure", d.insecure),
    )


def _zookeeper(path: str, raw: dict[str, Any]) -> ZooKeeperConfig:
    t = _sub_table(path, raw, "zookeeper")
    d = ZooKeeperConfig()
    t.check_keys(("min_session_timeout_ms", "max_session_timeout_ms", "session_secret",
                  "super_digest", "max_client_cnxns", "outstanding_max"))
    low = t.get_int("min_session_timeout_ms", d.min_session_timeout_ms, SESSION_TIMEOUT_MIN_MS,
                    SESSION_TIMEOUT_MAX_MS)
    high = t.get_int("max_session_timeout_ms", d.max_session_timeout_ms, SESSION_TIMEOUT_MIN_MS,
                     SESSION_TIMEOUT_MAX_MS)
    if high < low:
        raise t.error(f"max_session_timeout_ms = {high} is below min_session_timeout_ms = {low} "
                      f"(make max at least min)")
    super_digest = t.data.get("super_digest", "")
    if super_digest != "":
        super_digest = t.get_str("super_digest", "")
        if ":" not in super_digest:
            raise t.error(f"super_digest = {super_digest!r} is not user:digest (for example "
                          f"super:D/InIHSb7yEEbrWz8b9l71RjZJU= is the digest of super:test)")
    return ZooKeeperConfig(min_session_timeout_ms=low, max_session_timeout_ms=high,
                           session_secret=t.get_str("session_secret", d.session_secret),
                           super_digest=super_digest,
                           max_client_cnxns=t.get_int("max_client_cnxns", d.max_client_cnxns, 0, 1_000_000),
                           outstanding_max=t.get_int("outstanding_max", d.outstanding_max, 1, 1_000_000))


def _processes(path: str, raw: dict[str, Any]) -> ProcessesConfig:
    t = _sub_table(path, raw, "processes")
    t.check_keys(("cpu_affinity",))
    mode = t.get_str("cpu_affinity", ProcessesConfig().cpu_affinity)
    if mode not in CPU_AFFINITY_CHOICES:
        raise t.error(f"cpu_affinity = {mode!r} is not one of {', '.join(map(repr, CPU_AFFINITY_CHOICES))} "
                      f"(\"auto\" keeps each node on one CPU when the machine's nodes outnumber its CPUs)")
    return ProcessesConfig(cpu_affinity=mode)


def _nodes(path: str, raw: dict[str, Any]) -> tuple[NodeAddress, ...]:
    if "nodes" not in raw:
        raise ConfigError(
            f"{path}: no [[nodes]] tables: add one [[nodes]] table per node "
            f"(keys: {', '.join(NODE_KEYS)})"
        )
    entries = raw["nodes"]
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(
            f"{path}: 'nodes' must be written as [[nodes]] tables, one per node, got "
            f"{_kind(entries)}"
        )
    if not NODES_MIN <= len(entries) <= NODES_MAX:
        raise ConfigError(
            f"{path}: {len(entries)} [[nodes]] tables given; a cluster has "
            f"{NODES_MIN} to {NODES_MAX} nodes (an odd number tolerates the most failures)"
        )
    nodes: list[NodeAddress] = []
    id_where: dict[int, str] = {}
    port_where: dict[tuple[str, int], str] = {}
    for position, entry in enumerate(entries, start=1):
        t = _Table(path, f"[[nodes]] #{position}", entry)
        t.check_keys((*NODE_KEYS, ZK_PORT_KEY), required=NODE_KEYS)
        node_id = t.get_int("id", 0, NODE_ID_MIN, NODE_ID_MAX)
        host = t.get_str("host", "")
        ports = {key: t.get_int(key, 0, PORT_MIN, PORT_MAX) for key in PORT_KEYS}
        if ZK_PORT_KEY in t.data:
            ports[ZK_PORT_KEY] = t.get_int(ZK_PORT_KEY, 0, PORT_MIN, PORT_MAX)
        if node_id in id_where:
            raise t.error(
                f"id {node_id} is already used by {id_where[node_id]} (ids must be unique)"
            )
        id_where[node_id] = t.where
        for key in ports:
            spot = (host, ports[key])
            if spot in port_where:
                raise t.error(
                    f"{key} = {ports[key]} on {host} is already used as {port_where[spot]} "
                    f"(every port on a host must be different)"
                )
            port_where[spot] = f"{key} of {t.where}"
        nodes.append(NodeAddress(id=node_id, host=host, **ports))
    return tuple(nodes)


def parse_config(text: str, path: str | Path = "<config>") -> ClusterConfig:
    """Parse and validate config text; ``path`` is only used in messages and ``.path``."""
    name = str(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{name}: not valid TOML: {exc}") from None
    for key in sorted(raw):
        if key not in TOP_LEVEL_KEYS:
            raise ConfigError(
                f"{name}: unknown top-level table or key {key!r} "
                f"(allowed: [[nodes]], [timing], [storage], [game], [security], [zookeeper], "
                f"[processes])"
            )
    return ClusterConfig(
        path=Path(path),
        nodes=_nodes(name, raw),
        timing=_timing(name, raw),
        storage=_storage(name, raw),
        game=_game(name, raw),
        security=_security(name, raw),
        zookeeper=_zookeeper(name, raw),
        processes=_processes(name, raw),
    )


def load_config(path: str | Path = DEFAULT_CONFIG_PATH) -> ClusterConfig:
    """Read and validate a cluster config file; ConfigError (one line) on any problem."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{file}: config file not found (pass --config with a file that exists, e.g. "
            f"--config config/three.toml; zmqzab init writes the presets out to edit)"
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            f"{file}: is a directory, not a config file (pass --config FILE)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read config file: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{file}: not UTF-8 text (byte {exc.start}); TOML files are UTF-8"
        ) from None
    return parse_config(text, file)


# --------------------------------------------------------------------------------------------
# Rendering


_TOML_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n",
                 "\f": "\\f", "\r": "\\r"}


def _toml_str(value: str) -> str:
    """A TOML basic string. TOML forbids raw control characters, DEL included (JSON allows it)."""
    out = []
    for ch in value:
        if ch in _TOML_ESCAPES:
            out.append(_TOML_ESCAPES[ch])
        elif ch < " " or ch == "\x7f":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def render_config(
    nodes: tuple[NodeAddress, ...] | list[NodeAddress],
    timing: Timing = Timing(),
    storage: StorageConfig = StorageConfig(),
    game: GameConfig = GameConfig(),
    security: SecurityConfig = SecurityConfig(),
    zookeeper: ZooKeeperConfig = ZooKeeperConfig(),
    processes: ProcessesConfig = ProcessesConfig(),
) -> str:
    """TOML text for a config; ``parse_config(render_config(...))`` gives an equal config.

    Does not validate: tests render bad configs on purpose. Nodes are written sorted by id.
    """
    lines = ["# zmqzab cluster config (generated by zmqzab.config.render_config)", ""]
    for n in sorted(nodes, key=lambda n: n.id):
        lines += [
            "[[nodes]]",
            f"id = {n.id}",
            f"host = {_toml_str(n.host)}",
            f"peer_port = {n.peer_port}",
            f"pub_port = {n.pub_port}",
            f"client_port = {n.client_port}",
            f"http_port = {n.http_port}",
            *([f"zk_port = {n.zk_port}"] if n.zk_port else []),
            "",
        ]
    lines += [
        "[timing]",
        f"tick_ms = {timing.tick_ms}",
        f"heartbeat_ticks = {timing.heartbeat_ticks}",
        f"init_limit_ticks = {timing.init_limit_ticks}",
        f"sync_limit_ticks = {timing.sync_limit_ticks}",
        f"election_wait_ticks = {timing.election_wait_ticks}",
        f"message_delay_ms = {timing.message_delay_ms}",
        "",
        "[storage]",
        f"data_dir = {_toml_str(str(storage.data_dir))}",
        f"log_dir = {_toml_str(str(storage.log_dir))}",
        f"fsync = {'true' if storage.fsync else 'false'}",
        f"log_window_txns = {storage.log_window_txns}",
        f"snapshot_every_txns = {storage.snapshot_every_txns}",
        f"snapshots_kept = {storage.snapshots_kept}",
        f"snapshot_on_exit = {'true' if storage.snapshot_on_exit else 'false'}",
        f"snapshot_size_factor = {storage.snapshot_size_factor!r}",
        "",
        "[game]",
        f"round_size = {game.round_size}",
        "",
        "[security]",
        f"curve = {'true' if security.curve else 'false'}",
        f"keys_dir = {_toml_str(str(security.keys_dir))}",
        f"http_public = {'true' if security.http_public else 'false'}",
        *(["insecure = true"] if security.insecure else []),
        "",
        "[zookeeper]",
        f"min_session_timeout_ms = {zookeeper.min_session_timeout_ms}",
        f"max_session_timeout_ms = {zookeeper.max_session_timeout_ms}",
        f"session_secret = {_toml_str(zookeeper.session_secret)}",
        *([f"super_digest = {_toml_str(zookeeper.super_digest)}"] if zookeeper.super_digest else []),
        f"max_client_cnxns = {zookeeper.max_client_cnxns}",
        f"outstanding_max = {zookeeper.outstanding_max}",
        "",
        "[processes]",
        f"cpu_affinity = {_toml_str(processes.cpu_affinity)}",
        "",
    ]
    return "\n".join(lines)
