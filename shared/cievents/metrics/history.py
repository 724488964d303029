"""A realistic, deterministic build history for the demo's report: 60 days, six pipelines.

``make demo`` loads it into ``.demo/metrics.duckdb`` before the example events run, so
every chart of ``cievents report`` has a story to tell. Time is an input: the history is
anchored to ``now`` (the run's clock) and every day's draws come from a generator seeded
with ``(seed, pipeline, days before now)``, so the page tells the same story on any day:

- **web-app** (busy, PR and main builds) gets slowly slower: its p95 grows by about a
  third over the 60 days; its ``e2e: checkout flow`` job is flaky (fails, passes on retry).
- **api** has a bad week 18 to 24 days ago: a slow package mirror makes its tests time
  out (success rate falls to about 55 %, p95 doubles), then a fix lands.
- **mobile-app** is slow (≈ 20 min) with a flaky ``ui-tests (iOS simulator)`` job that
  started flaking 40 days ago and got worse.
- **infra** (Terraform plans) is small and steady.
- **deploy-prod** deploys commits that web-app and api built first, a few times each working
  day; failed deploys (incidents) are restored by the next successful deploy hours later,
  and the bad week has most of them.
- **deploy-staging** deploys often and never failed in the window, so its time to restore
  cannot be computed (the report says so).

Rows have the shape of ``cievents.metrics.rows`` (``build_row``/``job_row``), with build
ids of their own (uuid5), so the demo's live events never collide with them.
"""

from __future__ import annotations

import hashlib
import math
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = ["DAYS", "PIPELINES", "SEED", "History", "generate", "load"]

SEED = 20261120
DAYS = 60
ORG = "acme"
NAMESPACE = uuid.UUID("6b3c1e0a-3f5e-4c52-9a57-6b1b0a6c9e21")
BAD_WEEK = range(18, 25)  # days before now
AUTHORS = ("dana", "erin", "farid", "grace", "hiro", "ines", "jonas", "kemi")


@dataclass(frozen=True)
class Pipeline:
    name: str
    per_day: int  # builds on a working day (a quarter of that at weekends)
    median_s: float  # run time of a typical build
    jobs: tuple[str, ...]
    failure: float  # chance a build fails for a real reason
    flaky_job: str | None = None
    deploy: bool = False


PIPELINES = (
    Pipeline(
        "web-app",
        26,
        390,
        ("lint", "unit tests", "e2e: checkout flow", "build image"),
        0.06,
        flaky_job="e2e: checkout flow",
    ),
    Pipeline("api", 16, 540, ("lint", "unit tests", "integration tests", "build image"), 0.05),
    Pipeline(
        "mobile-app",
        7,
        1260,
        (
            "lint",
            "unit tests",
            "ui-tests (iOS simulator)",
            "ui-tests (Android emulator)",
            "archive",
        ),
        0.05,
        flaky_job="ui-tests (iOS simulator)",
    ),
    Pipeline("infra", 5, 170, ("fmt", "validate", "plan"), 0.03),
    Pipeline("deploy-prod", 3, 420, ("migrate", "deploy", "smoke test"), 0.1, deploy=True),
    Pipeline("deploy-staging", 7, 300, ("deploy", "smoke test"), 0.0, deploy=True),
)


@dataclass
class History:
    builds: list[dict[str, Any]] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)


def _ts(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _sha(*parts: object) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()  # noqa: S324 - an id


def _flake_chance(pipeline: Pipeline, days_ago: int) -> float:
    if pipeline.flaky_job is None:
        return 0.0
    if pipeline.name == "mobile-app":  # started 40 days ago, getting worse
        return 0.0 if days_ago > 40 else 0.08 + 0.22 * (40 - days_ago) / 40
    return 0.07


def _day(
    pipeline: Pipeline, day: datetime, days_ago: int, seed: int, now: datetime
) -> Iterable[dict[str, Any]]:
    """The builds of one pipeline on one day (UTC midnight ``day``), as plain facts."""
    rng = random.Random(f"{seed}:{pipeline.name}:{days_ago}")  # noqa: S311 - a story, not secrecy
    weekend = day.weekday() >= 5
    if pipeline.deploy and weekend:
        return
    count = max(0, round(pipeline.per_day * (0.25 if weekend else 1.0) * rng.uniform(0.75, 1.2)))
    bad = pipeline.name in ("api", "deploy-prod") and days_ago in BAD_WEEK
    slower = 1.0 + 0.33 * (DAYS - days_ago) / DAYS if pipeline.name == "web-app" else 1.0
    for index in range(count):
        hour = rng.uniform(7.5, 19.0) if not weekend else rng.uniform(10, 16)
        created = day + timedelta(hours=hour)
        run_s = pipeline.median_s * slower * math.exp(rng.gauss(0, 0.28))
        if bad and pipeline.name == "api":
            run_s *= rng.uniform(1.6, 2.6)
        wait_s = rng.expovariate(1 / (25 if not weekend else 8))
        failure = pipeline.failure + (0.4 if bad else 0.0)
        if created + timedelta(seconds=wait_s + run_s) >= now:
            continue
        yield {
            "index": index,
            "created": created,
            "wait_s": wait_s,
            "run_s": run_s,
            "failed": rng.random() < failure,
            "flaky": rng.random() < _flake_chance(pipeline, days_ago),
            "main": pipeline.deploy or rng.random() < 0.55,
            "author": rng.choice(AUTHORS),
            "draw": rng.random(),
        }


def generate(now: datetime, *, days: int = DAYS, seed: int = SEED) -> History:
    """The history of the ``days`` days up to ``now`` (today until ``now`` included)."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    history = History()
    main_commits: list[tuple[datetime, str]] = []  # (first built, sha) on main, for deploys
    numbers = {p.name: 1000 + 37 * i for i, p in enumerate(PIPELINES)}
    last_good: dict[str, str] = {}
    for days_ago in range(days - 1, -1, -1):
        day = today - timedelta(days=days_ago)
        planned = []
        for pipeline in PIPELINES:
            for fact in _day(pipeline, day, days_ago, seed, now):
                planned.append((fact["created"], pipeline, fact))
        planned.sort(key=lambda item: (item[0], item[1].name))
        for created, pipeline, fact in planned:
            numbers[pipeline.name] += 1
            number = numbers[pipeline.name]
            if pipeline.deploy:
                # Deploy a main commit CI built earlier: staging takes the newest one,
                # prod the release cut the evening before (a day or two of lead time).
                age = timedelta(hours=26 if pipeline.name == "deploy-prod" else 1)
                ready = [c for c in main_commits if c[0] < created - age]
                if not ready:
                    continue
                pick = ready[-1 - int(fact["draw"] * min(len(ready), 12))]
                commit = pick[1]
            else:
                commit = _sha(seed, pipeline.name, number)
                if fact["main"] and pipeline.name in ("web-app", "api"):
                    main_commits.append((created, commit))
            _build(history, pipeline, number, commit, created, fact)
            if pipeline.deploy and fact["failed"]:
                # The incident: on-call rolls back to the last good commit, 40 min to 3 h on.
                numbers[pipeline.name] += 1
                later = created + timedelta(minutes=40 + 140 * fact["draw"])
                rollback = {**fact, "failed": False, "flaky": False, "index": -1}
                good = last_good.get(pipeline.name, commit)
                _build(history, pipeline, numbers[pipeline.name], good, later, rollback)
            elif pipeline.deploy:
                last_good[pipeline.name] = commit
    return history


def _build(
    history: History,
    pipeline: Pipeline,
    number: int,
    commit: str,
    created: datetime,
    fact: dict[str, Any],
) -> None:
    build_id = str(uuid.uuid5(NAMESPACE, f"{pipeline.name}/{number}"))
    started = created + timedelta(seconds=fact["wait_s"])
    finished = started + timedelta(seconds=fact["run_s"])
    state = "failed" if fact["failed"] else "passed"
    branch = "main" if fact["main"] else f"feature/{fact['author']}-{number % 97}"
    url = f"https://buildkite.com/{ORG}/{pipeline.name}/builds/{number}"
    flaky = bool(fact["flaky"]) and state == "passed"
    history.builds.append(
        {
            "insert_id": f"{build_id}:{state}",
            "build_id": build_id,
            "organization": ORG,
            "pipeline": pipeline.name,
            "number": number,
            "branch": branch,
            "commit": commit,
            "message": f"{'Deploy' if pipeline.deploy else 'Change'} {commit[:7]}",
            "author": fact["author"],
            "author_email": f"{fact['author']}@example.com",
            "source": "webhook",
            "state": state,
            "blocked": False,
            "pull_request": None if fact["main"] else str(number % 500),
            "is_deploy": pipeline.deploy,
            "created_at": _ts(created),
            "scheduled_at": _ts(created),
            "started_at": _ts(started),
            "finished_at": _ts(finished),
            "wait_s": round(fact["wait_s"], 3),
            "run_s": round(fact["run_s"], 3),
            "retried_jobs": 1 if flaky else 0,
            "url": url,
            "quality_notes": None,
            "ingested_at": _ts(finished),
        }
    )
    share = fact["run_s"] / len(pipeline.jobs)
    failing = pipeline.jobs[int(fact["draw"] * len(pipeline.jobs))] if state == "failed" else None
    at = started
    for step, name in enumerate(pipeline.jobs):
        attempts = [("failed", False)] if name == failing else [("passed", False)]
        if flaky and name == pipeline.flaky_job:
            attempts = [("failed", True), ("passed", False)]
        for attempt, (job_state, retried) in enumerate(attempts):
            end = at + timedelta(seconds=share)
            job_id = str(uuid.uuid5(NAMESPACE, f"{build_id}/{step}/{attempt}"))
            history.jobs.append(
                {
                    "insert_id": job_id,
                    "job_id": job_id,
                    "build_id": build_id,
                    "pipeline": pipeline.name,
                    "number": number,
                    "branch": branch,
                    "step_key": name.split(" ")[0].strip(":"),
                    "name": name,
                    "agent": f"agent-{(number + step) % 6 + 1}",
                    "state": job_state,
                    "exit_status": 1 if job_state == "failed" else 0,
                    "soft_failed": False,
                    "retried": retried,
                    "retries_count": attempt,
                    "retry_source": "automatic" if attempt else None,
                    "scheduled_at": _ts(at),
                    "runnable_at": _ts(at),
                    "started_at": _ts(at),
                    "finished_at": _ts(end),
                    "dependency_wait_s": 0.0,
                    "agent_wait_s": 0.0,
                    "run_s": round(share, 3),
                    "url": f"{url}#{job_id}",
                    "quality_notes": None,
                    "ingested_at": _ts(end),
                }
            )
            at = end
            if job_state == "failed" and not retried:
                return  # the build stops at a real failure


def load(path: str | Path, now: datetime, *, days: int = DAYS, seed: int = SEED) -> History:
    """Generate the history and write it into the DuckDB metrics database at ``path``."""
    from cievents.metrics.duckdb_store import DuckDBStore

    history = generate(now, days=days, seed=seed)
    store = DuckDBStore(path)
    store.bulk_insert("builds", history.builds)
    store.bulk_insert("jobs", history.jobs)
    return history
