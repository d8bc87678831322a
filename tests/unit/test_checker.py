"""The chaos checker on hand-made histories: a clean one passes (with and without snapshots), and
each property has a history that breaks it, named in the verdict (a checker that never fires
proves nothing). The holes issue 16 found in the old checker each have a case here."""

import copy

import msgspec
import pytest

from zmqzab.chaos.checker import PROPERTIES, NodeRecord, check, state_digest
from zmqzab.chaos.history import FAILED, OK, UNKNOWN, Request
from zmqzab.game.rules import Game
from zmqzab.messages import Guess, NewGame, Txn
from zmqzab.state import ReplicatedState
from zmqzab.zxid import make_zxid

pytestmark = [pytest.mark.chaos]

NODES = 3
#: The clean run's zxids: two epochs (the second starts at counter 1).
ZXIDS = [make_zxid(1, 1), make_zxid(1, 2), make_zxid(1, 3), make_zxid(1, 4), make_zxid(2, 1), make_zxid(2, 2)]


def build(snapshot_at: dict[int, int] | None = None):
    """A clean run: client c sends guesses one after another, all land in order; client d has
    one unknown request (never landed) and one refused. ``snapshot_at``: node -> index into
    ZXIDS of the snapshot it starts from (its log holds what follows)."""
    log, history, game = [], [], Game()
    t = 0.0
    snaps: dict[int, bytes] = {}
    for k, z in enumerate(ZXIDS):
        seq = k + 1
        txn = Txn(z, Guess("c", seq, 10 * seq))
        log.append(txn)
        result = msgspec.to_builtins(game.apply(txn))
        snaps[k] = game.snapshot()
        history.append(Request(0, "c", seq, "guess", 10 * seq, invoked=t, completed=t + 0.5, outcome=OK,
                               zxid=txn.zxid, node=0, result=result))
        t += 1.0
    history.append(Request(1, "d", 1, "guess", 5, invoked=t, completed=t + 6, outcome=UNKNOWN))
    history.append(Request(1, "d", 2, "guess", 6, invoked=t + 7, completed=t + 8, outcome=FAILED))
    digest, view = state_digest(game.snapshot()), game.view()
    nodes = {}
    for n in range(NODES):
        k = (snapshot_at or {}).get(n)
        if k is None:
            nodes[n] = NodeRecord(txns=list(log), live_zxid=ZXIDS[-1], live_digest=digest, view=copy.deepcopy(view))
        else:
            nodes[n] = NodeRecord(txns=log[k + 1:], snapshot_zxid=ZXIDS[k], snapshot=snaps[k],
                                  live_zxid=ZXIDS[-1], live_digest=digest, view=copy.deepcopy(view))
    return history, nodes


def props(v):
    return {x.prop for x in v.violations}


def with_state(nodes, n, game: Game) -> None:
    nodes[n].live_digest = state_digest(game.snapshot())
    nodes[n].live_zxid = game.zxid_applied
    nodes[n].view = game.view()


def replay(txns) -> Game:
    g = Game()
    for t in txns:
        g.apply(t)
    return g


def test_a_clean_history_passes():
    v = check(*build(), round_size=3)
    assert v.ok, v.violations
    assert v.checked["ok"] == 6 and v.checked["unknown"] == 1 and v.checked["failed"] == 1
    assert v.checked["states_replayed"] == NODES


def test_a_clean_history_with_snapshots_on_every_node_passes():
    """Before issue 16 this failed with "no node holds the full history": chaos could never run
    with snapshots and purge on."""
    v = check(*build(snapshot_at={0: 2, 1: 2, 2: 4}))
    assert v.ok, v.violations
    # node 1's at the start against node 0's (the start), node 2's against the replay from it
    assert v.checked["snapshots_compared"] == 2
    assert v.checked["history_start"] == ZXIDS[2]


# ------------------------------------------------------------------ one case per property
# Each returns (history, nodes) that break exactly the named property (others may fire too).


def lost_acknowledged_write():
    h, nodes = build()
    for r in nodes.values():
        del r.txns[5]  # the last: no hole, every log ends at (2, 1); request (c, 6) was ok
    return h, nodes


def wrong_zxid_told():
    h, nodes = build()
    h[2].zxid = make_zxid(1, 9)
    return h, nodes


def duplicate_in_log():
    h, nodes = build()
    for r in nodes.values():
        r.txns.append(Txn(make_zxid(2, 3), Guess("c", 2, 20)))
    return h, nodes


def failed_request_in_log():
    h, nodes = build()
    for r in nodes.values():
        r.txns.append(Txn(make_zxid(2, 3), Guess("d", 2, 6)))
    return h, nodes


def logs_differ_between_nodes():
    h, nodes = build()
    nodes[2].txns[3] = Txn(ZXIDS[3], Guess("c", 4, 99))
    return h, nodes


def hole_in_a_follower_log():
    """Issue 16: a follower's log with a txn missing in the middle passed (only "each node's
    txns appear in the reference" and "logs end at the same zxid" were checked)."""
    h, nodes = build()
    del nodes[1].txns[2]
    return h, nodes


def real_time_order_among_ok():
    h, nodes = build()
    # request 3 was sent after request 2 was answered, but ordered before it
    for r in nodes.values():
        r.txns[1], r.txns[2] = Txn(ZXIDS[1], r.txns[2].op), Txn(ZXIDS[2], r.txns[1].op)
    h[1].zxid, h[2].zxid = ZXIDS[2], ZXIDS[1]
    h[1].result, h[2].result = h[2].result, h[1].result
    return h, nodes


def unknown_request_landed_too_early():
    """Issue 16: a request that timed out but landed, invoked after another was answered at
    zxid 3, landing at zxid 2, passed (real-time order was checked among ok requests only)."""
    h, nodes = build()
    late = Request(2, "e", 1, "guess", 50, invoked=h[2].completed + 0.1, completed=h[2].completed + 6,
                   outcome=UNKNOWN)
    h.append(late)
    for r in nodes.values():  # (e, 1) replaces (c, 2) at zxid 2, which was answered ok
        r.txns[1] = Txn(ZXIDS[1], Guess("e", 1, 50))
    h[1].outcome, h[1].zxid, h[1].result = UNKNOWN, None, None
    fix_states(nodes)
    fix_answers(h, nodes[0].txns)
    return h, nodes


def answer_differs_from_replay():
    h, nodes = build()
    h[3].result = dict(h[3].result, message="something else")
    return h, nodes


def value_differs_from_what_the_client_sent():
    """Issue 16: a logged op whose value differs from what its client sent passed."""
    h, nodes = build()
    for r in nodes.values():
        r.txns[0] = Txn(ZXIDS[0], Guess("c", 1, 77))
    fix_states(nodes)
    fix_answers(h, nodes[0].txns)
    return h, nodes


def txn_no_client_sent():
    """Issue 16: a txn no client ever sent passed."""
    h, nodes = build()
    for r in nodes.values():
        r.txns.append(Txn(make_zxid(2, 3), NewGame("ghost", 1)))
    fix_states(nodes)
    return h, nodes


def tree_txn_no_client_sent():
    """An outside read of issue 13's first step: a tree txn in every log passed unjudged (the
    integrity check skipped every op without a game (client id, seq))."""
    from zmqzab.tree.acl import OPEN_ACL_UNSAFE
    from zmqzab.tree.txns import CreateTxn

    h, nodes = build()
    for r in nodes.values():
        r.txns.append(Txn(make_zxid(2, 3), CreateTxn("/phantom", b"", OPEN_ACL_UNSAFE, 0, -1)))
    for n, r in nodes.items():  # live states that match the logs: only integrity may fire
        state = ReplicatedState()
        for t in r.txns:
            state.apply(t)
        with_state(nodes, n, state)
    return h, nodes


def states_agree_but_not_with_the_log():
    """Issue 16: states that agree with each other but not with a replay of the log passed.
    Here they differ only in the exactly-once client records, which Game.view() hides: the views
    are equal, the full states are not."""
    h, nodes = build()
    for n in nodes:
        g = replay(nodes[n].txns[:-1])
        g.apply(Txn(ZXIDS[-1], Guess("c", 6, 60)))  # the same guess...
        g._sessions["c"].results.pop(6)  # noqa: SLF001 - ...but its exactly-once record lost
        assert g.view() == nodes[n].view
        nodes[n].live_digest = state_digest(g.snapshot())
    return h, nodes


def states_differ_between_nodes():
    h, nodes = build()
    nodes[1].view = dict(nodes[1].view, target=77)
    return h, nodes


def snapshot_differs_from_replay():
    h, nodes = build(snapshot_at={0: 2, 1: 4, 2: 4})
    wrong = replay([Txn(z, Guess("c", k + 1, 10 * (k + 1))) for k, z in enumerate(ZXIDS[:4])] +
                   [Txn(ZXIDS[4], Guess("c", 5, 1))])
    for n in (1, 2):
        nodes[n].snapshot = wrong.snapshot()
    return h, nodes


def fix_states(nodes):
    """After editing the logs: live states that match them (so only the intended check fires)."""
    for n, r in nodes.items():
        with_state(nodes, n, replay(r.txns))


def wrong_round_size_stamped():
    h, nodes = build()
    for r in nodes.values():
        r.txns[4] = Txn(ZXIDS[4], Guess("c", 5, 50, round_size=4))
    fix_states(nodes)
    fix_answers(h, nodes[0].txns)
    return h, nodes, True, None, 3


def node_stopped_on_an_error():
    h, nodes = build()
    return h, nodes, True, {1: ["12:00:00.000 CRITICAL n1 | stopping: broken local invariant: ACK for 3:1 but "
                                "the log is durable only to 2:1"]}


def fix_answers(history, txns):
    """After editing the log: ok answers that match its replay."""
    g, at = Game(), {}
    for t in txns:
        at[t.zxid] = msgspec.to_builtins(g.apply(t))
    for r in history:
        if r.outcome == OK:
            r.result = at[r.zxid]


CASES = {
    "ok_in_log_once": [lost_acknowledged_write, wrong_zxid_told],
    "no_duplicates": [duplicate_in_log],
    "failed_not_in_log": [failed_request_in_log],
    "logs_identical": [logs_differ_between_nodes, hole_in_a_follower_log],
    "log_contiguous": [hole_in_a_follower_log],
    "integrity": [value_differs_from_what_the_client_sent, txn_no_client_sent, wrong_round_size_stamped,
                  tree_txn_no_client_sent],
    "real_time_order": [real_time_order_among_ok, unknown_request_landed_too_early],
    "answers_match_replay": [answer_differs_from_replay],
    "state_matches_log": [states_agree_but_not_with_the_log],
    "snapshot_matches_replay": [snapshot_differs_from_replay],
    "states_identical": [states_differ_between_nodes],
    "no_node_failed": [node_stopped_on_an_error],
}


def test_every_property_has_a_breaking_history():
    assert set(CASES) == set(PROPERTIES)


@pytest.mark.parametrize("prop,case", [(p, c) for p, cs in CASES.items() for c in cs],
                         ids=lambda x: x if isinstance(x, str) else x.__name__)
def test_each_broken_property_is_named(prop, case):
    v = check(*case())
    assert prop in props(v), v.violations


def test_the_old_holes_are_not_blamed_on_something_else():
    """The issue's holes are found by the property that describes them, not only as a side
    effect: these cases keep states and answers consistent with the edited logs, so nothing else
    can fire."""
    assert props(check(*txn_no_client_sent())) == {"integrity"}
    assert props(check(*states_agree_but_not_with_the_log())) == {"state_matches_log"}
    assert props(check(*unknown_request_landed_too_early())) == {"real_time_order"}
    assert props(check(*value_differs_from_what_the_client_sent())) == {"integrity"}
    assert props(check(*tree_txn_no_client_sent())) == {"integrity"}


def test_log_missing_its_first_txns_with_base_zero():
    """Issue 16: a log whose first txns are missing with base 0 passed."""
    h, nodes = build()
    del nodes[2].txns[:2]
    v = check(h, nodes)
    assert {"log_contiguous", "logs_identical"} <= props(v), v.violations


def test_log_that_ends_early():
    h, nodes = build()
    nodes[1].txns.pop()
    assert "logs_identical" in props(check(h, nodes))


def test_live_state_beyond_the_durable_log():
    h, nodes = build()
    nodes[0].live_zxid = make_zxid(2, 9)
    assert "state_matches_log" in props(check(h, nodes))


def test_a_node_that_did_not_report_its_state_is_a_violation():
    h, nodes = build()
    nodes[0].live_digest = None
    assert "state_matches_log" in props(check(h, nodes))


def test_ok_request_before_the_history_checked_against_the_snapshot_records():
    """Every node purged: request (c, 2) was answered before the oldest snapshot; the snapshot's
    exactly-once records still know where it landed, and the told zxid must match."""
    h, nodes = build(snapshot_at={0: 2, 1: 2, 2: 2})
    assert check(h, nodes).ok
    h[1].zxid = ZXIDS[0]
    assert "ok_in_log_once" in props(check(h, nodes))
    h, nodes = build(snapshot_at={0: 2, 1: 2, 2: 2})
    h[1].result = dict(h[1].result, message="something else")
    assert "answers_match_replay" in props(check(h, nodes))


def test_duplicate_across_the_snapshot_boundary():
    h, nodes = build(snapshot_at={0: 2, 1: 2, 2: 2})
    for r in nodes.values():
        r.txns.append(Txn(make_zxid(2, 3), Guess("c", 2, 20)))
    fix_states_from_snapshot(nodes)
    assert "no_duplicates" in props(check(h, nodes))


def test_failed_request_remembered_by_the_snapshot():
    h, nodes = build(snapshot_at={0: 2, 1: 2, 2: 2})
    h[1].outcome, h[1].zxid, h[1].result = FAILED, None, None
    assert "failed_not_in_log" in props(check(h, nodes))


def fix_states_from_snapshot(nodes):
    for n, r in nodes.items():
        g = Game.restore(r.snapshot)
        for t in r.txns:
            g.apply(t)
        with_state(nodes, n, g)


def test_not_converged_judges_what_each_node_committed():
    """A run that did not converge: node 2 applied only up to (1, 2) and its log goes on with
    what it had not applied yet (the leader's (1, 3)); node 1 lost its live report. Judged on
    committed prefixes, the history is clean; an ok write beyond every cut that some log still
    holds is counted, not blamed (one that no log holds at all is lost: test_checker_attack.py);
    one inside a cut is a violation."""
    h, nodes = build()
    nodes[2].live_zxid = ZXIDS[1]
    nodes[2].txns[3:] = []
    nodes[1].live_digest = None
    with_state(nodes, 2, replay(nodes[2].txns[:2]))
    assert not check(h, nodes).ok
    v = check(h, nodes, converged=False)
    assert v.ok, v.violations
    assert v.checked["states_unreported"] == 1
    for r in nodes.values():
        r.live_zxid = min(r.live_zxid, ZXIDS[4])
    nodes[0].live_digest = None
    v = check(h, nodes, converged=False)
    assert v.ok and v.checked["beyond_committed"] == 1, v.violations
    del nodes[0].txns[2]
    assert {"log_contiguous", "logs_identical"} <= props(check(h, nodes, converged=False))
