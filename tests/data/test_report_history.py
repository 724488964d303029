"""The demo's 60-day history and the report drawn from it: the same story on any day, DORA
levels at their published edges, a sentence for each figure that cannot be computed, and
``--serve`` redrawing as the database changes."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from cievents import clock
from cievents.metrics import history
from cievents.metrics.duckdb_store import DuckDBStore
from cievents.metrics.report import collect, dora_tiles, page
from tests.support.report_server import serving

ROOT = Path(__file__).resolve().parents[2]


def story(now: datetime, tmp_path: Path) -> dict[str, Any]:
    """What a reader takes away from the page drawn at ``now``, relative to that day."""
    db = tmp_path / f"{now:%Y%m%d%H}.duckdb"
    history.load(db, now)
    report = collect(DuckDBStore(db), now, 60)
    api = report.health["api"]
    worst = min(
        (r for r in api if r["failed"] + r["passed"] >= 5),
        key=lambda r: r["success_rate"],
    )
    prod = {t.metric: t for t in dora_tiles(report.deploys["deploy-prod"], report.first_built, 60)}
    staging = {
        t.metric: t for t in dora_tiles(report.deploys["deploy-staging"], report.first_built, 60)
    }
    return {
        "pipelines": sorted(report.health),
        "days with builds": len(report.health["web-app"]),
        "api worst day, days ago": (now.date() - worst["day"]).days,
        "flakiest job": (report.flaky[0]["pipeline"], report.flaky[0]["name"]),
        "prod levels": {m: t.band for m, t in prod.items()},
        "staging restore": (staging["Time to restore"].value, staging["Time to restore"].why),
    }


@pytest.mark.parametrize("shift_days", [0, 137, 400])
def test_the_same_story_on_any_day(tmp_path: Path, shift_days: int) -> None:
    now = clock.now_utc() + timedelta(days=shift_days)
    told = story(now, tmp_path)
    assert told["pipelines"] == [
        "api",
        "deploy-prod",
        "deploy-staging",
        "infra",
        "mobile-app",
        "web-app",
    ]
    assert told["days with builds"] >= 59  # web-app builds every day, weekends too
    assert told["api worst day, days ago"] in history.BAD_WEEK
    assert told["flakiest job"] == ("mobile-app", "ui-tests (iOS simulator)")
    assert told["prod levels"] == {
        "Deployment frequency": "elite",
        "Lead time for changes": "high",
        "Change failure rate": "medium",
        "Time to restore": "high",
    }
    assert told["staging restore"] == (
        None,
        "No deployment failed in the window, so there was nothing to restore.",
    )


def test_the_history_is_deterministic_and_ends_before_now() -> None:
    now = datetime(2027, 3, 9, 15, 30, tzinfo=UTC)
    first, second = history.generate(now), history.generate(now)
    assert first.builds == second.builds and first.jobs == second.jobs
    finished = [b["finished_at"] for b in first.builds]
    assert max(finished) < "2027-03-09T15:30:00Z"
    assert min(finished) >= "2027-01-09"  # 60 days: 9 Jan to 9 Mar
    assert len(first.builds) > 2000 and len(first.jobs) > 4 * 2000 * 0.9
    # Build ids are the history's own: the demo's live events never collide with them.
    assert len({b["build_id"] for b in first.builds}) == len(first.builds)


def test_loading_twice_adds_nothing(tmp_path: Path) -> None:
    now = clock.now_utc()
    db = tmp_path / "m.duckdb"
    loaded = history.load(db, now)
    store = DuckDBStore(db)
    assert store.bulk_insert("builds", loaded.builds) == 0
    (count,) = store.query("SELECT COUNT(*) AS n FROM builds")
    assert count["n"] == len(loaded.builds)


def deploy(state: str, finished: datetime, commit: str = "c1") -> dict[str, Any]:
    return {"state": state, "finished_at": finished, "commit": commit}


T0 = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("per_day", "level"),
    [
        (1.0, "elite"),
        (0.99, "high"),
        (1 / 7, "high"),
        (1 / 7.5, "medium"),
        (1 / 40, "low"),
        (1 / 210, None),
    ],
)
def test_deployment_frequency_levels(per_day: float, level: str | None) -> None:
    days = 210
    count = round(per_day * days)
    deploys = [deploy("passed", T0 + timedelta(hours=i)) for i in range(count)]
    (frequency, *_) = dora_tiles(deploys, {}, days)
    assert frequency.band == level, (per_day, frequency)


@pytest.mark.parametrize(
    ("lead", "level"),
    [
        (timedelta(hours=23), "elite"),
        (timedelta(days=1), "high"),
        (timedelta(days=6.9), "high"),
        (timedelta(days=8), "medium"),
        (timedelta(days=45), "low"),
    ],
)
def test_lead_time_levels(lead: timedelta, level: str) -> None:
    tiles = dora_tiles([deploy("passed", T0 + lead)], {"c1": T0}, 30)
    assert tiles[1].metric == "Lead time for changes" and tiles[1].band == level


@pytest.mark.parametrize(
    ("failed", "total", "level"),
    [
        (0, 20, "elite"),
        (1, 20, "elite"),
        (2, 20, "medium"),
        (3, 20, "medium"),
        (4, 20, "high"),
        (6, 20, "high"),
        (7, 20, "low"),
        (12, 20, "low"),
    ],
)
def test_change_failure_rate_takes_the_nearest_published_level(
    failed: int, total: int, level: str
) -> None:
    deploys = [
        deploy("failed" if i < failed else "passed", T0 + timedelta(hours=i)) for i in range(total)
    ]
    assert dora_tiles(deploys, {}, 30)[2].band == level


@pytest.mark.parametrize(
    ("gap", "level"),
    [(timedelta(minutes=59), "elite"), (timedelta(hours=5), "high"), (timedelta(days=2), "low")],
)
def test_time_to_restore_levels(gap: timedelta, level: str) -> None:
    tiles = dora_tiles([deploy("failed", T0), deploy("passed", T0 + gap)], {}, 30)
    assert tiles[3].metric == "Time to restore" and tiles[3].band == level


def test_each_figure_that_cannot_be_computed_says_why() -> None:
    nothing = dora_tiles([], {}, 60)
    assert [t.value for t in nothing] == [None] * 4
    assert all(t.why.endswith(".") and len(t.why) > 30 for t in nothing)
    unrestored = dora_tiles(
        [deploy("passed", T0), deploy("failed", T0 + timedelta(hours=1))], {}, 60
    )
    assert unrestored[3].value is None and "not restored yet" in unrestored[3].why
    assert unrestored[1].value is None and "deployed commits has a build time" in unrestored[1].why
    only_failures = dora_tiles([deploy("failed", T0)], {}, 60)
    assert only_failures[0].value is None and "No deployment succeeded" in only_failures[0].why
    assert only_failures[2].value == "100%" and only_failures[2].band == "low"


def test_the_page_cites_the_report_year_and_draws_every_chart(tmp_path: Path) -> None:
    now = clock.now_utc()
    db = tmp_path / "m.duckdb"
    history.load(db, now)
    text = page(db)
    assert "Accelerate State of DevOps Report 2024" in text
    charts = re.findall(r'<svg class=chart[^>]*aria-label="([^"]+)" data-points="(\d+)"', text)
    assert len(charts) == 6 * 3 + 2  # 3 small multiples per pipeline, deploys per deploy pipeline
    assert all(int(points) > 0 for _, points in charts), charts
    assert "No deployment failed in the window, so there was nothing to restore." in text
    assert "<script" not in text and "src=" not in text and "@import" not in text
    assert "prefers-color-scheme:dark" in text and "@media print" in text
    start = (now - timedelta(days=59)).date()
    assert f"{start:%a %d %b}" in text  # the window's dates are on the page


# --- --serve ------------------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    db = tmp_path / "demo" / "metrics.duckdb"
    with serving(db) as url:
        yield url, db


def page_showing(url: str, text: str, budget_s: float = 60) -> str:
    deadline = time.monotonic() + budget_s
    while True:
        body = requests.get(url + "/", timeout=10).text
        if text in body:
            return body
        assert time.monotonic() < deadline, f"{text!r} never reached the page"
        time.sleep(0.2)


def wait_version(url: str, above: int, budget_s: float = 60) -> int:
    deadline = time.monotonic() + budget_s
    while time.monotonic() < deadline:
        version = int(requests.get(f"{url}/version", timeout=10).text)
        if version > above:
            return version
        time.sleep(0.2)
    raise AssertionError(f"the page was not redrawn within {budget_s} s")


def test_serve_waits_for_the_database_then_redraws_when_it_changes(
    served: tuple[str, Path],
) -> None:
    url, db = served
    first = requests.get(url + "/", timeout=10)
    assert first.status_code == 200 and "Waiting for" in first.text
    assert requests.get(f"{url}/version", timeout=10).text == "0"
    assert requests.get(f"{url}/nothing", timeout=10).status_code == 404
    now = clock.now_utc()
    history.load(db, now)  # three writes: the tables and views, the builds, the jobs
    version = wait_version(url, 0)
    drawn = page_showing(url, "deploy-prod")
    assert 'fetch("/version"' in drawn
    assert (db.parent / "build-health.html").read_text("utf-8").count("<script") == 0
    # A new build, as bigquery_metrics would write it: the page is redrawn once.
    row = dict(history.generate(now).builds[-1])
    row.update(insert_id="live:passed", build_id="live", pipeline="live-pipeline")
    DuckDBStore(db).insert("builds", [row])  # two writes: the views, then the row
    page_showing(url, "live-pipeline")
    time.sleep(2)  # a drawing between the two writes is followed by one more
    settled = requests.get(f"{url}/version", timeout=10).text
    time.sleep(3)  # its own reads do not count as changes: the number stays put
    assert requests.get(f"{url}/version", timeout=10).text == settled
    assert int(settled) > version


def test_serve_misuse_is_one_line(tmp_path: Path) -> None:
    def cievents(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cievents.cli", "report", *args],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )

    bad_port = cievents("--db", str(tmp_path / "m.duckdb"), "--serve", "--port", "70000")
    assert bad_port.returncode == 2
    assert bad_port.stderr.strip() == "cievents report: --port 70000: not a port (e.g. --port 8765)"
    days = cievents("--db", str(tmp_path / "m.duckdb"), "--days", "0")
    assert days.returncode == 2 and days.stderr.count("\n") == 1 and "--days" in days.stderr
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = cievents("--db", str(tmp_path / "m.duckdb"), "--serve", "--port", str(port))
    assert busy.returncode == 2 and "Traceback" not in busy.stderr
    assert busy.stderr.count("\n") == 1 and f"--port {port}" in busy.stderr, busy.stderr
