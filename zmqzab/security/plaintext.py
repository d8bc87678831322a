"""A node without CURVE talks plaintext to anyone: off loopback only when the config says so.

With ``[security] curve = false`` every peer, client and PUB/SUB socket takes any connection and
carries plaintext: on 127.0.0.1 that is the classroom demo (only this machine's users reach
it); on a network address anyone who reaches the port can join as a node, vote, or write. So a
node whose config names a non-loopback host refuses to start (issue 17), unless the config
says ``insecure = true`` in ``[security]`` (a lab network that is trusted on purpose).
"""

from __future__ import annotations

from zmqzab.config import ClusterConfig
from zmqzab.security.origins import is_loopback


def plaintext_refusal(config: ClusterConfig, node_id: int) -> str | None:
    """Why node ``node_id`` must not start with this config, or None if it may."""
    sec = config.security
    if sec.curve or sec.insecure:
        return None
    exposed = sorted({n.host for n in config.nodes if not is_loopback(n.host)})
    if not exposed:
        return None
    where = config.path or "the config"
    return (f"node {node_id} will not start without authentication on a network: {where} names "
            f"{', '.join(exposed)} (not loopback) and [security] curve = false, so ANY process that "
            "reaches those ports could join as a node or write as a client. Turn CURVE on "
            "(zmqzab keygen, then [security] curve = true; README, Security), or, on a network "
            "you trust on purpose, say [security] insecure = true")
