"""Verdict → a row of the ``compliance`` table (BigQuery; DuckDB locally).

One row per *change* of a pull request's verdict (or of its state: the row written when
it merges is the verdict at merge). ``insert_id`` is ``scm:repository#number:sequence:
digest``, so a redelivered evaluation of the same state writes nothing new, and the same
history of states gives the same rows whatever order the events came in.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from cievents.compliance.evaluate import Verdict
from cievents.compliance.state import PullRequestState

__all__ = ["TABLE", "audit_row"]

TABLE = "compliance"


def _ts(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def audit_row(
    verdict: Verdict,
    state: PullRequestState,
    *,
    sequence: int,
    event: str | None,
    evaluated_at: datetime,
    now: datetime,
) -> dict[str, Any]:
    failed = [c.name for c in verdict.failed]
    return {
        "insert_id": f"{state.scm}:{state.repository}#{state.number}:{sequence}:"
        f"{verdict.digest()[:16]}",
        "scm": state.scm,
        "repository": state.repository,
        "pull_request": state.number,
        "head_sha": verdict.head_sha,
        "source_branch": state.source_branch or None,
        "target_branch": state.target_branch or None,
        "author": state.author or None,
        "title": state.title[:1000] or None,
        "url": state.url,
        "rule": verdict.rule,
        "result": verdict.result,
        "passed": verdict.passed,
        "failed_checks": ",".join(failed) or None,
        "checks": json.dumps([c.to_dict() for c in verdict.checks], ensure_ascii=False),
        "pr_state": state.state,
        "merged": state.state == "merged",
        "merged_at": _ts(state.merged_at) if state.state == "merged" else None,
        "merge_commit": state.merge_commit if state.state == "merged" else None,
        "event": event,
        "sequence": sequence,
        "evaluated_at": _ts(evaluated_at),
        "ingested_at": _ts(now),
    }
