"""``cievents report``: build health and DORA as one self-contained HTML page.

``collect(store, now, days)`` reads a window of the metrics database (the ``build_health``
and ``builds_latest`` views, the ``jobs`` table) ending at ``now`` (time is an input);
``render(report)`` draws it:

- DORA tiles per deploy pipeline (deployment frequency, lead time for changes, change
  failure rate, time to restore), each with the performance level of the DORA 2024
  Accelerate State of DevOps report its value falls in, or a sentence saying why the value
  cannot be computed; and the deployments per day with the failed ones marked;
- per-pipeline small multiples with dated axes: success rate, the p50–p95 band of build
  duration, builds per day;
- a table per pipeline (the worst week, the p95 trend), and the flaky jobs (failed, then
  passed on retry);
- the compliance section, when given.

Inline SVG and CSS only: no script, no font, no request of any kind (``--serve`` adds its
own reload script). Light and dark (``prefers-color-scheme``) and a print layout.
"""

from __future__ import annotations

import html
import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = [
    "DORA_SOURCE",
    "Report",
    "Tile",
    "collect",
    "compliance_section",
    "dora_tiles",
    "page",
    "quarter_bounds",
    "render",
]

DORA_SOURCE = "DORA, Accelerate State of DevOps Report 2024: software delivery performance levels"
HOUR, DAY = 3600.0, 86400.0


@dataclass
class Tile:
    metric: str
    value: str | None  # None: not computable, ``why`` says why
    band: str | None = None  # elite / high / medium / low
    detail: str = ""
    why: str = ""


@dataclass
class Report:
    start: date
    end: date
    generated: datetime
    source: str
    health: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    deploys: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    first_built: dict[str, datetime] = field(default_factory=dict)
    flaky: list[dict[str, Any]] = field(default_factory=list)
    older: int = 0
    newest: date | None = None
    compliance: str = ""
    live: bool = False

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def collect(store: Any, now: datetime, days: int = 60, source: str = "") -> Report:
    """The window of ``days`` days ending today (``now``'s UTC date) from ``store``."""
    end = now.astimezone(UTC).date()
    start = end - timedelta(days=days - 1)
    report = Report(start=start, end=end, generated=now, source=source)
    since = datetime(start.year, start.month, start.day, tzinfo=UTC)
    for row in store.query(
        "SELECT * FROM build_health WHERE day >= ? AND day <= ? ORDER BY pipeline, day",
        [start, end],
    ):
        report.health.setdefault(row["pipeline"], []).append(row)
    deploys = store.query(
        "SELECT pipeline, build_id, number, commit, state, created_at, finished_at, url "
        "FROM builds_latest WHERE is_deploy AND state IN ('passed', 'failed') "
        "AND finished_at >= ? ORDER BY pipeline, finished_at",
        [since],
    )
    for row in deploys:
        report.deploys.setdefault(row["pipeline"], []).append(row)
    commits = sorted({str(r["commit"]) for r in deploys if r["commit"]})
    if commits:
        marks = ", ".join("?" for _ in commits)
        for row in store.query(
            f"SELECT commit, MIN(created_at) AS first FROM builds_latest "  # noqa: S608
            f"WHERE commit IN ({marks}) GROUP BY commit",
            commits,
        ):
            if row["first"] is not None:
                report.first_built[row["commit"]] = row["first"]
    report.flaky = store.query(
        "SELECT j.pipeline, j.name, COUNT(DISTINCT j.build_id) AS builds, "
        "COUNT(DISTINCT CASE WHEN j.retried AND j.state = 'failed' AND b.state = 'passed' "
        "THEN j.build_id END) AS flaky, "
        "COUNT(DISTINCT CASE WHEN NOT COALESCE(j.retried, FALSE) AND j.state = 'failed' "
        "THEN j.build_id END) AS failed, "
        "MAX(CASE WHEN j.retried AND j.state = 'failed' THEN j.finished_at END) AS last_flake "
        "FROM jobs AS j JOIN builds_latest AS b USING (build_id) "
        "WHERE j.finished_at >= ? GROUP BY j.pipeline, j.name "
        "HAVING COUNT(DISTINCT CASE WHEN j.retried AND j.state = 'failed' "
        "AND b.state = 'passed' THEN j.build_id END) > 0 "
        "ORDER BY flaky * 1.0 / builds DESC, flaky DESC LIMIT 15",
        [since],
    )
    (outside,) = store.query(
        "SELECT COUNT(*) AS older, MAX(DATE(finished_at)) AS newest FROM builds_latest "
        "WHERE finished_at < ? OR finished_at >= ?",
        [since, since + timedelta(days=days)],
    )
    report.older = int(outside["older"] or 0)
    (newest,) = store.query("SELECT MAX(DATE(finished_at)) AS newest FROM builds_latest")
    report.newest = newest["newest"]
    return report


# --- DORA -------------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * HOUR:
        return f"{seconds / HOUR:.1f} h"
    return f"{seconds / DAY:.1f} days"


def _frequency_band(per_day: float) -> str | None:
    # 2024: elite on demand (multiple deploys per day); high between once per day and once
    # per week; medium between once per week and once per month; low between once per
    # month and once every six months.
    if per_day >= 1:
        return "elite"
    if per_day >= 1 / 7:
        return "high"
    if per_day >= 1 / 30:
        return "medium"
    if per_day >= 1 / 182:
        return "low"
    return None


def _lead_band(seconds: float) -> str | None:
    # 2024: elite less than one day; high one day to one week; medium one week to one
    # month; low one month to six months.
    for band, limit in (("elite", DAY), ("high", 7 * DAY), ("medium", 30 * DAY)):
        if seconds < limit:
            return band
    return "low" if seconds < 182 * DAY else None


# 2024: the change failure rate of each cluster is one typical value, and they are not in
# order (high 20 % above medium 10 %), so a rate takes the level whose value is nearest.
CFR_LEVELS = (("elite", 0.05), ("medium", 0.10), ("high", 0.20), ("low", 0.40))


def _failure_band(rate: float) -> str:
    return min(CFR_LEVELS, key=lambda level: abs(level[1] - rate))[0]


def _restore_band(seconds: float) -> str:
    # 2024: elite less than one hour; high and medium less than one day; low between one
    # week and one month (a day to a week lies between medium and low: shown as low).
    if seconds < HOUR:
        return "elite"
    if seconds < DAY:
        return "high"
    return "low"


def _median_tile(
    metric: str, seconds: Sequence[float], band: Callable[[float], str | None], over: str
) -> Tile:
    median = statistics.median(seconds)
    return Tile(metric, _duration(median), band(median), f"median over {len(seconds)} {over}")


def dora_tiles(
    deploys: Sequence[dict[str, Any]], first_built: dict[str, datetime], days: int
) -> list[Tile]:
    """The four DORA figures of one deploy pipeline over a window of ``days`` days."""
    passed = [d for d in deploys if d["state"] == "passed"]
    failed = [d for d in deploys if d["state"] == "failed"]
    tiles = []
    per_day = len(passed) / days
    if passed:
        value = f"{per_day:.1f} / day" if per_day >= 1 else f"{per_day * 7:.1f} / week"
        tiles.append(
            Tile(
                "Deployment frequency",
                value,
                _frequency_band(per_day),
                f"{len(passed)} successful deployments in {days} days",
            )
        )
    else:
        tiles.append(
            Tile(
                "Deployment frequency",
                None,
                why=f"No deployment succeeded in the {days} days shown, so there is "
                "nothing to count.",
            )
        )
    leads = [
        (d["finished_at"] - first_built[d["commit"]]).total_seconds()
        for d in passed
        if d["commit"] in first_built and d["finished_at"] is not None
    ]
    if leads:
        tiles.append(
            _median_tile(
                "Lead time for changes",
                leads,
                _lead_band,
                "deployments, from the commit's first CI build",
            )
        )
    else:
        why = (
            "No deployment succeeded in the window."
            if not passed
            else f"None of the {len(passed)} deployed commits has a build time recorded, "
            "so the time from commit to production is unknown."
        )
        tiles.append(Tile("Lead time for changes", None, why=why))
    if deploys:
        rate = len(failed) / len(deploys)
        tiles.append(
            Tile(
                "Change failure rate",
                f"{rate:.0%}",
                _failure_band(rate),
                f"{len(failed)} of {len(deploys)} deployments failed",
            )
        )
    else:
        tiles.append(
            Tile(
                "Change failure rate",
                None,
                why="No deployment finished in the window, so no rate can be taken.",
            )
        )
    restores = []
    ordered = sorted(deploys, key=lambda d: d["finished_at"])
    for index, deploy in enumerate(ordered):
        if deploy["state"] != "failed":
            continue
        later = next((d for d in ordered[index + 1 :] if d["state"] == "passed"), None)
        if later is not None:
            restores.append((later["finished_at"] - deploy["finished_at"]).total_seconds())
    if restores:
        tiles.append(
            _median_tile(
                "Time to restore",
                restores,
                _restore_band,
                "failed deployments, to the next successful one",
            )
        )
    elif failed:
        tiles.append(
            Tile(
                "Time to restore",
                None,
                why=f"{len(failed)} deployment(s) failed and none has succeeded since: "
                "the service is not restored yet.",
            )
        )
    else:
        tiles.append(
            Tile(
                "Time to restore",
                None,
                why="No deployment failed in the window, so there was nothing to restore.",
            )
        )
    return tiles


# --- charts -----------------------------------------------------------------------------

W, H = 380, 150
LEFT, RIGHT, TOP, BOTTOM = 46, 18, 10, 24
WIDE = 760  # the deployments chart, beside its incident table


def _nice_step(top: float, ticks: int = 4) -> float:
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def _axes(
    days: Sequence[date],
    top: float,
    label: Callable[[float], str],
    step: float | None = None,
    full: int = W,
) -> tuple[list[str], Callable[[int], float], Callable[[float], float]]:
    width, height = full - LEFT - RIGHT, H - TOP - BOTTOM
    span = max(1, len(days) - 1)

    def x(i: int) -> float:
        return LEFT + width * i / span

    def y(v: float) -> float:
        return TOP + height * (1 - v / top)

    step = step or _nice_step(top)
    parts = []
    tick = 0.0
    while tick <= top + 1e-9:
        parts.append(
            f'<line class=grid x1="{LEFT}" x2="{full - RIGHT}" y1="{y(tick):.1f}" '
            f'y2="{y(tick):.1f}"/>'
            f'<text class=ylab x="{LEFT - 4}" y="{y(tick) + 3.5:.1f}" text-anchor=end>'
            f"{html.escape(label(tick))}</text>"
        )
        tick += step
    mondays = [i for i, d in enumerate(days) if d.weekday() == 0]
    every = 2 if len(days) * W / full > 35 else 1
    for n, i in enumerate(mondays):
        parts.append(
            f'<line class=tick x1="{x(i):.1f}" x2="{x(i):.1f}" y1="{H - BOTTOM}" '
            f'y2="{H - BOTTOM + 3}"/>'
        )
        if n % every == 0:
            parts.append(
                f'<text class=xlab x="{x(i):.1f}" y="{H - 6}" text-anchor=middle>'
                f"{days[i].day} {days[i]:%b}</text>"
            )
    parts.append(
        f'<line class=axis x1="{LEFT}" x2="{full - RIGHT}" y1="{H - BOTTOM}" '
        f'y2="{H - BOTTOM}"/>'
    )
    return parts, x, y


def _svg(title: str, body: Sequence[str], points: int, full: int = W) -> str:
    return (
        f'<svg class=chart viewBox="0 0 {full} {H}" width="{full}" height="{H}" role=img '
        f'aria-label="{html.escape(title)}" data-points="{points}">'
        f"<title>{html.escape(title)}</title>{''.join(body)}</svg>"
    )


def _segments(coords: Sequence[tuple[float, float] | None]) -> list[str]:
    """Polyline point lists, broken where a day has no value."""
    runs: list[list[tuple[float, float]]] = [[]]
    for point in coords:
        if point is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(point)
    return [" ".join(f"{a:.1f},{b:.1f}" for a, b in run) for run in runs if run]


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def success_chart(pipeline: str, days: Sequence[date], rows: Sequence[dict[str, Any]]) -> str:
    by_day = {r["day"]: r for r in rows}
    parts, x, y = _axes(days, 100, lambda v: f"{v:.0f}%", 25)
    coords: list[tuple[float, float] | None] = []
    dots = []
    for i, d in enumerate(days):
        row = by_day.get(d)
        if row is None or row["success_rate"] is None:
            coords.append(None)
            continue
        value = row["success_rate"] * 100
        coords.append((x(i), y(value)))
        few = row["passed"] + row["failed"] < 3  # a quiet day: drawn hollow, says so
        kind = "pt" + (" low" if value < 80 else "") + (" few" if few else "")
        dots.append(
            f'<circle class="{kind}" cx="{x(i):.1f}" cy="{y(value):.1f}" r="2.2">'
            f"<title>{d}: {value:.0f}% of {row['passed']} + {row['failed']} finished builds"
            f"{' (too few to read much into)' if few else ''}</title></circle>"
        )
    lines = [f'<polyline class=line points="{s}"/>' for s in _segments(coords)]
    return _svg(f"{pipeline}: success rate per day", parts + lines + dots, len(dots))


def duration_chart(pipeline: str, days: Sequence[date], rows: Sequence[dict[str, Any]]) -> str:
    by_day = {r["day"]: r for r in rows if r["p95_run_s"] is not None}
    top = max((r["p95_run_s"] for r in by_day.values()), default=60.0) * 1.1 or 60.0
    step = _nice_step(top / 60) * 60 if top >= 240 else _nice_step(top)
    parts, x, y = _axes(days, top, _minutes, step)
    bands, p95, p50, dots = [], [], [], []
    run: list[tuple[int, dict[str, Any]]] = []
    for i, d in enumerate([*days, None]):
        row = by_day.get(d) if d is not None else None
        if row is not None:
            run.append((i, row))
            continue
        if run:  # close one band: p95 left to right, then p50 back
            upper = [f"{x(j):.1f},{y(r['p95_run_s']):.1f}" for j, r in run]
            lower = [f"{x(j):.1f},{y(r['p50_run_s'] or 0):.1f}" for j, r in reversed(run)]
            bands.append(f'<polygon class=band points="{" ".join(upper + lower)}"/>')
            p95.append(f'<polyline class=line points="{" ".join(upper)}"/>')
            p50.append(f'<polyline class="line p50" points="{" ".join(reversed(lower))}"/>')
            run = []
    for i, d in enumerate(days):
        row = by_day.get(d)
        if row is not None:
            dots.append(
                f'<circle class=pt cx="{x(i):.1f}" cy="{y(row["p95_run_s"]):.1f}" r="1.8">'
                f"<title>{d}: p50 {_minutes(row['p50_run_s'] or 0)}, p95 "
                f"{_minutes(row['p95_run_s'])} ({row['builds']} builds)</title></circle>"
            )
    return _svg(
        f"{pipeline}: build duration p50 to p95 per day",
        parts + bands + p50 + p95 + dots,
        len(dots),
    )


def volume_chart(
    title: str,
    days: Sequence[date],
    counts: dict[date, tuple[int, int]],
    ok: str = "builds",
    bad: str = "failed",
    full: int = W,
) -> str:
    """Bars per day: ``counts[day] = (good, bad)``, the bad part stacked on top in red."""
    top = max((a + b for a, b in counts.values()), default=1) * 1.15 or 1
    step = max(1, round(_nice_step(top)))
    parts, x, y = _axes(days, top, lambda v: f"{v:.0f}", step, full)
    width = max(1.5, (full - LEFT - RIGHT) / max(1, len(days)) - 1.5)
    bars = []
    for i, d in enumerate(days):
        good, failed = counts.get(d, (0, 0))
        if not good and not failed:
            continue
        left = x(i) - width / 2
        tip = f"<title>{d}: {good} {ok}, {failed} {bad}</title>"
        bars.append(
            f'<rect class="pt bar" x="{left:.1f}" y="{y(good):.1f}" width="{width:.1f}" '
            f'height="{y(0) - y(good):.1f}">{tip}</rect>'
        )
        if failed:
            bars.append(
                f'<rect class="pt bar bad" x="{left:.1f}" y="{y(good + failed):.1f}" '
                f'width="{width:.1f}" height="{y(good) - y(good + failed):.1f}">{tip}</rect>'
            )
    return _svg(title, parts + bars, len(bars), full)


# --- the page ---------------------------------------------------------------------------

STYLE = """
:root{color-scheme:light dark;--bg:#fff;--fg:#1f2328;--muted:#59636e;--grid:#e4e8ec;
--axis:#8c959f;--line:#0969da;--band:rgba(9,105,218,.16);--bar:#8fb8e8;--bad:#cf222e;
--card:#f6f8fa;--border:#d1d9e0;--elite:#1a7f37;--high:#0969da;--medium:#9a6700;--low:#cf222e}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;
--grid:#262c36;--axis:#656c76;--line:#4493f8;--band:rgba(68,147,248,.22);--bar:#2f5f9e;
--bad:#f85149;--card:#161b22;--border:#3d444d;--elite:#3fb950;--high:#4493f8;
--medium:#d29922;--low:#f85149}}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;padding:24px;
max-width:1240px;background:var(--bg);color:var(--fg)}
h1{font-size:26px;margin:0}h2{font-size:19px;margin:28px 0 8px;border-bottom:1px solid
var(--border);padding-bottom:4px}h3{font-size:15px;margin:14px 0 6px}
.sub,.note,figcaption,.why{color:var(--muted)}.note{font-size:13px}
.grid{stroke:var(--grid);stroke-width:1}.axis{stroke:var(--axis)}.tick{stroke:var(--axis)}
svg text{font-size:10px;fill:var(--muted)}
.line{fill:none;stroke:var(--line);stroke-width:1.6}.p50{stroke-dasharray:3 2;opacity:.8}
.band{fill:var(--band);stroke:none}.pt{fill:var(--line)}.pt.low{fill:var(--bad)}
.pt.few{fill:var(--bg);stroke:var(--line);stroke-width:1.2}.pt.few.low{stroke:var(--bad)}
.bar{fill:var(--bar)}.bar.bad{fill:var(--bad)}
.multiples{display:grid;grid-template-columns:repeat(auto-fill,minmax(390px,1fr));gap:8px 16px}
figure{margin:0;break-inside:avoid}figcaption{font-size:13px;font-weight:600;color:var(--fg)}
svg.chart{width:100%;height:auto;max-width:520px;display:block}
.deploy svg.chart{max-width:900px}td.when{white-space:nowrap}.deploy table{font-size:13px}
.tiles{display:grid;grid-template-columns:repeat(4,minmax(0,1fr));gap:10px;margin:6px 0 10px}
.tile{background:var(--card);border:1px solid var(--border);border-left:5px solid
var(--border);border-radius:6px;padding:10px 12px;break-inside:avoid}
.tile .metric{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.tile .value{font-size:26px;font-weight:650;margin:2px 0}
.tile .band{display:inline-block;font-size:12px;font-weight:650;padding:1px 8px;
border-radius:10px;color:#fff;text-transform:capitalize}
.tile .why{font-size:13px;margin-top:6px}.tile .detail{font-size:12px;color:var(--muted)}
.tile.elite{border-left-color:var(--elite)}.band.elite{background:var(--elite)}
.tile.high{border-left-color:var(--high)}.band.high{background:var(--high)}
.tile.medium{border-left-color:var(--medium)}.band.medium{background:var(--medium)}
.tile.low{border-left-color:var(--low)}.band.low{background:var(--low)}
.deploy{display:grid;grid-template-columns:minmax(0,2.4fr) minmax(370px,1fr);gap:16px;
align-items:start}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
td,th{padding:3px 10px;border-bottom:1px solid var(--border);text-align:right}
th{font-weight:600;color:var(--muted)}td:first-child,th:first-child,td.name{text-align:left}
.bad-text{color:var(--bad);font-weight:600}a{color:var(--line)}
.live{position:fixed;top:8px;right:12px;font-size:12px;color:var(--muted)}
@media (max-width:900px){.tiles{grid-template-columns:repeat(2,minmax(0,1fr))}
.deploy{grid-template-columns:1fr}}
@media print{:root{color-scheme:light;--bg:#fff;--fg:#000;--muted:#444;--card:#fff;
--grid:#ddd;--line:#0550ae;--band:rgba(5,80,174,.15);--bar:#9cbfe6}
body{max-width:none;padding:0;font-size:11px}.live{display:none}
.multiples{grid-template-columns:repeat(3,minmax(0,1fr))}
h2{break-after:avoid}section{break-inside:auto}a{color:inherit;text-decoration:none}
.deploy{grid-template-columns:minmax(0,1.6fr) minmax(0,1fr)}.deploy table{font-size:10px}
@page{size:A4 landscape;margin:12mm}}
"""


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return html.escape("" if value is None else str(value))


def _tile(tile: Tile) -> str:
    if tile.value is None:
        return (
            f'<div class="tile na"><div class=metric>{html.escape(tile.metric)}</div>'
            f"<div class=value>n/a</div><div class=why>{html.escape(tile.why)}</div></div>"
        )
    band = (
        f'<span class="band {tile.band}">{tile.band}</span>'
        if tile.band
        else '<span class="band">below the low level</span>'
    )
    return (
        f'<div class="tile {tile.band or ""}"><div class=metric>{html.escape(tile.metric)}'
        f"</div><div class=value>{html.escape(tile.value)}</div>{band}"
        f"<div class=detail>{html.escape(tile.detail)}</div></div>"
    )


def _dora_section(report: Report) -> list[str]:
    days = report.days
    parts = [
        "<section id=dora><h2>DORA: software delivery of the deploy pipelines</h2>",
        f"<p class=note>Over the {len(days)} days shown. Each value carries the "
        f"performance level it falls in ({html.escape(DORA_SOURCE)}: elite, high, medium, "
        "low). The report gives one typical change failure rate per level, not in order "
        "(elite 5 %, medium 10 %, high 20 %, low 40 %): a rate takes the nearest. Time to "
        "restore: from a failed deployment to the next successful one of the pipeline; "
        "lead time: from the commit's first CI build to the deployment.</p>",
    ]
    if not report.deploys:
        parts.append(
            "<p class=why>No deployment in the window: DORA needs builds of the pipelines "
            "DEPLOY_PIPELINES marks as deploys (default <code>deploy*,*-deploy,*deploy-*"
            "</code>), so none of the four figures can be computed.</p></section>"
        )
        return parts
    for pipeline, deploys in sorted(report.deploys.items()):
        tiles = dora_tiles(deploys, report.first_built, len(days))
        counts: dict[date, tuple[int, int]] = defaultdict(lambda: (0, 0))
        for d in deploys:
            good, bad = counts[d["finished_at"].astimezone(UTC).date()]
            counts[d["finished_at"].astimezone(UTC).date()] = (
                (good + 1, bad) if d["state"] == "passed" else (good, bad + 1)
            )
        incidents = [d for d in deploys if d["state"] == "failed"]
        parts.append(f"<h3>{html.escape(pipeline)}</h3><div class=tiles>")
        parts.extend(_tile(t) for t in tiles)
        parts.append(
            "</div><div class=deploy><figure><figcaption>Deployments per day "
            "(failed in red)</figcaption>"
        )
        parts.append(
            volume_chart(
                f"{pipeline}: deployments per day",
                days,
                dict(counts),
                "succeeded",
                "failed",
                WIDE,
            )
        )
        parts.append("</figure>")
        if incidents:
            parts.append(
                "<table><tr><th>failed deployment</th><th>finished</th><th>restored after"
                "</th></tr>"
            )
            ordered = sorted(deploys, key=lambda d: d["finished_at"])
            for d in sorted(incidents, key=lambda d: d["finished_at"], reverse=True)[:8]:
                later = next(
                    (
                        e
                        for e in ordered
                        if e["finished_at"] > d["finished_at"] and e["state"] == "passed"
                    ),
                    None,
                )
                after = (
                    _duration((later["finished_at"] - d["finished_at"]).total_seconds())
                    if later
                    else "not yet"
                )
                name = f"#{d['number']}"
                if d.get("url"):
                    name = f'<a href="{html.escape(str(d["url"]))}">{name}</a>'
                parts.append(
                    f"<tr><td>{name}</td><td class=when>{d['finished_at']:%a %d %b %H:%M}</td>"
                    f"<td>{after}</td></tr>"
                )
            parts.append("</table>")
        else:
            parts.append("<p class=note>No failed deployment in the window.</p>")
        parts.append("</div>")
    parts.append("</section>")
    return parts


def _worst_week(rows: Sequence[dict[str, Any]]) -> tuple[date, float] | None:
    by_day = {r["day"]: r for r in rows}
    best: tuple[date, float] | None = None
    for start in sorted(by_day):
        week = [
            by_day[start + timedelta(days=i)]
            for i in range(7)
            if start + timedelta(days=i) in by_day
        ]
        passed = sum(r["passed"] for r in week)
        finished = passed + sum(r["failed"] for r in week)
        if finished >= 10 and (best is None or passed / finished < best[1]):
            best = (start, passed / finished)
    return best


def _trend(rows: Sequence[dict[str, Any]]) -> str:
    values = [r["p95_run_s"] for r in rows if r["p95_run_s"] is not None]
    if len(values) < 28:
        return "n/a"
    first = statistics.median(values[:14])
    last = statistics.median(values[-14:])
    change = (last - first) / first if first else 0.0
    return f"{change:+.0%}"


def _pipelines_section(report: Report) -> list[str]:
    days = report.days
    parts = ["<section id=pipelines><h2>Pipelines</h2>"]
    if not report.health:
        parts.append("<p class=why>No finished builds recorded in the window.</p></section>")
        return parts
    parts.append(
        "<table><tr><th>pipeline</th><th>builds</th><th>success</th><th>p50</th>"
        "<th>p95</th><th>flaky builds</th><th>worst week</th><th>p95 trend</th></tr>"
    )
    for pipeline, rows in sorted(report.health.items()):
        builds = sum(r["builds"] for r in rows)
        passed = sum(r["passed"] for r in rows)
        finished = passed + sum(r["failed"] for r in rows)
        rate = f"{passed / finished:.0%}" if finished else "n/a"
        p50 = [r["p50_run_s"] for r in rows if r["p50_run_s"] is not None]
        p95 = [r["p95_run_s"] for r in rows if r["p95_run_s"] is not None]
        worst = _worst_week(rows)
        worst_text = (
            f'<span class="{"bad-text" if worst[1] < 0.8 else ""}">{worst[1]:.0%} in the week '
            f"of {worst[0]:%d %b}</span>"
            if worst
            else "n/a"
        )
        parts.append(
            f"<tr><td class=name>{html.escape(pipeline)}</td><td>{builds}</td><td>{rate}</td>"
            f"<td>{_minutes(statistics.median(p50)) if p50 else 'n/a'}</td>"
            f"<td>{_minutes(statistics.median(p95)) if p95 else 'n/a'}</td>"
            f"<td>{sum(r['flaky'] or 0 for r in rows)}</td><td>{worst_text}</td>"
            f"<td>{_trend(rows)}</td></tr>"
        )
    parts.append(
        "</table><p class=note>p50 and p95: medians of the daily build-duration percentiles; "
        "worst week: the 7 days with the lowest success rate (10 builds or more); p95 trend: "
        "the last 14 days against the first 14. Flaky: passed only after a job was retried."
        "</p>"
    )
    for title, chart in (
        ("Success rate per day", success_chart),
        ("Build duration per day: p50 (dashed) to p95 band", duration_chart),
    ):
        parts.append(f"<h3>{title}</h3>")
        if chart is success_chart:
            parts.append(
                "<p class=note>Red: a day under 80 %. Hollow: a day with fewer than 3 "
                "finished builds (weekends), too few to read much into.</p>"
            )
        parts.append("<div class=multiples>")
        for pipeline, rows in sorted(report.health.items()):
            parts.append(f"<figure><figcaption>{html.escape(pipeline)}</figcaption>")
            parts.append(chart(pipeline, days, rows))
            parts.append("</figure>")
        parts.append("</div>")
    parts.append("<h3>Builds per day (failed in red)</h3><div class=multiples>")
    for pipeline, rows in sorted(report.health.items()):
        counts = {r["day"]: (r["builds"] - r["failed"], r["failed"]) for r in rows}
        parts.append(f"<figure><figcaption>{html.escape(pipeline)}</figcaption>")
        parts.append(volume_chart(f"{pipeline}: builds per day", days, counts))
        parts.append("</figure>")
    parts.append("</div></section>")
    return parts


def _flaky_section(report: Report) -> list[str]:
    parts = ["<section id=flaky><h2>Flaky jobs</h2>"]
    if not report.flaky:
        parts.append(
            "<p class=note>No job failed and then passed on retry in the window.</p></section>"
        )
        return parts
    parts.append(
        "<table><tr><th>pipeline</th><th>job</th><th>builds</th><th>flaky</th>"
        "<th>flake rate</th><th>real failures</th><th>last flake</th></tr>"
    )
    for row in report.flaky:
        last = row["last_flake"]
        parts.append(
            f"<tr><td class=name>{html.escape(row['pipeline'])}</td>"
            f"<td class=name>{html.escape(str(row['name']))}</td><td>{row['builds']}</td>"
            f"<td>{row['flaky']}</td><td>{row['flaky'] / row['builds']:.1%}</td>"
            f"<td>{row['failed']}</td><td>{f'{last:%a %d %b}' if last else ''}</td></tr>"
        )
    parts.append(
        "</table><p class=note>Flaky: the job failed, was retried, and the build passed. "
        "Real failures: builds where the job failed without a retry.</p></section>"
    )
    return parts


def render(report: Report) -> str:
    """The page for ``report`` (``collect``'s result)."""
    days = report.days
    builds = sum(r["builds"] for rows in report.health.values() for r in rows)
    parts = [
        "<!doctype html><html lang=en><meta charset=utf-8>",
        '<meta name=viewport content="width=device-width,initial-scale=1">',
        '<meta name=color-scheme content="light dark">',
        '<link rel=icon href="data:,">',  # no favicon request, served or not
        f"<title>Build health, {report.start:%d %b} to {report.end:%d %b %Y}</title>",
        f"<style>{STYLE}</style>",
        "<h1>Build health</h1>",
        f"<p class=sub>{len(days)} days, {report.start:%a %d %b} to {report.end:%a %d %b %Y} "
        f"(UTC): {builds} builds in {len(report.health)} pipelines. Generated "
        f"{report.generated:%Y-%m-%d %H:%M} UTC"
        + (f" from {html.escape(report.source)}" if report.source else "")
        + ".</p>",
    ]
    if report.older:
        parts.append(
            f"<p class=note>{report.older} build(s) finished outside these {len(days)} days "
            f"and are not shown (the newest build finished on {report.newest}; "
            "<code>--days</code> widens the window).</p>"
        )
    parts += _dora_section(report)
    parts += _pipelines_section(report)
    parts += _flaky_section(report)
    parts.append(report.compliance)
    parts.append(f"<p class=note>Performance levels: {html.escape(DORA_SOURCE)}.</p></html>")
    return "".join(parts)


def page(db: str | Path, days: int = 60, read_only: bool = False) -> str:
    """The whole page drawn now from the DuckDB metrics database at ``db``: the window of
    ``days`` days ending today, and the compliance section. ``read_only``: leave the file
    untouched (its views must exist: any earlier open that was not read-only made them)."""
    from cievents import clock
    from cievents.metrics.duckdb_store import DuckDBStore

    store = DuckDBStore(db, read_only=read_only)
    now = clock.now_utc()
    start, end, quarter = quarter_bounds(now)
    report = collect(store, now, days, source=str(db))
    report.compliance = compliance_section(
        store.query("SELECT * FROM compliance_latest ORDER BY repository, pull_request"),
        store.query(
            "SELECT * FROM noncompliant_merges WHERE merged_at >= ? AND merged_at < ? "
            "ORDER BY target_branch, merged_at",
            [start, end],
        ),
        quarter,
    )
    return render(report)


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
        "<section id=compliance><h2>Compliance</h2>",
        f"<p>{len(open_rows)} open pull request(s) evaluated, {failing} not compliant.</p>",
        f"<h3>Merges in {html.escape(quarter)} that were not compliant</h3>",
    ]
    if not merges:
        parts.append("<p>None.</p></section>")
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
    parts.append("</table></section>")
    return "".join(parts)
