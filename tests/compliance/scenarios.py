"""One PR per SCM, from the vendors' own webhook payloads, with its loopback API fake: the
PR opens without an approval, then someone other than the author approves it.

Each scenario gives the fake its state, the deliveries of each step (vendor-shaped bodies
with the attributes ingest sets), and how to read back what the function wrote.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.fakehttp import FakeServer
from tests.support.fakes.azure_devops import FakeAzureDevOps
from tests.support.fakes.azure_devops import PullRequestState as AzurePull
from tests.support.fakes.bitbucket import FakeBitbucket
from tests.support.fakes.bitbucket import PullRequestState as BitbucketPull
from tests.support.fakes.github import FakeGitHub
from tests.support.fakes.github import PullRequestState as GitHubPull
from tests.support.fakes.gitlab import FakeGitLab, MergeRequestState

FIXTURES = Path(__file__).parents[1] / "fixtures" / "vendor"
TOKEN = "scm-test-token-not-real"
CONTEXT = "cievents/compliance"


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text("utf-8"))
    return data


@dataclass
class Delivery:
    source: str
    event: str
    body: dict[str, Any]
    delivery_id: str

    def push(self, message_id: str) -> dict[str, Any]:
        """The Pub/Sub push body the subscription posts (what ingest published)."""
        return {
            "message": {
                "data": base64.b64encode(json.dumps(self.body).encode()).decode(),
                "messageId": message_id,
                "attributes": {
                    "source": self.source,
                    "event": self.event,
                    "delivery_id": self.delivery_id,
                },
            },
            "subscription": "projects/p/subscriptions/pr_compliance-0",
        }


@dataclass
class Scenario:
    scm: str
    fake: FakeServer
    env: Callable[[str], dict[str, str]]
    opened: list[Delivery]
    approve: Callable[[], None]
    approved: list[Delivery]
    comments: Callable[[], list[str]]
    status: Callable[[], str | None]  # the latest cievents/compliance state on the head


def github() -> Scenario:
    opened = fixture("github/pull_request.opened.json")
    pr = opened["pull_request"]
    repo, sha = "Codertocat/Hello-World", pr["head"]["sha"]
    fake = FakeGitHub(tokens=(TOKEN,), page_size=2)
    fake.pulls[(repo, 2)] = GitHubPull(head_sha=sha, diff="", api=pr)
    review = {
        "action": "submitted",
        "review": {
            "id": 237895671,
            "user": {"login": "octocat", "type": "User"},
            "commit_id": sha,
            "submitted_at": "2019-05-15T15:20:38Z",
            "state": "approved",
        },
        "pull_request": pr,
        "repository": opened["repository"],
    }
    status = fixture("github/status.json")
    return Scenario(
        "github",
        fake,
        lambda url: {"GITHUB_API_URL": url, "GITHUB_TOKEN": TOKEN},
        [
            Delivery("github", "pull_request", opened, "gh-opened"),
            Delivery("github", "status", status, "gh-status"),
        ],
        lambda: fake.review(repo, 2, "octocat", "APPROVED", sha),
        [Delivery("github", "pull_request_review", review, "gh-review")],
        lambda: [c["body"] for c in fake.comments_on(repo, 2)],
        lambda: (fake.latest_status(repo, sha, CONTEXT) or {}).get("state"),
    )


def gitlab() -> Scenario:
    opened = fixture("gitlab/merge_request.open.json")
    attrs = opened["object_attributes"]
    project, sha = "gitlabhq/gitlab-test", attrs["last_commit"]["id"]
    fake = FakeGitLab(tokens=(TOKEN,), page_size=2)
    # The REST object of the MR the hook describes (GET /projects/:id/merge_requests/:iid).
    api = {
        "id": attrs["id"],
        "iid": attrs["iid"],
        "title": attrs["title"],
        "description": attrs["description"],
        "source_branch": attrs["source_branch"],
        "target_branch": attrs["target_branch"],
        "author": {"username": opened["user"]["username"]},
        "web_url": attrs["url"],
        "draft": attrs["draft"],
        "changes_count": "1",
    }
    fake.mrs[(project, 1)] = MergeRequestState(sha=sha, api=api)
    approved = copy.deepcopy(opened)
    approved["object_attributes"]["action"] = "approved"
    approved["user"] = {"id": 7, "name": "Erin Reviewer", "username": "erin"}
    return Scenario(
        "gitlab",
        fake,
        lambda url: {"GITLAB_API_URL": url, "GITLAB_TOKEN": TOKEN},
        [Delivery("gitlab", "merge_request", opened, "gl-open")],
        lambda: fake.approve(project, 1, "erin", "2026-11-20T10:00:00Z"),
        [Delivery("gitlab", "merge_request", approved, "gl-approved")],
        lambda: [n["body"] for n in fake.notes_on(project, 1) if not n["system"]],
        lambda: (fake.latest_status(project, sha, CONTEXT) or {}).get("state"),
    )


def bitbucket() -> Scenario:
    created = fixture("bitbucket/pullrequest.created.json")
    pr = created["pullrequest"]
    repo, sha = "amuniz/test-repos", pr["source"]["commit"]["hash"]
    fake = FakeBitbucket(tokens=(TOKEN,), page_size=2)
    fake.pulls[(repo, 735)] = BitbucketPull(head=sha, diff="", base="d" * 12, api=pr)
    reviewer = {"display_name": "Erin Reviewer", "nickname": "erin", "account_id": "557058:e1"}
    approved = {
        **copy.deepcopy(created),
        "approval": {"date": "2026-11-20T10:00:00+00:00", "user": reviewer},
    }
    return Scenario(
        "bitbucket",
        fake,
        lambda url: {"BITBUCKET_API_URL": url, "BITBUCKET_TOKEN": TOKEN},
        [Delivery("bitbucket", "pullrequest:created", created, "bb-created")],
        lambda: fake.approve(repo, 735, reviewer, "2026-11-20T10:00:00+00:00"),
        [Delivery("bitbucket", "pullrequest:approved", approved, "bb-approved")],
        lambda: [c["raw"] for c in fake.comments_on(repo, 735)],
        lambda: (fake.latest_status(repo, sha, CONTEXT) or {}).get("state"),
    )


def azure() -> Scenario:
    created = fixture("azure-devops/git.pullrequest.created.json")
    resource = created["resource"]
    repo, sha = "fabrikam/Fabrikam/Fabrikam", resource["lastMergeSourceCommit"]["commitId"]
    fake = FakeAzureDevOps(pats=(TOKEN,), page_size=2)
    fake.add_pull(repo, 1, AzurePull(head=sha, api=resource, reviewers=resource["reviewers"]))
    updated = copy.deepcopy(created)
    updated["eventType"] = "git.pullrequest.updated"
    updated["id"] = "af07be1b-f3ad-44c8-a7f1-c4835f2df06b"
    updated["resource"]["reviewers"].append(
        {"uniqueName": "normal@fabrikam.com", "displayName": "Normal Paulk", "vote": 10}
    )

    def status() -> str | None:
        found = [
            s
            for s in fake.pr_statuses
            if s["repo"] == repo and s["context"] == {"genre": "cievents", "name": "compliance"}
        ]
        return found[-1]["state"] if found else None

    return Scenario(
        "azure-devops",
        fake,
        lambda url: {"AZURE_DEVOPS_API_URL": url, "AZURE_DEVOPS_PAT": TOKEN},
        [Delivery("azure-devops", "git.pullrequest.created", created, "az-created")],
        lambda: fake.vote(repo, 1, "normal@fabrikam.com", 10),
        [Delivery("azure-devops", "git.pullrequest.updated", updated, "az-updated")],
        lambda: [t["comments"][0]["content"] for t in fake.threads_on(repo, 1)],
        status,
    )


SCENARIOS = {"github": github, "gitlab": gitlab, "bitbucket": bitbucket, "azure-devops": azure}
