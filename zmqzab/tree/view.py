"""The tree and the sessions for the live view (placeholder until the view's own lands)."""

from __future__ import annotations

from zmqzab.tree.sessions import Sessions, fmt_session_id
from zmqzab.tree.tree import DataTree


def tree_view(tree: DataTree, sessions: Sessions, watches_by_path: dict[str, int],
              limit: int = 300) -> dict:
    paths = sorted(tree.nodes)
    return {"znodes": len(paths), "truncated": len(paths) > limit,
            "nodes": [{"path": p, "watches": watches_by_path.get(p, 0)} for p in paths[:limit]]}


def sessions_view(sessions: Sessions, expiry: dict[int, int] | None) -> list[dict]:
    return [{"id": fmt_session_id(r.session_id), "timeout_ms": r.timeout_ms,
             "expires_in_ms": None if expiry is None else expiry.get(r.session_id)}
            for r in sessions.open_sessions()]
