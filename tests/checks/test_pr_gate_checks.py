"""``cievents check`` for the PR gate: the scopes each SCM credential needs, read from the
vendors' own answers (loopback fakes), and the GitHub token fallback said out loud."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cievents.checks.base import CheckResult, run_checks
from cievents.checks.scm import pr_gate_checks
from tests.scanning.test_secret_scan_pr_gate import KEY, PEM, TOKEN
from tests.support.fakes import azure_devops, bitbucket, github, gitlab


def check(env: dict[str, str]) -> list[CheckResult]:
    return run_checks(pr_gate_checks(env, 5.0), timeout_s=30)


@pytest.fixture
def gh() -> Iterator[github.FakeGitHub]:
    with github.FakeGitHub(tokens=(TOKEN,), app_key=KEY) as fake:
        yield fake


APP = {"GITHUB_APP_ID": "12345", "GITHUB_APP_PRIVATE_KEY": PEM, "GITHUB_APP_INSTALLATION_ID": "77"}


def test_github_app_with_the_permissions_passes(gh: github.FakeGitHub) -> None:
    (result,) = check({"GITHUB_API_URL": gh.url, **APP})
    assert result.status == "pass" and "check runs" in result.detail


def test_github_app_without_checks_write_fails_naming_it(gh: github.FakeGitHub) -> None:
    gh.app_permissions = {"pull_requests": "write", "statuses": "write", "checks": "read"}
    (result,) = check({"GITHUB_API_URL": gh.url, **APP})
    assert result.status == "fail" and "checks: write" in result.detail
    assert "Checks: write" in result.fix


def test_github_token_says_it_falls_back_to_a_commit_status(gh: github.FakeGitHub) -> None:
    (result,) = check({"GITHUB_API_URL": gh.url, "GITHUB_TOKEN": TOKEN})
    assert result.status == "pass"
    assert "classic token with repo" in result.detail and "commit status" in result.detail


def test_github_fine_grained_token_and_a_classic_one_without_repo(gh: github.FakeGitHub) -> None:
    gh.token_scopes = ""
    (result,) = check({"GITHUB_API_URL": gh.url, "GITHUB_TOKEN": TOKEN})
    assert result.status == "pass" and "fine-grained" in result.detail
    gh.token_scopes = "read:user, gist"
    (result,) = check({"GITHUB_API_URL": gh.url, "GITHUB_TOKEN": TOKEN})
    assert result.status == "fail" and "gist" in result.detail


@pytest.mark.parametrize(("scopes", "status"), [(("api",), "pass"), (("read_api",), "fail")])
def test_gitlab_token_needs_api(scopes: tuple[str, ...], status: str) -> None:
    with gitlab.FakeGitLab(tokens=(TOKEN,), scopes=scopes) as fake:
        (result,) = check({"GITLAB_API_URL": fake.url, "GITLAB_TOKEN": TOKEN})
    assert result.status == status, result
    if status == "fail":
        assert "read_api" in result.detail and "api scope" in result.fix


@pytest.mark.parametrize(
    ("scopes", "status"),
    [("pullrequest:write, repository:write", "pass"), ("repository, pullrequest", "fail")],
)
def test_bitbucket_needs_pullrequest_write(scopes: str, status: str) -> None:
    with bitbucket.FakeBitbucket(tokens=(TOKEN,), scopes=scopes) as fake:
        (result,) = check({"BITBUCKET_API_URL": fake.url, "BITBUCKET_TOKEN": TOKEN})
    assert result.status == status, result


def test_azure_pat_authenticates_and_the_detail_names_the_scopes() -> None:
    with azure_devops.FakeAzureDevOps(pats=(TOKEN,)) as fake:
        env = {"AZURE_DEVOPS_ORG_URL": f"{fake.url}/fabrikam", "AZURE_DEVOPS_PAT": TOKEN}
        (good,) = check(env)
        (bad,) = check({**env, "AZURE_DEVOPS_PAT": "wrong"})
    assert good.status == "pass" and "Code (status)" in good.detail
    assert bad.status == "fail" and "AZURE_DEVOPS_PAT" in bad.fix


def test_an_unused_scm_marked_with_a_dash_is_not_checked() -> None:
    assert (
        pr_gate_checks({"GITHUB_TOKEN": "-", "GITLAB_TOKEN": "-", "AZURE_DEVOPS_PAT": "-"}, 5) == []
    )
