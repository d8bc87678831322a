"""Outside attack on issue 17 (h17b): the CLI's session file and a `zmqzab guess` that dies
between sending its write and saving the seq it used.

`zmqzab guess` saves the session (client id, seq) in a ``finally`` AFTER the write. A process
killed while its write is in flight (SIGTERM from `timeout 5 zmqzab guess 42`, SIGKILL, an OOM
kill: no ``finally`` runs) leaves the file at the previous seq. The next `zmqzab guess 50` in
the same terminal then sends the SAME (client id, seq) with another value. The game keys
exactly-once on (client id, seq) only, so whichever of the two commits second gets the first
one's answer: the user is told "committed ... guess recorded" for 50, and 50 is never applied
(or 42, the write the user thinks died, is the one that counts).

Property broken: a seq the CLI has put on the wire is never used again for another request.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from zmqzab.cli.app import app
from zmqzab.cli.sessionfile import session_path
from zmqzab.game.rules import Game
from zmqzab.messages import Guess, Txn
from zmqzab.zxid import make_zxid

from tests.unit.test_client import FakeNode, answering, make_config, ok_reply

pytestmark = [pytest.mark.cli, pytest.mark.security]

runner = CliRunner()


def test_cli_a_guess_killed_in_flight_never_lets_the_next_guess_reuse_its_seq(tmp_path):
    """Setup: one fake node that answers every write, and records, at the moment each write
    arrives, what the terminal's session file on disk says (what the next run would read if
    this one were killed right then). Steps: `zmqzab guess 40`, then `zmqzab guess 41`.
    Expected: when 41 is on the wire the file already holds its seq, so a run after a kill
    uses a new seq. Consequence shown with the real Game: the write a killed run left in
    flight and the next run's write would share (client, seq), and the second's value would
    never be applied while its user is told it committed."""
    config_path = tmp_path / "cluster.toml"
    on_disk_when_sent: list[tuple[Guess, dict | None]] = []
    path_box: list = []

    def write(node, msg):
        text = path_box[0].read_text() if path_box[0].exists() else ""
        on_disk_when_sent.append((msg.op, json.loads(text) if text else None))
        return ok_reply(msg, node.id)

    fake = FakeNode(0, answering(write=write))
    try:
        make_config(tmp_path, {0: fake.port})
        path_box.append(session_path(config_path))
        for value in ("40", "41"):
            result = runner.invoke(app, ["guess", value, "--config", str(config_path)])
            assert result.exit_code == 0, result.output
    finally:
        fake.close()

    (op40, _), (op41, disk41) = on_disk_when_sent
    assert op41.client_id == op40.client_id  # one client id per terminal (the session file)
    # What a run started after a kill at this moment would send next:
    next_seq = (disk41["seq"] if disk41 and disk41["client_id"] == op41.client_id else 0) + 1
    reused = disk41 is not None and disk41["client_id"] == op41.client_id and next_seq == op41.seq

    # The consequence, in the real game: the killed run's 41 commits, the next run's 42 under
    # the same (client, seq) gets 41's answer and is never applied.
    game = Game()
    game.apply(Txn(make_zxid(1, 1), Guess("other", 1, 10, 3, 1), ts_ms=1))
    game.apply(Txn(make_zxid(1, 2), op40, ts_ms=2))
    game.apply(Txn(make_zxid(1, 3), op41, ts_ms=3))
    late = Guess(op41.client_id, next_seq, 42, 3, op41.first, op41.seen)
    answer = game.apply(Txn(make_zxid(1, 4), late, ts_ms=4))
    applied = [g["value"] for g in game.view()["guesses"]]
    assert not reused, (f"seq {op41.seq} was on the wire while the session file still said "
                        f"seq {disk41['seq']}: a run after a kill sends (client, {next_seq}) "
                        f"again; its guess 42 is answered {answer.kind!r} "
                        f"({answer.message!r}) and never applied (open round {applied})")
