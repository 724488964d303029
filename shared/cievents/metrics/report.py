"""The build-health views as an HTML page with charts, readable without a cloud account.

One section per pipeline: success rate and p95 duration per day as inline
SVG line charts, and the day-by-day table under them; DORA figures for the
deploy pipelines at the top. Self-contained: no script, no external asset.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

WIDTH, HEIGHT, PAD = 560, 160, 30


def _chart(
    title: str,
    points: Sequence[tuple[str, float | None]],
    unit: str,
    fixed_max: float | None = None,
) -> str:
    values = [v for _, v in points if v is not None]
    if not values:
        return f"<p class=empty>{html.escape(title)}: no data</p>"
    top = fixed_max if fixed_max is not None else max(values) * 1.1 or 1.0
    step = (WIDTH - 2 * PAD) / max(1, len(points) - 1)
    coords = [
        (PAD + i * step, HEIGHT - PAD - (v / top) * (HEIGHT - 2 * PAD))
        for i, (_, v) in enumerate(points)
        if v is not None
    ]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"/>' for x, y in coords)
    first, last = html.escape(points[0][0]), html.escape(points[-1][0])
    return (
        f"<figure><figcaption>{html.escape(title)}</figcaption>"
        f'<svg width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{html.escape(title)}">'
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" class=axis />'
        f'<text x="{PAD}" y="{HEIGHT - 8}">{first}</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}" text-anchor="end">{last}</text>'
        f'<text x="4" y="{PAD}">{top:.0f}{unit}</text>'
        f'<polyline points="{line}" />{dots}</svg></figure>'
    )


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return html.escape("" if value is None else str(value))


def render(
    health: Sequence[dict[str, Any]], dora: Sequence[dict[str, Any]], compliance: str = ""
) -> str:
    """The page; ``compliance`` is the section ``compliance_section`` rendered, if any."""
    by_pipeline: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in sorted(health, key=lambda r: (r["pipeline"], str(r["day"]))):
        by_pipeline[row["pipeline"]].append(row)
    parts = [
        "<!doctype html><meta charset=utf-8><title>Build health</title><style>",
        "body{font:14px system-ui,sans-serif;margin:2em;max-width:64em}"
        "svg polyline{fill:none;stroke:#1d9bd1;stroke-width:2}svg circle{fill:#1d9bd1}"
        "svg text{font-size:11px;fill:#555}.axis{stroke:#ccc}"
        "figure{display:inline-block;margin:0 1em 1em 0}table{border-collapse:collapse}"
        "td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:right}",
        "</style><h1>Build health</h1>",
    ]
    if dora:
        parts.append(
            "<h2>DORA (deploy pipelines)</h2><table><tr><th>pipeline</th><th>deployments</th>"
            "<th>per day</th><th>lead time h</th><th>change failure rate</th>"
            "<th>time to restore h</th></tr>"
        )
        for row in dora:
            parts.append(
                "<tr>"
                + "".join(
                    f"<td>{_cell(row.get(k))}</td>"
                    for k in (
                        "pipeline",
                        "deployments",
                        "deployments_per_day",
                        "lead_time_hours",
                        "change_failure_rate",
                        "time_to_restore_hours",
                    )
                )
                + "</tr>"
            )
        parts.append("</table>")
    if not by_pipeline:
        parts.append("<p>No finished builds recorded yet.</p>")
    for pipeline, rows in by_pipeline.items():
        days = [str(r["day"]) for r in rows]
        parts.append(f"<h2>{html.escape(pipeline)}</h2>")
        parts.append(
            _chart(
                "success rate",
                [
                    (d, (r["success_rate"] or 0) * 100 if r["success_rate"] is not None else None)
                    for d, r in zip(days, rows, strict=True)
                ],
                "%",
                fixed_max=100,
            )
        )
        parts.append(
            _chart(
                "p95 duration", [(d, r["p95_run_s"]) for d, r in zip(days, rows, strict=True)], " s"
            )
        )
        parts.append(
            "<table><tr><th>day</th><th>builds</th><th>passed</th><th>failed</th><th>success</th>"
            "<th>p50 s</th><th>p95 s</th><th>p95 wait s</th><th>flaky</th></tr>"
        )
        for row in rows:
            parts.append(
                "<tr>"
                + "".join(
                    f"<td>{_cell(row.get(k))}</td>"
                    for k in (
                        "day",
                        "builds",
                        "passed",
                        "failed",
                        "success_rate",
                        "p50_run_s",
                        "p95_run_s",
                        "p95_wait_s",
                        "flaky",
                    )
                )
                + "</tr>"
            )
        parts.append("</table>")
    parts.append(compliance)
    return "".join(parts)


def quarter_bounds(now: datetime) -> tuple[datetime, datetime, str]:
    """The calendar quarter before the one ``now`` is in: [start, end) and its label."""
    quarter = (now.month - 1) // 3
    year, previous = (now.year, quarter - 1) if quarter else (now.year - 1, 3)
    start = datetime(year, previous * 3 + 1, 1, tzinfo=UTC)
    end = datetime(now.year, quarter * 3 + 1, 1, tzinfo=UTC)
    return start, end, f"{year}-Q{previous + 1}"


def compliance_section(
    latest: Sequence[dict[str, Any]], merges: Sequence[dict[str, Any]], quarter: str
) -> str:
    """Open pull requests by verdict, and the merges of ``quarter`` that were not compliant."""
    open_rows = [r for r in latest if r.get("pr_state") == "open"]
    failing = sum(1 for r in open_rows if not r.get("passed"))
    parts = [
        "<h2>Compliance</h2>",
        f"<p>{len(open_rows)} open pull request(s) evaluated, {failing} not compliant.</p>",
        f"<h3>Merges in {html.escape(quarter)} that were not compliant</h3>",
    ]
    if not merges:
        parts.append("<p>None.</p>")
        return "".join(parts)
    columns = (
        "repository",
        "pull_request",
        "target_branch",
        "author",
        "merged_at",
        "failed_checks",
    )
    parts.append("<table><tr>" + "".join(f"<th>{c}</th>" for c in columns) + "</tr>")
    for row in merges:
        cells = []
        for c in columns:
            text = _cell(row.get(c))
            if c == "pull_request" and row.get("url"):
                text = f'<a href="{html.escape(str(row["url"]))}">{text}</a>'
            cells.append(f"<td>{text}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table>")
    return "".join(parts)
