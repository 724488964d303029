"""GitHub webhook bodies → typed events (push, pull_request, status, check_run / check_suite,
workflow_run as a build, ping, and the rest as ``other``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cievents import jirakeys
from cievents.errors import ValidationError
from cievents.events import (
    BuildEvent,
    Event,
    OtherEvent,
    PingEvent,
    PullRequestEvent,
    PushEvent,
    StatusEvent,
)
from cievents.payload import duration, obj, req_int, req_str
from cievents.sources._common import (
    branch_of,
    dig,
    lenient_time,
    o,
    push_commits,
    real_sha,
    s,
    tag_of,
)

_GUESS = (
    ("pull_request", "pull_request"),
    ("workflow_run", "workflow_run"),
    ("check_run", "check_run"),
    ("check_suite", "check_suite"),
    ("deployment_status", "deployment_status"),
    ("zen", "ping"),
)
_PR_ACTIONS = {
    "opened": "opened",
    "synchronize": "updated",
    "edited": "updated",
    "reopened": "reopened",
    "ready_for_review": "updated",
}
_RUN_STATES = {
    "success": "passed",
    "failure": "failed",
    "cancelled": "canceled",
    "timed_out": "failed",
    "skipped": "skipped",
    "neutral": "passed",
    "action_required": "blocked",
    "startup_failure": "failed",
    "stale": "canceled",
}


def event_name(body: Mapping[str, Any], headers: Mapping[str, str]) -> str:
    if headers.get("x-github-event"):
        return headers["x-github-event"]
    for key, name in _GUESS:
        if key in body:
            return name
    if "commits" in body and "ref" in body:
        return "push"
    if {"sha", "state", "context"} <= set(body):
        return "status"
    raise ValidationError(
        "GitHub payload: cannot tell the event; pass X-GitHub-Event", reason="bad_field"
    )


def _repo(body: Mapping[str, Any]) -> str | None:
    return s(dig(body, "repository", "full_name"))


def _push(body: Mapping[str, Any], event: str, delivery: str | None) -> PushEvent:
    ref = req_str(body, "ref")
    commits = push_commits(body)
    branch = branch_of(ref)
    return PushEvent(
        source="github",
        event=event,
        delivery_id=delivery,
        repository=_repo(body),
        branch=branch,
        commit=real_sha(s(body.get("after"))),
        url=s(body.get("compare")),
        jira_keys=jirakeys.extract(branch, *(c.message for c in commits)),
        raw=body,
        ref=ref,
        tag=tag_of(ref),
        before=real_sha(s(body.get("before"))),
        created=bool(body.get("created")),
        deleted=bool(body.get("deleted")),
        forced=bool(body.get("forced")),
        pusher=s(dig(body, "pusher", "name")),
        commits=commits,
    )


def _pull_request(body: Mapping[str, Any], event: str, delivery: str | None) -> PullRequestEvent:
    pr = obj(body, "pull_request")
    raw_action = s(body.get("action")) or ""
    merged = bool(pr.get("merged"))
    action = (
        ("merged" if merged else "closed")
        if raw_action == "closed"
        else _PR_ACTIONS.get(raw_action, "other")
    )
    title = s(pr.get("title")) or ""
    branch = s(dig(pr, "head", "ref"))
    return PullRequestEvent(
        source="github",
        event=event,
        delivery_id=delivery,
        repository=_repo(body),
        branch=branch,
        commit=s(dig(pr, "head", "sha")),
        url=s(pr.get("html_url")),
        jira_keys=jirakeys.extract(title, branch),
        raw=body,
        number=req_int(pr, "number", "pull_request"),
        action=action,
        title=title,
        state=s(pr.get("state")),
        base_branch=s(dig(pr, "base", "ref")),
        author=s(dig(pr, "user", "login")),
        merged=merged,
        merge_commit=s(pr.get("merge_commit_sha")) if merged else None,
        draft=bool(pr.get("draft")),
    )


def _workflow_run(body: Mapping[str, Any], event: str, delivery: str | None) -> BuildEvent:
    run = obj(body, "workflow_run")
    status = s(run.get("status")) or ""
    conclusion = s(run.get("conclusion"))
    state = (
        _RUN_STATES.get(conclusion or "", "failed")
        if status == "completed"
        else "scheduled"
        if status in ("queued", "requested", "waiting", "pending")
        else "running"
    )
    started = lenient_time(run.get("run_started_at"))
    finished = lenient_time(run.get("updated_at")) if status == "completed" else None
    message = s(dig(run, "head_commit", "message"))
    branch = s(run.get("head_branch"))
    prs = [p for p in run.get("pull_requests") or [] if isinstance(p, Mapping)]
    name = s(run.get("name")) or s(dig(body, "workflow", "name")) or "workflow"
    return BuildEvent(
        source="github",
        event=event,
        delivery_id=delivery,
        repository=_repo(body),
        branch=branch,
        commit=s(run.get("head_sha")),
        url=s(run.get("html_url")),
        jira_keys=jirakeys.extract(message, branch),
        raw=body,
        pipeline=name.lower().replace(" ", "-"),
        pipeline_name=name,
        number=req_int(run, "run_number", "workflow_run"),
        state=state,
        build_id=s(run.get("id")),
        message=message,
        author=s(dig(run, "head_commit", "author", "name")),
        author_email=s(dig(run, "head_commit", "author", "email")),
        build_source=s(run.get("event")),
        created_at=lenient_time(run.get("created_at")),
        started_at=started,
        finished_at=finished,
        duration_s=duration(started, finished),
        pull_request=int(prs[0]["number"])
        if prs and isinstance(prs[0].get("number"), int)
        else None,
    )


def _check(body: Mapping[str, Any], event: str, delivery: str | None, key: str) -> StatusEvent:
    check = obj(body, key)
    suite = o(check.get("check_suite")) if key == "check_run" else check
    return StatusEvent(
        source="github",
        event=event,
        delivery_id=delivery,
        repository=_repo(body),
        branch=s(suite.get("head_branch")),
        commit=s(check.get("head_sha")),
        url=s(check.get("html_url")) or s(check.get("url")),
        raw=body,
        state=req_str(check, "status", key),
        conclusion=s(check.get("conclusion")),
        name=s(check.get("name")) or s(dig(check, "app", "name")),
    )


def normalize(body: Mapping[str, Any], event: str, headers: Mapping[str, str]) -> Event:
    delivery = headers.get("x-github-delivery")
    if event == "ping":
        return PingEvent(
            source="github", event=event, delivery_id=delivery, repository=_repo(body), raw=body
        )
    if event == "push":
        return _push(body, event, delivery)
    if event == "pull_request":
        return _pull_request(body, event, delivery)
    if event == "workflow_run":
        return _workflow_run(body, event, delivery)
    if event in ("check_run", "check_suite"):
        return _check(body, event, delivery, event)
    if event == "status":
        branches = [b for b in body.get("branches") or [] if isinstance(b, Mapping)]
        return StatusEvent(
            source="github",
            event=event,
            delivery_id=delivery,
            repository=_repo(body),
            branch=s(branches[0].get("name")) if branches else None,
            commit=req_str(body, "sha"),
            url=s(body.get("target_url")),
            raw=body,
            state=req_str(body, "state"),
            name=s(body.get("context")),
            description=s(body.get("description")),
        )
    return OtherEvent(
        source="github",
        event=event,
        delivery_id=delivery,
        repository=_repo(body),
        raw=body,
        action=s(body.get("action")),
    )
