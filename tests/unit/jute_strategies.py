"""Hypothesis strategies for every record of zmqzab/zk/records.py (shared by the jute tests)."""

from __future__ import annotations

import inspect
import typing

import msgspec
from hypothesis import strategies as st

from zmqzab.zk import records

INT32 = st.integers(-(2 ** 31), 2 ** 31 - 1)
INT64 = st.integers(-(2 ** 63), 2 ** 63 - 1)
#: Fields that jute declares long (everything else typed int is a jute int).
LONG_FIELDS = {"czxid", "mzxid", "ctime", "mtime", "ephemeral_owner", "pzxid", "last_zxid_seen",
               "session_id", "zxid", "ttl", "relative_zxid", "cur_config_id"}
TEXT = st.text(max_size=12)  # hypothesis leaves out surrogates: every str is valid UTF-8
BYTES = st.binary(max_size=40)

RECORDS = sorted((cls for _, cls in inspect.getmembers(records, inspect.isclass)
                  if issubclass(cls, msgspec.Struct) and cls.__module__ == records.__name__),
                 key=lambda c: c.__name__)


def _field(name: str, hint) -> st.SearchStrategy:
    if hint is int:
        return INT64 if name in LONG_FIELDS else INT32
    if hint is bool:
        return st.booleans()
    if hint == str | None:
        return st.none() | TEXT
    if hint == bytes | None:
        return st.none() | BYTES
    if hint == bool | None:
        return st.none() | st.booleans()
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint == tuple[str | None, ...] | None:
        return st.none() | st.lists(st.none() | TEXT, max_size=4).map(tuple)
    if hint == tuple[records.ACL, ...] | None:
        return st.none() | st.lists(of(records.ACL), max_size=3).map(tuple)
    if hint == tuple[records.ClientInfo, ...] | None:
        return st.none() | st.lists(of(records.ClientInfo), max_size=3).map(tuple)
    if isinstance(hint, type) and issubclass(hint, msgspec.Struct):
        return of(hint)
    raise AssertionError(f"no strategy for field {name}: {hint} ({origin}, {args})")


_MULTI_OPS = [(code, cls) for code, cls in records.MULTI_OP_REQUEST.items()]
_MULTI_RESULTS = [(code, cls) for code, cls in records.MULTI_RESULT_RESPONSE.items()]


def of(cls) -> st.SearchStrategy:
    """Any value of a record."""
    if cls is records.MultiOp:
        return st.sampled_from(_MULTI_OPS).flatmap(
            lambda oc: of(oc[1]).map(lambda req: records.MultiOp(oc[0], req)))
    if cls is records.MultiResult:
        return st.sampled_from(_MULTI_RESULTS).flatmap(
            lambda oc: st.just(records.MultiResult(oc[0])) if oc[1] is None
            else of(oc[1]).map(lambda resp: records.MultiResult(oc[0], resp)))
    if cls is records.MultiRequest:
        return st.lists(of(records.MultiOp), max_size=4).map(lambda ops: records.MultiRequest(tuple(ops)))
    if cls is records.MultiResponse:
        return st.lists(of(records.MultiResult), max_size=4).map(
            lambda rs: records.MultiResponse(tuple(rs)))
    hints = typing.get_type_hints(cls, vars(records))
    return st.builds(cls, **{name: _field(name, hints[name]) for name in cls.__struct_fields__})
