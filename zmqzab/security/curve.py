"""CURVE options on sockets, and the keys a node or a client process holds.

A server socket (bound: peer ROUTER, PUB, client ROUTER) is a CURVE server with the node's own
pair and a ZAP domain (zap.py). A client socket (connecting: DEALER to a peer, SUB to a peer's
PUB, a client's DEALER to a node) is a CURVE client that knows the server's public key: a
process without node k's secret key cannot pose as node k's PUB or ROUTER.
"""

from __future__ import annotations

from dataclasses import dataclass

import zmq

from zmqzab.config import ClusterConfig
from zmqzab.security.keys import (
    Keyring,
    KeyFileError,
    client_pair_path,
    load_keyring,
    node_key_name,
    read_pair,
)
from zmqzab.security.zap import client_user_id


def make_server(sock: zmq.Socket, public: bytes, secret: bytes, domain: str) -> None:
    """Before bind."""
    sock.setsockopt(zmq.ZAP_DOMAIN, domain.encode())
    sock.setsockopt(zmq.CURVE_SERVER, 1)
    sock.setsockopt(zmq.CURVE_PUBLICKEY, public)
    sock.setsockopt(zmq.CURVE_SECRETKEY, secret)


def make_client(sock: zmq.Socket, public: bytes, secret: bytes, server_public: bytes) -> None:
    """Before connect."""
    sock.setsockopt(zmq.CURVE_PUBLICKEY, public)
    sock.setsockopt(zmq.CURVE_SECRETKEY, secret)
    sock.setsockopt(zmq.CURVE_SERVERKEY, server_public)


@dataclass(frozen=True)
class NodeKeys:
    """What a node holds: its own pair and everyone's public keys."""

    node_id: int
    public: bytes
    secret: bytes
    keyring: Keyring


def node_keys(config: ClusterConfig, node_id: int) -> NodeKeys | None:
    """None when ``[security] curve`` is off; KeyFileError (one line) when a key is missing or bad."""
    sec = config.security
    if not sec.curve:
        return None
    keyring = load_keyring(sec.keys_dir, config.ids)
    public, secret = read_pair(sec.keys_dir / f"{node_key_name(node_id)}.key_secret")
    if public != keyring.node_public[node_id]:
        raise KeyFileError(f"{sec.keys_dir}: {node_key_name(node_id)}.key_secret and .key are not one pair; "
                        "copy both from the same `zmqzab keygen` run")
    return NodeKeys(node_id, public, secret, keyring)


class ClientKeys:
    """A client process's pair and the nodes' public keys; ``apply`` before ``connect``."""

    def __init__(self, public: bytes, secret: bytes, keyring: Keyring) -> None:
        self.public, self.secret, self.keyring = public, secret, keyring
        #: What the nodes' ZAP handler answers for this key: client ids must start with it.
        self.user_id = client_user_id(public)

    def apply(self, sock: zmq.Socket, node_id: int) -> None:
        make_client(sock, self.public, self.secret, self.keyring.node_public[node_id])


def client_keys(config: ClusterConfig) -> ClientKeys | None:
    """None when CURVE is off; else this process's client key ($ZMQZAB_CLIENT_KEY or client-0)."""
    sec = config.security
    if not sec.curve:
        return None
    keyring = load_keyring(sec.keys_dir, config.ids)
    public, secret = read_pair(client_pair_path(sec.keys_dir))
    return ClientKeys(public, secret, keyring)


def client_socket(ctx: zmq.Context, config: ClusterConfig, node_id: int, keys: ClientKeys | None,
                  kind: int = zmq.DEALER, reconnect_ms: int | None = None) -> zmq.Socket:
    """A client's socket to ``node_id``'s client_port, with CURVE when ``keys`` is given;
    ``reconnect_ms``: retry a refused connect this often (ZeroMQ's default is 100 ms)."""
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    if reconnect_ms is not None:
        sock.setsockopt(zmq.RECONNECT_IVL, reconnect_ms)
    if keys is not None:
        keys.apply(sock, node_id)
    sock.connect(config.node(node_id).client_endpoint)
    return sock
