"""A false 'reported durable, then lost' of the simulator's disk model (an attacker's sweep of
commit 37e8df4, seed 230679; not a fault of the protocol or of storage).

Bit rot (``SimDisk.rot``) never flips a bit in the log's last record: recovery takes a damaged
last record for a torn write and ends the log before it (ZAB_CHECKLIST #23), so rot there is
undetectable data loss, not a fault to recover from. But "the last record" was read from the
file as it is now, page cache included. A kill -9 that leaves an appended record written but
unsynced in the page cache, then rot, then a power loss: the rot hit the record before the
unsynced one (durable, reported), the power loss took the unsynced one, and the rotted record
became the last on the platter. Recovery dropped it as a torn tail; the checker reported a
durable txn lost (seed 230679 at 37e8df4: n2's 8:1, rot at byte 12, then a power loss).
"""

from __future__ import annotations

import random

import pytest

from zmqzab.core.output import Append
from zmqzab.messages import NewGame, Txn
from zmqzab.sim.disk import SimDisk
from zmqzab.storage.errors import CorruptLogError
from zmqzab.zxid import make_zxid

pytestmark = [pytest.mark.storage]


@pytest.mark.parametrize("seed", range(20))
def test_bit_rot_spares_the_record_a_power_loss_leaves_last(tmp_path, seed):
    """Goal: rot never hits a record that a later power loss would leave as the log's last.
    Setup: a SimDisk with txn 1:1 durable (reported) and 1:2 appended in the same segment,
    written but unsynced. Faults: kill -9 (1:2 stays in the page cache), bit rot (rng seeded
    ``seed``), power loss (1:2 gone). Expected: recovery either refuses the data dir for the rot
    (a refusal the simulator expects) or still holds 1:1; it never drops 1:1 silently."""
    print(f"rng seed {seed}")
    disk = SimDisk(tmp_path / "n1")
    disk.open()
    disk.write_epochs(1, 1)
    first, second = (Txn(make_zxid(1, i), NewGame(client_id=f"c{i}", seq=1)) for i in (1, 2))
    disk.submit(Append([first]))
    assert disk.take_batch()
    assert disk.complete() == first.zxid  # reported durable
    disk.submit(Append([second]))
    assert disk.take_batch()  # written, not fsynced
    disk.crash(random.Random(seed), 0.0, power=False)  # kill -9: it stays in the page cache
    what = disk.rot(random.Random(seed))
    print(f"rot: {what or 'nothing it may hit'}")
    disk.power_loss(random.Random(seed), 0.0)
    try:
        recovered = disk.open()
    except CorruptLogError:
        assert what, "refused without rot"
        return
    assert first.zxid in {t.zxid for t in recovered.txns}, (
        f"{what}: recovery dropped the durable 1:1 as a torn tail")
    assert disk.lost_claims(recovered) == ""
