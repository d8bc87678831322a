"""The four-letter words, as ZooKeeper 3.8 answers them on the client port: pure functions of a
status snapshot the caller builds (``ServerStatus``), rendering ZooKeeper's exact texts.

ZooKeeper's sources of each format (org.apache.zookeeper.server.command and server):

* ruok: RuokCommand, ``imok`` with no newline;
* srvr, stat: StatCommand, then ServerStats.toString and "Node count: ", and on a leader
  "Proposal sizes last/min/max: " (BufferStats); stat lists the connections first, brief
  (ServerCnxn.dumpConnectionInfo(brief=true));
* cons: ConsCommand, each connection in full (dumpConnectionInfo(brief=false)), a blank line;
* mntr: MonitorCommand, ``zk_<key>\\t<value>`` lines: ZooKeeperServer.dumpMonitorValues's
  version and server_state (QuorumZooKeeperServer adds peer_state), then the gauges in the
  order of ZooKeeper's admin guide (3.8's metrics provider prints them in hash order, which no
  client may rely on); integers as integers, the average latency as a Java double;
* envi: EnvCommand, "Environment:" then ``key=value`` lines (the caller's entries: zmqzab is
  not a JVM, so it reports its own, zookeeper.version first);
* conf: ZooKeeperServer.dumpConf, ``key=value`` lines in the caller's order (clientPort,
  dataDir, tickTime, ..., as ZooKeeper names them);
* wchs: WatchCommand and WatchManager.toString, "N connections watching M paths" and
  "Total watches:T".

A known word that zmqzab does not serve gets NopCommand's answer, "<word> is not executed
because it is not in the whitelist."; srvr, stat, cons, mntr, conf and wchs on a node that is
not serving (no quorum, LOOKING) answer "This ZooKeeper instance is not currently serving
requests", as ZooKeeper's do. Every answer is the whole reply: send it, then close the
connection (framing.FourLetterWord).
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from zmqzab.zk.framing import FOUR_LETTER_WORDS, SERVED_FOUR_LETTER_WORDS

ZK_NOT_SERVING = "This ZooKeeper instance is not currently serving requests"
_MASK64 = (1 << 64) - 1


class ConnectionStatus(msgspec.Struct, frozen=True):
    """One client connection as ServerCnxn.dumpConnectionInfo prints it (times in ms)."""

    #: "127.0.0.1:50123", printed after a "/" as Java's InetSocketAddress prints it (IPv6
    #: without brackets: "/0:0:0:0:0:0:0:1:46652"). ZooKeeper lists the connection that asks
    #: the word too: interest_ops 0, received 1, sent 0.
    remote: str
    queued: int  # requests waiting for their reply (Pipeline.queued)
    received: int  # frames received (Pipeline.received)
    sent: int  # frames sent (Pipeline.sent)
    interest_ops: int = 1  # 1: reading (OP_READ), 0: throttled
    session_id: int = 0  # 0: no session yet (then cons prints the brief form)
    last_op: str = "NA"
    established_ms: int = 0
    timeout_ms: int = 0
    last_cxid: int = -1
    last_zxid: int = -1
    last_response_ms: int = 0
    last_latency_ms: int = 0
    min_latency_ms: int = 0
    avg_latency_ms: int = 0
    max_latency_ms: int = 0


class ServerStatus(msgspec.Struct, frozen=True):
    """What the four-letter words report about one node, built by the caller at the moment
    a word is asked."""

    version: str  # zmqzab's version, as "Zookeeper version: " shows it
    mode: str  # ServerStats.getServerState: "leader", "follower", "standalone"
    serving: bool = True  # False while the node has no quorum (LOOKING)
    latency_min_ms: int = 0
    latency_avg_ms: float = 0.0
    latency_max_ms: int = 0
    packets_received: int = 0
    packets_sent: int = 0
    connections: tuple[ConnectionStatus, ...] = ()
    outstanding: int = 0  # requests in flight on this node
    zxid: int = 0  # last applied
    node_count: int = 0
    watch_count: int = 0  # mntr's zk_watch_count: every watch (data and child)
    #: wchs: WatchManager.toString of the data watches: connections, paths, watches.
    watch_connections: int = 0
    watch_paths: int = 0
    watches: int = 0
    ephemerals_count: int = 0
    data_size: int = 0  # approximate: paths and data, bytes
    sessions: int | None = None  # mntr's zk_global_sessions (None: left out)
    peer_state: str | None = None  # e.g. "leading - broadcast" (None: standalone, left out)
    #: Leader only (None elsewhere): followers, synced followers, pending syncs.
    followers: int | None = None
    synced_followers: int | None = None
    pending_syncs: int | None = None
    #: Leader only: the proposal sizes last/min/max in bytes (-1 before the first).
    proposal_sizes: tuple[int, int, int] | None = None
    open_file_descriptors: int | None = None
    max_file_descriptors: int | None = None
    conf: tuple[tuple[str, str], ...] = ()
    environment: tuple[tuple[str, str], ...] = ()


def java_hex(value: int) -> str:
    """Long.toHexString: two's complement over 64 bits, lower case, no padding."""
    return f"{value & _MASK64:x}"


def java_double(value: float) -> str:
    """Double.toString for finite values: plain decimals for 1e-3 <= |x| < 1e7, else
    computerized scientific notation ("1.0E7", "1.5E-4"); always a digit after the point."""
    if value == 0:
        return "-0.0" if str(value).startswith("-") else "0.0"
    if 1e-3 <= abs(value) < 1e7:
        text = repr(float(value))
        return text if "." in text else text + ".0"
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    mantissa = "".join(map(str, digits))
    exp10 = exponent + len(mantissa) - 1
    frac = mantissa[1:] or "0"
    return f"{'-' if sign else ''}{mantissa[0]}.{frac}E{exp10}"


def connection_info(conn: ConnectionStatus, brief: bool) -> str:
    """ServerCnxn.dumpConnectionInfo (no newline)."""
    ops = "0" if conn.interest_ops == 0 else f"{conn.interest_ops:x}"
    text = (f" /{conn.remote}[{ops}](queued={conn.queued},recved={conn.received},"
            f"sent={conn.sent}")
    if not brief and conn.session_id != 0:
        text += (f",sid=0x{java_hex(conn.session_id)},lop={conn.last_op},"
                 f"est={conn.established_ms},to={conn.timeout_ms}")
        if conn.last_cxid >= 0:
            text += f",lcxid=0x{java_hex(conn.last_cxid)}"
        text += (f",lzxid=0x{java_hex(conn.last_zxid)},lresp={conn.last_response_ms},"
                 f"llat={conn.last_latency_ms},minlat={conn.min_latency_ms},"
                 f"avglat={conn.avg_latency_ms},maxlat={conn.max_latency_ms}")
    return text + ")"


def _server_stats(s: ServerStatus) -> str:
    """ServerStats.toString, then StatCommand's node count and a leader's proposal sizes."""
    text = (f"Latency min/avg/max: {s.latency_min_ms}/{java_double(s.latency_avg_ms)}/"
            f"{s.latency_max_ms}\n"
            f"Received: {s.packets_received}\n"
            f"Sent: {s.packets_sent}\n"
            f"Connections: {len(s.connections)}\n"
            f"Outstanding: {s.outstanding}\n"
            f"Zxid: 0x{java_hex(s.zxid)}\n"
            f"Mode: {s.mode}\n"
            f"Node count: {s.node_count}\n")
    if s.proposal_sizes is not None:
        last, low, high = s.proposal_sizes
        text += f"Proposal sizes last/min/max: {last}/{low}/{high}\n"
    return text


def ruok(s: ServerStatus) -> str:
    return "imok"


def srvr(s: ServerStatus) -> str:
    if not s.serving:
        return ZK_NOT_SERVING + "\n"
    return f"Zookeeper version: {s.version}\n" + _server_stats(s)


def stat(s: ServerStatus) -> str:
    if not s.serving:
        return ZK_NOT_SERVING + "\n"
    clients = "".join(connection_info(c, brief=True) + "\n" for c in s.connections)
    return f"Zookeeper version: {s.version}\nClients:\n{clients}\n" + _server_stats(s)


def cons(s: ServerStatus) -> str:
    if not s.serving:
        return ZK_NOT_SERVING + "\n"
    return "".join(connection_info(c, brief=False) + "\n" for c in s.connections) + "\n"


def mntr(s: ServerStatus) -> str:
    if not s.serving:
        return ZK_NOT_SERVING + "\n"
    values: list[tuple[str, object]] = [("version", s.version), ("server_state", s.mode)]
    if s.peer_state is not None:
        values.append(("peer_state", s.peer_state))
    values += [
        ("avg_latency", java_double(s.latency_avg_ms)),
        ("max_latency", s.latency_max_ms),
        ("min_latency", s.latency_min_ms),
        ("packets_received", s.packets_received),
        ("packets_sent", s.packets_sent),
        ("num_alive_connections", len(s.connections)),
        ("outstanding_requests", s.outstanding),
        ("znode_count", s.node_count),
        ("watch_count", s.watch_count),
        ("ephemerals_count", s.ephemerals_count),
        ("approximate_data_size", s.data_size),
    ]
    optional = [("global_sessions", s.sessions),
                ("followers", s.followers), ("synced_followers", s.synced_followers),
                ("pending_syncs", s.pending_syncs),
                ("open_file_descriptor_count", s.open_file_descriptors),
                ("max_file_descriptor_count", s.max_file_descriptors)]
    values += [(k, v) for k, v in optional if v is not None]
    if s.proposal_sizes is not None:
        last, low, high = s.proposal_sizes
        values += [("last_proposal_size", last), ("min_proposal_size", low),
                   ("max_proposal_size", high)]
    return "".join(f"zk_{key}\t{value}\n" for key, value in values)


def envi(s: ServerStatus) -> str:
    return "Environment:\n" + "".join(f"{k}={v}\n" for k, v in s.environment)


def conf(s: ServerStatus) -> str:
    if not s.serving:
        return ZK_NOT_SERVING + "\n"
    return "".join(f"{k}={v}\n" for k, v in s.conf)


def wchs(s: ServerStatus) -> str:
    if not s.serving:
        return ZK_NOT_SERVING + "\n"
    return (f"{s.watch_connections} connections watching {s.watch_paths} paths\n"
            f"Total watches:{s.watches}\n")


WORDS = {"ruok": ruok, "srvr": srvr, "stat": stat, "mntr": mntr, "envi": envi, "conf": conf,
         "cons": cons, "wchs": wchs}


def not_in_whitelist(word: str) -> str:
    """NopCommand's answer to a known word that is not served."""
    return f"{word} is not executed because it is not in the whitelist.\n"


def answer(word: str, status: ServerStatus) -> bytes:
    """The whole reply to a four-letter word (framing.FourLetterWord.word): send it, then close.
    ValueError for a word ZooKeeper does not know (the framing never yields one)."""
    render = WORDS.get(word)
    if render is not None:
        return render(status).encode("utf-8")
    if word in FOUR_LETTER_WORDS:
        return not_in_whitelist(word).encode("ascii")
    raise ValueError(f"{word!r} is not one of ZooKeeper's four-letter words")


if tuple(sorted(WORDS)) != tuple(sorted(SERVED_FOUR_LETTER_WORDS)):  # pragma: no cover
    raise ImportError("words.WORDS and framing.SERVED_FOUR_LETTER_WORDS disagree")
