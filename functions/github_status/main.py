"""github_status: the build's result as a commit status on GitHub, GitLab or Bitbucket.

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
``STATUS_CONTEXT`` (default ``buildkite/{pipeline}``); ``STATUS_OTHER_STATE``
(``error`` or ``neutral``, default ``error``). No credentials for the provider,
or ``CIEVENTS_DRY_RUN``: the requests are recorded in the outbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cievents import effects
from cievents.config import env_list, env_opt, env_str
from cievents.errors import ConfigError, TransientError
from cievents.events import BuildEvent, JobEvent
from cievents.handler import Context, Result, pubsub_function, skipped
from cievents.idempotency import update_state
from cievents.notify.render import duration_text
from cievents.outbox import Outbox
from cievents.vcs.github import AppCredentials, GitHubClient
from cievents.vcs.others import BitbucketClient, GitLabClient
from cievents.vcs.repo import Repository, parse_repository

FINAL = {"success", "failure", "error", "neutral"}


@dataclass(frozen=True)
class Settings:
    github_api: str
    github_token: str | None
    app: AppCredentials | None
    github_hosts: tuple[str, ...]
    gitlab_api: str
    gitlab_token: str | None
    gitlab_hosts: tuple[str, ...]
    bitbucket_api: str
    bitbucket_user: str | None
    bitbucket_password: str | None
    bitbucket_token: str | None
    context: str
    other_state: str

    @classmethod
    def from_env(cls) -> Settings:
        app_id, key, installation = (
            env_opt("GITHUB_APP_ID"),
            env_opt("GITHUB_APP_PRIVATE_KEY"),
            env_opt("GITHUB_APP_INSTALLATION_ID"),
        )
        if any((app_id, key, installation)) and not all((app_id, key, installation)):
            raise ConfigError(
                "GITHUB_APP_ID",
                "an App needs GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY "
                "and GITHUB_APP_INSTALLATION_ID together",
            )
        other = env_str("STATUS_OTHER_STATE", "error")
        if other not in ("error", "neutral"):
            raise ConfigError("STATUS_OTHER_STATE", f"expected error or neutral, got {other!r}")
        return cls(
            github_api=env_str("GITHUB_API_URL", "https://api.github.com"),
            github_token=env_opt("GITHUB_TOKEN"),
            app=AppCredentials(app_id, key.replace("\\n", "\n"), installation)
            if app_id and key and installation
            else None,
            github_hosts=env_list("GITHUB_ENTERPRISE_HOSTS"),
            gitlab_api=env_str("GITLAB_API_URL", "https://gitlab.com/api/v4"),
            gitlab_token=env_opt("GITLAB_TOKEN"),
            gitlab_hosts=env_list("GITLAB_HOSTS"),
            bitbucket_api=env_str("BITBUCKET_API_URL", "https://api.bitbucket.org/2.0"),
            bitbucket_user=env_opt("BITBUCKET_USERNAME"),
            bitbucket_password=env_opt("BITBUCKET_APP_PASSWORD"),
            bitbucket_token=env_opt("BITBUCKET_TOKEN"),
            context=env_str("STATUS_CONTEXT", "buildkite/{pipeline}"),
            other_state=other,
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
    s = SETTINGS
    has_credentials = {
        "github": bool(s.github_token or s.app),
        "gitlab": bool(s.gitlab_token),
        "bitbucket": bool(s.bitbucket_token or (s.bitbucket_user and s.bitbucket_password)),
    }[provider]
    dry = ctx.settings.dry_run or not has_credentials
    key = f"{provider}:{dry}"
    if key not in _clients:
        outbox = Outbox(ctx.settings.outbox_dir) if dry else None
        if provider == "github":
            _clients[key] = GitHubClient(
                api_url=s.github_api, token=s.github_token, app=s.app, outbox=outbox
            )
        elif provider == "gitlab":
            _clients[key] = GitLabClient(api_url=s.gitlab_api, token=s.gitlab_token, outbox=outbox)
        else:
            _clients[key] = BitbucketClient(
                api_url=s.bitbucket_api,
                username=s.bitbucket_user,
                app_password=s.bitbucket_password,
                token=s.bitbucket_token,
                outbox=outbox,
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
    created = effects.once(
        ctx.store,
        run_key,
        lambda marker: {
            "id": github.upsert_check_run(
                repo.path,
                str(event.commit),
                context,
                check_run_id=None,
                external_id=marker,
                **fields,
            ),
            "fields": fields,
        },
        lambda marker, _since: (
            {"id": found}
            if (found := github.find_check_run(repo.path, str(event.commit), context, marker))
            else None
        ),
    )
    if created.how != "created" or created.result.get("fields") != fields:
        # An existing run (or one found after a lost answer): bring it up to date.
        github.upsert_check_run(
            repo.path,
            str(event.commit),
            context,
            check_run_id=int(created.result["id"]),
            **fields,
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
    repo = parse_repository(event.repository, SETTINGS.github_hosts, SETTINGS.gitlab_hosts)
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
        wire_state = "success" if (repo.provider == "github" and state == "neutral") else state
        vcs = client(repo.provider, ctx)
        args = (repo.path, event.commit, wire_state, event.url, description(event, state), context)
        # A status is a create: a lost answer is reconciled against the commit's statuses.
        effects.once(
            ctx.store,
            ctx.state_key(
                "status_write", repo.provider, repo.path, event.commit, context, event.number, state
            ),
            lambda _marker: vcs.set_status(*args),
            lambda _marker, _since: vcs.find_status(
                repo.path, event.commit, wire_state, description(event, state), context
            ),
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
