"""bigquery_metrics: build and job rows for build-health and DORA.

A row per build per final event (``build.finished``), a row per finished job
(``job.finished``: build webhooks carry no jobs). Rows carry a deterministic
``insertId`` so redelivery does not double count; the ``builds_latest`` view
removes what BigQuery's best-effort dedup window lets through. Retried jobs
are counted per build (from job events) so the health view can tell flaky
builds. Bad timestamps are corrected and noted, never a crash; a row
BigQuery rejects is a permanent, logged outcome with its reason.

Settings: ``METRICS_BACKEND`` (``bigquery`` or ``duckdb``; default duckdb
when no ``BIGQUERY_DATASET`` is set), ``BIGQUERY_PROJECT``,
``BIGQUERY_DATASET``, ``BIGQUERY_LOCATION``, ``METRICS_DUCKDB_PATH``
(default ``.cievents/metrics.duckdb``), ``DEPLOY_PIPELINES`` (globs marking
deploy pipelines for DORA).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cievents import clock, log
from cievents.config import env_list
from cievents.events import BuildEvent, JobEvent
from cievents.handler import Context, Result, pubsub_function, skipped
from cievents.idempotency import update_state
from cievents.metrics import MetricsSettings, open_store, rows

METRICS = MetricsSettings.from_env()
BACKEND = METRICS.backend
DEPLOY_PIPELINES = env_list("DEPLOY_PIPELINES") or ("deploy*", "*-deploy", "*deploy-*")
_store: Any = None


def store() -> Any:
    global _store  # noqa: PLW0603 - one client per instance
    if _store is None:
        _store = open_store(METRICS)
    return _store


def _now() -> datetime:
    return clock.now_utc()


def _note_retries(event: JobEvent, ctx: Context) -> int:
    """Count retried jobs per build, once per job."""
    key = ctx.state_key("retried", event.build_id or f"{event.pipeline}#{event.number}")

    def add(current: Mapping[str, Any]) -> Mapping[str, Any] | None:
        jobs = set(current.get("jobs") or [])
        if event.job_id in jobs or not (event.retried or event.retry_source):
            return None
        return {"jobs": sorted(jobs | {event.job_id})}

    state = update_state(ctx.store, key, add) or {}
    return len(state.get("jobs") or [])


@pubsub_function(
    "bigquery_metrics",
    accepts=lambda e: (isinstance(e, BuildEvent) and e.event == "build.finished")
    or (isinstance(e, JobEvent) and e.event == "job.finished"),
    key=lambda m, e: f"{e.event}:{getattr(e, 'job_id', None) or e.build_id}:{e.state}",
)
def handle(event: Any, ctx: Context) -> Result:
    """Write the event's row."""
    fallback = ctx.message.publish_time or _now()
    if isinstance(event, JobEvent):
        _note_retries(event, ctx)
        row = rows.job_row(event, fallback_finished=fallback, now=_now())
        table = "jobs"
    else:
        assert isinstance(event, BuildEvent)
        build_key = event.build_id or f"{event.pipeline}#{event.number}"
        retried = ctx.store.get_state(ctx.state_key("retried", build_key)).value.get("jobs") or []
        row = rows.build_row(
            event,
            fallback_finished=fallback,
            retried_jobs=len(retried),
            deploy_patterns=DEPLOY_PIPELINES,
            now=_now(),
        )
        table = "builds"
    if row["quality_notes"]:
        log.logger.warning(
            "row corrected",
            table=table,
            insert_id=row["insert_id"],
            quality_notes=row["quality_notes"],
        )
    written = store().insert(table, [row])
    ctx.fields.update(table=table, insert_id=row["insert_id"])
    if not written:
        return skipped(f"{table} row {row['insert_id']} already written")
    return Result("acted", f"{table} row {row['insert_id']}", provider=BACKEND, operation="insert")
