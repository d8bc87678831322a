"""The node's ZooKeeper client port (``zk_port``): raw TCP through a ZMQ_STREAM socket.

Served from the node's one poll loop, not from a thread: a ZMQ_STREAM socket speaks plain TCP
(each message is [connection id, bytes]; an empty message announces a connection opening or
closing) and sits in the same zmq poller as the peer sockets, so a client's request, the txn
it becomes and its reply are all handled by the thread that owns the replica, with no lock
and no hand-off. The protocol itself is host/zk.py's, shared with the simulator; this file
only moves bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import os
import platform

import zmq

from zmqzab.host.zk import ZkServer, ZkSettings
from zmqzab.server.transport import PortInUseError
from zmqzab.zk import words
from zmqzab.zk.framing import MAX_BUFFER

if TYPE_CHECKING:
    from zmqzab.server.node import Node

#: The ZooKeeper release whose client protocol zmqzab speaks: clients read the version from
#: ``envi`` / ``srvr`` to pick features (kazoo's server_version), so it leads the string.
ZK_COMPAT_VERSION = "3.8.0"

#: Messages taken from the socket per loop pass (the peer sockets get their turn in between).
DRAIN_MAX = 1000
#: Connections this port closed itself, remembered until libzmq's close notice for them comes
#: (it comes if the client closed too; it never comes otherwise, hence the bound): a notice of
#: one of these is a close, not a new connection.
CLOSED_REMEMBERED = 16_384


def _zmqzab_version() -> str:
    # Imported here, for a four-letter word: importlib.metadata (and the email package it pulls
    # in) cost ~6 ms of every node's start-up (docs/benchmarks.md, "Start-up and catch-up").
    from importlib.metadata import PackageNotFoundError, version as package_version

    try:
        return package_version("zmqzab")
    except PackageNotFoundError:
        return "dev"


class ZkPort:
    def __init__(self, node: Node, time_ms: int) -> None:
        self.node = node
        addr = node.addr
        zk = node.config.zookeeper
        self.sock = node.ctx.socket(zmq.STREAM)
        self.sock.setsockopt(zmq.LINGER, 0)
        # A frame may be jute.maxbuffer (1 MiB) plus its header; TCP hands it in pieces anyway.
        self.sock.setsockopt(zmq.MAXMSGSIZE, MAX_BUFFER + 1024)
        host = addr.host
        try:
            self.sock.bind(f"tcp://{'[' + host + ']' if ':' in host else host}:{addr.zk_port}")
        except zmq.ZMQError as exc:
            self.sock.close()
            raise PortInUseError(
                f"zk_port {addr.zk_port} on {host} cannot be bound ({exc}): another process "
                f"(a ZooKeeper, another zmqzab) listens there; stop it or change zk_port") from None
        self.server = ZkServer(
            node.replica, self, ZkSettings(node.id, node.config.timing.tick_ms,
                                          zk.min_session_timeout_ms, zk.max_session_timeout_ms,
                                          zk.session_secret.encode("utf-8"), zk.super_digest,
                                          outstanding_max=zk.outstanding_max,
                                          max_client_cnxns=zk.max_client_cnxns),
            node.execute, time_ms, word=self._word)
        self.remote: dict[bytes, str] = {}
        self._closed: dict[bytes, None] = {}
        #: Something was sent since the loop last looked: a send consumes the socket's
        #: notifications, so the loop asks it for waiting input (server/poller.py).
        self.sent = False

    # ------------------------------------------------------------ ZkIO

    def zk_send(self, conn: bytes, frames: list[bytes]) -> None:
        self.sent = True
        try:
            self.sock.send_multipart([conn, b"".join(frames)], zmq.NOBLOCK)
        except zmq.ZMQError:
            pass  # the connection is gone (or its pipe full): the client reconnects

    def zk_close(self, conn: bytes) -> None:
        if self.remote.pop(conn, None) is not None:
            self._closed[conn] = None
            if len(self._closed) > CLOSED_REMEMBERED:
                del self._closed[next(iter(self._closed))]
        self.sent = True
        try:
            self.sock.send_multipart([conn, b""], zmq.NOBLOCK)
        except zmq.ZMQError:
            pass

    # ------------------------------------------------------------ the loop's entries

    def serve(self) -> None:
        """Take what arrived (the socket is readable)."""
        server = self.server
        sock = self.sock
        for _ in range(DRAIN_MAX):
            try:
                conn, data = sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            cid = conn.bytes
            if not data.bytes:  # ZMQ_STREAM's notice: a connection opened, or closed
                if cid in self.remote:
                    self.remote.pop(cid)
                    server.closed(cid)
                elif self._closed.pop(cid, 0) is None:
                    pass  # the close notice of a connection this port closed: not a new one
                else:
                    try:
                        remote = data.get("Peer-Address")
                    except zmq.ZMQError:
                        remote = "?"
                    self.remote[cid] = f"{remote}"
                    server.opened(cid, self.remote[cid])
                continue
            if cid in self._closed:
                continue  # bytes that were on their way when this port closed the connection
            if cid not in self.remote:  # data before the notice cannot happen; be safe
                self.remote[cid] = "?"
                server.opened(cid, "?")
            server.received(cid, data.bytes)
        server.flush()

    def close(self) -> None:
        self.sock.close()

    # ------------------------------------------------------------ four-letter words

    def _word(self, word: str, conn: bytes) -> bytes:
        node = self.node
        peer = node.peer
        state = peer.state
        server = self.server
        conns = tuple(
            words.ConnectionStatus(remote=c.remote, queued=c.pipe.queued, received=c.pipe.received,
                                   sent=c.pipe.sent, session_id=c.session_id, last_op=c.pipe.last_op,
                                   timeout_ms=c.timeout_ms, last_cxid=c.pipe.last_cxid,
                                   last_zxid=c.pipe.last_zxid)
            for c in server.conns.values())
        role = peer.role.name.lower()
        version = f"{ZK_COMPAT_VERSION}-zmqzab-{_zmqzab_version()}, built on zmqzab"
        env = (("zookeeper.version", version), ("host.name", node.addr.host),
               ("python.version", platform.python_version()), ("os.name", platform.system()),
               ("user.dir", os.getcwd()), ("zmqzab.node", str(node.id)))
        mode = {"leading": "leader", "following": "follower"}.get(role, "looking")
        status = words.ServerStatus(
            version=version, mode=mode, environment=env, serving=mode != "looking", connections=conns,
            zxid=max(state.zxid_applied, 0), node_count=len(state.tree.nodes),
            watch_count=server.watches.watch_count(), ephemerals_count=sum(
                len(p) for p in state.tree.ephemerals.values()),
            sessions=len(state.sessions))
        return words.answer(word, status)
