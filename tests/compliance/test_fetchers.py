"""The fetchers against the loopback SCM fakes: every read a policy needs, paged, bounded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cievents.compliance import evaluate, needs_of, parse_policy
from cievents.compliance.api import Api
from cievents.compliance.vendors.github import GitHubFetcher
from cievents.compliance.vendors.gitlab import GitLabFetcher
from cievents.http import HttpClient
from tests.compliance.scenarios import TOKEN, fixture
from tests.conftest import CapturedLog
from tests.support.fakes.github import FakeGitHub
from tests.support.fakes.github import PullRequestState as GitHubPull
from tests.support.fakes.gitlab import FakeGitLab, MergeRequestState

REPO = "Codertocat/Hello-World"
SHA = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"
RULE = parse_policy(
    {
        "rules": [
            {
                "name": "strict",
                "checks": {
                    "approvals": {"minimum": 1, "exclude_stale": True},
                    "reviewers": {"groups": ["acme/security"], "code_owners": True},
                    "status_checks": ["ci/*", "lint"],
                    "no_merge_commits": True,
                    "max_files": 3,
                },
            }
        ]
    },
    {},
).rules[0]


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(tokens=(TOKEN,), page_size=2)
    pr = fixture("github/pull_request.opened.json")["pull_request"]
    state = GitHubPull(head_sha=SHA, diff="", api=pr)
    state.files = [{"filename": f} for f in ("src/pay.py", "README.md", "docs/x.md")]
    state.commits = [
        {
            "sha": "1" * 40,
            "parents": [{"sha": "0" * 40}],
            "commit": {"committer": {"date": "2026-11-20T09:00:00Z"}},
        },
        {"sha": "2" * 40, "parents": [{"sha": "1" * 40}, {"sha": "9" * 40}], "commit": {}},
        {"sha": SHA, "parents": [{"sha": "2" * 40}], "commit": {}},
    ]
    fake.pulls[(REPO, 2)] = state
    fake.teams["acme/security"] = ["sam", "lee", "kim"]
    fake.contents[(REPO, ".github/CODEOWNERS")] = "* @octocat\n/src/ @acme/security\n"
    with fake:
        yield fake


def fetch(fake: FakeGitHub, max_pages: int = 10):  # type: ignore[no-untyped-def]
    http = HttpClient(sink="github", base_url=fake.url)
    api = Api(http, max_pages=max_pages, headers={"Authorization": f"Bearer {TOKEN}"})
    return GitHubFetcher(api, REPO).fetch(2, needs_of(RULE.checks)), api


def test_github_every_read_paged_and_the_verdict(github: FakeGitHub) -> None:
    github.review(REPO, 2, "sam", "APPROVED", SHA)
    github.review(REPO, 2, "octocat", "APPROVED", "1" * 40)  # stale: an older head
    github.review(REPO, 2, "octocat", "COMMENTED", SHA)  # a comment keeps the approval
    for context, state in (("ci/unit", "success"), ("lint", "pending"), ("lint", "success")):
        github.statuses.append({"repo": REPO, "sha": SHA, "context": context, "state": state})
    state, api = fetch(github)
    assert [(r.user, r.state) for r in state.reviews] == [
        ("sam", "approved"),
        ("octocat", "approved"),
    ]
    assert state.group_members["acme/security"] == frozenset({"sam", "lee", "kim"})
    assert state.code_owners is not None
    assert state.code_owners.owners["src/pay.py"] == ("@acme/security",)
    verdict = evaluate(RULE, state)
    outcome = {c.name: c for c in verdict.checks}
    assert (
        outcome["approvals"].passed
        and "octocat: given before the last push" in outcome["approvals"].why
    )
    assert (
        not outcome["reviewers"].passed and "README.md" in outcome["reviewers"].why
    )  # @octocat stale
    assert outcome["status_checks"].passed  # the latest lint status wins
    assert not outcome["no_merge_commits"].passed and "2222222" in outcome["no_merge_commits"].why
    assert outcome["max_files"].passed
    # Page size 2: every list took several pages, and nothing was asked twice.
    assert len(github.calls("GET", r"/repos/.*/pulls/2/files")) == 2
    paths = [(r.path, str(sorted(r.query.items()))) for r in github.requests]
    assert len(paths) == len(set(paths)) == api.requests


def test_github_lists_cut_at_the_page_bound_say_so(
    github: FakeGitHub, captured_log: CapturedLog
) -> None:
    state, _ = fetch(github, max_pages=1)
    assert state.commits_truncated
    assert any(r.get("message") == "list cut at the page bound" for r in captured_log.lines)
    outcome = {c.name: c for c in evaluate(RULE, state).checks}
    assert "first commits only" in outcome["no_merge_commits"].why


def test_github_unreadable_team_fails_closed_and_says_why(github: FakeGitHub) -> None:
    del github.teams["acme/security"]
    state, _ = fetch(github)
    outcome = {c.name: c for c in evaluate(RULE, state).checks}
    assert not outcome["reviewers"].passed
    assert "team acme/security does not exist or is not visible" in outcome["reviewers"].why


def test_gitlab_stale_approvals_from_notes_and_versions() -> None:
    fake = FakeGitLab(tokens=(TOKEN,), page_size=2)
    project = "gitlabhq/gitlab-test"
    attrs = fixture("gitlab/merge_request.open.json")["object_attributes"]
    sha = attrs["last_commit"]["id"]
    fake.mrs[(project, 1)] = MergeRequestState(
        sha=sha,
        api={
            "title": attrs["title"],
            "author": {"username": "root"},
            "source_branch": "ms-viewport",
            "target_branch": "master",
        },
        commits=[{"id": sha, "created_at": "2026-11-20T09:00:00Z", "parent_ids": ["a" * 40]}],
        versions=[{"id": 2, "head_commit_sha": sha, "created_at": "2026-11-20T10:00:00Z"}],
    )
    fake.approve(project, 1, "erin", "2026-11-20T09:30:00Z")  # before the push at 10:00
    fake.approve(project, 1, "sam", "2026-11-20T10:05:00Z")
    rule = parse_policy(
        {
            "rules": [
                {
                    "checks": {
                        "approvals": {"minimum": 2, "exclude_stale": True},
                        "no_merge_commits": True,
                    }
                }
            ]
        },
        {},
    ).rules[0]
    with fake:
        api = Api(HttpClient(sink="gitlab", base_url=fake.url, headers={"PRIVATE-TOKEN": TOKEN}))
        state = GitLabFetcher(api, project).fetch(1, needs_of(rule.checks))
    outcome = {c.name: c for c in evaluate(rule, state).checks}
    assert not outcome["approvals"].passed
    assert (
        "1 of 2 approvals (sam)" in outcome["approvals"].why and "erin" in outcome["approvals"].why
    )
    assert outcome["no_merge_commits"].passed  # parents from GET /repository/commits/:sha
