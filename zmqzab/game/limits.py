"""The game's limits: the one source of every value and size check on an op.

Four places check an op, and they must agree, or an op one of them lets through is refused by
the next (a node that accepts what its leader then drops as implausible leaves a client
waiting for nothing):

* the node, before it stamps and proposes a client's request (``request_problem``);
* the plausibility checks on forwarded ops (``zmqzab.security.plausible``, ``op_problem``);
* ``apply`` itself, which rejects the same way on every node whatever a proposer let through
  (but for a seq of 2**63 or more, which old nodes applied: ``committed_seq_problem``);
* the config, whose ``round_size`` must be one the game accepts.

Each ``*_problem`` function returns why a field is refused, or "" when it is fine; the text
names the rule, so a person who sent it knows what to send instead. Pure: no I/O.
"""

from __future__ import annotations

from zmqzab.messages import Guess, NewGame, Op

VALUE_MIN = 0
VALUE_MAX = 100
ROUND_SIZE_MIN = 1
#: An open round is held in memory until it closes; the bound keeps it small.
ROUND_SIZE_MAX = 100
#: Client ids are stored per client; a bound keeps a hostile id from bloating snapshots.
CLIENT_ID_MAX_CHARS = 128
#: A client numbers its requests from 1; msgpack's signed 64-bit range bounds them above.
SEQ_MIN = 1
SEQ_END = 1 << 63
#: A player's display name (``zmqzab guess 42 --name ada``): shown in the view and results.
NAME_MAX_CHARS = 32


def value_problem(value: object) -> str:
    if type(value) is int and VALUE_MIN <= value <= VALUE_MAX:
        return ""
    return f"guess must be an integer from {VALUE_MIN} to {VALUE_MAX}, got {value!r}"


def round_size_problem(round_size: object) -> str:
    if type(round_size) is int and ROUND_SIZE_MIN <= round_size <= ROUND_SIZE_MAX:
        return ""
    return f"round size must be an integer from {ROUND_SIZE_MIN} to {ROUND_SIZE_MAX}, got {round_size!r}"


def client_id_problem(client_id: object) -> str:
    if isinstance(client_id, str) and 1 <= len(client_id) <= CLIENT_ID_MAX_CHARS:
        return ""
    # The length, not the id: a hostile id of megabytes must not come back in the answer.
    got = f"{len(client_id)} characters" if isinstance(client_id, str) else type(client_id).__name__
    return f"client id must be a string of 1 to {CLIENT_ID_MAX_CHARS} characters, got {got}"


def seq_problem(seq: object) -> str:
    if type(seq) is int and SEQ_MIN <= seq < SEQ_END:
        return ""
    return f"seq must be an integer from {SEQ_MIN} to {SEQ_END - 1}, got {seq!r}"


def committed_seq_problem(seq: object) -> str:
    """apply()'s rule for the seq of a committed txn: wider than ``seq_problem``, because a
    committed txn is history and must replay as it applied. Before the limits were one module
    the node's client check had no upper bound (``seq < 1`` only) and apply() none either: a
    client's seq of 2**63 or more, sent to the leader, was proposed and applied as any other,
    so logs can hold such txns. Seq 0 was refused by every old intake and stays refused."""
    if type(seq) is int and seq >= SEQ_MIN:
        return ""
    return f"seq must be an integer of at least {SEQ_MIN}, got {seq!r}"


def name_problem(name: object) -> str:
    if isinstance(name, str) and len(name) <= NAME_MAX_CHARS and name.isprintable() \
            and name == name.strip():
        return ""
    # A short bad name is shown (repr: control characters escaped); a long one only measured.
    if not isinstance(name, str):
        got = type(name).__name__
    else:
        got = repr(name) if len(name) <= NAME_MAX_CHARS else f"{len(name)} characters"
    return (f"name must be at most {NAME_MAX_CHARS} printable characters without surrounding "
            f"spaces, got {got}")


def session_fields_problem(op: Guess | NewGame) -> str:
    """The session fields of a game op (``first``, ``seen``; rules.py's module docstring) and
    its display name. ``first`` 0 and ``seen`` 0 are what ops of older builds decode to."""
    if not 0 <= op.first <= op.seq:
        return f"first must be from 1 to the request's seq ({op.seq}), or 0, got {op.first}"
    if op.seen < 0:
        return f"seen must be a zxid (0 or more), got {op.seen}"
    return name_problem(op.name) if op.name else ""


def request_problem(op: Op) -> str:
    """Why a node refuses a client's op before proposing it, or "". The round size is not
    checked: the node stamps its own (config, within the limits) over the client's."""
    if type(op) is not Guess and type(op) is not NewGame:
        # The log also carries the data tree's and the sessions' txns, but those are written by
        # the leader's prepare from ZooKeeper requests, never sent or forwarded as they are.
        return (f"{type(op).__name__} is not a game request: the client port takes guess and "
                f"new-game; ZooKeeper's operations go to the node's zk_port")
    return (client_id_problem(op.client_id) or seq_problem(op.seq)
            or (value_problem(op.value) if type(op) is Guess else "")
            or session_fields_problem(op))


def op_problem(op: Op) -> str:
    """Why an op, as proposed (round size stamped), is one no correct node proposes, or ""."""
    return request_problem(op) or round_size_problem(op.round_size)
