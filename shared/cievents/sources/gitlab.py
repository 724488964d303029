"""GitLab webhook bodies → typed events. ``object_kind`` names the event (note that a job
hook says ``build``, and that its ``commit.id`` is a pipeline id)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cievents import jirakeys
from cievents.errors import ValidationError
from cievents.events import (
    BuildEvent,
    Event,
    JobEvent,
    OtherEvent,
    PullRequestEvent,
    PushEvent,
)
from cievents.payload import duration, obj, req_int, req_str
from cievents.sources._common import branch_of, dig, lenient_time, push_commits, real_sha, s, tag_of

_HEADER_KINDS = {
    "Push Hook": "push",
    "Tag Push Hook": "tag_push",
    "Merge Request Hook": "merge_request",
    "Note Hook": "note",
    "Pipeline Hook": "pipeline",
    "Job Hook": "build",
    "Deployment Hook": "deployment",
}
_MR_ACTIONS = {
    "open": "opened",
    "update": "updated",
    "merge": "merged",
    "close": "closed",
    "reopen": "reopened",
}
_STATES = {
    "success": "passed",
    "failed": "failed",
    "canceled": "canceled",
    "running": "running",
    "pending": "scheduled",
    "created": "scheduled",
    "waiting_for_resource": "scheduled",
    "preparing": "scheduled",
    "scheduled": "scheduled",
    "skipped": "skipped",
    "manual": "blocked",
}


def event_name(body: Mapping[str, Any], headers: Mapping[str, str]) -> str:
    kind = s(body.get("object_kind")) or _HEADER_KINDS.get(headers.get("x-gitlab-event", ""))
    # System hooks and group hooks' project events name themselves in event_name
    # (project_create, project_destroy, project_rename, project_transfer, project_update).
    kind = kind or s(body.get("event_name"))
    if not kind:
        raise ValidationError("GitLab payload has no object_kind", reason="bad_field")
    return kind


def _project(body: Mapping[str, Any]) -> str | None:
    return s(dig(body, "project", "path_with_namespace")) or s(dig(body, "project", "name"))


def _push(body: Mapping[str, Any], event: str) -> PushEvent:
    ref = req_str(body, "ref")
    commits = push_commits(body)
    before, after = s(body.get("before")), s(body.get("after"))
    branch = branch_of(ref)
    return PushEvent(
        source="gitlab",
        event=event,
        repository=_project(body),
        branch=branch,
        commit=real_sha(s(body.get("checkout_sha")) or after),
        url=s(dig(body, "project", "web_url")),
        jira_keys=jirakeys.extract(branch, *(c.message for c in commits)),
        raw=body,
        ref=ref,
        tag=tag_of(ref),
        before=real_sha(before),
        created=real_sha(before) is None,
        deleted=real_sha(after) is None,
        pusher=s(body.get("user_username")) or s(body.get("user_name")),
        commits=commits,
    )


def _merge_request(body: Mapping[str, Any], event: str) -> PullRequestEvent:
    attrs = obj(body, "object_attributes")
    title = s(attrs.get("title")) or ""
    branch = s(attrs.get("source_branch"))
    state = s(attrs.get("state"))
    action = _MR_ACTIONS.get(
        s(attrs.get("action")) or "", "merged" if state == "merged" else "other"
    )
    return PullRequestEvent(
        source="gitlab",
        event=event,
        repository=_project(body),
        branch=branch,
        commit=s(dig(attrs, "last_commit", "id")),
        url=s(attrs.get("url")),
        jira_keys=jirakeys.extract(title, branch),
        raw=body,
        number=req_int(attrs, "iid", "object_attributes"),
        action=action,
        title=title,
        state=state,
        base_branch=s(attrs.get("target_branch")),
        author=s(dig(body, "user", "username")),
        merged=state == "merged",
        merge_commit=s(attrs.get("merge_commit_sha")),
        draft=bool(attrs.get("draft") or attrs.get("work_in_progress")),
    )


def _pipeline(body: Mapping[str, Any], event: str) -> BuildEvent:
    attrs = obj(body, "object_attributes")
    status = req_str(attrs, "status", "object_attributes")
    created, finished = (
        lenient_time(attrs.get("created_at")),
        lenient_time(attrs.get("finished_at")),
    )
    message = s(dig(body, "commit", "message"))
    ref = s(attrs.get("ref"))
    project = _project(body) or "gitlab"
    mr = body.get("merge_request")
    return BuildEvent(
        source="gitlab",
        event=event,
        repository=project,
        branch=ref,
        commit=s(attrs.get("sha")),
        url=s(attrs.get("url")) or s(dig(body, "project", "web_url")),
        jira_keys=jirakeys.extract(message, ref),
        raw=body,
        pipeline=project,
        pipeline_name=s(dig(body, "project", "name")),
        number=req_int(attrs, "iid", "object_attributes")
        if attrs.get("iid") is not None
        else req_int(attrs, "id", "object_attributes"),
        state=_STATES.get(status, status),
        build_id=s(attrs.get("id")),
        message=message,
        author=s(dig(body, "commit", "author", "name")),
        author_email=s(dig(body, "commit", "author", "email")),
        build_source=s(attrs.get("source")),
        tag=ref if attrs.get("tag") else None,
        created_at=created,
        finished_at=finished,
        duration_s=float(attrs["duration"])
        if isinstance(attrs.get("duration"), int | float)
        else duration(created, finished),
        pull_request=int(mr["iid"])
        if isinstance(mr, Mapping) and isinstance(mr.get("iid"), int)
        else None,
    )


def _job(body: Mapping[str, Any], event: str) -> JobEvent:
    status = req_str(body, "build_status")
    started, finished = (
        lenient_time(body.get("build_started_at")),
        lenient_time(body.get("build_finished_at")),
    )
    message = s(dig(body, "commit", "message"))
    ref = s(body.get("ref"))
    project = s(body.get("project_name")) or _project(body) or "gitlab"
    return JobEvent(
        source="gitlab",
        event=event,
        repository=s(dig(body, "repository", "homepage")) or project,
        branch=ref,
        commit=s(body.get("sha")),
        jira_keys=jirakeys.extract(message, ref),
        raw=body,
        pipeline=project,
        number=req_int(body, "pipeline_id"),
        job_id=req_str(body, "build_id"),
        state=_STATES.get(status, status),
        job_name=s(body.get("build_name")),
        step_key=s(body.get("build_stage")),
        message=message,
        author=s(dig(body, "commit", "author_name")),
        author_email=s(dig(body, "commit", "author_email")),
        agent=s(dig(body, "runner", "description")),
        exit_status=1 if status == "failed" else 0 if status == "success" else None,
        soft_failed=bool(body.get("build_allow_failure")) and status == "failed",
        started_at=started,
        finished_at=finished,
        duration_s=duration(started, finished),
    )


def normalize(body: Mapping[str, Any], event: str, headers: Mapping[str, str]) -> Event:
    delivery = headers.get("x-gitlab-event-uuid") or headers.get("idempotency-key")
    result: Event
    if event in ("push", "tag_push"):
        result = _push(body, event)
    elif event == "merge_request":
        result = _merge_request(body, event)
    elif event == "pipeline":
        result = _pipeline(body, event)
    elif event == "build":
        result = _job(body, event)
    else:
        attrs = body.get("object_attributes")
        text = s(attrs.get("note")) if isinstance(attrs, Mapping) else None
        result = OtherEvent(
            source="gitlab",
            event=event,
            repository=_project(body),
            raw=body,
            jira_keys=jirakeys.extract(text),
            action=s(body.get("status")) or event,
        )
    if delivery:
        from dataclasses import replace

        result = replace(result, delivery_id=delivery)
    return result
