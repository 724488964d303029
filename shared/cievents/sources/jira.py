"""Jira Cloud webhook bodies → typed events: issue created / updated / deleted as work items
with their changed fields; comments and the rest as ``other`` (with the issue key)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cievents.errors import ValidationError
from cievents.events import ChangedField, Event, OtherEvent, WorkItemEvent
from cievents.payload import obj, req_str
from cievents.sources._common import dig, o, s


def event_name(body: Mapping[str, Any], headers: Mapping[str, str]) -> str:
    name = s(body.get("webhookEvent"))
    if not name:
        raise ValidationError("Jira payload has no webhookEvent", reason="bad_field")
    return name


def _browse_url(issue: Mapping[str, Any], key: str) -> str | None:
    api = s(issue.get("self"))
    if not api or "/rest/" not in api:
        return None
    return api.split("/rest/", 1)[0] + f"/browse/{key}"


def normalize(body: Mapping[str, Any], event: str, headers: Mapping[str, str]) -> Event:
    delivery = headers.get("x-atlassian-webhook-identifier")
    issue = o(body.get("issue"))
    if not event.startswith("jira:issue_"):
        key = s(issue.get("key"))
        return OtherEvent(
            source="jira",
            event=event,
            delivery_id=delivery,
            raw=body,
            jira_keys=(key,) if key else (),
            action=event,
        )
    issue = obj(body, "issue")
    key = req_str(issue, "key", "issue")
    fields = o(issue.get("fields"))
    items = [i for i in dig(body, "changelog", "items") or [] if isinstance(i, Mapping)]
    changes = tuple(
        ChangedField(
            field=str(i.get("field")), old=s(i.get("fromString")), new=s(i.get("toString"))
        )
        for i in items
    )
    status_change = next((c for c in changes if c.field == "status"), None)
    labels = tuple(str(label) for label in fields.get("labels") or [] if isinstance(label, str))
    return WorkItemEvent(
        source="jira",
        event=event,
        delivery_id=delivery,
        url=_browse_url(issue, key),
        jira_keys=(key,),
        raw=body,
        item_id=s(issue.get("id")) or key,
        action=event.removeprefix("jira:issue_"),
        key=key,
        project=s(dig(fields, "project", "key")),
        title=s(fields.get("summary")),
        item_type=s(dig(fields, "issuetype", "name")),
        status=s(dig(fields, "status", "name")),
        status_from=status_change.old if status_change else None,
        status_to=status_change.new if status_change else None,
        resolution=s(dig(fields, "resolution", "name")),
        labels=labels,
        changes=changes,
        actor=s(dig(body, "user", "displayName")) or s(dig(body, "user", "name")),
    )
