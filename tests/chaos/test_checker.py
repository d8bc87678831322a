"""The chaos checker on hand-made histories: a clean one passes, and each property has a
history that breaks it (a checker that never fires proves nothing)."""

import copy

import msgspec

from zmqzab.chaos.checker import check
from zmqzab.chaos.history import FAILED, OK, UNKNOWN, Request
from zmqzab.game import Game
from zmqzab.messages import Guess, Txn
from zmqzab.zxid import make_zxid


def build(n_ok: int = 4):
    """A clean run: client c sends guesses one after another; all land in order."""
    log, history, game = [], [], Game()
    t = 0.0
    for seq in range(1, n_ok + 1):
        txn = Txn(make_zxid(1, seq), Guess("c", seq, 10 * seq))
        log.append(txn)
        result = msgspec.to_builtins(game.apply(txn))
        history.append(Request(0, "c", seq, "guess", 10 * seq, invoked=t, completed=t + 0.5, outcome=OK,
                               zxid=txn.zxid, node=0, result=result))
        t += 1.0
    history.append(Request(1, "d", 1, "guess", 5, invoked=t, outcome=UNKNOWN))
    history.append(Request(1, "d", 2, "guess", 6, invoked=t + 1, completed=t + 2, outcome=FAILED))
    states = {n: game.view() for n in range(3)}
    return history, {n: list(log) for n in range(3)}, states


def test_a_clean_history_passes():
    v = check(*build())
    assert v.ok, v.violations
    assert v.checked["ok"] == 4 and v.checked["unknown"] == 1 and v.checked["failed"] == 1


def props(v):
    return {x.prop for x in v.violations}


def test_lost_acknowledged_write():
    h, logs, st = build()
    for n in logs:
        del logs[n][1]
    assert "ok_in_log_once" in props(check(h, logs, st))


def test_wrong_zxid_told():
    h, logs, st = build()
    h[2].zxid = make_zxid(1, 9)
    assert "ok_in_log_once" in props(check(h, logs, st))


def test_duplicate_in_log():
    h, logs, st = build()
    for n in logs:
        logs[n].append(Txn(make_zxid(1, 5), Guess("c", 2, 20)))
    assert "no_duplicates" in props(check(h, logs, st))


def test_failed_request_in_log():
    h, logs, st = build()
    for n in logs:
        logs[n].append(Txn(make_zxid(1, 5), Guess("d", 2, 6)))
    assert "failed_not_in_log" in props(check(h, logs, st))


def test_logs_differ_between_nodes():
    h, logs, st = build()
    logs[2][3] = Txn(make_zxid(1, 4), Guess("x", 1, 99))
    assert "logs_identical" in props(check(h, logs, st))
    h, logs, st = build()
    logs[1] = logs[1][:-1]
    assert "logs_identical" in props(check(h, logs, st))


def test_real_time_order_violated():
    h, logs, st = build()
    # request 3 was sent after request 2 was answered, but ordered before it
    for n in logs:
        logs[n][1], logs[n][2] = (Txn(make_zxid(1, 2), logs[n][2].op), Txn(make_zxid(1, 3), logs[n][1].op))
    h[1].zxid, h[2].zxid = make_zxid(1, 3), make_zxid(1, 2)
    assert "real_time_order" in props(check(h, logs, st))


def test_answer_differs_from_replay():
    h, logs, st = build()
    h[3].result = dict(h[3].result, message="something else")
    assert "answers_match_replay" in props(check(h, logs, st))


def test_states_differ():
    h, logs, st = build()
    st[1] = copy.deepcopy(st[1])
    st[1]["target"] = 77
    assert "states_identical" in props(check(h, logs, st))
