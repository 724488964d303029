"""``cievents scan --ci SYSTEM URL`` against loopback fakes: the URL a person copies from the
CI's web page, the same sources and cleaning as the function, exit 1 with findings."""

from __future__ import annotations

import json

import pytest

from cievents.cilogs.cli import parse_url
from cievents.cli import main
from tests.cilogs.logs import RULES, job_log
from tests.support.fakes.azure_devops import FakeAzureDevOps
from tests.support.fakes.bitbucket import FakeBitbucket
from tests.support.fakes.buildkite import FakeBuildkite
from tests.support.fakes.github import FakeGitHub
from tests.support.fakes.gitlab import FakeGitLab


@pytest.mark.parametrize(
    ("system", "url", "project", "run", "job"),
    [
        ("buildkite", "https://buildkite.com/acme/web/builds/42", "acme/web", "42", None),
        (
            "buildkite",
            "https://buildkite.com/acme/web/builds/42#0190-ab",
            "acme/web",
            "42",
            "0190-ab",
        ),
        ("github", "https://github.com/acme/web/actions/runs/7001", "acme/web", "7001", None),
        (
            "github",
            "https://github.com/acme/web/actions/runs/7001/job/5001",
            "acme/web",
            "7001",
            "5001",
        ),
        ("gitlab", "https://gitlab.com/acme/pay/api/-/pipelines/31", "acme/pay/api", "31", None),
        ("gitlab", "https://gitlab.example.com/acme/pay/-/jobs/1977", "acme/pay", "", "1977"),
        (
            "azure",
            "https://dev.azure.com/fab/web/_build/results?buildId=2&view=logs",
            "/fab/web",
            "2",
            None,
        ),
        (
            "bitbucket",
            "https://bitbucket.org/acme/tools/pipelines/results/12",
            "acme/tools",
            "12",
            None,
        ),
    ],
)
def test_urls(system: str, url: str, project: str, run: str, job: str | None) -> None:
    ref, job_id = parse_url(system, url)
    assert (ref.project, ref.run_id, job_id) == (project, run, job)


def test_a_url_of_another_ci_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["scan", "--ci", "github", "https://gitlab.com/a/b/-/jobs/1"]) == 2
    assert "expected https://github.com/OWNER/REPO/actions/runs/RUN" in capsys.readouterr().err


def test_each_ci_from_a_laptop(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with (
        FakeBuildkite() as bk,
        FakeGitHub(tokens=("gh",)) as gh,
        FakeGitLab(tokens=("gl",)) as gl,
        FakeAzureDevOps(pats=("az",)) as az,
        FakeBitbucket(tokens=("bb",)) as bb,
    ):
        bk.add_build("acme", "web", 42, jobs=[{"id": "j1", "type": "script", "name": "deploy"}])
        bk.logs["j1"] = job_log("buildkite")[0]
        gh.add_run("acme/web", 7001, [{"id": 5001, "name": "publish"}])
        gh.job_logs[5001] = job_log("github")[0]
        gl.traces[1977] = job_log("gitlab")[0]
        az.add_build(2, {"Deploy": [("Azure CLI", 4)]})
        az.build_logs[(2, 4)] = job_log("azure")[0]
        bb.add_pipeline("acme/tools", 12, "{p}", [{"uuid": "{s}", "name": "Release"}])
        bb.step_logs["{s}"] = job_log("bitbucket")[0]
        env = {
            "BUILDKITE_API_URL": f"{bk.url}/v2",
            "BUILDKITE_API_TOKEN": "bk-test-token",
            "GITHUB_API_URL": gh.url,
            "GITHUB_TOKEN": "gh",
            "GITLAB_API_URL": gl.url,
            "GITLAB_TOKEN": "gl",
            "AZURE_DEVOPS_API_URL": az.url,
            "AZURE_DEVOPS_PAT": "az",
            "BITBUCKET_API_URL": bb.url,
            "BITBUCKET_TOKEN": "bb",
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        urls = {
            "buildkite": "https://buildkite.com/acme/web/builds/42",
            "github": "https://github.com/acme/web/actions/runs/7001/job/5001",
            "gitlab": "https://gitlab.com/acme/pay/-/jobs/1977",
            "azure": "https://dev.azure.com/fab/web/_build/results?buildId=2",
            "bitbucket": "https://bitbucket.org/acme/tools/pipelines/results/12",
        }
        for system, url in urls.items():
            assert main(["scan", "--ci", system, "--format", "json", url]) == 1, system
            (finding,) = json.loads(capsys.readouterr().out)
            assert finding["rule_id"] == RULES[system]
            assert job_log(system)[1] not in json.dumps(finding)  # redacted by default
            assert finding["advice"]["revoke"]
        assert main(["scan", "--ci", "gitlab", urls["gitlab"]]) == 1
        out = capsys.readouterr().out
        assert "revoke: User settings → Access tokens" in out and "masking (if-secret)" in out
        assert main(["scan", "--ci", "gitlab", "https://gitlab.com/acme/pay/-/jobs/9"]) == 0
        assert "no log (" in capsys.readouterr().err  # erased trace: said, not an error
