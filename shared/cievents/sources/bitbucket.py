"""Bitbucket Cloud webhook bodies → typed events (``X-Event-Key`` names the event)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cievents import jirakeys
from cievents.errors import ValidationError
from cievents.events import CommitInfo, Event, OtherEvent, PullRequestEvent, PushEvent
from cievents.payload import obj, req_int
from cievents.sources._common import dig, lenient_time, o, s

_PR_ACTIONS = {
    "pullrequest:created": "opened",
    "pullrequest:updated": "updated",
    "pullrequest:fulfilled": "merged",
    "pullrequest:rejected": "closed",
}


def event_name(body: Mapping[str, Any], headers: Mapping[str, str]) -> str:
    if headers.get("x-event-key"):
        return headers["x-event-key"]
    if "push" in body:
        return "repo:push"
    if "pullrequest" in body:
        state = dig(body, "pullrequest", "state")
        return {"MERGED": "pullrequest:fulfilled", "DECLINED": "pullrequest:rejected"}.get(
            str(state), "pullrequest:updated"
        )
    raise ValidationError(
        "Bitbucket payload: cannot tell the event; pass X-Event-Key", reason="bad_field"
    )


def _repo(body: Mapping[str, Any]) -> str | None:
    return s(dig(body, "repository", "full_name"))


def _push(body: Mapping[str, Any], event: str, delivery: str | None) -> PushEvent:
    changes = [c for c in dig(body, "push", "changes") or [] if isinstance(c, Mapping)]
    if not changes:
        raise ValidationError("push.changes: expected a non-empty list", reason="bad_field")
    change = changes[0]
    new, old = o(change.get("new")), o(change.get("old"))
    kind = s(new.get("type")) or s(old.get("type"))
    name = s(new.get("name")) or s(old.get("name"))
    commits = tuple(
        CommitInfo(
            id=str(c.get("hash")),
            message=s(c.get("message")) or "",
            author=s(dig(c, "author", "user", "display_name")) or s(dig(c, "author", "raw")),
            timestamp=lenient_time(c.get("date")),
            url=s(dig(c, "links", "html", "href")),
        )
        for c in change.get("commits") or []
        if isinstance(c, Mapping) and c.get("hash")
    )
    branch = name if kind == "branch" else None
    return PushEvent(
        source="bitbucket",
        event=event,
        delivery_id=delivery,
        repository=_repo(body),
        branch=branch,
        commit=s(dig(new, "target", "hash")),
        url=s(dig(change, "links", "html", "href")),
        jira_keys=jirakeys.extract(
            branch, *(c.message for c in commits), s(dig(new, "target", "message"))
        ),
        raw=body,
        ref=f"refs/{'heads' if kind == 'branch' else 'tags'}/{name}" if name else None,
        tag=name if kind == "tag" else None,
        before=s(dig(old, "target", "hash")),
        created=bool(change.get("created")),
        deleted=bool(change.get("closed")),
        forced=bool(change.get("forced")),
        pusher=s(dig(body, "actor", "display_name")),
        commits=commits,
    )


def _pull_request(body: Mapping[str, Any], event: str, delivery: str | None) -> PullRequestEvent:
    pr = obj(body, "pullrequest")
    title = s(pr.get("title")) or ""
    branch = s(dig(pr, "source", "branch", "name"))
    state = s(pr.get("state"))
    return PullRequestEvent(
        source="bitbucket",
        event=event,
        delivery_id=delivery,
        repository=_repo(body),
        branch=branch,
        commit=s(dig(pr, "source", "commit", "hash")),
        url=s(dig(pr, "links", "html", "href")),
        jira_keys=jirakeys.extract(title, branch),
        raw=body,
        number=req_int(pr, "id", "pullrequest"),
        action=_PR_ACTIONS.get(event, "other"),
        title=title,
        state=state,
        base_branch=s(dig(pr, "destination", "branch", "name")),
        author=s(dig(pr, "author", "display_name")),
        merged=state == "MERGED",
        merge_commit=s(dig(pr, "merge_commit", "hash")),
    )


def normalize(body: Mapping[str, Any], event: str, headers: Mapping[str, str]) -> Event:
    delivery = headers.get("x-request-uuid")
    if event == "repo:push":
        return _push(body, event, delivery)
    if event.startswith("pullrequest:") and "pullrequest" in body:
        return _pull_request(body, event, delivery)
    return OtherEvent(
        source="bitbucket", event=event, delivery_id=delivery, repository=_repo(body), raw=body
    )
