"""secret_scan as deployed (functions-framework, push-subscription envelope) against loopback
fakes of each CI's API: a key leaked in a job log of each of the five CI systems gives exactly
one finding, one work item and one write-back on the build, at 1x and at 3x shuffled delivery,
and the secret is nowhere in clear."""

from __future__ import annotations

import base64
import copy
import json
import random
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cievents.cilogs.writeback import CHECK_NAME
from cievents.findings import FindingMessage
from tests.cilogs.logs import RULES, job_log
from tests.conftest import CapturedLog
from tests.notify.events import job as buildkite_job
from tests.scm.test_clients import KEY, PEM
from tests.support.apps import function_client
from tests.support.fakehttp import FakeServer
from tests.support.fakes.azure_devops import FakeAzureDevOps
from tests.support.fakes.bitbucket import FakeBitbucket
from tests.support.fakes.buildkite import FakeBuildkite
from tests.support.fakes.github import FakeGitHub
from tests.support.fakes.gitlab import FakeGitLab
from tests.workitems.test_workitem_sync import jira  # noqa: F401 - the Jira fake fixture

ROOT = Path(__file__).parents[2]
SCAN = str(ROOT / "functions" / "secret_scan" / "main.py")
WORKITEMS = str(ROOT / "functions" / "workitem_sync" / "main.py")
VENDOR = ROOT / "tests" / "fixtures" / "vendor"
SHA = "9fceb02d0ae598e95dc970b74767f19372d61af8"


@dataclass
class Scenario:
    system: str
    secret: str
    env: dict[str, str]
    events: list[tuple[dict[str, Any], dict[str, str]]]  # (payload, attributes)
    write_backs: Callable[[], list[Any]]  # the build's write-back objects
    fakes: list[FakeServer] = field(default_factory=list)


def vendor(path: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((VENDOR / path).read_text())
    return body


def _buildkite(stack: ExitStack) -> Scenario:
    fake = stack.enter_context(FakeBuildkite(token="bk-test-token"))
    data, secret = job_log("buildkite")
    body = buildkite_job("job-leak", ":s3: Deploy preview")
    api = "https://api.buildkite.com/v2/organizations/acme-inc/pipelines/web-app/builds/42"
    body["job"].update(
        log_url=f"{api}/jobs/job-leak/log", raw_log_url=f"{api}/jobs/job-leak/log.txt"
    )
    fake.logs["job-leak"] = data
    started = copy.deepcopy(body)
    started["event"] = "job.started"
    return Scenario(
        "buildkite",
        secret,
        {"BUILDKITE_API_URL": f"{fake.url}/v2", "BUILDKITE_API_TOKEN": "bk-test-token"},
        [
            (body, {"source": "buildkite", "event": "job.finished"}),
            (started, {"source": "buildkite", "event": "job.started"}),
        ],
        lambda: list(fake.annotations.get(("acme-inc", "web-app", 42), {}).values()),
        [fake],
    )


def _github(stack: ExitStack) -> Scenario:
    fake = stack.enter_context(FakeGitHub(app_key=KEY, installation="77"))
    data, secret = job_log("github")
    fake.job_logs[5001] = data
    job = {
        "id": 5001,
        "run_id": 7001,
        "run_attempt": 1,
        "workflow_name": "release",
        "head_branch": "main",
        "head_sha": SHA,
        "status": "completed",
        "conclusion": "success",
        "name": "publish",
        "html_url": "https://github.com/acme/web-app/actions/runs/7001/job/5001",
        "run_url": "https://api.github.com/repos/acme/web-app/actions/runs/7001",
    }
    repo = {"full_name": "acme/web-app", "html_url": "https://github.com/acme/web-app"}
    done = {"action": "completed", "workflow_job": job, "repository": repo}
    running = {
        "action": "in_progress",
        "workflow_job": {**job, "status": "in_progress"},
        "repository": repo,
    }
    run = vendor("github/workflow_run.completed.json")
    attrs = {"source": "github", "event": "workflow_job"}
    return Scenario(
        "github",
        secret,
        {
            "GITHUB_API_URL": fake.url,
            "GITHUB_APP_ID": "12345",
            "GITHUB_APP_PRIVATE_KEY": PEM,
            "GITHUB_APP_INSTALLATION_ID": "77",
        },
        [(done, attrs), (running, attrs), (run, {"source": "github", "event": "workflow_run"})],
        lambda: fake.runs("acme/web-app", SHA, CHECK_NAME),
        [fake],
    )


def _gitlab(stack: ExitStack) -> Scenario:
    fake = stack.enter_context(FakeGitLab(tokens=("gl-test-token",)))
    data, secret = job_log("gitlab")
    body = vendor("gitlab/job.json")
    body.update(build_status="success", sha=SHA)
    fake.traces[int(body["build_id"])] = data
    running = {**body, "build_status": "running"}
    attrs = {"source": "gitlab", "event": "build"}
    return Scenario(
        "gitlab",
        secret,
        {"GITLAB_API_URL": fake.url, "GITLAB_TOKEN": "gl-test-token"},
        [(body, attrs), (running, attrs)],
        lambda: [d for d in fake.commit_discussions if d["sha"] == SHA],
        [fake],
    )


def _azure(stack: ExitStack) -> Scenario:
    fake = stack.enter_context(FakeAzureDevOps(pats=("azdo-test-pat",)))
    data, secret = job_log("azure")
    body = vendor("azure-devops/build.complete.json")
    fake.add_build(
        2, {"Build": [("Checkout", 3), ("Deploy storage config", 4)], "Test": [("Run tests", 5)]}
    )
    fake.build_logs[(2, 3)] = b"2026-11-30T09:13:58.0000000Z ##[section]Starting: Checkout\n"
    fake.build_logs[(2, 4)] = data
    fake.build_logs[(2, 5)] = b"2026-11-30T09:15:00.0000000Z 212 passed\n"
    return Scenario(
        "azure",
        secret,
        {"AZURE_DEVOPS_API_URL": fake.url, "AZURE_DEVOPS_PAT": "azdo-test-pat"},
        [(body, {"source": "azure-devops", "event": "build.complete"})],
        lambda: [(build, tags) for build, tags in fake.tags.items()]
        + [(record, issues) for record, issues in fake.record_issues.items()],
        [fake],
    )


def _bitbucket(stack: ExitStack) -> Scenario:
    fake = stack.enter_context(FakeBitbucket(tokens=("bb-test-token",)))
    data, secret = job_log("bitbucket")
    steps = [{"uuid": "{s-build}", "name": "Build"}, {"uuid": "{s-release}", "name": "Release"}]
    fake.add_pipeline("acme/tools", 12, "{p-12}", steps)
    fake.step_logs["{s-build}"] = b"+ make\nok\n"
    fake.step_logs["{s-release}"] = data
    status = {
        "key": "{p-12}",
        "name": "Pipeline #12 for main",
        "refname": "main",
        "url": "https://bitbucket.org/acme/tools/pipelines/results/12",
        "commit": {"hash": SHA},
    }
    repo = {
        "full_name": "acme/tools",
        "links": {"html": {"href": "https://bitbucket.org/acme/tools"}},
    }
    done = {"commit_status": {**status, "state": "FAILED"}, "repository": repo}
    running = {"commit_status": {**status, "state": "INPROGRESS"}, "repository": repo}
    return Scenario(
        "bitbucket",
        secret,
        {"BITBUCKET_API_URL": fake.url, "BITBUCKET_TOKEN": "bb-test-token"},
        [
            (done, {"source": "bitbucket", "event": "repo:commit_status_updated"}),
            (running, {"source": "bitbucket", "event": "repo:commit_status_created"}),
        ],
        lambda: list(fake.reports.values()),
        [fake],
    )


SCENARIOS = {
    "buildkite": _buildkite,
    "github": _github,
    "gitlab": _gitlab,
    "azure": _azure,
    "bitbucket": _bitbucket,
}


def push(payload: dict[str, Any], attributes: dict[str, str], message_id: str) -> dict[str, Any]:
    return {
        "message": {
            "data": base64.b64encode(json.dumps(payload).encode()).decode(),
            "messageId": message_id,
            "attributes": attributes,
        },
        "subscription": "projects/p/subscriptions/secret_scan",
    }


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as s:
        yield s


@pytest.mark.parametrize("times", [1, 3])
@pytest.mark.parametrize("system", list(SCENARIOS))
def test_one_finding_one_work_item_one_write_back(
    system: str,
    times: int,
    stack: ExitStack,
    jira: FakeServer,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    captured_log: CapturedLog,
) -> None:
    scenario = SCENARIOS[system](stack)
    published = tmp_path / "findings.jsonl"
    client = function_client(
        monkeypatch,
        SCAN,
        {
            **scenario.env,
            "CIEVENTS_FINDINGS_PUBLISH_TO": f"file:{published}",
            "CIEVENTS_STORE": f"sqlite:{tmp_path / 'scan.db'}",
            "SECURITY_SLACK_CHANNEL": "#security",
        },
    )
    deliveries = scenario.events * times
    random.Random(f"{system}:{times}").shuffle(deliveries)
    for n, (payload, attributes) in enumerate(deliveries):
        assert client.post("/", json=push(payload, attributes, f"{system}-{n}")).status_code == 200
    outcomes = [o["outcome"] for o in captured_log.outcomes()]
    assert "failed" not in outcomes and "retried" not in outcomes, outcomes
    assert outcomes.count("acted") == 1, outcomes

    # exactly one finding, of the right kind, pointing into the original log
    lines = published.read_text().splitlines()
    assert len(lines) == 1
    message = FindingMessage.from_bytes(base64.b64decode(json.loads(lines[0])["data"]))
    assert message.rule_id == RULES[system] and message.source == {"azure": "azure"}.get(
        system, system
    )
    log_text = job_log(system)[0].split(b"\n")[message.location["line"] - 1]
    start = message.location["start_column"] - 1
    assert log_text.decode()[start:].startswith(scenario.secret[:4])
    assert (
        message.advice
        and message.advice["revoke"]
        and message.advice["masking"] in ("yes", "if-secret", "no")
    )

    # exactly one write-back on the build
    written = scenario.write_backs()
    if system == "azure":
        tags = [t for t in written if isinstance(t[1], list) and t[1] and isinstance(t[1][0], str)]
        issues = [i for i in written if i not in tags]
        assert tags == [(2, ["secret-leak"])] and len(issues) == 1 and len(issues[0][1]) == 1
    else:
        assert len(written) == 1, written

    # exactly one work item, whatever the redelivery of the finding
    items = function_client(
        monkeypatch,
        WORKITEMS,
        {
            "JIRA_URL": jira.url,
            "JIRA_EMAIL": "ci@acme.example",
            "JIRA_API_TOKEN": "jira-token-not-real",
            "CIEVENTS_STORE": f"sqlite:{tmp_path / 'items.db'}",
        },
    )
    for n in range(times):
        body = {"message": {**json.loads(lines[0]), "messageId": f"f-{n}"}, "subscription": "s"}
        assert items.post("/", json=body).status_code == 200
    (created,) = jira.calls("POST", "/rest/api/2/issue")
    assert "Revoke:" in created.json()["fields"]["description"]

    # the secret in clear nowhere: not in the finding, the write-back, the alert, Jira or logs
    sent = [r.body.decode("utf-8", "replace") for f in scenario.fakes for r in f.requests]
    sent += [r.body.decode("utf-8", "replace") for r in jira.requests]
    outbox = tmp_path / "outbox" / "slack.jsonl"
    texts = [lines[0], captured_log.text, *sent, outbox.read_text() if outbox.exists() else ""]
    assert all(scenario.secret not in text for text in texts)
