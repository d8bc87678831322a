"""What a chaos client records about every request it makes."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

OK, FAILED, UNKNOWN = "ok", "failed", "unknown"


@dataclass
class Request:
    """One client request, from invocation to its outcome.

    ``outcome``: ok (answered as committed, with ``zxid`` and ``result``), failed (every attempt
    was refused before anything was proposed: it must not be in the log), unknown (some attempt
    got no answer: it may or may not be in the log, at most once).
    Times are seconds since the run started (one monotonic clock for every client).
    """

    lane: int
    client_id: str
    seq: int
    kind: str  # "guess" or "new_game"
    value: int | None
    invoked: float
    completed: float | None = None
    outcome: str = UNKNOWN
    zxid: int | None = None
    node: int | None = None
    result: dict[str, Any] | None = None
    attempts: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, int]:
        return (self.client_id, self.seq)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
