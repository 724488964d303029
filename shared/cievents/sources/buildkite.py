"""Buildkite webhook bodies (and the Pub/Sub bridge shape) → typed events.

Two shapes arrive:

* the webhook body: ``{"event": "build.finished", "build": {...},
  "pipeline": {...}, "sender": {...}}`` (job events add ``"job": {...}``);
* the bridge shape many Buildkite-to-Pub/Sub tools publish:
  ``{"event_type": "build.finished", "build": {...}, "pipeline": {...}}``,
  where ``build.pipeline`` may be a plain string and unset times are Go's
  zero time.

The ``build``/``job``/``pipeline`` objects are Buildkite's REST API objects
(webhook builds carry no ``jobs`` array). ``author`` may be an object or a
bare e-mail; ``creator`` may be missing; a blocked build keeps its last
``state`` and sets ``blocked: true``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cievents import frozen, jirakeys
from cievents.errors import ValidationError
from cievents.events import BuildEvent, Event, JobEvent, OtherEvent, PingEvent
from cievents.payload import (
    ascii_digits,
    duration,
    opt_bool,
    opt_int,
    opt_obj,
    opt_str,
    opt_time,
    req_int,
    req_str,
)

_ORG_FROM_URL = re.compile(r"/organizations/([^/]+)/pipelines/([^/]+)")
_ORG_FROM_WEB = re.compile(r"buildkite\.com/([^/]+)/([^/]+)/builds/")


def event_name(body: Mapping[str, Any], headers: Mapping[str, str]) -> str:
    name = headers.get("x-buildkite-event") or body.get("event") or body.get("event_type")
    if not isinstance(name, str) or not name:
        raise ValidationError(
            "Buildkite payload has no event name (X-Buildkite-Event, 'event' or 'event_type')",
            reason="bad_field",
        )
    return name


def _author(build: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(name, email) from ``author``, which may be an object or a bare e-mail."""
    author = build.get("author")
    if isinstance(author, str):
        return (
            author.split("@", 1)[0] if "@" in author else author,
            author if "@" in author else None,
        )
    if type(author) is dict or isinstance(author, Mapping):
        name = author.get("name") or author.get("username")
        email = author.get("email")
        return (str(name) if name else None, str(email) if email else None)
    creator = opt_obj(build, "creator")
    name = creator.get("name")
    email = creator.get("email")
    return (str(name) if name else None, str(email) if email else None)


def _pipeline_identity(
    body: Mapping[str, Any], build: Mapping[str, Any]
) -> tuple[str, str | None, str | None, str | None]:
    """(slug, name, organization, repository) from wherever the shape keeps them."""
    pipeline: Mapping[str, Any] = opt_obj(body, "pipeline") or opt_obj(build, "pipeline")
    slug = pipeline.get("slug")
    name = pipeline.get("name")
    repository = pipeline.get("repository")
    org = None
    if isinstance(build.get("pipeline"), str):  # bridge shape
        slug = slug or build["pipeline"]
    # Each place below only fills what is still unknown (``x = x or ...``): once the slug
    # and the organization are known, the rest is not searched.
    for url in (pipeline.get("url"), build.get("url")):
        if org and slug:
            break
        if isinstance(url, str) and (m := _ORG_FROM_URL.search(url)):
            org = org or m.group(1)
            slug = slug or m.group(2)
    web = build.get("web_url")
    if not (org and slug) and isinstance(web, str) and (m := _ORG_FROM_WEB.search(web)):
        org = org or m.group(1)
        slug = slug or m.group(2)
    if not org:
        organization = build.get("organization") or body.get("organization")
        if type(organization) is dict or isinstance(organization, Mapping):
            organization = organization.get("slug")
        if isinstance(organization, str) and organization:
            org = organization
    if not isinstance(slug, str) or not slug:
        if isinstance(name, str) and name:
            slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        else:
            raise ValidationError(
                "pipeline.slug: expected a non-empty string, missing", reason="bad_field"
            )
    return (
        slug,
        name if isinstance(name, str) else None,
        org,
        repository if isinstance(repository, str) else None,
    )


def _pull_request(build: Mapping[str, Any]) -> tuple[int | None, str | None]:
    pr = build.get("pull_request")
    if type(pr) is dict or isinstance(pr, Mapping):
        number = opt_int(pr, "id", "build.pull_request")
        repo = pr.get("repository")
        return number, repo if isinstance(repo, str) else None
    if isinstance(pr, int | str) and ascii_digits(str(pr)):
        return int(pr), None
    return None, None


def _shared(
    body: Mapping[str, Any], event: str, build: Mapping[str, Any], delivery_id: str | None
) -> tuple[dict[str, Any], str | None]:
    """The fields a build event and a job event take alike from the body and its build, and
    the pipeline's name. Built as the event's ``__dict__`` (``frozen.new``): a frozen
    dataclass's ``__init__`` sets its thirty fields one ``object.__setattr__`` each."""
    slug, name, org, repository = _pipeline_identity(body, build)
    number = req_int(build, "number", "build")
    author, email = _author(build)
    message = opt_str(build, "message", "build")
    branch = opt_str(build, "branch", "build")
    fields = {
        "source": "buildkite",
        "event": event,
        "delivery_id": delivery_id,
        "repository": repository,
        "branch": branch,
        "commit": opt_str(build, "commit", "build"),
        "jira_keys": jirakeys.lazy(message, branch),
        "raw": body,
        "pipeline": slug,
        "organization": org,
        "number": number,
        "build_id": opt_str(build, "id", "build"),
        "message": message,
        "author": author,
        "author_email": email,
    }
    return fields, name


def _build_event(
    body: Mapping[str, Any], event: str, build: Mapping[str, Any], delivery_id: str | None
) -> BuildEvent:
    fields, name = _shared(body, event, build, delivery_id)
    state = req_str(build, "state", "build")
    creator = opt_obj(build, "creator").get("name")
    started = opt_time(build, "started_at", "build")
    finished = opt_time(build, "finished_at", "build")
    pr_number, pr_repo = _pull_request(build)
    fields.update(
        url=opt_str(build, "web_url", "build"),
        pipeline_name=name,
        state=state,
        blocked=opt_bool(build, "blocked"),
        creator=str(creator) if creator else None,
        build_source=opt_str(build, "source", "build"),
        tag=opt_str(build, "tag", "build"),
        created_at=opt_time(build, "created_at", "build"),
        scheduled_at=opt_time(build, "scheduled_at", "build"),
        started_at=started,
        finished_at=finished,
        duration_s=duration(started, finished),
        pull_request=pr_number,
        pull_request_repository=pr_repo,
        api_url=opt_str(build, "url", "build"),
    )
    return frozen.new(BuildEvent, fields)


def _job_event(
    body: Mapping[str, Any], event: str, job: Mapping[str, Any], delivery_id: str | None
) -> JobEvent:
    build = opt_obj(body, "build")
    fields, _name = _shared(body, event, build, delivery_id)
    agent = opt_obj(job, "agent")
    started = opt_time(job, "started_at", "job")
    finished = opt_time(job, "finished_at", "job")
    retry_source = opt_obj(job, "retry_source")
    pr_number, _ = _pull_request(build)
    exit_status = opt_int(job, "exit_status", "job")
    if exit_status is None and event == "job.promised_exit_status":
        exit_status = opt_int(job, "promised_exit_status", "job")
    fields.update(
        url=opt_str(job, "web_url", "job"),
        job_id=req_str(job, "id", "job"),
        state=req_str(job, "state", "job"),
        job_name=opt_str(job, "name", "job") or opt_str(job, "label", "job"),
        job_type=opt_str(job, "type", "job"),
        step_key=opt_str(job, "step_key", "job"),
        build_state=opt_str(build, "state", "build"),
        build_url=opt_str(build, "web_url", "build"),
        exit_status=exit_status,
        soft_failed=opt_bool(job, "soft_failed"),
        agent=str(agent.get("name")) if agent.get("name") else None,
        log_url=opt_str(job, "raw_log_url", "job") or opt_str(job, "log_url", "job"),
        retried=opt_bool(job, "retried"),
        retries_count=opt_int(job, "retries_count", "job") or 0,
        retry_source=str(retry_source.get("job_id")) if retry_source.get("job_id") else None,
        created_at=opt_time(job, "created_at", "job"),
        scheduled_at=opt_time(job, "scheduled_at", "job"),
        runnable_at=opt_time(job, "runnable_at", "job"),
        started_at=started,
        finished_at=finished,
        duration_s=duration(started, finished),
        pull_request=pr_number,
    )
    return frozen.new(JobEvent, fields)


def normalize(body: Mapping[str, Any], event: str, headers: Mapping[str, str]) -> Event:
    delivery_id = headers.get("x-request-id") or None
    family = event.split(".", 1)[0]
    if family == "build":
        build = body.get("build")
        if not (type(build) is dict or isinstance(build, Mapping)):
            raise ValidationError(
                f"{event}: 'build' is missing or not an object", reason="bad_field"
            )
        return _build_event(body, event, build, delivery_id)
    if family == "job":
        job = body.get("job")
        if not isinstance(job, Mapping):
            raise ValidationError(f"{event}: 'job' is missing or not an object", reason="bad_field")
        if not isinstance(body.get("build"), Mapping):
            raise ValidationError(
                f"{event}: 'build' is missing or not an object", reason="bad_field"
            )
        return _job_event(body, event, job, delivery_id)
    result: Event
    if event == "ping":
        result = PingEvent(source="buildkite", event=event, raw=body)
    else:
        result = OtherEvent(source="buildkite", event=event, raw=body)
    if delivery_id:
        from dataclasses import replace

        result = replace(result, delivery_id=delivery_id)
    return result
