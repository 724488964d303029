"""Events → rows. One row per build per final event, one per finished job.

Wait times as Buildkite defines them: dependency wait = scheduled → runnable,
agent wait = runnable → started, run = started → finished; for builds, wait =
scheduled → started. Bad timestamps never crash anything: a negative
interval (clock skew) becomes NULL, a missing ``finished_at`` falls back to
the message's publish time, and each correction is noted in
``quality_notes`` and logged.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from cievents.events import BuildEvent, JobEvent


def _ts(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _interval(
    start: datetime | None, end: datetime | None, name: str, notes: list[str]
) -> float | None:
    if start is None or end is None:
        return None
    seconds = (end - start).total_seconds()
    if seconds < 0:
        notes.append(f"{name} negative ({seconds:.0f} s): clock skew, set to null")
        return None
    return seconds


def is_deploy(pipeline: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(pipeline, p) for p in patterns)


def build_row(
    event: BuildEvent,
    *,
    fallback_finished: datetime,
    retried_jobs: int,
    deploy_patterns: Sequence[str],
    now: datetime,
) -> dict[str, Any]:
    notes: list[str] = []
    finished = event.finished_at
    if finished is None:
        notes.append("finished_at missing: publish time used")
        finished = fallback_finished
    state = "blocked" if event.blocked and event.state == "passed" else event.state
    build_id = event.build_id or f"{event.organization}/{event.pipeline}/{event.number}"
    return {
        "insert_id": f"{build_id}:{state}",
        "build_id": build_id,
        "organization": event.organization,
        "pipeline": event.pipeline,
        "number": event.number,
        "branch": event.branch,
        "commit": event.commit,
        "message": (event.message or "").strip().split("\n", 1)[0][:1000] or None,
        "author": event.author,
        "author_email": event.author_email,
        "source": event.build_source,
        "state": state,
        "blocked": event.blocked,
        "pull_request": event.pull_request,
        "is_deploy": is_deploy(event.pipeline, deploy_patterns),
        "created_at": _ts(event.created_at),
        "scheduled_at": _ts(event.scheduled_at),
        "started_at": _ts(event.started_at),
        "finished_at": _ts(finished),
        "wait_s": _interval(
            event.scheduled_at or event.created_at, event.started_at, "wait", notes
        ),
        "run_s": _interval(event.started_at, finished, "run", notes),
        "retried_jobs": retried_jobs,
        "url": event.url,
        "quality_notes": "; ".join(notes) or None,
        "ingested_at": _ts(now),
    }


def job_row(event: JobEvent, *, fallback_finished: datetime, now: datetime) -> dict[str, Any]:
    notes: list[str] = []
    finished = event.finished_at
    if finished is None:
        notes.append("finished_at missing: publish time used")
        finished = fallback_finished
    return {
        "insert_id": event.job_id,
        "job_id": event.job_id,
        "build_id": event.build_id,
        "pipeline": event.pipeline,
        "number": event.number,
        "branch": event.branch,
        "step_key": event.step_key,
        "name": event.job_name,
        "agent": event.agent,
        "state": event.state,
        "exit_status": event.exit_status,
        "soft_failed": event.soft_failed,
        "retried": event.retried,
        "retries_count": event.retries_count,
        "retry_source": event.retry_source,
        "scheduled_at": _ts(event.scheduled_at),
        "runnable_at": _ts(event.runnable_at),
        "started_at": _ts(event.started_at),
        "finished_at": _ts(finished),
        "dependency_wait_s": _interval(
            event.scheduled_at, event.runnable_at, "dependency wait", notes
        ),
        "agent_wait_s": _interval(event.runnable_at, event.started_at, "agent wait", notes),
        "run_s": _interval(event.started_at, finished, "run", notes),
        "url": event.url,
        "quality_notes": "; ".join(notes) or None,
        "ingested_at": _ts(now),
    }
