"""The Pub/Sub attributes ingest publishes, read cheaply from headers and the top of the body.

``source``, ``event`` (the vendor's own event name, as its docs spell it),
``delivery_id`` (the vendor's delivery header, else a hash of the body so a
resent body is still recognised), and where cheap ``pipeline``, ``branch`` and
``state``, so subscriptions can filter without decoding the payload.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

MAX_ATTRIBUTE_BYTES = 1024  # Pub/Sub's limit on an attribute value

_DELIVERY_HEADERS = {
    "github": ("x-github-delivery",),
    "gitlab": ("idempotency-key", "x-gitlab-event-uuid", "webhook-id"),
    "bitbucket": ("x-request-uuid",),
    "jira": ("x-atlassian-webhook-identifier",),
    "buildkite": ("x-request-id",),
    "azure-devops": (),
}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def event_name(source: str, headers: Mapping[str, str], body: Mapping[str, Any]) -> str:
    if source == "buildkite":
        return (
            headers.get("x-buildkite-event")
            or _str(body.get("event"))
            or _str(body.get("event_type"))
        )
    if source == "github":
        return headers.get("x-github-event", "")
    if source == "gitlab":
        return (
            _str(body.get("object_kind"))
            or _str(body.get("event_name"))
            or headers.get("x-gitlab-event", "")
        )
    if source == "bitbucket":
        return headers.get("x-event-key", "")
    if source == "azure-devops":
        return _str(body.get("eventType"))
    return _str(body.get("webhookEvent"))


def delivery_id(
    source: str, headers: Mapping[str, str], body: Mapping[str, Any], raw: bytes
) -> str:
    for header in _DELIVERY_HEADERS.get(source, ()):
        if headers.get(header):
            return headers[header]
    if source == "azure-devops":
        for key in ("notificationId", "id"):
            value = body.get(key)
            if isinstance(value, str | int) and str(value):
                return f"{body.get('subscriptionId', '')}:{value}".lstrip(":")
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:40]


def _ref_branch(ref: str) -> str:
    return ref.removeprefix("refs/heads/") if ref.startswith("refs/heads/") else ""


def cheap_facts(source: str, body: Mapping[str, Any]) -> dict[str, str]:
    """pipeline / branch / state, when the body has them at a known, shallow place."""
    facts: dict[str, str] = {}
    if source == "buildkite":
        build, pipeline = _obj(body.get("build")), _obj(body.get("pipeline"))
        facts["pipeline"] = _str(pipeline.get("slug")) or (
            _str(build.get("pipeline")) if isinstance(build.get("pipeline"), str) else ""
        )
        facts["branch"] = _str(build.get("branch"))
        facts["state"] = _str(_obj(body.get("job")).get("state")) or _str(build.get("state"))
    elif source == "github":
        facts["branch"] = _ref_branch(_str(body.get("ref")))
        pr = _obj(body.get("pull_request"))
        run = (
            _obj(body.get("workflow_run"))
            or _obj(body.get("check_run"))
            or _obj(body.get("check_suite"))
        )
        if pr:
            facts["branch"] = _str(_obj(pr.get("head")).get("ref"))
            facts["state"] = _str(body.get("action"))
        elif run:
            facts["branch"] = _str(run.get("head_branch"))
            facts["state"] = _str(run.get("conclusion")) or _str(run.get("status"))
            facts["pipeline"] = _str(run.get("name"))
        elif body.get("state"):
            facts["state"] = _str(body.get("state"))
    elif source == "gitlab":
        attrs = _obj(body.get("object_attributes"))
        facts["branch"] = (
            _ref_branch(_str(body.get("ref")))
            or _str(attrs.get("ref"))
            or _str(attrs.get("source_branch"))
            or _str(body.get("ref"))
        )
        facts["state"] = (
            _str(attrs.get("status")) or _str(attrs.get("state")) or _str(body.get("build_status"))
        )
        facts["pipeline"] = _str(_obj(body.get("project")).get("path_with_namespace"))
    elif source == "bitbucket":
        changes = _obj(body.get("push")).get("changes")
        if isinstance(changes, list) and changes:
            new = _obj(_obj(changes[0]).get("new"))
            if new.get("type") == "branch":
                facts["branch"] = _str(new.get("name"))
        pr = _obj(body.get("pullrequest"))
        if pr:
            facts["branch"] = _str(_obj(_obj(pr.get("source")).get("branch")).get("name"))
            facts["state"] = _str(pr.get("state"))
    elif source == "azure-devops":
        resource = _obj(body.get("resource"))
        facts["state"] = (
            _str(resource.get("status"))
            or _str(resource.get("result"))
            or _str(_obj(resource.get("run")).get("state"))
        )
        facts["branch"] = _ref_branch(_str(resource.get("sourceRefName"))) or _ref_branch(
            _str(resource.get("sourceBranch"))
        )
    elif source == "jira":
        fields = _obj(_obj(body.get("issue")).get("fields"))
        facts["state"] = _str(_obj(fields.get("status")).get("name"))
    return {k: _truncate(v) for k, v in facts.items() if v}


def _truncate(value: str) -> str:
    encoded = value.encode("utf-8")
    if len(encoded) <= MAX_ATTRIBUTE_BYTES:
        return value
    return encoded[:MAX_ATTRIBUTE_BYTES].decode("utf-8", errors="ignore")


def attributes_for(
    source: str, headers: Mapping[str, str], body: Mapping[str, Any], raw: bytes
) -> dict[str, str]:
    attributes = {
        "source": source,
        "event": _truncate(event_name(source, headers, body) or "unknown"),
        "delivery_id": _truncate(delivery_id(source, headers, body, raw)),
    }
    attributes.update(cheap_facts(source, body))
    return attributes
