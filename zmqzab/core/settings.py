"""Knobs of the pure core. Time is counted in ticks; the driver decides how long a tick is."""

from dataclasses import dataclass

from zmqzab.zxid import COUNTER_MAX

#: Deliberate bugs the simulator's tests switch on to prove its checkers can fail
#: (tests/sim/test_fault_switches.py). Each is a small, commented ``if`` at the one place it
#: breaks. Off by default; zmqzab/config.py builds CoreConfig from named keys only, so no config
#: file can turn one on.
TEST_FAULTS = (
    "ack_before_fsync",  # follower.py: ACK a PROPOSAL before the writer reports it durable (#18)
    "commit_without_quorum",  # leader.py: commit what the leader alone holds (#19)
    "skip_accepted_epoch",  # follower.py: ACKEPOCH without persisting acceptedEpoch (#8)
    "diff_instead_of_trunc",  # leader.py: DIFF a follower that holds txns the leader lacks (#11)
    "apply_across_gap",  # follower.py: append past a gap, so COMMITs apply out of order (#17, #19)
    # follower.py: a counting ACKEPOCH for an epoch already accepted; leader.py: a learner gone
    # during discovery keeps feeding the epoch (issue 11, defect 1: two leaders of one epoch)
    "ackepoch_counts_twice",
)


@dataclass(frozen=True, slots=True)
class CoreConfig:
    #: The leader sends PING on PUB, and followers PING the leader, every this many ticks.
    heartbeat_ticks: int = 1
    #: Discovery + sync must finish within this many ticks (ZooKeeper's initLimit).
    init_limit_ticks: int = 20
    #: A follower that hears nothing from its leader, or a leader that hears from less than a
    #: quorum, for this many ticks gives up (ZooKeeper's syncLimit).
    sync_limit_ticks: int = 10
    #: After a quorum agrees on a vote, wait this long for a better one (ZooKeeper: 200 ms).
    election_wait_ticks: int = 2
    #: While LOOKING, re-send our vote this often (lost or not-yet-connected peers).
    vote_resend_ticks: int = 1
    #: Txns per SyncTxns message in a DIFF or a gap repair.
    sync_batch_txns: int = 5000
    #: At most this many txns in one gap-repair answer (the follower asks again if needed).
    fetch_max_txns: int = 50000
    #: Proposed but not yet committed txns the leader allows before it answers "busy".
    proposals_inflight_max: int = 50000
    #: Committed txns kept in memory for DIFF; older ones are read from disk (``ReadLog``)
    #: back to ``Peer.zxid_disk_base``; a follower behind that gets SNAP.
    log_window_txns: int = 50_000
    #: ZooKeeper's snapshotSizeFactor: a follower that holds only committed txns and lacks more
    #: than this times the snapshot's size in txns gets SNAP instead of DIFF (a few KiB of state
    #: instead of megabytes of history to send, log and apply). Negative: always DIFF.
    snapshot_size_factor: float = 0.33
    #: ...but only a DIFF of at least this many bytes is weighed: below it a DIFF is cheap anyway,
    #: the state is not serialized just to compare, and a short absence still shows as txns
    #: flowing (the classroom's catch-up).
    snapshot_size_min_diff_bytes: int = 64 * 1024
    #: SNAP streams the snapshot in chunks of this size...
    snap_chunk_bytes: int = 256 * 1024
    #: ...with at most this many sent and not yet acknowledged (SNAPACK): the flow control that
    #: keeps a leader from queueing a whole snapshot for a slow follower.
    snap_chunks_inflight_max: int = 8
    #: ZK-1277: a leader whose counter reaches this forces a new epoch. Lowered in tests.
    zxid_counter_max: int = COUNTER_MAX
    #: Names from TEST_FAULTS to switch on (simulator tests only; never from a config file).
    test_faults: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        unknown = sorted(set(self.test_faults) - set(TEST_FAULTS))
        if unknown:
            raise ValueError(f"unknown test fault(s) {', '.join(unknown)}; known: {', '.join(TEST_FAULTS)}")
