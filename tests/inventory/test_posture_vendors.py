"""The posture audit on GitLab, Bitbucket Cloud and Azure Repos: each SCM's real client against
its loopback fake, lists paged for real (two a page), a page failing once with 502."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cievents import clock
from cievents.inventory.model import Repo
from cievents.inventory.posture import PosturePolicy, audit_repository
from cievents.scm.azure import AzureReposClient
from cievents.scm.bitbucket import BitbucketClient
from cievents.scm.gitlab import GitLabClient
from tests.inventory.support import make_repo
from tests.support.fakehttp import Fault
from tests.support.fakes.azure_devops import FakeAzureDevOps
from tests.support.fakes.bitbucket import AuditedRepo, FakeBitbucket
from tests.support.fakes.gitlab import AuditedProject, FakeGitLab

TOKEN = "glpat-" + "Aud1tT0ken" * 2
POLICY = PosturePolicy(private_owners=("acme*", "azure:fabrikam/*"), stale_days=90)
BAD_GATEWAY = Fault("status", 502, {}, "bad gateway")


def repo(scm: Any, full_name: str, id_: str, **changes: Any) -> Repo:
    return make_repo(scm, full_name, id_, **changes)


def rules_of(findings: list[Any]) -> list[str]:
    return sorted(f.rule_id for f in findings)


# -- GitLab -------------------------------------------------------------------------------
@pytest.fixture
def gitlab() -> Iterator[FakeGitLab]:
    server = FakeGitLab(tokens=(TOKEN,), page_size=2).start()
    yield server
    server.stop()


def gl_audit(fake: FakeGitLab, **changes: Any) -> list[Any]:
    client = GitLabClient(api_url=fake.url, token=TOKEN, max_pages=10)
    return audit_repository(
        repo("gitlab", "acme/web", "42", **changes), client, POLICY, clock.now_utc()
    )


def test_gitlab_unprotected_and_wildcard_protection(gitlab: FakeGitLab) -> None:
    gitlab.audited["42"] = AuditedProject(
        protected_branches=[{"name": "release/*"}, {"name": "stable"}, {"name": "dev*"}]
    )
    assert rules_of(gl_audit(gitlab)) == ["posture-branch-unprotected"]
    gitlab.audited["42"].protected_branches.append({"name": "ma*", "allow_force_push": True})
    assert rules_of(gl_audit(gitlab)) == [
        "posture-checks-not-required",
        "posture-force-push-allowed",
        "posture-reviews-not-required",
    ]


def test_gitlab_full_protection_with_approval_rules(gitlab: FakeGitLab) -> None:
    gitlab.audited["42"] = AuditedProject(
        protected_branches=[{"name": "main", "allow_force_push": False}],
        approval_rules=[
            {"name": "release", "approvals_required": 3, "protected_branches": [{"name": "rel"}]},
            {"name": "any", "approvals_required": 0, "protected_branches": []},
            {"name": "main", "approvals_required": 2, "protected_branches": [{"name": "main"}]},
        ],
        pipeline_must_succeed=True,
    )
    assert gl_audit(gitlab) == []
    gitlab.audited["42"].approval_rules = None  # GitLab Free: 403, so no approvals required
    found = gl_audit(gitlab)
    assert rules_of(found) == ["posture-reviews-not-required"]


def test_gitlab_a_failing_page_is_retried(gitlab: FakeGitLab) -> None:
    gitlab.audited["42"] = AuditedProject(
        protected_branches=[{"name": "x"}, {"name": "y"}, {"name": "main"}],
        approval_rules=[{"approvals_required": 1}],
        pipeline_must_succeed=True,
    )
    gitlab.fault("GET", r"/projects/42/protected_branches", BAD_GATEWAY)
    assert gl_audit(gitlab) == []
    assert len(gitlab.calls("GET", r"/projects/42/protected_branches")) == 3  # 502, 1, 2


def test_gitlab_public_project_of_a_private_owner(gitlab: FakeGitLab) -> None:
    gitlab.audited["42"] = AuditedProject(
        protected_branches=[{"name": "main"}],
        approval_rules=[{"approvals_required": 1}],
        pipeline_must_succeed=True,
    )
    assert rules_of(gl_audit(gitlab, visibility="public")) == ["posture-public-repository"]
    assert gl_audit(gitlab, visibility="internal") == []


# -- Bitbucket Cloud -----------------------------------------------------------------------
@pytest.fixture
def bitbucket() -> Iterator[FakeBitbucket]:
    server = FakeBitbucket(tokens=(TOKEN,), page_size=2).start()
    yield server
    server.stop()


def bb_audit(fake: FakeBitbucket) -> list[Any]:
    client = BitbucketClient(api_url=fake.url, token=TOKEN, max_pages=10)
    target = repo("bitbucket", "acme/web", "{5e1f}")
    return audit_repository(target, client, POLICY, clock.now_utc())


def test_bitbucket_restrictions_by_glob(bitbucket: FakeBitbucket) -> None:
    bitbucket.audited["acme/web"] = AuditedRepo(
        restrictions=[{"kind": "push", "branch_match_kind": "glob", "pattern": "release/*"}]
    )
    assert rules_of(bb_audit(bitbucket)) == ["posture-branch-unprotected"]
    bitbucket.audited["acme/web"].restrictions += [
        {"kind": "push", "branch_match_kind": "glob", "pattern": "ma*"},
        {"kind": "require_approvals_to_merge", "branch_match_kind": "glob", "pattern": "main"},
    ]
    assert rules_of(bb_audit(bitbucket)) == [
        "posture-checks-not-required",
        "posture-force-push-allowed",
        "posture-reviews-not-required",  # value missing: no approvals
    ]
    bitbucket.audited["acme/web"].restrictions += [
        {"kind": "force", "branch_match_kind": "glob", "pattern": "*"},
        {"kind": "require_passing_builds_to_merge", "branch_match_kind": "glob", "pattern": "*"},
        {
            "kind": "require_default_reviewer_approvals_to_merge",
            "branch_match_kind": "glob",
            "pattern": "main",
            "value": 2,
        },
    ]
    assert bb_audit(bitbucket) == []


def test_bitbucket_restrictions_by_branching_model(bitbucket: FakeBitbucket) -> None:
    model_rules = [
        {"kind": kind, "branch_match_kind": "branching_model", "branch_type": "development"}
        for kind in ("force", "require_passing_builds_to_merge")
    ] + [
        {
            "kind": "require_approvals_to_merge",
            "branch_match_kind": "branching_model",
            "branch_type": "production",
            "value": 1,
        }
    ]
    bitbucket.audited["acme/web"] = AuditedRepo(
        restrictions=model_rules,
        branching_model={
            "development": {"name": "main", "branch": {"name": "main"}, "use_mainbranch": True},
            "production": {"enabled": True, "branch": {"name": "prod"}},
        },
    )
    # development is main: force + builds apply; production (prod) does not
    assert rules_of(bb_audit(bitbucket)) == ["posture-reviews-not-required"]
    assert len(bitbucket.calls("GET", r"/repositories/acme/web/branching-model")) == 1


def test_bitbucket_a_failing_page_is_retried(bitbucket: FakeBitbucket) -> None:
    bitbucket.audited["acme/web"] = AuditedRepo(
        restrictions=[
            {"kind": "delete", "branch_match_kind": "glob", "pattern": "x"},
            {"kind": "delete", "branch_match_kind": "glob", "pattern": "y"},
            {"kind": "force", "branch_match_kind": "glob", "pattern": "main"},
        ]
    )
    bitbucket.fault("GET", r"/repositories/acme/web/branch-restrictions", BAD_GATEWAY)
    found = bb_audit(bitbucket)
    assert rules_of(found) == ["posture-checks-not-required", "posture-reviews-not-required"]


# -- Azure Repos ---------------------------------------------------------------------------
REPO_ID = "0d5f3c2e-7a41-4b8e-9c11-2f6a1b9e4d70"
OTHER_REPO = "99999999-7a41-4b8e-9c11-2f6a1b9e4d70"


def policy(type_id: str, name: str, scope: dict[str, Any], **settings: Any) -> dict[str, Any]:
    return {
        "id": len(name),
        "isEnabled": True,
        "isBlocking": True,
        "type": {"id": type_id, "displayName": name},
        "settings": {"scope": [scope], **settings},
    }


MIN_REVIEWERS = "fa4e907d-c16b-4a4c-9dfa-4906e5d171dd"
BUILD = "0609b952-1397-4640-95ec-e00a01b2c241"
COMMENTS = "c6a1889d-b943-4856-b76f-9e46bb6b0df2"


@pytest.fixture
def azure() -> Iterator[FakeAzureDevOps]:
    server = FakeAzureDevOps(pats=(TOKEN,), page_size=2).start()
    yield server
    server.stop()


def az_audit(fake: FakeAzureDevOps, **changes: Any) -> list[Any]:
    client = AzureReposClient(base_url=fake.url, token=TOKEN, max_pages=10)
    target = repo("azure", "fabrikam/Web Apps/web", REPO_ID, **changes)
    return audit_repository(target, client, POLICY, clock.now_utc())


def test_azure_no_policy_is_unprotected(azure: FakeAzureDevOps) -> None:
    azure.policies["fabrikam/Web Apps"] = [
        policy(MIN_REVIEWERS, "Minimum number of reviewers", {"repositoryId": OTHER_REPO}),
        policy(BUILD, "Build", {"repositoryId": REPO_ID, "refName": "refs/heads/dev"}),
        {**policy(BUILD, "Build", {"repositoryId": REPO_ID}), "isEnabled": False},
    ]
    assert rules_of(az_audit(azure)) == ["posture-branch-unprotected"]


def test_azure_policies_across_pages_protect(azure: FakeAzureDevOps) -> None:
    azure.policies["fabrikam/Web Apps"] = [
        policy(COMMENTS, "Comment requirements", {"repositoryId": REPO_ID}),
        policy(
            BUILD, "Build", {"repositoryId": None, "refName": "refs/heads/", "matchKind": "Prefix"}
        ),
        policy(
            MIN_REVIEWERS,
            "Minimum number of reviewers",
            {"repositoryId": REPO_ID, "refName": "refs/heads/main", "matchKind": "Exact"},
            minimumApproverCount=2,
        ),
    ]
    azure.fault("GET", r"/fabrikam/Web%20Apps/_apis/policy/configurations", BAD_GATEWAY)
    assert az_audit(azure) == []
    assert len(azure.calls("GET", r"/fabrikam/Web%20Apps/_apis/policy/configurations")) == 3


def test_azure_comment_policy_only_needs_reviews_and_checks(azure: FakeAzureDevOps) -> None:
    azure.policies["fabrikam/Web Apps"] = [
        policy(
            COMMENTS,
            "Comment requirements",
            {"repositoryId": REPO_ID, "matchKind": "DefaultBranch"},
        )
    ]
    assert rules_of(az_audit(azure)) == [
        "posture-checks-not-required",
        "posture-reviews-not-required",
    ]
    assert rules_of(az_audit(azure, visibility="public")) == [
        "posture-checks-not-required",
        "posture-public-repository",
        "posture-reviews-not-required",
    ]


def test_gitlab_project_route_leaves_other_projects_to_later_routes(gitlab: FakeGitLab) -> None:
    import requests

    from tests.support.fakehttp import Reply, Request

    @gitlab.route("GET", r"/projects/(?P<id>\d+)")
    def listed(req: Request) -> Reply:
        return Reply(200, {"id": 7, "from": "listing"})

    gitlab.audited["42"] = AuditedProject()
    headers = {"PRIVATE-TOKEN": TOKEN}
    assert requests.get(f"{gitlab.url}/projects/7", headers=headers, timeout=10).json() == {
        "id": 7,
        "from": "listing",
    }
    mine = requests.get(f"{gitlab.url}/projects/42", headers=headers, timeout=10).json()
    assert mine["path_with_namespace"] == "acme/web"
    assert requests.get(f"{gitlab.url}/projects/7", timeout=10).status_code == 401
