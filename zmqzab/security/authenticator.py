"""The node's ZAP handler (pyzmq's ThreadAuthenticator): which CURVE keys may connect, as whom.

The rules are zap.py's (its docstring). The handler lives apart from them because only a node with
CURVE on needs it: the node imports this module when it starts one (server/node.py), and a node
without CURVE never loads pyzmq's authenticator (zmq.auth, logging; start-up time,
docs/benchmarks.md "Start-up and catch-up").
"""

from __future__ import annotations

import zmq
from zmq.auth.thread import ThreadAuthenticator
from zmq.utils import z85

from zmqzab.security.keys import Keyring
from zmqzab.security.zap import CLIENTS_DOMAIN, PEERS_DOMAIN, client_user_id, node_user_id


class _Allowed:
    """pyzmq's credentials provider: ``callback(domain, z85 key) -> bool``; counts refusals."""

    def __init__(self, keys: set[bytes]) -> None:
        self.keys = keys
        self.denied = 0

    def callback(self, domain: str, key: bytes) -> bool:
        if key in self.keys:
            return True
        self.denied += 1  # an int add on the authenticator thread; read by /metrics
        return False


class NodeAuthenticator(ThreadAuthenticator):
    def __init__(self, ctx: zmq.Context, keyring: Keyring) -> None:
        super().__init__(ctx)
        self._user_of = {key: node_user_id(i) for i, key in keyring.node_public.items()}
        nodes = set(keyring.node_public.values())
        self.peers = _Allowed(nodes)
        self.clients = _Allowed(nodes | set(keyring.client_public.values()))

    def curve_user_id(self, client_public_key: bytes) -> str:
        key = z85.encode(client_public_key)
        user = self._user_of.get(key)
        return user if user is not None else client_user_id(key)

    @property
    def denied(self) -> int:
        return self.peers.denied + self.clients.denied


def start_authenticator(ctx: zmq.Context, keyring: Keyring) -> NodeAuthenticator:
    """Start the ZAP handler; call before any CURVE socket of ``ctx`` binds."""
    auth = NodeAuthenticator(ctx, keyring)
    auth.start()
    auth.configure_curve_callback(PEERS_DOMAIN, auth.peers)
    auth.configure_curve_callback(CLIENTS_DOMAIN, auth.clients)
    return auth
