"""Differential fuzzer of Game.apply: the same seeded op streams through this tree's
zmqzab/game/rules.py and another tree's, every GameResult (or exception), every snapshot's bytes
and the final snapshot compared. For a change claimed to keep the game's behaviour identical
(issue 14's fast paths):

    git archive 70cce63 | tar -x -C /tmp/base
    PYTHONPATH=$PWD python tests/unit/game_difffuzz.py /tmp/base 0 2000

The other tree's rules.py is loaded beside ours (it imports this tree's limits.py and
messages.py: run it against a tree whose limits and messages are the same). Streams, each
drawn from its seed (printed with the first difference):

* hostile: ops with fields no decoder makes (wrong types, str/int subclasses, bool as int,
  NaN, floats), out-of-range values, round sizes, seqs (0, negative, 2**63), names, ``first``
  and ``seen``; zxids that go back (replays); clocks that jump past the idle limit.
* sessions: a few clients numbering their requests mostly one by one (long runs that fill and
  slide the 128-seq window), with retries, seqs behind the window or beyond SEQ_AHEAD_MAX,
  new sessions, ops without ``first``, a rate of hostile fields and clock jumps of its own.

Each stream runs with clients_max 1, 3 and 10000 (evictions), and restores from its own snapshot
now and then. Pure: no files but the rules.py it loads, no clock.
"""

from __future__ import annotations

import importlib.util
import random
import sys

from zmqzab.game import rules as ours
from zmqzab.messages import Guess, NewGame, Txn


class _Str(str):
    pass


class _Int(int):
    pass


def _load(tree: str):
    spec = importlib.util.spec_from_file_location("other_rules", f"{tree}/zmqzab/game/rules.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["other_rules"] = module  # msgspec resolves the Structs' annotations through it
    spec.loader.exec_module(module)
    return module


def _hostile(r: random.Random) -> list:
    def pick(common, odd, p=0.3):
        return r.choice(odd) if r.random() < p else common()

    items, z, ts = [], 0, 0
    for _ in range(r.randint(1, 80)):
        client = pick(lambda: r.choice("abcde"), ["", "x" * 128, "x" * 129, None, 7, b"c", _Str("a"), _Str("")])
        seq = pick(lambda: r.randint(-3, 300), [0, 1, 127, 128, 129, 1024, 1025, (1 << 63) - 1, 1 << 63,
                                                -(1 << 63), True, False, 1.0, "1", _Int(3)])
        first = pick(lambda: r.choice([0, 0, seq if type(seq) is int else 1, r.randint(-2, 300)]),
                     [True, 1 << 63, 1.0, float("nan"), -1])
        seen = pick(lambda: r.choice([0, z, r.randint(0, 10 ** 6)]), [True, -1, float("nan"), 1 << 40])
        name = pick(lambda: r.choice(["", "", "ada"]), [" ada", "a" * 33, "a\x00", None, 0, b"x"])
        size = pick(lambda: r.randint(1, 6), [-1, 0, 100, 101, 255, 256, True, 3.0, None, _Int(3)])
        if r.random() < 0.8:
            value = pick(lambda: r.randint(0, 100), [-1, 101, True, 5.0, "5", None, _Int(5)])
            op = Guess(client, seq, value, size, first=first, seen=seen, name=name)
        else:
            op = NewGame(client, seq, size, first=first, seen=seen, name=name)
        z = max(z + (r.randint(-5, 0) if r.random() < 0.1 else r.randint(1, 3)), 0)
        ts = ts + r.choice([0, 1, 1000, 3_600_000, 3_600_001]) if r.random() < 0.8 else r.randint(0, ts + 1)
        items.append((z, op, ts, r.random() < 0.06))
    return items


def _sessions(r: random.Random) -> list:
    items, z, ts, state = [], 0, 0, {}
    clients = r.choice([1, 2, 3, 6])
    p_next = r.choice([1.0, 0.995, 0.98, 0.85])
    hostile = r.choice([0.0, 0.003, 0.03, 0.2])
    for _ in range(r.randint(100, 600)):
        client = f"c{r.randrange(clients)}"
        first, seq = state.get(client, (0, 0))
        step = 1 if r.random() < p_next else r.choice([0, -1, 2, -127, -128, -129, 1023, 1024, 1025, 1026,
                                                        "new", "none"])
        if step == "new":
            seq += 1
            first = seq
        elif step == "none":
            seq += 1
            first = 0
        else:
            seq += step
        state[client] = (first, seq)
        bad = r.random() < hostile
        op_first = r.choice([0, seq, max(first - 1, 0), first + 1]) if bad else first
        seen = r.choice([0, z, z + 5, max(z - 3, 0)])
        name = r.choice(["", "ada", " bad"]) if r.random() < hostile else r.choice(["", "ada"])
        size = r.choice([0, 101]) if r.random() < hostile else r.choice([1, 2, 3, 3, 3, 7, 100])
        if r.random() < 0.9:
            value = r.randint(-1, 101) if r.random() < hostile else r.randint(0, 100)
            op = Guess(client, seq, value, size, first=op_first, seen=seen, name=name)
        else:
            op = NewGame(client, seq, size, first=op_first, seen=seen, name=name)
        z = max(z + (r.randint(-4, 0) if r.random() < hostile / 3 else 1), 0)
        if r.random() < hostile:
            ts += r.choice([0, 10, 600_000, 3_600_000, 3_600_001])
        items.append((z, op, ts, r.random() < 0.02))
    return items


def stream(seed: int) -> list:
    r = random.Random(seed)
    return _hostile(r) if r.random() < 0.4 else _sessions(r)


def run(module, items: list, clients_max: int) -> list:
    game = module.Game(clients_max=clients_max)
    out: list = []
    for zxid, op, ts, snap in items:
        try:
            out.append(("result", game.apply(Txn(zxid, op, ts))))
        except Exception as exc:  # the same exception, with the same text, on both trees
            out.append(("raised", type(exc).__name__, str(exc)))
        if snap:
            try:
                data = game.snapshot()
                out.append(("snapshot", data))
                game = module.Game.restore(data)
            except Exception as exc:
                out.append(("snapshot raised", type(exc).__name__, str(exc)))
    try:
        out.append(("final", game.snapshot()))
    except Exception as exc:
        out.append(("final raised", type(exc).__name__, str(exc)))
    return out


def first_difference(other, seed: int) -> str | None:
    items = stream(seed)
    for clients_max in (1, 3, 10_000):
        a, b = run(other, items, clients_max), run(ours, items, clients_max)
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return f"seed {seed} clients_max {clients_max} output {i}:\n  other: {x!r:.600}\n  ours:  {y!r:.600}"
        if len(a) != len(b):
            return f"seed {seed} clients_max {clients_max}: {len(a)} outputs vs {len(b)}"
    return None


def main() -> None:
    other = _load(sys.argv[1])
    start, count = int(sys.argv[2]), int(sys.argv[3])
    differ = 0
    for seed in range(start, start + count):
        diff = first_difference(other, seed)
        if diff:
            differ += 1
            print(diff, flush=True)
    print(f"{count} seeds from {start}: {differ} differ")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
