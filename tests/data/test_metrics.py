"""bigquery_metrics on DuckDB: rows, redelivery, bad timestamps, and every view on known data."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from flask.testing import FlaskClient

from cievents.metrics import views
from cievents.metrics.duckdb_store import DuckDBStore
from tests.conftest import CapturedLog
from tests.notify.events import build, job, push_body

SOURCE = str(Path(__file__).parents[2] / "functions" / "bigquery_metrics" / "main.py")
ids = itertools.count(1)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "metrics.duckdb"


@pytest.fixture
def client(db_path: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FlaskClient:
    monkeypatch.setenv("METRICS_DUCKDB_PATH", str(db_path))
    monkeypatch.setenv("CIEVENTS_STORE", f"sqlite:{tmp_path / 'state.db'}")
    monkeypatch.setenv("DEPLOY_PIPELINES", "deploy-*")
    app = functions_framework.create_app(
        target="handle", source=SOURCE, signature_type="cloudevent"
    )
    return app.test_client()


def finished(
    pipeline: str,
    number: int,
    state: str,
    start: str,
    end: str,
    *,
    commit: str = "c",
    created: str | None = None,
    branch: str = "main",
) -> dict[str, Any]:
    payload = build("build.finished", state, number=number, branch=branch)
    payload["pipeline"]["slug"] = pipeline
    b = payload["build"]
    b.update(
        id=f"{pipeline}-{number}",
        started_at=start,
        finished_at=end,
        commit=commit * 40,
        created_at=created or start,
        scheduled_at=created or start,
    )
    return payload


def send(client: FlaskClient, payload: dict[str, Any], times: int = 1) -> None:
    for _ in range(times):
        assert client.post("/", json=push_body(payload, f"b{next(ids)}")).status_code == 200


def rows(db_path: Path, sql: str) -> list[dict[str, Any]]:
    return DuckDBStore(db_path).query(sql)


def test_redelivery_never_double_counts(
    client: FlaskClient, db_path: Path, captured_log: CapturedLog
) -> None:
    payload = finished("web-app", 1, "passed", "2026-11-20T10:00:00Z", "2026-11-20T10:05:00Z")
    send(client, payload, times=3)
    assert rows(db_path, "SELECT COUNT(*) AS n FROM builds") == [{"n": 1}]
    assert [o["outcome"] for o in captured_log.outcomes()] == ["acted", "duplicate", "duplicate"]
    (row,) = rows(db_path, "SELECT * FROM builds")
    assert row["insert_id"] == "web-app-1:passed" and row["run_s"] == 300.0
    assert row["is_deploy"] is False and row["message"] == "Fix checkout rounding error (SHOP-311)"


def test_job_rows_with_buildkite_wait_definitions(client: FlaskClient, db_path: Path) -> None:
    payload = job("job-1", ":rspec: Tests")
    payload["job"].update(
        scheduled_at="2026-11-20T10:00:00Z",
        runnable_at="2026-11-20T10:00:30Z",
        started_at="2026-11-20T10:01:00Z",
        finished_at="2026-11-20T10:04:00Z",
    )
    send(client, payload, times=2)
    (row,) = rows(db_path, "SELECT * FROM jobs")
    assert (row["dependency_wait_s"], row["agent_wait_s"], row["run_s"]) == (30.0, 30.0, 180.0)
    assert (row["step_key"], row["agent"], row["exit_status"], row["soft_failed"]) == (
        "tests",
        "ci-agent-7",
        1,
        False,
    )


def test_bad_timestamps_are_corrected_and_logged(
    client: FlaskClient, db_path: Path, captured_log: CapturedLog
) -> None:
    skewed = finished("web-app", 2, "failed", "2026-11-20T10:05:00Z", "2026-11-20T10:00:00Z")
    send(client, skewed)
    missing = finished("web-app", 3, "failed", "2026-11-20T10:05:00Z", "2026-11-20T10:06:00Z")
    missing["build"]["finished_at"] = None
    missing["build"]["started_at"] = None
    send(client, missing)
    by_number = {r["number"]: r for r in rows(db_path, "SELECT * FROM builds")}
    assert by_number[2]["run_s"] is None and "clock skew" in by_number[2]["quality_notes"]
    assert (
        by_number[3]["finished_at"] is not None and "publish time" in by_number[3]["quality_notes"]
    )
    assert [o["outcome"] for o in captured_log.outcomes()] == ["acted", "acted"]
    assert sum(1 for line in captured_log.lines if line["message"] == "row corrected") == 2


def test_build_health_view(client: FlaskClient, db_path: Path) -> None:
    retried = job("job-r", ":rspec: Tests", exit_status=0, number=12)
    retried["job"].update(retried=True, retries_count=1)
    retried["build"]["id"] = "web-app-12"
    send(client, retried)
    for number, state, minutes in [
        (10, "passed", 2),
        (11, "failed", 4),
        (12, "passed", 6),
        (13, "canceled", 1),
    ]:
        send(
            client,
            finished(
                "web-app",
                number,
                state,
                "2026-11-20T10:00:00Z",
                f"2026-11-20T10:{minutes:02d}:00Z",
                created="2026-11-20T09:59:00Z",
            ),
        )
    (health,) = rows(db_path, "SELECT * FROM build_health WHERE pipeline = 'web-app'")
    assert (health["builds"], health["passed"], health["failed"], health["flaky"]) == (4, 2, 1, 1)
    assert health["success_rate"] == pytest.approx(2 / 3)
    assert health["p50_wait_s"] == 60.0
    assert 120 <= health["p50_run_s"] <= 360 and health["p95_run_s"] == pytest.approx(360, abs=1)


def test_dora_view_on_known_data(client: FlaskClient, db_path: Path) -> None:
    # The commit was first built by CI at 08:00; three deploys: passed, failed, then fixed.
    send(
        client,
        finished(
            "web-app",
            20,
            "passed",
            "2026-11-20T08:00:00Z",
            "2026-11-20T08:10:00Z",
            commit="a",
            created="2026-11-20T08:00:00Z",
        ),
    )
    send(
        client,
        finished(
            "deploy-prod", 1, "passed", "2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z", commit="a"
        ),
    )
    send(
        client,
        finished(
            "deploy-prod", 2, "failed", "2026-11-20T11:00:00Z", "2026-11-20T12:00:00Z", commit="b"
        ),
    )
    send(
        client,
        finished(
            "deploy-prod",
            3,
            "passed",
            "2026-11-20T14:00:00Z",
            "2026-11-20T15:00:00Z",
            commit="c",
            created="2026-11-20T14:00:00Z",
        ),
    )
    (dora,) = rows(db_path, "SELECT * FROM dora")
    assert dora["pipeline"] == "deploy-prod" and dora["deployments"] == 2
    assert dora["change_failure_rate"] == pytest.approx(1 / 3)
    assert dora["time_to_restore_hours"] == pytest.approx(3.0)  # 12:00 failed → 15:00 fixed
    assert dora["deployments_per_day"] == pytest.approx(2.0)
    assert dora["lead_time_hours"] == pytest.approx((2.0 + 1.0) / 2)  # (10:00-08:00, 15:00-14:00)


def test_views_are_the_shipped_bigquery_sql() -> None:
    for name in views.VIEWS:
        shipped = views.for_bigquery(name, "proj.ci_metrics")
        assert "{dataset}" not in shipped and "`proj.ci_metrics." in shipped
        assert "APPROX_QUANTILE" in views.for_duckdb("build_health")


@pytest.mark.parametrize("name", views.VIEWS)
def test_shipped_duckdb_views_are_sqlglots_translation_today(name: str) -> None:
    """The DuckDB views ship translated (no sqlglot at run time): each file must be what
    sqlglot makes of its BigQuery source now. On a difference, run
    ``python -m cievents.metrics.views`` and commit what it writes."""
    assert views.for_duckdb(name) == views.translate_for_duckdb(name)


def test_report_renders_charts(
    client: FlaskClient, db_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import re
    from datetime import timedelta

    from cievents import clock
    from cievents.cli import main

    today = clock.now_utc().replace(hour=10, minute=0, second=0, microsecond=0)
    for number, (state, back, minutes) in enumerate(
        [("passed", 3, 3), ("failed", 2, 9), ("passed", 2, 4)], start=30
    ):
        start = today - timedelta(days=back)
        send(
            client,
            finished(
                "web-app",
                number,
                state,
                start.isoformat().replace("+00:00", "Z"),
                (start + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z"),
            ),
        )
    out = tmp_path / "report.html"
    assert main(["report", "--db", str(db_path), "--out", str(out)]) == 0
    page = out.read_text()
    assert "<figcaption>web-app</figcaption>" in page
    charts = re.findall(r'aria-label="([^"]+)" data-points="(\d+)"', page)
    assert ("web-app: success rate per day", "2") in charts
    assert ("web-app: build duration p50 to p95 per day", "2") in charts
    assert ("web-app: builds per day", "3") in charts  # two bars, and one failed on top
    day = (today - timedelta(days=3)).date()
    assert f"{day}: 100% of 1 + 0 finished builds" in page
    assert "50% of 1 + 1 finished builds" in page
    # No deploy pipeline: the DORA section says why it has no figures.
    assert "No deployment in the window" in page and "DEPLOY_PIPELINES" in page
    assert "<script" not in page and "http://" not in page.split("<section id=compliance>")[0]
    assert main(["report", "--db", str(db_path), "--out", str(out), "--days", "3"]) == 0
    assert "1 build(s) finished outside these 3 days" in out.read_text()
    assert main(["report", "--db", str(tmp_path / "none.duckdb")]) == 2


def test_a_file_made_by_the_same_statements_is_opened_without_ddl(tmp_path: Path) -> None:
    """A cold start on an existing file reads the digest of the statements that made it and
    runs no DDL; a file made by other statements (an older release) is made again."""
    import duckdb

    path = tmp_path / "metrics.duckdb"
    DuckDBStore(path)
    with duckdb.connect(str(path)) as db:
        db.execute('DROP VIEW "dora"')  # would be back if the second open ran the DDL
    DuckDBStore(path)
    with duckdb.connect(str(path)) as db:
        names = {r[0] for r in db.execute("SELECT view_name FROM duckdb_views()").fetchall()}
        assert "dora" not in names and "build_health" in names
        db.execute("UPDATE _cievents_schema SET digest = 'from an older release'")
    DuckDBStore(path)
    with duckdb.connect(str(path)) as db:
        names = {r[0] for r in db.execute("SELECT view_name FROM duckdb_views()").fetchall()}
        assert set(views.VIEWS) <= names
        assert db.execute("SELECT COUNT(*) FROM _cievents_schema").fetchone() == (1,)
