"""Buildkite: every vendor fixture either parses or fails with a clear validation error."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cievents.errors import ValidationError
from cievents.events import BuildEvent, JobEvent, OtherEvent, PingEvent
from cievents.sources import parse
from tests.conftest import OWN, vendor_fixtures

# Buildkite publishes only elided skeletons of build and job bodies: they cannot carry
# the fields we use, so they must fail validation with a message naming the field.
EXPECTED = {
    "ping.json": PingEvent,
    "ping.docs-skeleton.json": PingEvent,
    "agent.connected.docs-skeleton.json": OtherEvent,
    "agent.blocked.docs-skeleton.json": OtherEvent,
    "cluster_token.registration_blocked.docs-skeleton.json": OtherEvent,
    "build.scheduled.docs-skeleton.json": "pipeline.slug",
    "build.finished.blocked.docs-skeleton.json": "pipeline.slug",
    "build.finished.trigger-step.docs-skeleton.json": "pipeline.slug",
    "job.started.docs-skeleton.json": "pipeline.slug",
    "job.finished.trigger-job.docs-skeleton.json": "pipeline.slug",
    "job.finished.retried.docs-skeleton.json": "pipeline.slug",
    "job.promised_exit_status.docs-skeleton.json": "pipeline.slug",
}


def test_every_vendor_fixture_is_covered() -> None:
    assert {p.name for p in vendor_fixtures("buildkite")} == set(EXPECTED)


@pytest.mark.parametrize("path", vendor_fixtures("buildkite"), ids=lambda p: p.name)
def test_vendor_fixture(path: Path) -> None:
    expected = EXPECTED[path.name]
    if isinstance(expected, str):
        with pytest.raises(ValidationError, match=expected) as info:
            parse(path.read_bytes(), source="buildkite")
        assert info.value.reason == "bad_field"
    else:
        event = parse(path.read_bytes())
        assert isinstance(event, expected) and event.source == "buildkite"
        assert event.event == json.loads(path.read_bytes())["event"]


def test_skeleton_with_the_rest_filled_in_parses() -> None:
    """The docs skeleton's own fields survive once the elided REST fields are supplied."""
    skeleton = json.loads(
        (
            Path(vendor_fixtures("buildkite")[0]).parent
            / "build.finished.blocked.docs-skeleton.json"
        ).read_text()
    )
    full = json.loads((OWN / "buildkite" / "build.finished.passed-pr.json").read_text())
    full["build"].update({k: v for k, v in skeleton["build"].items() if k != "..."})
    full["sender"] = skeleton["sender"]
    event = parse(full, headers={"X-Buildkite-Event": "build.finished"})
    assert isinstance(event, BuildEvent) and event.blocked and event.state == "passed"


def test_complete_failed_build() -> None:
    event = parse((OWN / "buildkite" / "build.finished.failed.json").read_bytes())
    assert isinstance(event, BuildEvent)
    d = event.to_dict()
    assert {k: d[k] for k in ("source", "event", "kind", "pipeline", "number", "state")} == {
        "source": "buildkite",
        "event": "build.finished",
        "kind": "build",
        "pipeline": "web-app",
        "number": 42,
        "state": "failed",
    }
    assert d["branch"] == "fix/SHOP-311-rounding" and d["commit"].startswith("a1b2c3d")
    assert d["url"] == "https://buildkite.com/acme-inc/web-app/builds/42"
    assert d["message"].startswith("Fix checkout rounding") and d["author"] == "Jane Doe"
    assert d["started_at"] == "2026-11-20T09:58:05Z" and d["finished_at"] == "2026-11-20T10:01:17Z"
    assert d["duration_s"] == 192.0 and d["pull_request"] is None
    assert d["jira_keys"] == ["SHOP-311"] and d["organization"] == "acme-inc"
    assert event.is_final and event.failed and event.short_commit == "a1b2c3d"
    assert "raw" not in d


def test_pull_request_build_and_blocked_build() -> None:
    pr = parse((OWN / "buildkite" / "build.finished.passed-pr.json").read_bytes())
    assert isinstance(pr, BuildEvent) and pr.pull_request == 87
    blocked = parse((OWN / "buildkite" / "build.finished.blocked.json").read_bytes())
    assert isinstance(blocked, BuildEvent) and blocked.blocked and blocked.state == "passed"


def test_failed_job() -> None:
    job = parse((OWN / "buildkite" / "job.finished.failed.json").read_bytes())
    assert isinstance(job, JobEvent)
    assert (job.job_name, job.step_key, job.exit_status, job.agent) == (
        ":rspec: Tests",
        "tests",
        1,
        "ci-agent-7",
    )
    assert job.failed and job.log_url is not None and job.log_url.endswith("/log.txt")
    assert job.runnable_at == datetime(2026, 11, 20, 9, 58, 2, tzinfo=UTC)
    assert job.duration_s == 189.0 and job.build_state == "running"


def test_bridge_shape() -> None:
    event = parse((OWN / "buildkite" / "bridge.build.finished.json").read_bytes())
    assert isinstance(event, BuildEvent)
    assert event.pipeline == "web-app" and event.organization == "acme-inc"
    assert event.started_at is None  # Go's zero time means "never started"
    assert event.author_email == "ops@acme.example" and event.state == "canceled"


def test_author_variants_and_missing_creator() -> None:
    body = json.loads((OWN / "buildkite" / "build.running.json").read_text())
    body["build"]["author"] = "dev@acme.example"
    del body["build"]["creator"]
    event = parse(body)
    assert isinstance(event, BuildEvent)
    assert (event.author, event.author_email, event.creator) == ("dev", "dev@acme.example", None)
    body["build"]["author"] = None
    body["build"]["creator"] = {"name": "Bot", "email": "bot@acme.example"}
    event = parse(body)
    assert isinstance(event, BuildEvent) and event.author == "Bot"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("number", "forty-two", "build.number: expected an integer, got str"),
        ("state", ["failed"], "build.state: expected a non-empty string, got list"),
        ("started_at", "yesterday", "build.started_at: expected an RFC 3339 timestamp"),
        ("branch", ["main"], "build.branch: expected a string, got list"),
    ],
)
def test_wrong_types_name_the_field(field: str, value: object, message: str) -> None:
    body = json.loads((OWN / "buildkite" / "build.finished.failed.json").read_text())
    body["build"][field] = value
    with pytest.raises(ValidationError, match=message):
        parse(body)


def test_unknown_extra_fields_are_tolerated() -> None:
    body = json.loads((OWN / "buildkite" / "build.finished.failed.json").read_text())
    body["build"]["brand_new_field"] = {"nested": [1, 2]}
    body["future_top_level"] = True
    assert isinstance(parse(body), BuildEvent)
