"""Outside attack on issue 17 (h17a): the run file is written through ``<name>.tmp`` opened
with O_CREAT|O_TRUNC, which follows a symlink. Whoever can write in data_dir (a shared lab
directory, another account in the same group) plants ``up-<port>.json.tmp`` -> a file of the
owner (~/.bashrc, a node's epoch file): `zmqzab up` truncates it and writes the run's JSON into
it (and makes it 0600). Property broken: writing the run file touches no other file."""

from __future__ import annotations

import json
import os

import pytest

from zmqzab.security.runsecret import read_private, write_private

pytestmark = [pytest.mark.security]


def test_a_symlink_planted_at_the_run_files_temp_name_is_not_followed(tmp_path):
    victim = tmp_path / "home" / ".bashrc"
    victim.parent.mkdir()
    victim.write_text("export PATH=$HOME/bin:$PATH\n")
    run = tmp_path / "data" / "up-7401.json"
    run.parent.mkdir()
    os.symlink(victim, run.with_name(run.name + ".tmp"))
    write_private(run, json.dumps({"control": "http://127.0.0.1:1", "secret": "s" * 43}))
    assert victim.read_text() == "export PATH=$HOME/bin:$PATH\n"
    assert not run.is_symlink() and json.loads(read_private(run))["secret"] == "s" * 43
