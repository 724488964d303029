"""github_status: the build's result as a commit status on GitHub, GitLab, Bitbucket (Cloud
and Data Center) or Azure Repos, through the SCM surface (``cievents.scm``).

The provider comes from the pipeline's repository URL. States:
scheduled / running → pending, passed → success, failed → failure, and
canceled / blocked / skipped → ``STATUS_OTHER_STATE`` (error or neutral;
GitHub statuses have no neutral, so neutral is sent as success there, and as
a neutral *check run* conclusion).

A status is written only when it changes (GitHub keeps at most 1,000 per
commit and context), and a delivery that arrives late never moves a finished
build back to pending. With a GitHub App, a check run is created and then
updated for the build, its summary listing the failed jobs.

Settings: ``GITHUB_TOKEN`` or ``GITHUB_APP_ID`` + ``GITHUB_APP_PRIVATE_KEY`` +
``GITHUB_APP_INSTALLATION_ID``; ``GITHUB_API_URL``; ``GITHUB_ENTERPRISE_HOSTS``;
``GITLAB_TOKEN``, ``GITLAB_API_URL``, ``GITLAB_HOSTS``; ``BITBUCKET_USERNAME`` +
``BITBUCKET_APP_PASSWORD`` or ``BITBUCKET_TOKEN``, ``BITBUCKET_API_URL``;
``BITBUCKET_SERVER_URL`` + ``BITBUCKET_SERVER_TOKEN`` (Data Center; its host, or
``BITBUCKET_SERVER_HOSTS``, marks its repositories); ``AZURE_DEVOPS_PAT`` (Code: status),
``AZURE_DEVOPS_API_URL``;
``STATUS_CONTEXT`` (default ``buildkite/{pipeline}``); ``STATUS_OTHER_STATE``
(``error`` or ``neutral``, default ``error``); ``GITHUB_WRITES_PER_MINUTE``
(default 80: GitHub's secondary limit on content-creating requests), the budget
every instance shares through the store, waited for at most
``CIEVENTS_BUDGET_MAX_WAIT_S`` in-call. No credentials for the provider,
or ``CIEVENTS_DRY_RUN``: the requests are recorded in the outbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cievents import effects
from cievents.config import env_int, env_str
from cievents.errors import ConfigError, TransientError
from cievents.events import BuildEvent, JobEvent
from cievents.handler import Context, Result, pubsub_function, skipped
from cievents.idempotency import update_state
from cievents.notify.render import duration_text
from cievents.outbox import Outbox
from cievents.ratelimit import Budget, Limit, VendorBudget, max_wait_s
from cievents.scm import ScmSettings
from cievents.scm.github import GitHubClient
from cievents.vcs.repo import Repository

FINAL = {"success", "failure", "error", "neutral"}


@dataclass(frozen=True)
class Settings:
    scm: ScmSettings
    context: str
    other_state: str
    writes_per_minute: int

    @classmethod
    def from_env(cls) -> Settings:
        other = env_str("STATUS_OTHER_STATE", "error")
        if other not in ("error", "neutral"):
            raise ConfigError("STATUS_OTHER_STATE", f"expected error or neutral, got {other!r}")
        return cls(
            scm=ScmSettings.from_env(),
            context=env_str("STATUS_CONTEXT", "buildkite/{pipeline}"),
            other_state=other,
            writes_per_minute=env_int("GITHUB_WRITES_PER_MINUTE", 80, minimum=1),
        )


SETTINGS = Settings.from_env()
_clients: dict[str, Any] = {}


def status_state(event: BuildEvent) -> str:
    if event.blocked and event.state not in ("failed", "canceled"):
        return SETTINGS.other_state
    return {
        "scheduled": "pending",
        "running": "pending",
        "failing": "pending",
        "waiting": "pending",
        "canceling": "pending",
        "passed": "success",
        "failed": "failure",
        "waiting_failed": "failure",
    }.get(event.state, SETTINGS.other_state)


def description(event: BuildEvent, state: str) -> str:
    verb = {
        "pending": "is running" if event.state != "scheduled" else "is scheduled",
        "success": "passed",
        "failure": "failed",
    }.get(state, event.state)
    text = f"Build #{event.number} {verb}"
    if state in FINAL and event.duration_s is not None:
        text += f" in {duration_text(event.duration_s)}"
    return text[:140]


def client(provider: str, ctx: Context) -> Any:
    """The provider's client: live with credentials, the outbox without them or in a dry run."""
    dry = ctx.settings.dry_run or not SETTINGS.scm.has_credentials(provider)
    key = f"{provider}:{dry}"
    if key not in _clients:
        outbox = Outbox(ctx.settings.outbox_dir) if dry else None
        _clients[key] = SETTINGS.scm.client(provider, outbox)
        if provider == "github" and outbox is None:
            # One write budget per API host, shared by every instance through the store.
            host = urlsplit(SETTINGS.scm.github_api).netloc
            _clients[key].http.budget = VendorBudget(
                Budget(ctx.store),
                f"github:{host}:writes",
                Limit(SETTINGS.writes_per_minute, 60.0),
                max_wait_s(),
            )
    return _clients[key]


def _decide(current: Mapping[str, Any], number: int, state: str) -> Mapping[str, Any] | None:
    """The new status record, or None when nothing should be written."""
    known = current.get("number")
    if isinstance(known, int):
        if number < known:
            return None  # an older build of the same commit: the newer one owns the status
        if number == known and (
            current.get("state") == state or (current.get("state") in FINAL and state == "pending")
        ):
            return None  # unchanged, or a late event that would regress a finished build
    return {**current, "number": number, "state": state}


def _on_job(event: JobEvent, ctx: Context) -> Result:
    if not event.failed or event.event != "job.finished":
        return skipped("only failed jobs are listed in the check run")

    def add(current: Mapping[str, Any]) -> Mapping[str, Any] | None:
        jobs = dict(current.get("failed_jobs") or {})
        if event.job_id in jobs:
            return None
        jobs[event.job_id] = {
            "name": event.job_name or event.step_key or "job",
            "exit_status": event.exit_status,
            "url": event.url,
        }
        return {**current, "failed_jobs": jobs}

    update_state(ctx.store, ctx.state_key("build", event.build_id or event.number), add)
    return Result(
        "acted", "failed job noted for the check run", provider="github", operation="note"
    )


def _check_run(event: BuildEvent, repo: Repository, state: str, context: str, ctx: Context) -> None:
    github: GitHubClient = client("github", ctx)
    if not github.can_check_runs:
        return
    build_state = ctx.store.get_state(ctx.state_key("build", event.build_id or event.number)).value
    failed = dict(build_state.get("failed_jobs") or {})
    lines = [
        f"- [{j['name']}]({j.get('url') or event.url}) exit status {j.get('exit_status')}"
        for j in failed.values()
    ]
    summary = description(event, state) + ("\n\nFailed jobs:\n" + "\n".join(lines) if lines else "")
    completed = state in FINAL
    conclusion = (
        {
            "success": "success",
            "failure": "failure",
            "error": "cancelled",
            "neutral": "neutral",
        }.get(state)
        if completed
        else None
    )
    run_key = ctx.state_key("check_run", repo.path, event.commit, context)
    fields: dict[str, Any] = {
        "status": "completed" if completed else "in_progress",
        "conclusion": conclusion,
        "details_url": event.url,
        "title": description(event, state),
        "summary": summary,
    }

    def create(marker: str) -> Mapping[str, Any]:
        run_id = github.upsert_check_run(
            repo.path, str(event.commit), context, check_run_id=None, external_id=marker, **fields
        )
        return {"id": run_id, "fields": fields}

    def find(marker: str, _since: float) -> Mapping[str, Any] | None:
        run = github.find_check_run(repo.path, str(event.commit), context)
        return {"id": run["id"]} if run and run.get("external_id") == marker else None

    # A create whose answer is lost is found again by its external_id, not made twice.
    made = effects.once(ctx.store, run_key, create, find)
    if made.how != "created" or made.result.get("fields") != fields:
        github.upsert_check_run(
            repo.path, str(event.commit), context, check_run_id=int(made.result["id"]), **fields
        )


@pubsub_function(
    "github_status",
    accepts=lambda e: isinstance(e, BuildEvent | JobEvent),
    key=lambda m, e: f"{e.build_id or e.number}:{e.event}:{getattr(e, 'job_id', '')}:{e.state}:"
    f"{getattr(e, 'blocked', False)}",
)
def handle(event: Any, ctx: Context) -> Result:
    """Write the build's commit status when it changes."""
    if isinstance(event, JobEvent):
        return _on_job(event, ctx)
    assert isinstance(event, BuildEvent)
    repo = SETTINGS.scm.repository(event.repository)
    if repo is None or not event.commit or event.commit == "HEAD":
        return skipped(f"no status for repository {event.repository!r} at {event.commit!r}")
    state = status_state(event)
    context = SETTINGS.context.format(
        pipeline=event.pipeline, organization=event.organization or ""
    )
    status_key = ctx.state_key("status", repo.provider, repo.path, event.commit, context)
    # One writer per commit and context at a time, so statuses land in decision order.
    lock = ctx.store.claim(f"{status_key}:lock", lease_s=60)
    if lock.status != "claimed":
        raise TransientError(f"another execution is writing {context} on {event.commit[:7]}")
    try:
        before = ctx.store.get_state(status_key)
        new = _decide(before.value, event.number, state)
        if new is None:
            same = before.value.get("number") == event.number and before.value.get("state") == state
            if same and repo.provider == "github" and client("github", ctx).can_check_runs:
                _check_run(event, repo, state, context, ctx)  # a retry after the status landed
                return Result(
                    "acted",
                    f"check run {context} brought up to date on {repo.path}@{event.commit[:7]}",
                    provider="github",
                    operation="check_run",
                )
            return skipped(f"status {context} already {before.value.get('state')} for this build")
        client(repo.provider, ctx).set_status(
            repo, event.commit, state, context, description(event, state), event.url
        )
        ctx.store.set_state(status_key, new, expected_version=before.version)
    finally:
        ctx.store.release(f"{status_key}:lock", lock.token)
    if repo.provider == "github":
        _check_run(event, repo, state, context, ctx)
    return Result(
        "acted",
        f"{context} → {state} on {repo.path}@{event.commit[:7]}",
        provider=repo.provider,
        operation="status",
    )
