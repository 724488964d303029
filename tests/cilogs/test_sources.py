"""The GitHub Actions, GitLab CI, Azure Pipelines and Bitbucket Pipelines log sources against
loopback fakes of their APIs: paginated job lists, a log over the cap, an expired log, 429."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from cievents.cilogs import JobRef, RunRef
from cievents.cilogs.azure import AzureLogs
from cievents.cilogs.azure import run_of_payload as azure_run
from cievents.cilogs.bitbucket import BitbucketLogs
from cievents.cilogs.bitbucket import run_of_payload as bitbucket_run
from cievents.cilogs.github import GitHubLogs
from cievents.cilogs.github import run_of_payload as github_run
from cievents.cilogs.gitlab import GitLabLogs
from cievents.cilogs.gitlab import job_of_payload as gitlab_job
from cievents.errors import RateLimitedError
from tests.conftest import CapturedLog
from tests.support.fakehttp import Reply
from tests.support.fakes.azure_devops import FakeAzureDevOps
from tests.support.fakes.bitbucket import FakeBitbucket
from tests.support.fakes.github import FakeGitHub
from tests.support.fakes.gitlab import FakeGitLab

VENDOR = Path(__file__).parents[1] / "fixtures" / "vendor"
GH_RUN = RunRef(system="github", project="acme/web-app", run_id="7001")


def warned(captured: CapturedLog, word: str) -> bool:
    return any(word in line["message"] for line in captured.lines)


# -- GitHub Actions ------------------------------------------------------------------------
def test_github_jobs_follow_link_pages_up_to_the_bound(captured_log: CapturedLog) -> None:
    with FakeGitHub(tokens=("gh-test-token",)) as gh:
        gh.add_run(
            "acme/web-app", 7001, [{"id": 100 + i, "name": f"test ({i})"} for i in range(230)]
        )
        source = GitHubLogs(token="gh-test-token", api_url=gh.url, max_jobs=1000)
        jobs = source.jobs(GH_RUN)
        assert [j.job_id for j in jobs] == [str(100 + i) for i in range(230)]
        assert len(gh.calls("GET", r".*/jobs")) == 3  # 100 + 100 + 30
        assert gh.calls("GET", r".*/jobs")[0].query["filter"] == ["latest"]
        few = GitHubLogs(token="gh-test-token", api_url=gh.url, max_jobs=150).jobs(GH_RUN)
        assert len(few) == 150 and warned(captured_log, "SCAN_MAX_JOBS")
        capped = GitHubLogs(token="gh-test-token", api_url=gh.url, max_jobs=1000, max_pages=1)
        assert len(capped.jobs(GH_RUN)) == 100 and warned(captured_log, "page bound")


def test_github_job_log_follows_the_redirect_and_is_capped() -> None:
    with FakeGitHub(tokens=("gh-test-token",)) as gh:
        gh.job_logs[5] = b"2026-11-30T14:02:11.1034567Z " + b"a" * 5000 + b"\n"
        job = JobRef(run=GH_RUN, job_id="5", name="build")
        log = GitHubLogs(token="gh-test-token", api_url=gh.url, max_log_bytes=1024).log(job)
        assert len(log.data) == 1024 and log.truncated
        blob = gh.calls("GET", r"/_blobs/.*")[0]
        assert "authorization" in blob.headers  # same host here; requests drops it cross-host
        whole = GitHubLogs(token="gh-test-token", api_url=gh.url).log(job)
        assert whole.data == gh.job_logs[5] and not whole.truncated


def test_github_expired_log_is_missing_and_429_waits() -> None:
    with FakeGitHub(tokens=("gh-test-token",)) as gh:
        source = GitHubLogs(token="gh-test-token", api_url=gh.url)
        gone = source.log(JobRef(run=GH_RUN, job_id="77", name="old"))
        assert gone.missing and "410" in gone.missing
        gh.job_logs[8] = b"ok\n"
        gh.queue("GET", r".*/jobs/8/logs", Reply(429, {"message": "x"}, {"Retry-After": "0"}))
        assert source.log(JobRef(run=GH_RUN, job_id="8", name="b")).data == b"ok\n"


def test_github_run_archive_is_read_step_by_step() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("0_build.txt", "2026-11-30T14:02:11Z whole job\n")
        archive.writestr("build/1_Set up job.txt", "2026-11-30T14:02:11Z setup\n")
        archive.writestr("build/2_Run npm ci.txt", "2026-11-30T14:02:12Z npm ci\n")
        archive.writestr("1_lint.txt", "2026-11-30T14:02:13Z lint only\n")
    with FakeGitHub(tokens=("gh-test-token",)) as gh:
        gh.run_archives[7001] = buffer.getvalue()
        logs = GitHubLogs(token="gh-test-token", api_url=gh.url).archive(GH_RUN)
    assert [(log.job.name, log.data) for log in logs] == [
        ("1_lint", b"2026-11-30T14:02:13Z lint only\n"),
        ("build / 1_Set up job", b"2026-11-30T14:02:11Z setup\n"),
        ("build / 2_Run npm ci", b"2026-11-30T14:02:12Z npm ci\n"),
    ]  # the whole-job file of "build" repeats its steps: not scanned twice


def test_github_run_of_a_vendor_workflow_run_payload() -> None:
    body = json.loads(
        (VENDOR / "github" / "workflow_run.completed.with-pull-requests.json").read_text()
    )
    run = github_run(body)
    assert run.project == body["repository"]["full_name"]
    assert (
        run.run_id == str(body["workflow_run"]["id"])
        and run.commit == body["workflow_run"]["head_sha"]
    )
    assert run.pull_request == body["workflow_run"]["pull_requests"][0]["number"]


# -- GitLab CI -----------------------------------------------------------------------------
def test_gitlab_jobs_follow_x_next_page_and_trace_is_capped(captured_log: CapturedLog) -> None:
    with FakeGitLab(tokens=("gl-test-token",)) as gl:
        gl.pipeline_jobs[("acme/payments", 31)] = [
            {"id": i, "name": f"job {i}", "status": "success"} for i in range(1, 151)
        ]
        gl.traces[3] = b"x" * 4000
        source = GitLabLogs(token="gl-test-token", api_url=gl.url, max_log_bytes=2048, max_jobs=500)
        run = RunRef(system="gitlab", project="acme/payments", run_id="31")
        jobs = source.jobs(run)
        assert len(jobs) == 150 and len(gl.calls("GET", r".*/jobs")) == 2
        assert gl.calls("GET", r".*/jobs")[0].path == "/projects/acme%2Fpayments/pipelines/31/jobs"
        trace = source.log(jobs[2])
        assert len(trace.data) == 2048 and trace.truncated
        assert source.log(jobs[0]).missing  # erased: 404
        gl.queue("GET", r".*/trace", Reply(429, {"message": "x"}, {"Retry-After": "900"}))
        with pytest.raises(RateLimitedError):
            source.log(jobs[2])


def test_gitlab_job_of_a_vendor_job_hook() -> None:
    body = json.loads((VENDOR / "gitlab" / "job.json").read_text())
    job = gitlab_job(body)
    assert job.job_id == str(body["build_id"]) and job.run.run_id == str(body["pipeline_id"])
    assert job.run.project == str(body["project_id"])


# -- Azure Pipelines -----------------------------------------------------------------------
def test_azure_tasks_of_the_timeline_and_their_logs(captured_log: CapturedLog) -> None:
    body = json.loads((VENDOR / "azure-devops" / "build.complete.json").read_text())
    run = azure_run(body)
    assert run.run_id == "2" and run.project.endswith("71777fbc-1cf2-4bd1-9540-128c1c71f766")
    with FakeAzureDevOps(pats=("azdo-test-pat",)) as az:
        az.add_build(2, {"Build": [("Checkout", 3), ("Deploy", 4)], "Test": [("Run tests", 5)]})
        az.build_logs[(2, 4)] = b"2026-11-30T09:14:02.1192837Z " + b"z" * 3000
        source = AzureLogs(
            token="azdo-test-pat", api_url=f"{az.url}/fabrikam-fiber-inc", max_log_bytes=1024
        )
        jobs = source.jobs(run)
        assert [j.name for j in jobs] == ["Build / Checkout", "Build / Deploy", "Test / Run tests"]
        log = source.log(jobs[1])
        assert len(log.data) == 1024 and log.truncated
        assert az.calls("GET", r".*/logs/4")[0].headers["accept"] == "text/plain"
        assert source.log(jobs[0]).missing  # retention expired: 404
        bounded = AzureLogs(token="azdo-test-pat", api_url=az.url, max_jobs=2).jobs(run)
        assert len(bounded) == 2 and warned(captured_log, "SCAN_MAX_JOBS")


# -- Bitbucket Pipelines -------------------------------------------------------------------
def test_bitbucket_steps_by_build_number_paged_and_logs() -> None:
    status = {
        "commit_status": {
            "key": "{pipeline-key}",
            "state": "FAILED",
            "name": "Pipeline #12 for main",
            "refname": "main",
            "url": "https://bitbucket.org/acme/tools/pipelines/results/12",
            "commit": {"hash": "7c1e2b9d4a5f60718293a4b5c6d7e8f901234567"},
        },
        "repository": {"full_name": "acme/tools"},
    }
    run = bitbucket_run(status)
    assert run is not None and run.run_id == "12" and run.commit.startswith("7c1e2b9")
    assert bitbucket_run({"commit_status": {"url": "https://ci.example.com/1"}}) is None
    with FakeBitbucket(tokens=("bb-test-token",)) as bb:
        for n in range(1, 12):
            bb.add_pipeline("acme/tools", n, f"{{p-{n}}}", [])
        steps = [
            {"uuid": f"{{s-{i}}}", "name": f"step {i}", "state": {"name": "COMPLETED"}}
            for i in range(130)
        ]
        bb.add_pipeline("acme/tools", 12, "{p-12}", steps)
        bb.step_logs["{s-1}"] = b"+ make release\n" * 400
        source = BitbucketLogs(
            token="bb-test-token", api_url=bb.url, max_log_bytes=4096, max_jobs=500
        )
        jobs = source.jobs(run)
        assert len(jobs) == 130 and len(bb.calls("GET", r".*/steps/")) == 2
        log = source.log(jobs[1])
        assert len(log.data) == 4096 and log.truncated
        assert source.log(jobs[0]).missing
        bb.queue("GET", r".*/log", Reply(429, {"error": {}}, {"Retry-After": "0"}))
        assert source.log(jobs[1]).data == log.data
