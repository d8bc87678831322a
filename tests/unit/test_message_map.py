"""The README's message map says, for every peer message, where it is built and where it is
handled. It is made from the code (this file reads the core and the host with ``ast``), so it
cannot drift: when a message moves, this test fails and prints the table to paste.

Every message takes the same road between the two, which the README says once: Output.send /
publish -> host/effects.execute -> server/transport.py (simulator: sim/network.py) -> the
receiving node's loop -> Peer.step (core/peer.py) -> the handler named here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.cli
ROOT = Path(__file__).resolve().parents[2]
BUILDERS = ("zmqzab/core", "zmqzab/host")
BEGIN, END = "<!-- message-map: made by tests/unit/test_message_map.py -->", "<!-- /message-map -->"


def _peer_messages() -> dict[str, str]:
    """class name -> wire tag, for the members of messages.PeerMessage."""
    tree = ast.parse((ROOT / "zmqzab/messages.py").read_text())
    tags, members = {}, []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for kw in node.keywords:
                if kw.arg == "tag" and isinstance(kw.value, ast.Constant):
                    tags[node.name] = kw.value.value
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "PeerMessage":
            names = [n for n in ast.walk(node.value) if isinstance(n, ast.Name)]
            members = [n.id for n in sorted(names, key=lambda n: (n.lineno, n.col_offset))]
    return {name: tags[name] for name in members}


def _functions(path: Path):
    """(qualified function name, node) for every function in a module, methods as Class.name."""
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node
        elif isinstance(node, ast.ClassDef):
            for sub in node.body:
                if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield f"{node.name}.{sub.name}", sub


def _builders(names: set[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {n: [] for n in names}
    for folder in BUILDERS:
        for path in sorted((ROOT / folder).glob("*.py")):
            rel = path.relative_to(ROOT / "zmqzab").as_posix()
            for qual, fn in _functions(path):
                for call in ast.walk(fn):
                    if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id in names:
                        where = f"{rel} `{qual}`"
                        if where not in found[call.func.id]:
                            found[call.func.id].append(where)
    return found


def _handlers() -> dict[str, list[str]]:
    """From the dispatch of Peer.step: message class -> 'core/<module>.py `handler` (ROLE)'. The
    dispatch is the module's ``_HANDLERS`` table ((role state, message) -> handler), and in
    ``Peer.step`` itself the messages of every role (``isinstance``) and those kept while LOOKING
    (``type(role_state) is Election and type(msg) is X``)."""
    tree = ast.parse((ROOT / "zmqzab/core/peer.py").read_text())
    role_of = {"LeaderState": "LEADING", "FollowerState": "FOLLOWING", "Election": "LOOKING"}
    found: dict[str, list[str]] = {}
    table = next(node.value for node in tree.body if isinstance(node, ast.AnnAssign)
                 and isinstance(node.target, ast.Name) and node.target.id == "_HANDLERS")
    for key, handler in zip(table.keys, table.values):
        state_cls, cls = (elt.id for elt in key.elts)
        where = f"core/{handler.value.id}.py `{handler.attr}`"
        found.setdefault(cls, []).append(f"{where} ({role_of[state_cls]})")
    step = next(fn for qual, fn in _functions(ROOT / "zmqzab/core/peer.py") if qual == "Peer.step")
    for node in ast.walk(step):
        if not isinstance(node, ast.If):
            continue
        test = node.test
        if isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id == "isinstance":
            call = node.body[0].value
            found.setdefault(test.args[1].id, []).append(f"core/peer.py `Peer.{call.func.attr}` (every role)")
        elif isinstance(test, ast.BoolOp) and all(  # type(role_state) is Election and type(msg) is X
                isinstance(v, ast.Compare) and isinstance(v.left, ast.Call) and isinstance(v.left.func, ast.Name)
                and v.left.func.id == "type" for v in test.values):
            state_cls, cls = (cmp.comparators[0].id for cmp in test.values)
            found.setdefault(cls, []).append(
                f"core/peer.py `Peer.step`, kept until the vote is decided ({role_of[state_cls]})")
    return found


def message_map() -> str:
    messages = _peer_messages()
    built = _builders(set(messages))
    handled = _handlers()
    rows = ["| message | built in | handled in |", "|---|---|---|"]
    for cls, tag in messages.items():
        rows.append(f"| {tag} (`{cls}`) | {'; '.join(built[cls]) or '-'} | {'; '.join(handled.get(cls, [])) or '-'} |")
    return "\n".join(rows)


def test_every_peer_message_is_built_and_handled():
    messages = _peer_messages()
    built, handled = _builders(set(messages)), _handlers()
    assert not [c for c in messages if not built[c]], "a peer message nothing builds"
    assert not [c for c in messages if c not in handled], "a peer message Peer.step does not dispatch"


def test_the_readme_map_is_the_code_s():
    readme = (ROOT / "README.md").read_text()
    match = re.search(re.escape(BEGIN) + r"\n(.*?)\n" + re.escape(END), readme, re.S)
    table = message_map()
    assert match, f"README.md has no message map between {BEGIN} and {END}; paste:\n{table}"
    assert match.group(1) == table, f"README.md's message map is out of date; paste:\n{table}"
