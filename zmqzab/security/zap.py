"""The ZAP authenticator of a node: which CURVE keys may connect, and as whom.

ZeroMQ asks a ZAP handler (RFC 27, on inproc://zeromq.zap.01 of the node's Context) about every
CURVE handshake on a socket that has a ``zap_domain``. Two domains:

* ``peers`` (peer ROUTER, PUB): node keys only;
* ``clients`` (client ROUTER): client keys and node keys.

The answer's user id is ``node-<id>`` for a node key, and for a client key one derived from
the key (``client_user_id``). ZeroMQ stamps it on every message from that connection as the
``User-Id`` property. The transport compares it with the node id the message claims (the
DEALER's routing id): a process holding node 3's key that says it is node 2 is dropped and
counted (``dropped_impostor``). The client port compares it with the client id of a write: a
client id belongs to the key whose user id it starts with (``<user id>:``, see
``client_id_owner_problem``), so that no key can write under another key's client records
(issue 17: pre-empting a client's next seq, locking it out, answering its retries).
The handler that applies these rules is security/authenticator.py (loaded with CURVE only).
"""

from __future__ import annotations

PEERS_DOMAIN = "peers"
CLIENTS_DOMAIN = "clients"


def node_user_id(node_id: int) -> str:
    return f"node-{node_id}"


def client_user_id(public_z85: bytes) -> str:
    """The user id of a client key: 16 hex digits of its hash (a key is 40 characters; the id
    starts every client id bound to it, so it is kept short)."""
    import hashlib  # here: only CURVE clients need it (a node's start-up, issue 14)

    return "k" + hashlib.sha256(public_z85).hexdigest()[:16]


def bound_client_id(user_id: str, suffix: str) -> str:
    """A client id that belongs to ``user_id`` (``client_id_owner_problem``)."""
    return f"{user_id}:{suffix}"


def client_id_owner_problem(user_id: str, client_id: str) -> str:
    """Why a connection authenticated as ``user_id`` may not write as ``client_id``, or ""."""
    if client_id.startswith(f"{user_id}:"):
        return ""
    return (f"client id {client_id[:40]!r} does not belong to this connection's key: with CURVE a "
            f"client id starts with its key's user id and a colon ({user_id}:...); "
            f"zmqzab.client.Client makes such ids")
