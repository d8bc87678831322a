"""Attack on 8030c50: the simulator counts a node's refusal at once as the request's final
answer ("final: ..." ends it, ``SimResult.answered`` counts it, the liveness phase no longer
waits for it), but before this check nothing held the refusal to what the game would answer.
A node that wrongly refused a request the leader would log and apply (here: a leap of
SEQ_WINDOW + 1 refused as "too far ahead", the two bounds confused) passed every seed: its
clients were told "session expired" for good, and no checker looked.

The check (``Checkers.on_refused_at_once``): a refusal at once must be exactly the result
``apply`` gives the op as the next txn on that node's own state (the state checksums already
hold that state to the committed history)."""

from __future__ import annotations

import pytest

from zmqzab.game import rules
from zmqzab.sim import SimOptions, sweep
from zmqzab.sim.options import draw_settings

#: Seeds whose drawn profile has stale copies (and so leaps) on.
SEEDS = [s for s in range(1, 80) if draw_settings(SimOptions(seed=s, nodes=5)).stale_copies][:12]


def _refuses_leaps(self, op):
    """refusal_at_once with the ahead bound confused with the window (the injected bug)."""
    session = self._sessions.get(op.client_id)
    if (session is not None and op.seq not in session.results
            and op.seq > session.seq_max + rules.SEQ_WINDOW):
        return self._expired(f"seq {op.seq} of client {op.client_id} is too far ahead")
    return _original(self, op)


_original = rules.Game.refusal_at_once


def test_the_simulator_checks_every_refusal_at_once_against_apply(monkeypatch: pytest.MonkeyPatch):
    """Goal: a wrong refusal at once cannot pass as an answer. Setup: 5 nodes, random faults,
    the seeds above (leaps of SEQ_WINDOW + 1 among their requests). Faults: the game's intake
    refuses every leap at once. Expected: some seed reports it (the refusal is not what apply
    gives); without the bug no seed does."""
    print(f"seeds {SEEDS}")
    monkeypatch.setattr(rules.Game, "refusal_at_once", _refuses_leaps)
    bad = sweep(SEEDS, SimOptions(nodes=5))
    caught = [(r.options.seed, r.violation.prop) for r in bad.failures]
    print(f"with the wrong refusal: caught by {caught}")
    assert caught, "no seed noticed a node refusing leaps that apply would accept"
    monkeypatch.setattr(rules.Game, "refusal_at_once", _original)
    good = sweep(SEEDS, SimOptions(nodes=5))
    assert not good.failures, good.failures[0].violation
