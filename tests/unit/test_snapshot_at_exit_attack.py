"""Attack on ForkedSnapshots.take_at_exit's account of itself: with nothing applied since the
last snapshot started (``state`` None), the node used to log "is being saved" whatever had
happened, also right after the child was killed (a bound run out; an older child superseded
after a SNAP install moved the applied zxid). The log must say what happened."""

from __future__ import annotations

from tests.unit.test_snapshot_at_exit import WAIT, HeldState, snaps, tmps  # noqa: F401 (fixture)
from zmqzab.zxid import make_zxid


def test_an_older_child_superseded_with_nothing_applied_is_not_said_to_be_saved(snaps):  # noqa: F811
    """A periodic child in flight at 10; a SNAP installed at 20 since (applied 20, nothing
    applied after it): the child is killed, nothing is committed, and the log says so."""
    s = snaps
    z10, z20 = make_zxid(1, 10), make_zxid(1, 20)
    held = HeldState(b"at 10")
    try:
        s.take(z10, held)
        assert s.take_at_exit(z20, None, WAIT) is None
    finally:
        held.close()
    assert s._inflight is None and tmps(s) == []
    assert not any("is being saved" in line for line in s.lines), s.lines
    assert any("was stopped" in line for line in s.lines), s.lines


def test_a_held_child_at_the_exit_zxid_that_runs_out_of_time_is_not_said_to_be_saved(snaps):  # noqa: F811
    s = snaps
    z20 = make_zxid(1, 20)
    held = HeldState(b"never written")
    try:
        s.take(z20, held)
        assert s.take_at_exit(z20, None, 0.2) is None
    finally:
        held.close()
    assert any("took longer than" in line for line in s.lines), s.lines
    assert not any("is being saved" in line for line in s.lines), s.lines
