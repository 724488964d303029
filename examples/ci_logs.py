"""The CI-log part of the example day: a credential leaked in a job log of GitHub Actions,
GitLab CI, Azure Pipelines and Bitbucket Pipelines (Buildkite's is in generate.py).

Each event comes with NAME.log (the job's log, from tests/fixtures/cilogs with a fake,
format-valid credential generated here) and NAME.api.json: the API paths the demo's
stand-in serves for it (``"log"`` means NAME.log), so secret_scan reads the logs through
the same client code as against the real APIs.
"""

from __future__ import annotations

import base64
import json
import random
import string
from pathlib import Path
from typing import Any

from cievents.scanning.validate import github_style_token

TEMPLATES = Path(__file__).parents[1] / "tests" / "fixtures" / "cilogs"
rng = random.Random(20261130)  # noqa: S311 - reproducible fake data, not secrets
B62 = string.ascii_letters + string.digits
SHA = "4f2c9a1be0d7c3a5968e1f2d3c4b5a6978877665"


def rand(n: int, alphabet: str = B62) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _log(template: str, secret: str) -> str:
    return (TEMPLATES / template).read_text().replace("@@LEAK@@", secret)


def github() -> tuple[str, dict[str, Any], dict[str, str], str, dict[str, Any]]:
    job = {
        "id": 31337001,
        "run_id": 9870001,
        "run_attempt": 1,
        "workflow_name": "release",
        "head_branch": "main",
        "head_sha": SHA,
        "status": "completed",
        "conclusion": "success",
        "name": "publish",
        "html_url": "https://github.com/acme-inc/web-app/actions/runs/9870001/job/31337001",
        "run_url": "https://api.github.com/repos/acme-inc/web-app/actions/runs/9870001",
        "started_at": "2026-11-20T14:02:11Z",
        "completed_at": "2026-11-20T14:02:26Z",
    }
    body = {
        "action": "completed",
        "workflow_job": job,
        "repository": {
            "id": 1296269,
            "full_name": "acme-inc/web-app",
            "name": "web-app",
            "html_url": "https://github.com/acme-inc/web-app",
        },
        "sender": {"login": "ravi"},
    }
    headers = {
        "X-GitHub-Event": "workflow_job",
        "X-GitHub-Delivery": "7d1c9f0e-4b2a-11ef-8e2f-0242ac120002",
    }
    log = _log("github-actions.log", github_style_token("npm_", rand(30)))
    api = {"/repos/acme-inc/web-app/actions/jobs/31337001/logs": "log"}
    return "1500-github-actions-publish-job", body, headers, log, api


def gitlab() -> tuple[str, dict[str, Any], dict[str, str], str, dict[str, Any]]:
    body = {
        "object_kind": "build",
        "ref": "main",
        "tag": False,
        "before_sha": "0000000000000000000000000000000000000000",
        "sha": SHA,
        "build_id": 7712001,
        "build_name": "release",
        "build_stage": "deploy",
        "build_status": "success",
        "build_started_at": "2026-11-20 14:20:01 UTC",
        "build_finished_at": "2026-11-20 14:20:31 UTC",
        "build_allow_failure": False,
        "pipeline_id": 120044,
        "project_id": 48213377,
        "project_name": "acme-inc / payments",
        "user": {"id": 42, "name": "Ravi", "username": "ravi"},
        "commit": {
            "id": 120044,
            "sha": SHA,
            "message": "Release v2.14.0",
            "author_name": "Ravi",
            "author_email": "ravi@acme.example",
            "status": "success",
        },
        "repository": {"name": "payments", "homepage": "https://gitlab.com/acme-inc/payments"},
        "runner": {"id": 380987, "description": "shared-runners-manager-6.gitlab.com"},
    }
    headers = {
        "X-Gitlab-Event": "Job Hook",
        "X-Gitlab-Event-UUID": "13792a34-cac6-4fda-95a8-c58e00a3954e",
    }
    log = _log("gitlab-ci.log", "glpat-" + rand(20, B62 + "_-"))
    return (
        "1520-gitlab-payments-release-job",
        body,
        headers,
        log,
        {"/projects/48213377/jobs/7712001/trace": "log"},
    )


def azure() -> tuple[str, dict[str, Any], dict[str, str], str, dict[str, Any]]:
    project = "/acme-inc/5f0b7c1e-2a3d-4e5f-8a9b-0c1d2e3f4a5b"
    base = f"{project}/_apis/build/builds/311"
    body = {
        "subscriptionId": "00ca946b-2fe9-4f2a-ae2f-40d5c48001bc",
        "notificationId": 4,
        "id": "4a5d99d6-1c75-4e53-91b9-ee80057d4ce3",
        "eventType": "build.complete",
        "publisherId": "tfs",
        "message": {"text": "Build 20261120.3 succeeded"},
        "resource": {
            "id": 311,
            "buildNumber": "20261120.3",
            "status": "completed",
            "result": "succeeded",
            "url": f"https://dev.azure.com{base}",
            "sourceBranch": "refs/heads/main",
            "sourceVersion": SHA,
            "definition": {"id": 12, "name": "assets-deploy"},
            "repository": {"id": "assets", "type": "TfsGit", "name": "assets"},
            "orchestrationPlan": {"planId": "9a7b6c5d-4e3f-2a1b-0c9d-8e7f6a5b4c3d"},
            "_links": {
                "web": {"href": "https://dev.azure.com/acme-inc/assets/_build/results?buildId=311"}
            },
        },
    }
    timeline = {
        "id": "9a7b6c5d-4e3f-2a1b-0c9d-8e7f6a5b4c3d",
        "records": [
            {
                "id": "b1",
                "parentId": None,
                "type": "Job",
                "name": "Deploy",
                "order": 1,
                "log": {"id": 1},
            },
            {
                "id": "b1-t1",
                "parentId": "b1",
                "type": "Task",
                "name": "Checkout",
                "order": 1,
                "log": {"id": 2, "url": f"https://dev.azure.com{base}/logs/2"},
            },
            {
                "id": "b1-t2",
                "parentId": "b1",
                "type": "Task",
                "name": "Deploy storage config",
                "order": 2,
                "log": {"id": 3, "url": f"https://dev.azure.com{base}/logs/3"},
            },
        ],
    }
    secret = base64.b64encode(rng.randbytes(64)).decode()
    api = {
        f"{base}/timeline": timeline,
        f"{base}/logs/2": "2026-11-20T09:13:58.0000000Z Checkout done\n",
        f"{base}/logs/3": "log",
    }
    return "1540-azure-assets-deploy-complete", body, {}, _log("azure-pipelines.log", secret), api


def bitbucket() -> tuple[str, dict[str, Any], dict[str, str], str, dict[str, Any]]:
    repo = {
        "full_name": "acme-inc/tools",
        "name": "tools",
        "type": "repository",
        "links": {"html": {"href": "https://bitbucket.org/acme-inc/tools"}},
    }
    body = {
        "commit_status": {
            "key": "{e1b7c3f4-8a2d-4b6e-9c1f-2d3e4f5a6b7c}",
            "type": "build",
            "state": "SUCCESSFUL",
            "name": "Pipeline #57 for main",
            "refname": "main",
            "url": "https://bitbucket.org/acme-inc/tools/pipelines/results/57",
            "commit": {"hash": SHA, "type": "commit"},
            "repository": repo,
        },
        "repository": repo,
        "actor": {"display_name": "Ravi"},
    }
    headers = {
        "X-Event-Key": "repo:commit_status_updated",
        "X-Request-UUID": "8c2b3e0a-6d1f-4f3e-b1a2-9e8d7c6b5a40",
    }
    uuid = "{e1b7c3f4-8a2d-4b6e-9c1f-2d3e4f5a6b7c}"
    base = "/repositories/acme-inc/tools/pipelines"
    api = {
        f"{base}/": {"values": [{"uuid": uuid, "build_number": 57}], "page": 1, "pagelen": 100},
        f"{base}/{uuid}/steps/": {
            "values": [{"uuid": "{s-1}", "name": "Publish changelog"}],
            "page": 1,
        },
        f"{base}/{uuid}/steps/{{s-1}}/log": "log",
    }
    log = _log("bitbucket-pipelines.log", "ATBB" + rand(28) + rand(8, "0123456789ABCDEF"))
    return "1560-bitbucket-tools-pipeline-57", body, headers, log, api


def write(out: Path) -> int:
    """Write each CI's event, its headers, its log and the API its stand-in serves."""
    made = [github(), gitlab(), azure(), bitbucket()]
    for name, body, headers, log, api in made:
        (out / f"{name}.json").write_text(json.dumps(body, indent=2) + "\n")
        (out / f"{name}.headers.json").write_text(json.dumps(headers, indent=2) + "\n")
        (out / f"{name}.log").write_text(log)
        (out / f"{name}.api.json").write_text(json.dumps(api, indent=2) + "\n")
    return len(made)
