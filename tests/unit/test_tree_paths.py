"""ZooKeeper's path rules (PathUtils.validatePath), case by case, and the sequential prefix."""

from __future__ import annotations

import pytest

from zmqzab.tree.limits import PATH_MAX_BYTES
from zmqzab.tree.paths import join, name_of, parent_of, path_problem, sequential_prefix_problem

pytestmark = [pytest.mark.zk]

VALID = ["/", "/a", "/a/b", "/a.b", "/.a", "/a.", "/a/...", "/..a", "/a..", "/zookeeper",
         "/ünïcode/名前", "/a b", "/a\u00a0b", "/\ufeff", "/x" * 100]
INVALID = {
    "": "Path length must be > 0",
    "a": "must start with /",
    "a/b": "must start with /",
    "/a/": "must not end with /",
    "//": "must not end with /",
    "//a": "empty node name",
    "/a//b": "empty node name",
    "/.": "relative paths",
    "/..": "relative paths",
    "/a/./b": "relative paths",
    "/a/../b": "relative paths",
    "/a/.": "relative paths",
    "/a/..": "relative paths",
    "/a\0b": "null character",
    "/a\x01": "invalid character",
    "/a\x1f": "invalid character",
    "/a\x7f": "invalid character",
    "/a\x9f": "invalid character",
    "/a\ud800": "invalid character",
    "/a\ue000": "invalid character",  # the private use area up to U+F8FF
    "/a\uf8ff": "invalid character",
    "/a\ufff0": "invalid character",
    "/a\uffff": "invalid character",
    "/a\U0001F600": "invalid character",  # two UTF-16 surrogates in Java: refused there too
}


@pytest.mark.parametrize("path", VALID)
def test_valid_paths(path):
    assert path_problem(path) == ""


@pytest.mark.parametrize("path,why", sorted(INVALID.items()))
def test_invalid_paths_name_the_reason(path, why):
    assert why in path_problem(path)


def test_boundary_characters_next_to_the_refused_ranges_are_valid():
    for c in ("\x20", "\x7e", "\xa0", "\ud7ff", "\uf900", "\uffef"):
        assert path_problem("/a" + c) == "", repr(c)


def test_a_path_over_the_buffer_limit_is_refused():
    assert path_problem("/" + "a" * (PATH_MAX_BYTES - 1)) == ""
    assert "longer than" in path_problem("/" + "a" * PATH_MAX_BYTES)


def test_not_a_string():
    assert "string" in path_problem(None)
    assert "string" in path_problem(b"/a")


def test_sequential_prefix_may_end_with_a_slash():
    assert sequential_prefix_problem("/queue/") == ""
    assert sequential_prefix_problem("/queue/item-") == ""
    assert sequential_prefix_problem("/") == ""  # "/1"
    assert "empty node name" in sequential_prefix_problem("/queue//")
    assert "relative" not in sequential_prefix_problem("/a/.")  # "/a/.1" is a name
    assert "must start with /" in sequential_prefix_problem("queue/")


def test_parent_name_and_join():
    assert parent_of("/a") == "/" and parent_of("/a/b/c") == "/a/b"
    assert name_of("/a/b") == "b" and name_of("/") == ""
    assert join("/", "a") == "/a" and join("/a", "b") == "/a/b"
