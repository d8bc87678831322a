"""A test-only power-loss model for real processes (the chaos nemesis' ``power_loss`` fault).

All the nodes of a chaos run share one host, so a kill -9 loses nothing the kernel holds: the
page cache writes it back later. A power loss loses every write that was not fsynced, and every
directory entry (a created, renamed or removed name) that was not made durable by an fsync of
its directory. Like Jepsen's LazyFS, but without a file system of its own:

- ``Witness`` runs inside the node when ``ZMQZAB_DURABLE_LOG`` names a file (an environment
  variable, never a config key: no production node runs it); ``install_from_env`` (called where
  a node process starts, zmqzab/cli/node.py) hands it to storage/durable.py, which calls it after
  each fsync that really happened: a file's fsync records (inode, synced length), a directory's
  fsync records its entries (name -> inode). One JSON line each, appended before the fsync call
  returns, so nothing is acknowledged before its durability is on record (the witness file
  itself survives the SIGKILL: it is in the page cache, and this host does not lose power).
- ``power_loss(witness file)``, run by the nemesis after it SIGKILLed the node and before it
  restarts it: in every directory with a recorded fsync, each name that is not in the last
  recorded listing is removed (created or renamed in after the last directory fsync); each
  remaining file is cut to the length its inode last had at an fsync (0 if it never had one).

Limits (said in the README): a name that the listing holds with another inode (renamed over,
directory not yet synced) keeps the new file, one of the two outcomes a real file system allows;
a name removed after the last directory fsync is not brought back (its data is gone); rewrites
inside a file's synced length are not undone (the txn log and the snapshots only append and
replace whole files); directories never fsynced are emptied of their files when the node's
data dir is given, else left as they are.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

ENV = "ZMQZAB_DURABLE_LOG"


class Witness:
    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def _note(self, record: dict) -> None:
        os.write(self._fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())

    def file_synced(self, fd: int) -> None:
        st = os.fstat(fd)
        self._note({"ino": st.st_ino, "size": st.st_size, "path": os.readlink(f"/proc/self/fd/{fd}")})

    def dir_synced(self, path: Path) -> None:
        with os.scandir(path) as it:
            entries = {e.name: e.inode() for e in it}
        self._note({"dir": str(Path(path).resolve()), "entries": entries})


def install_from_env() -> None:
    """In a node process started with ``ENV`` set, record every fsync (storage/durable.py)."""
    path = os.environ.get(ENV)
    if path:
        from zmqzab.storage import durable

        durable.set_witness(Witness(path))


def durable_state(witness_file: Path) -> tuple[dict[int, int], dict[str, dict[str, int]]]:
    """Replay the witness: synced length per inode, last synced listing per directory."""
    sizes: dict[int, int] = {}
    dirs: dict[str, dict[str, int]] = {}
    if not witness_file.exists():
        return sizes, dirs
    for line in witness_file.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a line cut by the SIGKILL: its fsync never returned
        if "ino" in rec:
            sizes[rec["ino"]] = rec["size"]
        else:
            old = dirs.get(rec["dir"], {})
            new = rec["entries"]
            # A file durably gone from the directory: its inode may be reused by a new file,
            # whose data the old record must not vouch for.
            for ino in set(old.values()) - set(new.values()):
                sizes.pop(ino, None)
            dirs[rec["dir"]] = new
    return sizes, dirs


def power_loss(witness_file: Path, root: Path | None = None) -> list[str]:
    """Make the files of a dead node what a power loss would leave; returns what was done.

    ``root``: the node's data dir; a directory under it that was never fsynced has no durable
    entry at all (with ``fsync = false`` nothing survives)."""
    sizes, dirs = durable_state(witness_file)
    if root is not None and os.path.isdir(root):
        for d, _, _ in os.walk(root):
            dirs.setdefault(str(Path(d).resolve()), {})
    done: list[str] = []
    for d, entries in sorted(dirs.items()):
        if not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            p = os.path.join(d, name)
            st = os.lstat(p)
            if not stat.S_ISREG(st.st_mode):
                continue
            if name not in entries:
                os.unlink(p)
                done.append(f"removed {p} ({st.st_size} bytes; its name was never made durable)")
                continue
            keep = sizes.get(st.st_ino, 0)
            if st.st_size > keep:
                os.truncate(p, keep)
                done.append(f"cut {p} from {st.st_size} to {keep} bytes (the last fsync saw {keep})")
    return done
