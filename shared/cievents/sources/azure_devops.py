"""Azure DevOps service-hook bodies → typed events. The event is ``eventType`` in the body
(no header, no signature); the subscription's "resource details" setting decides how much
of ``resource`` there is, so only ``eventType`` and the ids used are required."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cievents import jirakeys
from cievents.errors import ValidationError
from cievents.events import (
    BuildEvent,
    ChangedField,
    CommitInfo,
    Event,
    OtherEvent,
    PullRequestEvent,
    PushEvent,
    WorkItemEvent,
)
from cievents.payload import duration, obj
from cievents.sources._common import (
    branch_of,
    dig,
    integer,
    lenient_time,
    o,
    real_sha,
    s,
    tag_of,
)

_RESULTS = {
    "succeeded": "passed",
    "partiallySucceeded": "passed",
    "failed": "failed",
    "canceled": "canceled",
    "cancelled": "canceled",
}
_RUN_STATES = {
    "inProgress": "running",
    "canceling": "canceling",
    "completed": "passed",
    "notStarted": "scheduled",
    "postponed": "scheduled",
}


def event_name(body: Mapping[str, Any], headers: Mapping[str, str]) -> str:
    name = s(body.get("eventType"))
    if not name:
        raise ValidationError("Azure DevOps payload has no eventType", reason="bad_field")
    return name


def _push(body: Mapping[str, Any], event: str, resource: Mapping[str, Any]) -> PushEvent:
    updates = [u for u in resource.get("refUpdates") or [] if isinstance(u, Mapping)]
    update = updates[0] if updates else {}
    ref = s(update.get("name"))
    commits = tuple(
        CommitInfo(
            id=str(c.get("commitId")),
            message=s(c.get("comment")) or "",
            author=s(dig(c, "author", "name")),
            author_email=s(dig(c, "author", "email")),
            timestamp=lenient_time(dig(c, "author", "date")),
            url=s(c.get("url")),
        )
        for c in resource.get("commits") or []
        if isinstance(c, Mapping) and c.get("commitId")
    )
    branch = branch_of(ref)
    return PushEvent(
        source="azure-devops",
        event=event,
        repository=s(dig(resource, "repository", "remoteUrl"))
        or s(dig(resource, "repository", "name")),
        branch=branch,
        commit=real_sha(s(update.get("newObjectId"))),
        url=s(resource.get("url")),
        jira_keys=jirakeys.extract(branch, *(c.message for c in commits)),
        raw=body,
        ref=ref,
        tag=tag_of(ref),
        before=real_sha(s(update.get("oldObjectId"))),
        created=real_sha(s(update.get("oldObjectId"))) is None,
        deleted=real_sha(s(update.get("newObjectId"))) is None,
        pusher=s(dig(resource, "pushedBy", "displayName")),
        commits=commits,
    )


def _pull_request(
    body: Mapping[str, Any], event: str, resource: Mapping[str, Any]
) -> PullRequestEvent:
    number = integer(resource.get("pullRequestId"))
    if number is None:
        raise ValidationError("resource.pullRequestId: expected an integer", reason="bad_field")
    status = s(resource.get("status"))
    action = (
        "opened"
        if event.endswith(".created")
        else "merged"
        if status == "completed"
        else "closed"
        if status == "abandoned"
        else "updated"
    )
    title = s(resource.get("title")) or ""
    branch = branch_of(s(resource.get("sourceRefName")))
    return PullRequestEvent(
        source="azure-devops",
        event=event,
        repository=s(dig(resource, "repository", "remoteUrl")),
        branch=branch,
        commit=s(dig(resource, "lastMergeSourceCommit", "commitId")),
        url=s(dig(resource, "_links", "web", "href")) or s(resource.get("url")),
        jira_keys=jirakeys.extract(title, branch),
        raw=body,
        number=number,
        action=action,
        title=title,
        state=status,
        base_branch=branch_of(s(resource.get("targetRefName"))),
        author=s(dig(resource, "createdBy", "displayName")),
        merged=status == "completed",
        merge_commit=s(dig(resource, "lastMergeCommit", "commitId")),
    )


def _build(body: Mapping[str, Any], event: str, resource: Mapping[str, Any]) -> BuildEvent:
    if event == "build.complete":
        definition = o(resource.get("definition"))
        state = _RESULTS.get(s(resource.get("result")) or s(resource.get("status")) or "", "failed")
        started, finished = (
            lenient_time(resource.get("startTime")),
            lenient_time(resource.get("finishTime")),
        )
        number = integer(resource.get("id"))
        name = s(definition.get("name")) or "build"
        branch = branch_of(s(resource.get("sourceBranch"))) or s(resource.get("sourceBranch"))
        url = s(dig(resource, "_links", "web", "href")) or s(resource.get("url"))
        commit = s(resource.get("sourceVersion"))
        author = s(dig(resource, "requests", "0", "requestedFor", "displayName")) or s(
            dig(resource, "requestedFor", "displayName")
        )
        created = lenient_time(resource.get("queueTime"))
    else:  # ms.vss-pipelines.run-state-changed-event
        run, pipeline = obj(resource, "run", "resource"), o(resource.get("pipeline"))
        result = s(run.get("result"))
        state = _RESULTS.get(result or "", "") or _RUN_STATES.get(
            s(run.get("state")) or "", "running"
        )
        started, finished = (
            lenient_time(run.get("createdDate")),
            lenient_time(run.get("finishedDate")),
        )
        number = integer(run.get("id")) or integer(resource.get("runId"))
        name = s(pipeline.get("name")) or "pipeline"
        branch = None
        url = s(dig(run, "_links", "web", "href")) or s(run.get("url"))
        commit, author, created = None, None, started
    if number is None:
        raise ValidationError("resource id: expected an integer", reason="bad_field")
    message = s(dig(body, "message", "text"))
    return BuildEvent(
        source="azure-devops",
        event=event,
        branch=branch,
        commit=commit,
        url=url,
        jira_keys=jirakeys.extract(branch),
        raw=body,
        pipeline=name.lower().replace(" ", "-"),
        pipeline_name=name,
        number=number,
        state=state,
        message=message,
        author=author,
        created_at=created,
        started_at=started,
        finished_at=finished,
        duration_s=duration(started, finished),
    )


def _value(field: Any) -> str | None:
    return s(field) if not isinstance(field, Mapping) else s(field.get("newValue"))


def _work_item(body: Mapping[str, Any], event: str, resource: Mapping[str, Any]) -> WorkItemEvent:
    fields = o(resource.get("fields"))
    current = o(dig(resource, "revision", "fields")) or fields
    changes = tuple(
        ChangedField(field=name, old=s(value.get("oldValue")), new=s(value.get("newValue")))
        for name, value in fields.items()
        if isinstance(value, Mapping) and ("oldValue" in value or "newValue" in value)
    )
    state_change = o(fields.get("System.State"))
    item_id = (
        integer(resource.get("workItemId"))
        or integer(dig(resource, "revision", "id"))
        or integer(resource.get("id"))
    )
    if item_id is None:
        raise ValidationError("resource.id: expected a work item id", reason="bad_field")
    tags = tuple(
        t.strip() for t in (_value(current.get("System.Tags")) or "").split(";") if t.strip()
    )
    title = _value(current.get("System.Title"))
    return WorkItemEvent(
        source="azure-devops",
        event=event,
        url=s(dig(resource, "_links", "html", "href")) or s(resource.get("url")),
        jira_keys=jirakeys.extract(title),
        raw=body,
        item_id=str(item_id),
        action=event.split(".", 1)[1] if "." in event else "updated",
        project=_value(current.get("System.TeamProject")),
        title=title,
        item_type=_value(current.get("System.WorkItemType")),
        status=_value(current.get("System.State")),
        status_from=s(state_change.get("oldValue")),
        status_to=s(state_change.get("newValue")),
        resolution=_value(current.get("Microsoft.VSTS.Common.ResolvedReason")),
        labels=tags,
        changes=changes,
        actor=s(dig(resource, "revisedBy", "displayName")),
    )


def normalize(body: Mapping[str, Any], event: str, headers: Mapping[str, str]) -> Event:
    resource = o(body.get("resource"))
    result: Event
    if event == "git.push":
        result = _push(body, event, resource)
    elif event.startswith("git.pullrequest."):
        result = _pull_request(body, event, resource)
    elif event in ("build.complete", "ms.vss-pipelines.run-state-changed-event"):
        result = _build(body, event, resource)
    elif event.startswith("workitem."):
        result = _work_item(body, event, resource)
    else:
        result = OtherEvent(source="azure-devops", event=event, raw=body)
    delivery = s(body.get("notificationId")) or s(body.get("id"))
    if delivery:
        from dataclasses import replace

        result = replace(result, delivery_id=delivery)
    return result
