"""Control commands from the HTTP thread (web.py), carried out on the socket thread.

The HTTP thread never touches the Peer: ``CommandQueue.put`` queues a ``Command`` (bounded)
and wakes the loop through the wake pipe; the loop runs it (``carry_out``) and sets ``done``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from zmqzab.server.wake import WakePipe

if TYPE_CHECKING:
    from zmqzab.server.node import Node

#: Control commands from the HTTP thread waiting for the loop.
COMMANDS_MAX = 64


class Command:
    """One request from the HTTP thread, carried out on the socket thread."""

    __slots__ = ("name", "args", "done", "result", "error")

    def __init__(self, name: str, args: dict[str, Any]) -> None:
        self.name = name
        self.args = args
        self.done = threading.Event()
        self.result: Any = None
        self.error = ""


class CommandQueue:
    def __init__(self, wake: WakePipe) -> None:
        self._wake = wake
        self._queue: deque[Command] = deque()

    def __bool__(self) -> bool:
        return bool(self._queue)

    def put(self, name: str, args: dict[str, Any], timeout: float) -> Command:
        """From the HTTP thread: queue a command for the loop and wait for it (or time out)."""
        cmd = Command(name, args)
        if len(self._queue) >= COMMANDS_MAX:
            cmd.error = "too many control commands waiting; try again"
            return cmd
        self._queue.append(cmd)
        try:
            self._wake.poke(b"c")
        except OSError:
            cmd.error = "node is stopping"
            return cmd
        if not cmd.done.wait(timeout):
            cmd.error = f"the node's loop did not take the command within {timeout:g} s"
        return cmd

    def run(self, carry_out: Callable[[Command], None]) -> None:
        """On the loop: every queued command, each reported done (its error, if it raised)."""
        while self._queue:
            cmd = self._queue.popleft()
            try:
                carry_out(cmd)
            except Exception as exc:  # noqa: BLE001 - reported to the caller, the node goes on
                cmd.error = f"{type(exc).__name__}: {exc}"
            cmd.done.set()


def carry_out(node: Node, cmd: Command) -> None:
    """One command on the socket thread: link faults (partitions) or a forced election."""
    if cmd.name == "faults":
        blocked = set(cmd.args["blocked"]) - {node.id}
        node.transport.faults.set({**cmd.args, "blocked": blocked})
        text = (f"partition: dropping traffic to and from nodes {sorted(blocked)}" if blocked
                else "healed: no traffic dropped")
        if set(cmd.args) != {"blocked"}:  # the chaos nemesis' other link faults
            text += f"; link faults {node.transport.faults.to_json()}"
        node.log.warning(text)
        node.events.add("control", text)
        cmd.result = {"blocked": sorted(blocked)}
    elif cmd.name == "election":
        reason = cmd.args.get("reason") or "forced from the controls"
        node.events.add("control", f"forced election: {reason}")
        node.execute(node.peer.force_election(reason))
        cmd.result = {"role": str(node.peer.role)}
    else:
        cmd.error = f"unknown command {cmd.name!r}"
