"""The Pub/Sub attributes ingest publishes, read cheaply from headers and the top of the body.

``source``, ``event`` (the vendor's own event name, as its docs spell it),
``delivery_id``, and where cheap ``pipeline``, ``branch`` and ``state``, so
subscriptions can filter without decoding the payload.

``delivery_id`` is the key every function dedupes on, so it comes from signed
material only: a header outside the signature can be changed or stripped by
whoever replays a captured request.

* GitLab with a signing token (Standard Webhooks): ``gitlab:<webhook-id>``;
  the signature covers the id (``verify`` checks that scheme first);
* everyone else: ``sha256:<digest of source + the exact body>`` (GitHub,
  Bitbucket and Jira sign only the body; Buildkite's signature adds a
  timestamp, which a vendor's own resend changes; GitLab's X-Gitlab-Token and
  Azure DevOps' basic auth sign nothing).

The vendor's unsigned delivery header (``X-GitHub-Delivery``, ``X-Request-Id``,
``Idempotency-Key``, …) is kept as the plain attribute ``vendor_delivery``,
for tracing only. A replay is recognised as long as the functions remember the
key (``DEFAULT_DONE_TTL_S``, 7 days) and, at ingest, while its recent-delivery
set holds it.
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
    """The delivery key, from signed material only (see the module's doc)."""
    if source == "gitlab" and headers.get("webhook-signature") and headers.get("webhook-id"):
        return f"gitlab:{headers['webhook-id']}"
    digest = hashlib.sha256(source.encode("utf-8") + b"\n" + raw).hexdigest()
    return f"sha256:{digest[:40]}"


def vendor_delivery(source: str, headers: Mapping[str, str]) -> str:
    """The vendor's own (unsigned) delivery header, kept for tracing, never a key."""
    for header in _DELIVERY_HEADERS.get(source, ()):
        if headers.get(header):
            return headers[header]
    return ""


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
    vendor = vendor_delivery(source, headers)
    if vendor:
        attributes["vendor_delivery"] = _truncate(vendor)
    attributes.update(cheap_facts(source, body))
    return attributes
