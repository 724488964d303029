"""Every vendor fixture parses to the right kind, with the right key fields."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cievents.cli import main
from cievents.errors import ValidationError
from cievents.events import PullRequestEvent, PushEvent, WorkItemEvent
from cievents.sources import parse
from tests.conftest import VENDOR, vendor_fixtures

KINDS = {
    "github/check_run.completed.json": "status",
    "github/check_suite.completed.json": "status",
    "github/deployment_status.json": "other",
    "github/ping.json": "ping",
    "github/pull_request.closed.json": "pull_request",
    "github/pull_request.opened.json": "pull_request",
    "github/pull_request.synchronize.json": "pull_request",
    "github/push.json": "push",
    "github/push.new-branch.json": "push",
    "github/push.tag-deleted.json": "push",
    "github/status.json": "status",
    "github/workflow_run.completed.json": "build",
    "github/workflow_run.completed.with-pull-requests.json": "build",
    "gitlab/deployment.json": "other",
    "gitlab/job.json": "job",
    "gitlab/merge_request.open.json": "pull_request",
    "gitlab/note.merge_request.json": "other",
    "gitlab/pipeline.json": "build",
    "gitlab/push.json": "push",
    "gitlab/tag_push.json": "push",
    "bitbucket/pullrequest.created.json": "pull_request",
    "bitbucket/pullrequest.fulfilled.json": "pull_request",
    "bitbucket/pullrequest.rejected.json": "pull_request",
    "bitbucket/pullrequest.updated.json": "pull_request",
    "bitbucket/repo.push.branch-created.signed.json": "push",
    "bitbucket/repo.push.json": "push",
    "bitbucket/repo.push.tag-created.json": "push",
    "azure-devops/build.complete.json": "build",
    "azure-devops/git.pullrequest.created.json": "pull_request",
    "azure-devops/git.pullrequest.updated.json": "pull_request",
    "azure-devops/git.push.json": "push",
    "azure-devops/git.push.tfs-capture.json": "push",
    "azure-devops/ms.vss-pipelines.run-state-changed-event.json": "build",
    "azure-devops/workitem.created.json": "work_item",
    "azure-devops/workitem.updated.json": "work_item",
    "jira/comment_created.json": "other",
    "jira/jira.issue_created.json": "work_item",
    "jira/jira.issue_created.many-fields.json": "work_item",
    "jira/jira.issue_deleted.json": "work_item",
    "jira/jira.issue_updated.assigned.json": "work_item",
    "jira/jira.issue_updated.custom-field.json": "work_item",
    "jira/jira.issue_updated.labels.json": "work_item",
    "jira/jira.issue_updated.resolved.json": "work_item",
    "jira/jira.issue_updated.status-in-progress.json": "work_item",
}
FIXTURES = [p for p in vendor_fixtures() if p.parent.name != "buildkite"]


def headers_for(path: Path) -> dict[str, str]:
    """The event header the vendor sends, from the fixture's file name (fixtures README)."""
    parts = path.name.removesuffix(".json").split(".")
    source = path.parent.name
    if source == "github":
        return {"X-GitHub-Event": parts[0]}
    if source == "bitbucket":
        return {"X-Event-Key": f"{parts[0]}:{parts[1]}"}
    return {}


def test_the_table_covers_every_fixture() -> None:
    assert {f"{p.parent.name}/{p.name}" for p in FIXTURES} == set(KINDS)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_kind(path: Path) -> None:
    event = parse(path.read_bytes(), headers=headers_for(path))
    assert event.kind == KINDS[f"{path.parent.name}/{path.name}"]
    assert event.source == path.parent.name
    data = event.to_dict()
    for key in ("source", "event", "kind", "repository", "branch", "commit", "url", "jira_keys"):
        assert key in data


def load(relative: str, **headers: str) -> Any:
    path = VENDOR / relative
    return parse(path.read_bytes(), headers=headers or headers_for(path))


def test_github_pull_requests_and_pushes() -> None:
    opened = load("github/pull_request.opened.json")
    assert isinstance(opened, PullRequestEvent)
    assert (opened.action, opened.number, opened.branch, opened.base_branch) == (
        "opened",
        2,
        "changes",
        "master",
    )
    assert opened.commit == "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
    closed = load("github/pull_request.closed.json")
    assert isinstance(closed, PullRequestEvent) and closed.action == "closed" and not closed.merged
    assert load("github/pull_request.synchronize.json").action == "updated"
    push = load("github/push.json")
    assert isinstance(push, PushEvent) and push.branch == "master" and len(push.commits) == 1
    assert push.commits[0].timestamp is not None
    deleted = load("github/push.tag-deleted.json")
    assert isinstance(deleted, PushEvent) and deleted.deleted and deleted.tag == "simple-tag"
    assert deleted.commit is None
    created = load("github/push.new-branch.json")
    assert isinstance(created, PushEvent) and created.created and created.before is None


def test_github_workflow_run_is_a_build() -> None:
    run = load("github/workflow_run.completed.with-pull-requests.json").to_dict()
    assert run["kind"] == "build" and run["state"] in ("passed", "failed", "canceled")
    assert run["number"] > 0 and run["url"].startswith("https://github.com/")


def test_gitlab_quirks() -> None:
    job = load("gitlab/job.json").to_dict()
    assert job["event"] == "build" and job["kind"] == "job"  # object_kind "build" is a job
    mr = load("gitlab/merge_request.open.json")
    assert isinstance(mr, PullRequestEvent) and (mr.number, mr.action, mr.branch) == (
        1,
        "opened",
        "ms-viewport",
    )
    pipeline = load("gitlab/pipeline.json").to_dict()
    assert pipeline["kind"] == "build" and pipeline["state"] in (
        "passed",
        "failed",
        "running",
        "scheduled",
    )


def test_bitbucket_pull_requests_and_pushes() -> None:
    merged = load("bitbucket/pullrequest.fulfilled.json")
    assert isinstance(merged, PullRequestEvent) and merged.action == "merged" and merged.merged
    assert load("bitbucket/pullrequest.rejected.json").action == "closed"
    assert load("bitbucket/pullrequest.created.json").action == "opened"
    tag = load("bitbucket/repo.push.tag-created.json")
    assert isinstance(tag, PushEvent) and tag.tag and tag.branch is None
    push = load("bitbucket/repo.push.json")
    assert isinstance(push, PushEvent) and push.forced and "JENKINS-75182" in push.jira_keys


def test_azure_devops() -> None:
    updated = load("azure-devops/workitem.updated.json")
    assert isinstance(updated, WorkItemEvent)
    assert updated.changes and all(c.field for c in updated.changes)
    pr = load("azure-devops/git.pullrequest.updated.json")
    assert isinstance(pr, PullRequestEvent) and pr.action == "merged"  # "marked as completed"
    capture = load("azure-devops/git.push.tfs-capture.json")
    assert isinstance(capture, PushEvent) and capture.delivery_id  # subscription + notification ids
    assert "\\r\\n" in capture.commits[0].message or capture.commits[0].message


def test_jira_status_changes() -> None:
    resolved = load("jira/jira.issue_updated.resolved.json")
    assert isinstance(resolved, WorkItemEvent)
    assert (resolved.status_from, resolved.status_to, resolved.key) == (
        "In Progress",
        "Done",
        "TES-41",
    )
    assert resolved.url and resolved.url.endswith("/browse/TES-41")
    started = load("jira/jira.issue_updated.status-in-progress.json")
    assert isinstance(started, WorkItemEvent) and started.status_to == "In Progress"


@pytest.mark.parametrize(
    ("body", "source", "message"),
    [
        ({"pull_request": {"title": "x"}}, "github", "pull_request.number"),
        (
            {"object_kind": "merge_request", "object_attributes": {}},
            "gitlab",
            "object_attributes.iid",
        ),
        ({"push": {"changes": []}}, "bitbucket", "push.changes"),
        ({"eventType": "git.pullrequest.created", "resource": {}}, "azure-devops", "pullRequestId"),
        ({"webhookEvent": "jira:issue_updated"}, "jira", "issue"),
    ],
)
def test_malformed_payloads_name_the_field(body: dict[str, Any], source: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse(json.dumps(body).encode(), source=source)


def test_cli_guesses_source_and_event_from_headers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    headers = tmp_path / "h.json"
    headers.write_text(json.dumps({"X-Event-Key": "pullrequest:fulfilled"}))
    assert (
        main(
            [
                "parse",
                str(VENDOR / "bitbucket/pullrequest.fulfilled.json"),
                "--headers",
                str(headers),
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert (out["source"], out["event"], out["kind"]) == (
        "bitbucket",
        "pullrequest:fulfilled",
        "pull_request",
    )
