"""Key files for CurveZMQ: one pair per node and per client, in ``[security] keys_dir``.

Layout (the czmq / pyzmq certificate format, so ``zmq.auth.load_certificate`` reads them):

    node-<id>.key          public key of node <id>       (every node and client reads these)
    node-<id>.key_secret   its secret key                (only node <id> needs it; mode 0600)
    client-<n>.key         public key of client <n>      (the nodes accept these on client_port)
    client-<n>.key_secret  its secret key                (the CLI, bench, chaos, `zmqzab up`)

A node id is bound to a key by the file name: the ZAP handler tells each node which node id an
authenticated peer key belongs to (zap.py), so a process holding node 3's key cannot speak as
node 2. A secret file that others may read is refused, as ssh refuses such a private key.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import zmq

#: Which client key the CLI, bench, chaos and `zmqzab up` use when this is not set.
CLIENT_KEY_ENV = "ZMQZAB_CLIENT_KEY"
DEFAULT_CLIENT = "client-0"


class KeyFileError(Exception):
    """A key that cannot be used; ``str()`` is one line naming the file and the way out."""


def node_key_name(node_id: int) -> str:
    return f"node-{node_id}"


def client_key_name(n: int) -> str:
    return f"client-{n}"


def _banner(kind: str) -> str:
    return (f"#   ****  Generated on {datetime.now():%Y-%m-%d %H:%M:%S} by zmqzab keygen  ****\n"
            f"#   ZeroMQ CURVE {kind} Certificate\n#   Exchange securely, or use a secure mechanism "
            "to verify the contents\n#   of this file after exchange. Store public certificates in "
            "your home\n#   directory, in the .curve subdirectory.\n\n")


def write_pair(directory: Path, name: str, force: bool = False) -> tuple[Path, Path]:
    """A new key pair as ``name.key`` and ``name.key_secret``; the secret file is created 0600
    (never readable by others, not even for a moment). Refuses to overwrite unless ``force``."""
    public, secret = zmq.curve_keypair()
    pub_path, sec_path = directory / f"{name}.key", directory / f"{name}.key_secret"
    if not force:
        for p in (pub_path, sec_path):
            if p.exists():
                raise KeyFileError(f"{p} exists: keys are not overwritten (pass --force to replace "
                                "them; every node and client must then get the new public keys)")
    curve = f'curve\n    public-key = "{public.decode()}"\n'
    for path, text, mode in ((sec_path, _banner("Secret") + "metadata\n" + curve
                              + f'    secret-key = "{secret.decode()}"\n', 0o600),
                             (pub_path, _banner("Public") + "metadata\n" + curve, 0o644)):
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            os.fchmod(fd, mode)  # O_CREAT's mode is cut by the umask; this is exact
            os.write(fd, text.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    return pub_path, sec_path


def keygen(directory: Path, node_ids: list[int], clients: int, force: bool = False) -> list[Path]:
    """Key pairs for every node id and ``clients`` clients; the directory is made 0700."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    written: list[Path] = []
    names = [node_key_name(i) for i in node_ids] + [client_key_name(n) for n in range(clients)]
    if not force:
        for name in names:  # check all first, so a refusal leaves nothing half-written
            for suffix in (".key", ".key_secret"):
                if (directory / f"{name}{suffix}").exists():
                    raise KeyFileError(f"{directory / (name + suffix)} exists: keys are not overwritten "
                                    "(pass --force to replace them; every node and client must then "
                                    "get the new public keys)")
    for name in names:
        written.extend(write_pair(directory, name, force=True))
    return written


def _load_certificate(path: Path) -> tuple[bytes, bytes | None]:
    # zmq.auth is imported when a key is read (CURVE on): it costs every node's start-up
    # otherwise (docs/benchmarks.md, "Start-up and catch-up").
    from zmq.auth import load_certificate

    return load_certificate(path)


def read_public(path: Path) -> bytes:
    try:
        public, _ = _load_certificate(path)
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"{path}: cannot read a public key ({exc}); create keys with `zmqzab keygen "
                        f"--dir {path.parent}`") from None
    return public


def read_pair(path: Path) -> tuple[bytes, bytes]:
    """(public, secret) from a ``.key_secret`` file, refusing one that others may read."""
    try:
        mode = path.stat().st_mode
    except OSError:
        raise KeyFileError(f"{path}: secret key file not found; create keys with `zmqzab keygen --dir "
                        f"{path.parent}`, or set {CLIENT_KEY_ENV} to a client's .key_secret file") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(f"{path}: secret key is readable by others (mode {stat.S_IMODE(mode):o}); "
                        f"run: chmod 600 {path}")
    try:
        public, secret = _load_certificate(path)
    except (OSError, ValueError) as exc:
        raise KeyFileError(f"{path}: not a key file ({exc}); create keys with `zmqzab keygen`") from None
    if not secret:
        raise KeyFileError(f"{path}: holds no secret key (is it a .key public file?)")
    return public, secret


@dataclass(frozen=True)
class Keyring:
    """The public keys a node accepts (z85 bytes) and whose each is."""

    node_public: dict[int, bytes]
    client_public: dict[str, bytes] = field(default_factory=dict)

    def node_of(self, public: bytes) -> int | None:
        for node_id, key in self.node_public.items():
            if key == public:
                return node_id
        return None


def load_keyring(keys_dir: Path, node_ids: tuple[int, ...]) -> Keyring:
    """Every node's public key (all must exist) and every client-*.key found."""
    nodes = {i: read_public(keys_dir / f"{node_key_name(i)}.key") for i in node_ids}
    seen: dict[bytes, int] = {}
    for i, key in sorted(nodes.items()):
        if key in seen:
            raise KeyFileError(f"{keys_dir}: nodes {seen[key]} and {i} have the same public key; give "
                            "each node its own pair (zmqzab keygen --force)")
        seen[key] = i
    clients = {p.stem: read_public(p) for p in sorted(keys_dir.glob("client-*.key"))}
    return Keyring(nodes, clients)


def client_pair_path(keys_dir: Path) -> Path:
    """The client key this process uses: $ZMQZAB_CLIENT_KEY, else client-0 in keys_dir."""
    named = os.environ.get(CLIENT_KEY_ENV)
    return Path(named) if named else keys_dir / f"{DEFAULT_CLIENT}.key_secret"
