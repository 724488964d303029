"""The demo's traces: spans the functions wrote (``CIEVENTS_TRACING=file:…``), as a tree.

:func:`richest` picks the trace that reached the most functions (one build's
path: ingest, every function that acted on it, each outgoing call);
:func:`render` draws it, children indented under their parent.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

__all__ = ["load", "render", "richest"]


def load(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def richest(spans: list[dict[str, Any]]) -> str | None:
    """The trace id with the most distinct services (ties: the most spans)."""
    by_trace: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for span in spans:
        by_trace[span["trace_id"]].append(span)
    if not by_trace:
        return None
    return max(
        by_trace, key=lambda t: (len({s["service"] for s in by_trace[t]}), len(by_trace[t]), t)
    )


def render(spans: list[dict[str, Any]], trace_id: str) -> str:
    mine = sorted((s for s in spans if s["trace_id"] == trace_id), key=lambda s: s["start_ns"])
    ids = {s["span_id"] for s in mine}
    children: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for span in mine:
        parent = span["parent_id"] if span["parent_id"] in ids else None
        children[parent].append(span)
    lines = [f"trace {trace_id}: {len(mine)} spans, {len({s['service'] for s in mine})} services"]

    def walk(parent: str | None, depth: int) -> None:
        for span in children.get(parent, []):
            took = (span["end_ns"] - span["start_ns"]) / 1e6
            url = span["attributes"].get("url.full", "")
            lines.append(
                f"{'  ' * (depth + 1)}{span['service']}: {span['name']} "
                f"[{span['kind']}] {took:.1f} ms" + (f" {url}" if url else "")
            )
            walk(span["span_id"], depth + 1)

    walk(None, 0)
    return "\n".join(lines)
