"""Which browser requests zmqzab's HTTP servers answer: the Host and Origin checks (issue 17).

A browser sends a request to 127.0.0.1 for any web site that asks; two headers tell who asks:

- ``Host``: a site whose own name is made to resolve to 127.0.0.1 (DNS rebinding) is, to the
  browser, same-origin with the server and may read every answer; but its requests say
  ``Host: its.name``. Only IP literals, ``localhost`` and the config's own host names are
  answered, so a rebound name gets 403. (A missing Host is an HTTP/1.0 tool, never a browser.)
- ``Origin``: a browser sends it on cross-origin requests (and on every POST). ``"null"`` is a
  page opened as a file, but also a sandboxed iframe on any web site: it may read the nodes'
  read-only routes (the file-opened page needs nothing more) and nothing else. The controls
  answer only requests with no Origin (the CLI) or from their own origin (the page `zmqzab up`
  serves); see zmqzab/up/control.py.
"""

from __future__ import annotations

import ipaddress
from typing import Iterable
from urllib.parse import urlsplit

from zmqzab.config import ClusterConfig

#: Names of this machine's loopback interface.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def is_loopback(host: str) -> bool:
    return host.strip("[]") in LOOPBACK_NAMES or host.startswith("127.")


def _in_url(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def host_name(header: str) -> str | None:
    """The host name of a Host header ("name:port", "[v6]:port"), lower case; None if malformed."""
    text = header.strip().lower()
    if text.startswith("["):
        name, sep, rest = text[1:].partition("]")
        if not sep or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return name or None
    name, _, port = text.partition(":")
    if port and not port.isdigit():
        return None
    return name or None


def host_allowed(header: str | None, names: Iterable[str]) -> bool:
    """A Host header naming an IP literal, localhost or one of ``names`` (the config's hosts)."""
    if header is None:
        return True
    name = host_name(header)
    if name is None:
        return False
    if name == "localhost" or name in names:
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def url_origins(url: str) -> set[str]:
    """The origins a page served at ``url`` may have: itself, and its loopback aliases."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port
    names = set(LOOPBACK_NAMES) if is_loopback(host) else {host}
    return {f"{parts.scheme}://{_in_url(n)}:{port}" for n in names}


def cluster_origins(config: ClusterConfig, control_url: str | None = None) -> frozenset[str]:
    """The origins of the pages the cluster itself serves (every node's, and `zmqzab up`'s)."""
    out: set[str] = set()
    for n in config.nodes:
        out |= url_origins(config.http_url(n))
    if control_url:
        out |= url_origins(control_url)
    return frozenset(out)


def host_names(config: ClusterConfig) -> frozenset[str]:
    """The names a request to this cluster's HTTP may carry in Host (besides IP literals)."""
    return frozenset(n.host.strip("[]").lower() for n in config.nodes)
