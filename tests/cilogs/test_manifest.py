"""function.yaml admits every CI's finished-job or finished-run event to secret_scan (as ingest
labels them), within Pub/Sub's 256-byte filter limit."""

from __future__ import annotations

import pytest

from cievents.cilogs.targets import CI_EVENTS
from cievents.demo.filters import compile_filter
from cievents.deploy.manifest import load


def secret_scan_filters() -> list[str]:
    function = load().function("secret_scan")
    return [t.filter for t in function.triggers if t.topic == "ci-events"]


def test_filters_fit_pub_sub() -> None:
    assert all(len(f.encode()) <= 256 for f in secret_scan_filters())


@pytest.mark.parametrize(
    ("source", "event"), [(s, e) for s, events in CI_EVENTS.items() for e in events]
)
def test_every_ci_event_reaches_secret_scan(source: str, event: str) -> None:
    attributes = {"source": source, "event": event}
    assert any(compile_filter(f)(attributes) for f in secret_scan_filters())


@pytest.mark.parametrize(
    ("source", "event"),
    [
        ("github", "push"),
        ("gitlab", "push"),
        ("bitbucket", "repo:push"),
        ("jira", "jira:issue_updated"),
    ],
)
def test_pushes_and_tickets_do_not(source: str, event: str) -> None:
    attributes = {"source": source, "event": event}
    assert not any(compile_filter(f)(attributes) for f in secret_scan_filters())
