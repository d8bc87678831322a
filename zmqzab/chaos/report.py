"""The chaos timeline as one self-contained HTML file a teacher can show.

One lane per client; requests as bars coloured by outcome (runs of ok requests merged so the
file stays small); fault periods shaded across every lane with their kind; leader changes as
vertical lines labelled with the new leader and epoch.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from zmqzab.chaos.history import OK, Request

COLOURS = {"ok": "#2e9d4f", "failed": "#e69b00", "unknown": "#d62f2f"}
FAULT_COLOURS = {"kill": "#f4c7c3", "kill_leader": "#f4b4ae", "kill_two": "#efa39c", "pause": "#fce8b2",
                 "pause_leader": "#f9d97c", "isolate_leader": "#c6dafc", "split": "#b3cdfa", "bridge": "#d7c7f5"}
MERGE_GAP_S = 0.05


def _runs(reqs: list[Request]) -> list[tuple[float, float, str, str]]:
    runs: list[tuple[float, float, str, str]] = []
    for r in reqs:
        end = r.completed if r.completed is not None else r.invoked
        label = f"{r.client_id} #{r.seq} {r.kind} {r.value if r.value is not None else ''}: {r.outcome}" + \
            (f" at zxid {r.zxid >> 32}:{r.zxid & 0xFFFFFFFF}" if r.zxid is not None else "") + \
            f" ({', '.join(r.attempts)})"
        if r.outcome == OK and runs and runs[-1][2] == OK and r.invoked - runs[-1][1] < MERGE_GAP_S:
            start, _, _, first = runs[-1]
            runs[-1] = (start, end, OK, first.split(" … ")[0] + " … " + label)
        else:
            runs.append((r.invoked, end, r.outcome, label))
    return runs


def write_html(path: Path, doc: dict, history: list[Request]) -> None:
    duration = max([doc["duration_s"]] + [r.completed or 0 for r in history])
    lanes = sorted({r.lane for r in history})
    width, left, lane_h, top = 1400, 90, 34, 40
    height = top + lane_h * max(len(lanes), 1) + 30
    x = lambda t: left + (width - left - 20) * t / duration  # noqa: E731
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif">']
    for f in doc["faults"]:
        end = f["end"] if f["end"] is not None else duration
        colour = FAULT_COLOURS.get(f["kind"], "#ddd")
        parts.append(f'<rect x="{x(f["start"]):.1f}" y="{top - 20}" width="{max(x(end) - x(f["start"]), 1):.1f}" '
                     f'height="{height - top}" fill="{colour}"><title>{html.escape(f["kind"])}: '
                     f'{html.escape(f["detail"])} ({f["start"]:.2f}s to {end:.2f}s)</title></rect>')
        parts.append(f'<text x="{x(f["start"]) + 2:.1f}" y="{top - 8}" font-size="11">{html.escape(f["kind"])}</text>')
    for k, lane in enumerate(lanes):
        y = top + k * lane_h
        parts.append(f'<text x="6" y="{y + 20}" font-size="13">client {lane}</text>')
        for start, end, outcome, label in _runs([r for r in history if r.lane == lane]):
            parts.append(f'<rect x="{x(start):.1f}" y="{y + 6}" width="{max(x(end) - x(start), 1.5):.1f}" height="20" '
                         f'fill="{COLOURS[outcome]}"><title>{html.escape(label[:400])}</title></rect>')
    for c in doc["leader_changes"]:
        if c["leader"] is None:
            continue
        parts.append(f'<line x1="{x(c["t"]):.1f}" x2="{x(c["t"]):.1f}" y1="{top - 20}" y2="{height - 20}" '
                     f'stroke="#222" stroke-dasharray="4 3"/>')
        parts.append(f'<text x="{x(c["t"]) + 3:.1f}" y="{height - 6}" font-size="12">n{c["leader"]} e{c["epoch"]}</text>')
    parts.append("</svg>")
    stats = doc["stats"]
    verdict = "every check holds" if doc["verdict"] == "ok" else "; ".join(
        ([] if stats.get("converged", True) else ["the cluster did NOT converge after healing"])
        + (["VIOLATIONS: " + "; ".join(f'{v["prop"]}: {v["detail"]}' for v in doc["violations"])]
           if doc["violations"] else []))
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>zmqzab chaos, seed {doc["seed"]}</title>
<style>body{{font-family:sans-serif;margin:24px;color:#111}} .ok{{color:#2e9d4f}} .bad{{color:#d62f2f}}
td{{padding:2px 12px 2px 0}} .legend span{{display:inline-block;width:14px;height:14px;margin:0 4px 0 14px;vertical-align:middle}}</style>
</head><body>
<h1>zmqzab chaos run, seed {doc["seed"]}</h1>
<p class="{'ok' if doc['verdict'] == 'ok' else 'bad'}"><b>Verdict: {html.escape(verdict)}</b></p>
<table><tr><td>requests</td><td>{stats["requests"]} (ok {stats["ok"]}, failed {stats["failed"]}, unknown {stats["unknown"]})</td></tr>
<tr><td>faults</td><td>{stats["faults"]}: {html.escape(json.dumps({k: v for k, v in stats["faults_by_kind"].items() if v}))}; partitions by {html.escape(stats["partitions_by"])}</td></tr>
<tr><td>elections</td><td>{stats["elections"]}; syncs {html.escape(json.dumps(stats["syncs_by_mode"]))}</td></tr>
<tr><td>longest without a committed write</td><td>{stats["longest_unavailable_s"]:.2f}s</td></tr></table>
<p class="legend">requests:<span style="background:{COLOURS['ok']}"></span>ok<span style="background:{COLOURS['failed']}"></span>failed (refused)
<span style="background:{COLOURS['unknown']}"></span>unknown (no answer) &nbsp; shaded: fault periods; dashed lines: a new leader (node, epoch). Hover for details.</p>
{''.join(parts)}
<p>Reproduce: <code>{html.escape(doc["reproduce"])}</code></p>
</body></html>"""
    path.write_text(body)
