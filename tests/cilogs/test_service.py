"""secret_scan's CI path in the modes and corners the one-event tests do not reach: whole runs
(SCAN_ON per system), a pipeline of a merge request, two leaking jobs of one build, an Azure PAT
that may not write the timeline."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cievents.cilogs.writeback import CHECK_NAME
from cievents.findings import FindingMessage
from tests.cilogs.logs import job_log
from tests.cilogs.test_secret_scan_ci import push, vendor
from tests.conftest import CapturedLog
from tests.notify.events import job as buildkite_job
from tests.scm.test_clients import KEY, PEM
from tests.support.apps import function_client
from tests.support.fakehttp import Reply
from tests.support.fakes.azure_devops import FakeAzureDevOps
from tests.support.fakes.buildkite import FakeBuildkite
from tests.support.fakes.github import FakeGitHub
from tests.support.fakes.gitlab import FakeGitLab

SCAN = str(Path(__file__).parents[2] / "functions" / "secret_scan" / "main.py")


def client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> Any:
    return function_client(
        monkeypatch,
        SCAN,
        {
            "CIEVENTS_FINDINGS_PUBLISH_TO": f"file:{tmp_path / 'findings.jsonl'}",
            "CIEVENTS_STORE": f"sqlite:{tmp_path / 'scan.db'}",
            **env,
        },
    )


def findings(tmp_path: Path) -> list[FindingMessage]:
    path = tmp_path / "findings.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [FindingMessage.from_bytes(base64.b64decode(json.loads(x)["data"])) for x in lines]


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(app_key=KEY, installation="77", page_size=2) as fake:
        yield fake


def test_github_run_mode_scans_every_job_of_the_run_once(
    github: FakeGitHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, captured_log: CapturedLog
) -> None:
    body = vendor("github/workflow_run.completed.json")
    repo, run_id, sha = (
        body["repository"]["full_name"],
        body["workflow_run"]["id"],
        body["workflow_run"]["head_sha"],
    )
    github.add_run(
        repo,
        run_id,
        [{"id": 1, "name": "lint"}, {"id": 2, "name": "test"}, {"id": 3, "name": "publish"}],
    )
    github.job_logs.update({1: b"2026-11-30T14:00:00Z ok\n", 2: b"", 3: job_log("github")[0]})
    app = client(
        monkeypatch,
        tmp_path,
        SCAN_ON="job.finished,github=build.finished",
        GITHUB_API_URL=github.url,
        GITHUB_APP_ID="12345",
        GITHUB_APP_PRIVATE_KEY=PEM,
        GITHUB_APP_INSTALLATION_ID="77",
    )
    job_event = {
        "action": "completed",
        "repository": body["repository"],
        "workflow_job": {"id": 3, "run_id": run_id, "head_sha": sha, "name": "publish"},
    }
    for n, (payload, event) in enumerate(
        [(body, "workflow_run"), (job_event, "workflow_job"), (body, "workflow_run")]
    ):
        assert (
            app.post(
                "/", json=push(payload, {"source": "github", "event": event}, f"m{n}")
            ).status_code
            == 200
        )
    assert [o["outcome"] for o in captured_log.outcomes()] == ["acted", "skipped", "duplicate"]
    assert len(github.calls("GET", r".*/actions/runs/\d+/jobs")) == 2  # two pages of two
    (message,) = findings(tmp_path)
    assert message.job_name == "publish" and message.build_url == body["workflow_run"]["html_url"]
    (check,) = github.runs(repo, sha, CHECK_NAME)
    assert check["conclusion"] == "failure"
    (annotation,) = check["annotations"]
    assert annotation["path"] == body["workflow_run"]["path"]  # the workflow file that ran it


def test_gitlab_pipeline_of_a_merge_request_gets_one_mr_note(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    body = vendor("gitlab/pipeline.json")
    project, pipeline, iid = (
        str(body["project"]["id"]),
        body["object_attributes"]["id"],
        body["merge_request"]["iid"],
    )
    with FakeGitLab(tokens=("gl",)) as gl:
        gl.pipeline_jobs[(project, pipeline)] = [
            {"id": 71, "name": "build"},
            {"id": 72, "name": "release"},
        ]
        gl.traces[71] = b"\x1b[32;1m$ make\x1b[0;m\n"
        gl.traces[72] = job_log("gitlab")[0]
        app = client(
            monkeypatch,
            tmp_path,
            SCAN_ON="build.finished",
            GITLAB_API_URL=gl.url,
            GITLAB_TOKEN="gl",
        )
        for n in range(3):
            assert (
                app.post(
                    "/", json=push(body, {"source": "gitlab", "event": "pipeline"}, f"p{n}")
                ).status_code
                == 200
            )
        (note,) = gl.notes_on(project, iid)
        assert "glpa" in note["body"] and job_log("gitlab")[1] not in note["body"]
        assert "<!-- cievents:secret-scan-logs -->" in note["body"]
        assert gl.commit_discussions == []
    (message,) = findings(tmp_path)
    assert message.pull_request == iid and message.job_name == "release"


def test_two_leaking_jobs_of_one_build_share_one_annotation(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with FakeBuildkite() as bk:
        app = client(
            monkeypatch,
            tmp_path,
            BUILDKITE_API_URL=f"{bk.url}/v2",
            BUILDKITE_API_TOKEN="bk-test-token",
        )
        api = "https://api.buildkite.com/v2/organizations/acme-inc/pipelines/web-app/builds/42"
        for n, system in enumerate(("buildkite", "github")):  # two different credentials
            bk.logs[f"job-{n}"] = job_log(system)[0]
            body = buildkite_job(f"job-{n}", f"step {n}")
            body["job"].update(
                log_url=f"{api}/jobs/job-{n}/log", raw_log_url=f"{api}/jobs/job-{n}/log.txt"
            )
            assert (
                app.post(
                    "/", json=push(body, {"source": "buildkite", "event": "job.finished"}, f"j{n}")
                ).status_code
                == 200
            )
        (annotation,) = bk.annotations[("acme-inc", "web-app", 42)].values()
        assert (
            "2 credential(s)" in annotation["body"]
            and "step 0" in annotation["body"]
            and "step 1" in annotation["body"]
        )
        assert len(bk.calls("POST", r".*/annotations")) == 2  # created, then updated in place
    assert len(findings(tmp_path)) == 2


def test_an_azure_pat_that_may_not_write_the_timeline_still_tags_the_build(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, captured_log: CapturedLog
) -> None:
    body = vendor("azure-devops/build.complete.json")
    with FakeAzureDevOps(pats=("az",)) as az:
        az.add_build(2, {"Deploy": [("Azure CLI", 4)]})
        az.build_logs[(2, 4)] = job_log("azure")[0]
        az.queue("PATCH", r".*/records", Reply(403, {"message": "TF400813: not authorized"}))
        az.queue("GET", r".*/timeline", Reply(429, {"message": "slow down"}, {"Retry-After": "0"}))
        app = client(monkeypatch, tmp_path, AZURE_DEVOPS_API_URL=az.url, AZURE_DEVOPS_PAT="az")
        assert (
            app.post(
                "/", json=push(body, {"source": "azure-devops", "event": "build.complete"}, "a1")
            ).status_code
            == 200
        )
        assert az.tags == {2: ["secret-leak"]} and az.record_issues == {}
    (outcome,) = captured_log.outcomes()
    assert (
        outcome["outcome"] == "acted"
        and "tag (the PAT may not write the timeline" in outcome["reason"]
    )
