"""Events → the pull request they concern, and the vendors' PR objects → PR state, on the
vendors' own payloads (tests/fixtures/vendor). The GitHub, Bitbucket and Azure webhook PR
objects are the REST API's objects, so the API parsers are tested on them too."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from cievents.compliance.trigger import reference
from cievents.compliance.vendors import azure, bitbucket, github, gitlab
from cievents.sources import parse

FIXTURES = Path(__file__).parents[1] / "fixtures" / "vendor"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text("utf-8"))
    return data


def github_review(action: str, state: str) -> dict[str, Any]:
    """A pull_request_review delivery, built from the fixture's PR (the event carries the
    same pull_request and repository objects, plus the review)."""
    opened = fixture("github/pull_request.opened.json")
    pr = opened["pull_request"]
    return {
        "action": action,
        "review": {
            "id": 237895671,
            "user": {"login": "octocat", "id": 5346, "type": "User"},
            "body": None,
            "commit_id": pr["head"]["sha"],
            "submitted_at": "2019-05-15T15:20:38Z",
            "state": state,
            "html_url": pr["html_url"] + "#pullrequestreview-237895671",
        },
        "pull_request": pr,
        "repository": opened["repository"],
        "sender": {"login": "octocat"},
    }


@pytest.mark.parametrize(
    ("source", "event", "body", "expected"),
    [
        (
            "github",
            "pull_request",
            fixture("github/pull_request.opened.json"),
            ("Codertocat/Hello-World", 2, "ec26c3e57ca3a959ca5aad62de7213c562f8c821"),
        ),
        (
            "github",
            "pull_request",
            fixture("github/pull_request.synchronize.json"),
            ("Codertocat/Hello-World", 2, None),
        ),
        (
            "github",
            "pull_request_review",
            github_review("submitted", "approved"),
            ("Codertocat/Hello-World", 2, "ec26c3e57ca3a959ca5aad62de7213c562f8c821"),
        ),
        (
            "github",
            "pull_request_review",
            github_review("dismissed", "dismissed"),
            ("Codertocat/Hello-World", 2, "ec26c3e57ca3a959ca5aad62de7213c562f8c821"),
        ),
        ("github", "status", fixture("github/status.json"), ("Codertocat/Hello-World", None, "*")),
        (
            "github",
            "check_run",
            fixture("github/check_run.completed.json"),
            ("Codertocat/Hello-World", "*", "*"),
        ),
        (
            "gitlab",
            "merge_request",
            fixture("gitlab/merge_request.open.json"),
            ("gitlabhq/gitlab-test", 1, "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"),
        ),
        (
            "bitbucket",
            "pullrequest:created",
            fixture("bitbucket/pullrequest.created.json"),
            ("amuniz/test-repos", 735, "d31df3425c5b"),
        ),
        (
            "bitbucket",
            "pullrequest:approved",
            fixture("bitbucket/pullrequest.updated.json"),
            ("nfalco79/test-repos", 1, "f945c96c71d0"),
        ),
        (
            "azure-devops",
            "git.pullrequest.created",
            fixture("azure-devops/git.pullrequest.created.json"),
            ("fabrikam/Fabrikam/Fabrikam", 1, "53d54ac915144006c2c9e90d2c7d3880920db49c"),
        ),
    ],
)
def test_every_verdict_changing_event_names_its_pull_request(
    source: str, event: str, body: dict[str, Any], expected: tuple[Any, ...]
) -> None:
    ref = reference(parse(body, source=source, event=event))
    assert ref is not None
    repo, number, sha = expected
    assert ref.repository == repo
    if number != "*":
        assert ref.number == number
    if sha == "*":
        assert ref.head_sha and len(ref.head_sha) == 40
    elif sha is not None:
        assert ref.head_sha == sha


def test_gitlab_approval_actions_and_merge_request_pipelines() -> None:
    body = fixture("gitlab/merge_request.open.json")
    for action in ("approved", "unapproved", "approval", "unapproval", "update", "reopen"):
        changed = copy.deepcopy(body)
        changed["object_attributes"]["action"] = action
        assert reference(parse(changed, source="gitlab")) is not None
    pipeline = fixture("gitlab/pipeline.json")
    ref = reference(parse(pipeline, source="gitlab"))
    assert (ref is None) == (pipeline.get("merge_request") is None)


@pytest.mark.parametrize(
    ("source", "event", "body"),
    [
        ("github", "push", fixture("github/push.json")),
        ("github", "workflow_run", fixture("github/workflow_run.completed.json")),
        ("gitlab", "note", fixture("gitlab/note.merge_request.json")),
        ("bitbucket", "repo:push", fixture("bitbucket/repo.push.json")),
        ("azure-devops", "git.push", fixture("azure-devops/git.push.json")),
        ("jira", "jira:issue_created", fixture("jira/jira.issue_created.json")),
    ],
)
def test_events_that_cannot_change_a_verdict_are_not_references(
    source: str, event: str, body: dict[str, Any]
) -> None:
    assert reference(parse(body, source=source, event=event)) is None


def test_github_pull_parser_on_the_webhook_pr_object() -> None:
    state = github.parse_pull(fixture("github/pull_request.opened.json")["pull_request"])
    assert (state.repository, state.number, state.author) == (
        "Codertocat/Hello-World",
        2,
        "Codertocat",
    )
    assert (state.source_branch, state.target_branch) == ("changes", "master")
    assert state.files_count == 1 and state.lines_changed == 2
    assert state.state == "open" and state.description.startswith("This is a pretty")
    closed = github.parse_pull(fixture("github/pull_request.closed.json")["pull_request"])
    assert closed.state == "closed" and closed.merge_commit is None


def test_github_reviews_latest_standing_review_per_user() -> None:
    approve = github_review("submitted", "APPROVED")["review"]
    comment = {**approve, "state": "COMMENTED", "id": 2}
    dismissed = {**approve, "state": "DISMISSED", "id": 3}
    pending = {**approve, "state": "PENDING", "user": {"login": "drafty"}}
    assert [r.state for r in github.parse_reviews([approve, comment])] == ["approved"]
    assert [r.state for r in github.parse_reviews([approve, dismissed])] == ["dismissed"]
    assert github.parse_reviews([pending]) == ()


def test_bitbucket_pull_parser_on_the_webhook_pr_objects() -> None:
    created = bitbucket.parse_pull(fixture("bitbucket/pullrequest.created.json")["pullrequest"])
    assert (created.number, created.author, created.target_branch) == (
        735,
        "Nikolas Falco",
        "master",
    )
    assert created.reviews == () and created.state == "open"
    updated = bitbucket.parse_pull(fixture("bitbucket/pullrequest.updated.json")["pullrequest"])
    assert [(r.user, r.state) for r in updated.reviews] == [("Former user", "approved")]
    assert updated.is_author("Former user")  # the author's own approval never counts
    merged = bitbucket.parse_pull(fixture("bitbucket/pullrequest.fulfilled.json")["pullrequest"])
    assert merged.state == "merged" and merged.merge_commit


def test_azure_pull_parser_on_the_webhook_resource() -> None:
    created = fixture("azure-devops/git.pullrequest.created.json")["resource"]
    state = azure.parse_pull(created, "fabrikam/Fabrikam/Fabrikam")
    assert (state.author, state.source_branch, state.target_branch) == (
        "fabrikamfiber4@hotmail.com",
        "mytopic",
        "master",
    )
    assert state.reviews == ()  # the Mobile Team is a group reviewer with no vote
    team = "[Mobile]\\Mobile Team"
    assert state.group_members[team] == frozenset()
    assert len(state.group_members) == 2  # by display name and by unique name
    completed = fixture("azure-devops/git.pullrequest.updated.json")["resource"]
    merged = azure.parse_pull(completed, "fabrikam/Fabrikam/Fabrikam")
    assert merged.state == "merged" and merged.merged_at is not None
    voted = copy.deepcopy(created)
    voted["reviewers"].append(
        {
            "id": "d6245f20-2af8-44f4-9451-8107cb2767db",
            "uniqueName": "normal@fabrikam.com",
            "displayName": "Normal Paulk",
            "vote": 10,
            "votedFor": [{"id": "2ea2d095-48f9-4cd6-9966-62f6f574096c"}],
        }
    )
    approved = azure.parse_pull(voted, "fabrikam/Fabrikam/Fabrikam")
    assert [(r.user, r.state) for r in approved.reviews] == [("normal@fabrikam.com", "approved")]
    assert approved.group_members["[Mobile]\\Mobile Team"] == frozenset({"normal@fabrikam.com"})


def test_gitlab_parsers() -> None:
    attrs = fixture("gitlab/merge_request.open.json")["object_attributes"]
    mr = gitlab.parse_merge_request(
        {**attrs, "author": {"username": "root"}, "sha": attrs["last_commit"]["id"]}
    )
    assert (mr.number, mr.source_branch, mr.target_branch) == (1, "ms-viewport", "master")
    approvals = gitlab.parse_approvals({"approved_by": [{"user": {"username": "erin"}}]})
    assert [(r.user, r.state) for r in approvals] == [("erin", "approved")]
    notes = [
        {
            "system": True,
            "body": "approved this merge request",
            "author": {"username": "erin"},
            "created_at": "2026-11-02T09:00:00Z",
        },
        {
            "system": True,
            "body": "unapproved this merge request",
            "author": {"username": "sam"},
            "created_at": "2026-11-02T09:01:00Z",
        },
        {
            "system": True,
            "body": "approved this merge request",
            "author": {"username": "sam"},
            "created_at": "2026-11-02T08:00:00Z",
        },
        {
            "system": False,
            "body": "approved this merge request",
            "author": {"username": "joe"},
            "created_at": "2026-11-02T09:00:00Z",
        },
    ]
    assert set(gitlab.approval_times(notes)) == {"erin"}
    assert gitlab.count_diff_lines([{"diff": "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n+c\n"}]) == 3
    statuses = gitlab.parse_statuses(
        [
            {"name": "test", "status": "failed"},
            {"name": "test", "status": "success"},
            {"name": "lint", "status": "running"},
        ]
    )
    assert [(s.name, s.state) for s in statuses] == [("test", "failure"), ("lint", "pending")]


def test_our_own_status_and_check_do_not_trigger_an_evaluation() -> None:
    status = {**fixture("github/status.json"), "context": "cievents/compliance"}
    assert reference(parse(status, source="github", event="status")) is None
    run = copy.deepcopy(fixture("github/check_run.completed.json"))
    run["check_run"]["name"] = "cievents/compliance"
    assert reference(parse(run, source="github", event="check_run")) is None
    other = fixture("github/status.json")
    assert reference(parse(other, source="github", event="status")) is not None
    bitbucket_status = {
        "repository": fixture("bitbucket/pullrequest.created.json")["repository"],
        "commit_status": {"key": "cievents/compliance", "commit": {"hash": "d31df3425c5b"}},
    }
    assert (
        reference(parse(bitbucket_status, source="bitbucket", event="repo:commit_status_updated"))
        is None
    )
    bitbucket_status["commit_status"]["key"] = "buildkite-web"  # type: ignore[index]
    ref = reference(parse(bitbucket_status, source="bitbucket", event="repo:commit_status_updated"))
    assert ref is not None and ref.number is None and ref.head_sha == "d31df3425c5b"
