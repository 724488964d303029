"""Vendor payload → typed event, for every source.

``parse(body, source=..., event=..., headers=...)`` is the one entry point:
it guesses the source and event name from the headers and body when they are
not given, then hands the decoded JSON to ``cievents.sources.<vendor>``.
Vendor modules are imported on first use, so a function that only ever sees
Buildkite events never pays for the others at cold start.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, Protocol

from cievents import jsonsafe
from cievents.errors import ValidationError
from cievents.events import Event

SOURCES = ("buildkite", "github", "gitlab", "bitbucket", "azure-devops", "jira")

_MODULES = {
    "buildkite": "cievents.sources.buildkite",
    "github": "cievents.sources.github",
    "gitlab": "cievents.sources.gitlab",
    "bitbucket": "cievents.sources.bitbucket",
    "azure-devops": "cievents.sources.azure_devops",
    "jira": "cievents.sources.jira",
}


class SourceModule(Protocol):
    def event_name(self, body: Mapping[str, Any], headers: Mapping[str, str]) -> str: ...

    def normalize(
        self, body: Mapping[str, Any], event: str, headers: Mapping[str, str]
    ) -> Event: ...


_LOADED: dict[str, SourceModule] = {}


def module_for(source: str) -> SourceModule:
    module = _LOADED.get(source)
    if module is not None:  # every message after the first: no import machinery
        return module
    try:
        name = _MODULES[source]
    except KeyError:
        raise ValidationError(
            f"unknown source {source!r} (known: {', '.join(SOURCES)})", reason="unknown_source"
        ) from None
    module = _LOADED[source] = importlib.import_module(name)
    return module


def lower_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (headers or {}).items()}


def detect_source(body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> str:
    """Guess the vendor from its headers, else from the body's shape."""
    h = lower_headers(headers)
    if "x-buildkite-event" in h or "x-buildkite-signature" in h or "x-buildkite-token" in h:
        return "buildkite"
    if "x-github-event" in h:
        return "github"
    if "x-gitlab-event" in h or "x-gitlab-token" in h:
        return "gitlab"
    if "x-event-key" in h:
        return "bitbucket"
    if "x-atlassian-webhook-identifier" in h:
        return "jira"
    if "eventType" in body and ("publisherId" in body or "resource" in body):
        return "azure-devops"
    if "webhookEvent" in body:
        return "jira"
    if "object_kind" in body:
        return "gitlab"
    event = body.get("event") or body.get("event_type")
    if isinstance(event, str) and (
        "build" in body
        or "job" in body
        or "agent" in body
        or event == "ping"
        or event.split(".", 1)[0] in ("build", "job", "agent", "cluster_token")
    ):
        return "buildkite"
    if "repository" in body and isinstance(body.get("repository"), Mapping):
        repo = body["repository"]
        if "full_name" in repo and ("links" in repo or "uuid" in repo):
            return "bitbucket"
        if "full_name" in repo or "html_url" in repo or "zen" in body or "hook" in body:
            return "github"
    if "pullrequest" in body or ("push" in body and "actor" in body):
        return "bitbucket"
    if "zen" in body or "hook_id" in body:
        return "github"
    raise ValidationError(
        "cannot tell the source of this payload; pass it explicitly", reason="unknown_source"
    )


def decode_body(body: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    """Bytes or text → a JSON object, with ValidationErrors that say what is wrong."""
    if type(body) is dict or isinstance(body, Mapping):
        return body
    if isinstance(body, bytes):
        try:
            body = body.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValidationError(
                f"payload is not UTF-8 (byte {exc.start})", reason="not_utf8"
            ) from None
    data = jsonsafe.loads(body, "payload")
    if type(data) is not dict:  # what the decoder makes of a JSON object, exactly
        raise ValidationError(
            f"payload is a JSON {type(data).__name__}, expected an object", reason="bad_json"
        )
    return data


def parse(
    body: bytes | str | Mapping[str, Any],
    *,
    source: str | None = None,
    event: str | None = None,
    headers: Mapping[str, str] | None = None,
    delivery_id: str | None = None,
) -> Event:
    """Normalize one vendor payload; raises ValidationError on anything malformed."""
    data = decode_body(body)
    h = lower_headers(headers)
    src = source or detect_source(data, h)
    module = module_for(src)
    name = event or module.event_name(data, h)
    result = module.normalize(data, name, h)
    if delivery_id and result.delivery_id is None:
        return with_delivery_id(result, delivery_id)
    return result


def with_delivery_id(event: Event, delivery_id: str) -> Event:
    """``event`` with its delivery id set: a copy with one field changed, as
    ``dataclasses.replace`` makes, without re-running every field's ``__init__``
    (it runs on every message). The shallow copy ``copy.copy`` makes of a dataclass
    instance, without its reduce protocol: a new instance given the same ``__dict__``."""
    cls = type(event)
    changed = cls.__new__(cls)
    changed.__dict__.update(event.__dict__)
    object.__setattr__(changed, "delivery_id", delivery_id)
    return changed


def parse_message(message: Any) -> Event:
    """Normalize the payload of a Pub/Sub ``Message``, trusting its attributes when set.

    Messages from ingest carry ``source``/``event``/``delivery_id`` attributes;
    messages published by other tools may carry none, and are detected from the body.
    """
    attributes: Mapping[str, str] = message.attributes
    return parse(
        message.data,
        source=attributes.get("source") or None,
        event=attributes.get("event") or None,
        delivery_id=attributes.get("delivery_id") or None,
    )
