"""The core's role state (issue 12, item 3): one role state value, sub-phases as enums, sync
modes as an enum, and invariants that hold under ``python -O``.

No network, no disk: a real Peer per node (tests/core/harness.py) or a lone Peer fed messages.
"""

import ast
import pathlib
import random

import pytest

from tests.core.harness import Cluster, make_state
from zmqzab.core.election import Election
from zmqzab.core.errors import InvariantError
from zmqzab.core.follower import FollowerState
from zmqzab.core.leader import Learner, LeaderState
from zmqzab.core.peer import Peer
from zmqzab.core.roles import FollowerStep, LearnerStep, Phase, Role, SyncMode
from zmqzab.core.settings import CoreConfig
from zmqzab.messages import LeaderInfo, Notification, SyncStart, Vote

CORE = pathlib.Path(__file__).resolve().parents[2] / "zmqzab" / "core"


def test_the_core_checks_invariants_without_bare_asserts():
    """Goal: STYLE rule 5. A bare ``assert`` vanishes under ``python -O`` (and the simulator
    would count its AssertionError as a violation of the protocol, not of the code). Setup: the
    syntax tree of every module in zmqzab/core. Expected: no assert statement."""
    found = [f"{path.name}:{node.lineno}" for path in sorted(CORE.glob("*.py"))
             for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Assert)]
    assert not found, f"bare asserts in zmqzab/core (raise InvariantError with a message): {found}"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_steps_only_move_forward_and_agree_with_role_and_phase(seed):
    """Goal: the follower's and the learner's steps are one ordered sequence each, and role,
    phase, leader and epoch read from the role state agree with it. Setup: 5 nodes (seed
    printed by pytest's id), elect, write, crash the leader, elect again, heal, with every tick
    observed. Expected: within one follower attempt (one session) and one learner entry the
    step never goes back; each role state's role and phase are the Peer's."""
    c = Cluster(5, seed=seed)
    order_f = {s: i for i, s in enumerate(FollowerStep)}
    order_l = {s: i for i, s in enumerate(LearnerStep)}
    last_f: dict[tuple[int, int], FollowerStep] = {}
    last_l: dict[tuple[int, int, int], LearnerStep] = {}
    seen_f: set[FollowerStep] = set()
    seen_l: set[LearnerStep] = set()

    def observe() -> bool:
        for i in sorted(c.up):
            p = c.peers[i]
            st = p.role_state
            assert (p.role, p.phase) == (st.role, st.phase)
            match st:
                case Election():
                    assert p.role == Role.LOOKING and p.leader_id is None and p.epoch == 0
                case LeaderState():
                    assert p.role == Role.LEADING and p.leader_id == i and p.epoch == st.epoch
                    assert st.epoch_acked == (p.phase != Phase.DISCOVERY)
                    assert st.established == (p.phase == Phase.BROADCAST)
                    for ln in st.learners.values():
                        key = (i, ln.id, ln.session)
                        assert order_l[ln.step] >= order_l[last_l.get(key, ln.step)], key
                        last_l[key] = ln.step
                        seen_l.add(ln.step)
                case FollowerState():
                    assert p.role == Role.FOLLOWING and p.leader_id == st.leader_id != i
                    assert p.phase == st.step.phase
                    key = (i, st.session)
                    assert order_f[st.step] >= order_f[last_f.get(key, st.step)], key
                    last_f[key] = st.step
                    seen_f.add(st.step)
        return c.serving()

    c.run_until(observe, 300)
    ld = c.leader()
    c.submit(ld, 42)
    c.crash(ld)
    c.run_until(observe, 300)
    c.start(ld)
    c.run_until(observe, 300)
    assert FollowerStep.UPTODATE_RECEIVED in seen_f and LearnerStep.UPTODATE_SENT in seen_l


def syncing_follower() -> Peer:
    """Node 1 of 3 following node 0, its ACKEPOCH for epoch 1 sent."""
    p = Peer(1, [0, 1, 2], CoreConfig(), random.Random(1), make_state)
    p.start()
    p.step(0, Notification(1, Role.LEADING, Vote(0, 0, 0)))
    p.step(2, Notification(1, Role.FOLLOWING, Vote(0, 0, 0)))
    assert p.following is not None and p.following.step == FollowerStep.FOLLOWERINFO_SENT
    p.step(0, LeaderInfo(session=p.following.session, epoch=1))
    assert p.following.step == FollowerStep.ACKEPOCH_SENT and p.phase == Phase.SYNC
    return p


def test_a_sync_start_with_a_mode_no_leader_sends_is_dropped():
    """Goal: the sync mode is converted to SyncMode at the follower's edge; a value outside it
    is dropped (it used to be taken for DIFF). Setup: a follower waiting for the sync stream
    gets SYNC with mode "MAGIC", then a real DIFF. Expected: the first changes nothing (no
    election, same step, no last_sync); the DIFF starts the sync, recorded as "DIFF"."""
    p = syncing_follower()
    session = p.following.session
    out = p.step(0, SyncStart(session=session, epoch=1, mode="MAGIC", zxid=0, txns_total=0, reason="?"))
    assert not out and p.following.step == FollowerStep.ACKEPOCH_SENT and p.last_sync == {}
    p.step(0, SyncStart(session=session, epoch=1, mode="DIFF", zxid=0, txns_total=0, reason="up to date"))
    assert p.following.step == FollowerStep.SYNCING and p.following.sync_mode is SyncMode.DIFF
    assert p.last_sync["mode"] == "DIFF" and type(p.last_sync["mode"]) is str


def test_a_step_that_skips_or_goes_back_stops_the_node_with_the_order_it_broke():
    """Goal: the steps' order is checked at every move (a table, as h11 keeps its states), not
    left to each handler's guard, and under ``python -O`` too. Setup: a follower waiting for the
    sync stream, and a learner already in BROADCAST. Expected: skipping to NEWLEADER_RECEIVED,
    or going back to SYNCING, raises InvariantError naming the two steps and the order; the
    legal next step is taken."""
    p = syncing_follower()
    fs = p.following
    with pytest.raises(InvariantError, match="ACKEPOCH_SENT -> NEWLEADER_RECEIVED breaks the order "
                                             "FOLLOWERINFO_SENT -> ACKEPOCH_SENT -> SYNCING"):
        fs.move_to(FollowerStep.NEWLEADER_RECEIVED)
    assert fs.step == FollowerStep.ACKEPOCH_SENT
    fs.move_to(FollowerStep.SYNCING)
    assert fs.step == FollowerStep.SYNCING and fs.phase == Phase.SYNC

    ln = Learner(id=2, session=5, accepted_epoch=0, zxid_last=0, zxid_base=0, last_heard=0,
                 step=LearnerStep.UPTODATE_SENT)
    with pytest.raises(InvariantError, match="learner node 2 .* UPTODATE_SENT -> SYNCING breaks the order"):
        ln.move_to(LearnerStep.SYNCING)
    assert ln.step == LearnerStep.UPTODATE_SENT


def test_broadcasting_is_the_only_learner_step_in_broadcast():
    """leader.py compares ``ln.step is BROADCASTING`` on its per-ACK paths instead of asking each
    learner's phase: valid only while exactly one learner step is in BROADCAST."""
    from zmqzab.core.leader import BROADCASTING
    from zmqzab.core.roles import LearnerStep, Phase

    assert [s for s in LearnerStep if s.phase == Phase.BROADCAST] == [BROADCASTING]
