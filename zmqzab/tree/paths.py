"""ZooKeeper's path rules (``org.apache.zookeeper.common.PathUtils.validatePath``).

A path is absolute ("/" is the root), has no trailing "/" (but for the root), no empty, "." or
".." component, and none of the characters ZooKeeper refuses: NUL, the C0 and C1 controls
(U+0001..U+001F, U+007F..U+009F), U+D800..U+F8FF (surrogates and the private use area) and
U+FFF0..U+FFFF. ZooKeeper checks UTF-16 code units, so a character beyond U+FFFF (two
surrogates in Java) is refused too: the same paths are valid here as on a real ZooKeeper.

The prefix of a sequential create is checked as ZooKeeper's ``validatePath(path, true)`` does:
with a digit appended, so "/queue/" (the counter becomes the whole name) is a valid prefix.
"""

from __future__ import annotations

from zmqzab.tree.limits import PATH_MAX_BYTES

ROOT = "/"


def _bad_char(c: str) -> bool:
    o = ord(c)
    return (0 < o <= 0x1F or 0x7F <= o <= 0x9F or 0xD800 <= o <= 0xF8FF
            or 0xFFF0 <= o <= 0xFFFF or o > 0xFFFF)


def path_problem(path: object) -> str:
    """Why ``path`` is not a valid ZooKeeper path, or "" when it is (PathUtils.validatePath)."""
    if not isinstance(path, str):
        return f"path must be a string, got {type(path).__name__}"
    if len(path) == 0:
        return "Path length must be > 0"
    if path[0] != "/":
        return f"Path must start with / character: {path!r}"
    if len(path.encode("utf-8", "surrogatepass")) > PATH_MAX_BYTES:
        return f"path is longer than {PATH_MAX_BYTES} bytes (jute.maxbuffer)"
    if len(path) == 1:
        return ""
    if path[-1] == "/":
        return f"Path must not end with / character: {path!r}"
    last = "/"
    n = len(path)
    for i in range(1, n):
        c = path[i]
        reason = ""
        if c == "\0":
            reason = f"null character not allowed @{i}"
        elif c == "/" and last == "/":
            reason = f"empty node name specified @{i}"
        elif c == "." and last == ".":
            if path[i - 2] == "/" and (i + 1 == n or path[i + 1] == "/"):
                reason = f"relative paths not allowed @{i}"
        elif c == ".":
            if path[i - 1] == "/" and (i + 1 == n or path[i + 1] == "/"):
                reason = f"relative paths not allowed @{i}"
        elif _bad_char(c):
            reason = f"invalid character @{i}"
        if reason:
            return f"Invalid path string {path!r} caused by {reason}"
        last = c
    return ""


def sequential_prefix_problem(prefix: object) -> str:
    """Why ``prefix`` cannot start a sequential create's name, or "" (validatePath(p, true))."""
    if not isinstance(prefix, str):
        return f"path must be a string, got {type(prefix).__name__}"
    return path_problem(prefix + "1")


def is_valid(path: object) -> bool:
    return path_problem(path) == ""


def parent_of(path: str) -> str:
    """The parent of a valid non-root path: "/a/b" -> "/a", "/a" -> "/"."""
    cut = path.rfind("/")
    return "/" if cut <= 0 else path[:cut]


def name_of(path: str) -> str:
    """The last component of a path: "/a/b" -> "b" ("" for the root)."""
    return path[path.rfind("/") + 1:]


def join(parent: str, name: str) -> str:
    return ("" if parent == "/" else parent) + "/" + name
