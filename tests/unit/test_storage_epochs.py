"""EpochStore: atomic epoch files, leftover tmp files, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from zmqzab.storage.epochs import EpochStore
from zmqzab.storage.errors import EpochInvariantError

pytestmark = [pytest.mark.storage]


def test_fresh_dir_reads_zero(tmp_path: Path) -> None:
    assert EpochStore(tmp_path / "new").read() == (0, 0)


def test_round_trip(tmp_path: Path) -> None:
    store = EpochStore(tmp_path)
    store.write(accepted=3)
    assert store.read() == (3, 0)
    store.write(current=3)
    store.write(accepted=5, current=4)
    assert EpochStore(tmp_path).read() == (5, 4)
    # Decimal text, as ZooKeeper writes them: a person can cat them.
    assert (tmp_path / "acceptedEpoch").read_text().strip() == "5"
    assert (tmp_path / "currentEpoch").read_text().strip() == "4"
    assert not list(tmp_path.glob("*.tmp"))


def test_leftover_tmp_means_the_old_value_stands(tmp_path: Path) -> None:
    EpochStore(tmp_path).write(accepted=2, current=2)
    (tmp_path / "currentEpoch.tmp").write_text("3")  # a crash before the rename
    (tmp_path / "acceptedEpoch.tmp").write_text("")  # a crash before anything was written

    store = EpochStore(tmp_path)
    assert store.read() == (2, 2)
    assert not list(tmp_path.glob("*.tmp"))
    assert len(store.notes) == 2
    note = next(n for n in store.notes if "currentEpoch.tmp" in n)
    assert "previous value 2 stands" in note and "ZK-1653" in note


def test_garbage_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "acceptedEpoch").write_text("seven\n")
    with pytest.raises(EpochInvariantError) as info:
        EpochStore(tmp_path)
    message = str(info.value)
    assert str(tmp_path / "acceptedEpoch") in message and "--resync" in message
    assert "\n" not in message


@pytest.mark.parametrize("content", ["", "-1", "1.5", "99999999999"])
def test_other_bad_contents_are_refused(tmp_path: Path, content: str) -> None:
    (tmp_path / "currentEpoch").write_text(content)
    with pytest.raises(EpochInvariantError, match="currentEpoch"):
        EpochStore(tmp_path)


def test_writes_that_break_the_rules_are_refused_and_change_nothing(tmp_path: Path) -> None:
    store = EpochStore(tmp_path)
    store.write(accepted=4, current=3)
    with pytest.raises(EpochInvariantError, match="lower acceptedEpoch"):
        store.write(accepted=2)
    with pytest.raises(EpochInvariantError, match="below currentEpoch"):
        store.write(current=5)
    assert EpochStore(tmp_path).read() == (4, 3)


def test_fsync_off_writes_the_same_files(tmp_path: Path) -> None:
    store = EpochStore(tmp_path, fsync=False)
    store.write(accepted=1, current=1)
    assert EpochStore(tmp_path).read() == (1, 1)
