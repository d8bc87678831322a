"""game/limits.py is the one source of the game's limits: the node's check of a client's request,
the plausibility check on a forwarded op and apply's rejection agree on every op.

Before the limits had one home, the node accepted any seq >= 1 while the leader dropped a
forwarded op with seq >= 2**63 as implausible: a client's request through a follower was lost
without an answer. Hypothesis picks the ops (it prints the falsifying example to reproduce)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zmqzab.config import ConfigError, parse_config
from zmqzab.game import limits
from zmqzab.game.rules import Game
from zmqzab.messages import Forward, Guess, NewGame, Txn
from zmqzab.security.plausible import plausible
from zmqzab.zxid import make_zxid

pytestmark = [pytest.mark.game, pytest.mark.security]

ids = frozenset({0, 1, 2})
client_ids = st.one_of(st.sampled_from(["", "c", "x" * limits.CLIENT_ID_MAX_CHARS,
                                        "y" * (limits.CLIENT_ID_MAX_CHARS + 1)]), st.text(max_size=4))
seqs = st.one_of(st.integers(-2, 3), st.sampled_from([limits.SEQ_END - 1, limits.SEQ_END, 2**64 - 1]))
values = st.integers(limits.VALUE_MIN - 2, limits.VALUE_MAX + 2)
round_sizes = st.integers(limits.ROUND_SIZE_MIN - 1, limits.ROUND_SIZE_MAX + 1)
ops = st.one_of(st.builds(Guess, client_ids, seqs, values, round_sizes),
                st.builds(NewGame, client_ids, seqs, round_sizes))


def apply_accepts(op) -> bool:
    """apply()'s rule: the op's limits, except that a seq of 2**63 or more is applied, as the
    old node (no upper bound at its client check) and apply did, so old logs replay the same
    (limits.committed_seq_problem; tests/unit/test_old_log_replay_attack.py)."""
    if type(op.seq) is int and op.seq >= limits.SEQ_END:
        op = (Guess(op.client_id, limits.SEQ_END - 1, op.value, op.round_size) if type(op) is Guess
              else NewGame(op.client_id, limits.SEQ_END - 1, op.round_size))
    return limits.op_problem(op) == ""


def stamp(op, size: int):
    """What the node does to a request it accepts: its own round size goes in."""
    return (Guess(op.client_id, op.seq, op.value, size) if type(op) is Guess
            else NewGame(op.client_id, op.seq, size))


@given(ops, st.integers(limits.ROUND_SIZE_MIN, limits.ROUND_SIZE_MAX))
def test_a_request_the_node_accepts_is_plausible_and_applied(op, size):
    accepted = limits.request_problem(op) == ""
    stamped = stamp(op, size)
    assert plausible(Forward(epoch=1, ops=[stamped]), ids) == accepted
    result = Game().apply(Txn(zxid=make_zxid(1, 1), op=stamped))
    assert (result.kind != "rejected") == apply_accepts(stamped), result.message
    assert not accepted or result.kind != "rejected", result.message


@given(ops)
def test_plausible_forwarded_ops_are_exactly_those_apply_accepts(op):
    ok = limits.op_problem(op) == ""
    assert plausible(Forward(epoch=1, ops=[op]), ids) == ok
    result = Game().apply(Txn(zxid=make_zxid(1, 1), op=op))
    assert (result.kind != "rejected") == apply_accepts(op), result.message
    assert not ok or result.kind != "rejected", result.message


@given(round_sizes)
def test_config_accepts_exactly_the_round_sizes_the_game_accepts(size):
    nodes = "[[nodes]]\nid = 0\nhost = \"127.0.0.1\"\npeer_port = 7000\npub_port = 7001\n" \
            "client_port = 7002\nhttp_port = 7003\n"
    try:
        parsed = parse_config(f"{nodes}[game]\nround_size = {size}\n").game.round_size
    except ConfigError:
        parsed = None
    assert (parsed == size) == (limits.round_size_problem(size) == "")


def test_a_refused_client_id_is_not_echoed_back():
    problem = limits.client_id_problem("z" * 10_000)
    assert "10000 characters" in problem and "zzz" not in problem
