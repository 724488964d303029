"""The compliance section of ``cievents report``: last quarter's non-compliant merges."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cievents.cli import main
from cievents.compliance import audit_row, evaluate, parse_policy
from cievents.compliance.state import PullRequestState, Review
from cievents.metrics.duckdb_store import DuckDBStore
from cievents.metrics.report import compliance_section, quarter_bounds

RULE = parse_policy({"rules": [{"name": "r", "checks": {"approvals": True}}]}, {}).rules[0]


@pytest.mark.parametrize(
    ("now", "start", "label"),
    [
        (datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 7, 1, tzinfo=UTC), "2026-Q3"),
        (datetime(2026, 2, 14, tzinfo=UTC), datetime(2025, 10, 1, tzinfo=UTC), "2025-Q4"),
        (datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC), "2026-Q1"),
    ],
)
def test_the_previous_calendar_quarter(now: datetime, start: datetime, label: str) -> None:
    first, end, name = quarter_bounds(now)
    assert (first, name) == (start, label)
    assert end.month in (1, 4, 7, 10) and end.day == 1 and end <= now


def merged(number: int, approved: bool, when: datetime, branch: str = "main") -> dict[str, object]:
    state = PullRequestState(
        scm="github",
        repository="acme/web",
        number=number,
        title=f"PR {number}",
        description="d",
        author="dana",
        source_branch="feature/x",
        target_branch=branch,
        head_sha=f"{number:040d}",
        state="merged",
        merged_at=when,
        url=f"https://github.com/acme/web/pull/{number}",
        reviews=(Review("erin", "approved"),) if approved else (),
    )
    return audit_row(
        evaluate(RULE, state), state, sequence=1, event="pull_request", evaluated_at=when, now=when
    )


def test_report_lists_last_quarters_noncompliant_merges(tmp_path: Path) -> None:
    db = tmp_path / "metrics.duckdb"
    store = DuckDBStore(db)
    now = datetime.now(UTC)
    start, end, quarter = quarter_bounds(now)
    inside = start.replace(day=15)
    store.insert(
        "compliance",
        [
            merged(1, approved=False, when=inside),
            merged(2, approved=True, when=inside),
            merged(3, approved=False, when=end.replace(day=2)),  # this quarter: not listed
            merged(4, approved=False, when=inside, branch="release/1"),
        ],
    )
    out = tmp_path / "report.html"
    assert main(["report", "--db", str(db), "--out", str(out)]) == 0
    page = out.read_text("utf-8")
    section = page[page.index("<h2>Compliance</h2>") :]
    assert f"Merges in {quarter} that were not compliant" in section
    assert "pull/1" in section and "pull/4" in section
    assert "pull/2" not in section and "pull/3" not in section
    rows = store.query(
        "SELECT pull_request FROM noncompliant_merges WHERE target_branch = 'main' "
        "AND merged_at >= ? AND merged_at < ?",
        [start, end],
    )
    assert [r["pull_request"] for r in rows] == [1]
    assert json.loads(str(merged(1, False, inside)["checks"]))[0]["name"] == "approvals"


def test_an_empty_quarter_says_none() -> None:
    assert "<p>None.</p>" in compliance_section([], [], "2026-Q3")
