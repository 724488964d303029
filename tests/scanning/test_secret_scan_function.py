"""secret_scan against a local Buildkite REST API serving a job log that leaks a credential."""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cievents.errors import ConfigError
from cievents.findings import FindingMessage
from tests.conftest import CapturedLog
from tests.notify.events import build, job, push_body
from tests.scanning.samples import positives
from tests.support.apps import function_client
from tests.support.fakehttp import FakeServer, Reply, Request
from tests.support.fakes.buildkite import FakeBuildkite, sample_jobs

SOURCE = str(Path(__file__).parents[2] / "functions" / "secret_scan" / "main.py")
ids = itertools.count(1)
LEAK = next(c for c in positives() if c[0] == "github-token")[1].split()[2]


class LeakingBuildkite(FakeBuildkite):
    """Build 42 of acme-inc/web-app, every job of which prints the same leaked token."""

    def __init__(self) -> None:
        super().__init__(token="bk-test-token")
        self.add_build("acme-inc", "web-app", 42, jobs=sample_jobs())

    def _log(self, req: Request) -> Reply:
        body = f"_bk;t=1700000000000~~~ Running\n\x1b[33mexport GITHUB_TOKEN={LEAK}\x1b[0m\ndone\n"
        assert req.match is not None
        self.logs.setdefault(req.match["job"], body.encode())
        return super()._log(req)


@pytest.fixture
def buildkite() -> Iterator[FakeServer]:
    with LeakingBuildkite() as fake:
        yield fake


def scan_client(
    buildkite: FakeServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str
) -> tuple[Any, Path]:
    """The function behind functions-framework, wired to the fake Buildkite; and where
    its findings are published."""
    published = tmp_path / "findings.jsonl"
    settings = {
        "BUILDKITE_API_URL": f"{buildkite.url}/v2",
        "BUILDKITE_API_TOKEN": "bk-test-token",
        "CIEVENTS_FINDINGS_PUBLISH_TO": f"file:{published}",
        "CIEVENTS_STORE": f"sqlite:{tmp_path / 'state.db'}",
        **env,
    }
    return function_client(monkeypatch, SOURCE, settings), published


def test_a_leak_in_a_job_log_is_reported_once_and_never_in_clear(
    buildkite: FakeServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    captured_log: CapturedLog,
) -> None:
    client, published = scan_client(
        buildkite, monkeypatch, tmp_path, SECURITY_SLACK_CHANNEL="#security"
    )
    event = job("job-leak", ":s3: Deploy preview")
    for _ in range(3):
        assert client.post("/", json=push_body(event, f"s{next(ids)}")).status_code == 200
    lines = published.read_text().splitlines()
    assert len(lines) == 1  # one finding, published once despite three deliveries
    record = json.loads(lines[0])
    message = FindingMessage.from_bytes(base64.b64decode(record["data"]))
    assert message.rule_id == "github-token" and message.job_id == "job-leak"
    assert message.location["line"] == 2 and message.pipeline == "web-app"
    assert record["attributes"]["event"] == "finding"
    outbox = (tmp_path / "outbox" / "slack.jsonl").read_text()
    for text in (lines[0], outbox, captured_log.text, base64.b64decode(record["data"]).decode()):
        assert LEAK not in text  # never the secret in clear
    assert [o["outcome"] for o in captured_log.outcomes()] == ["acted", "duplicate", "duplicate"]


def test_unreadable_log_is_retried_or_acked(
    buildkite: FakeServer, monkeypatch: pytest.MonkeyPatch, captured_log: CapturedLog
) -> None:
    client = function_client(
        monkeypatch,
        SOURCE,
        {"BUILDKITE_API_URL": f"{buildkite.url}/v2", "BUILDKITE_API_TOKEN": "wrong"},
    )
    assert client.post("/", json=push_body(job("j2", "x"), "s-x")).status_code == 200
    assert captured_log.outcomes()[-1]["outcome"] == "failed"  # 401: fix the token, not retry
    buildkite.queue("GET", ".*/log.txt", Reply(503, "busy"))
    buildkite.queue("GET", ".*/log.txt", Reply(503, "busy"))
    buildkite.queue("GET", ".*/log.txt", Reply(503, "busy"))
    client = function_client(monkeypatch, SOURCE, {"BUILDKITE_API_TOKEN": "bk-test-token"})
    assert client.post("/", json=push_body(job("j3", "x"), "s-y")).status_code == 500


def test_build_mode_scans_every_script_job_of_a_finished_build_once(
    buildkite: FakeServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    captured_log: CapturedLog,
) -> None:
    client, published = scan_client(buildkite, monkeypatch, tmp_path, SCAN_ON="build.finished")
    finished = build("build.finished", "failed")
    for _ in range(2):
        assert client.post("/", json=push_body(finished, f"b{next(ids)}")).status_code == 200
    assert client.post("/", json=push_body(job("job-a", "deploy"), "j-1")).status_code == 200
    logs = sorted(r.path for r in buildkite.calls("GET", ".*/log.txt"))
    assert logs == [
        "/v2/organizations/acme-inc/pipelines/web-app/builds/42/jobs/job-a/log.txt",
        "/v2/organizations/acme-inc/pipelines/web-app/builds/42/jobs/job-b/log.txt",
    ]  # script jobs only, once: the redelivery was a duplicate, the job event skipped
    messages = [
        FindingMessage.from_bytes(base64.b64decode(json.loads(line)["data"]))
        for line in published.read_text().splitlines()
    ]
    assert sorted(m.job_id or "" for m in messages) == ["job-a", "job-b"]
    assert {m.location["path"] for m in messages} == {"deploy", "test"}
    assert [o["outcome"] for o in captured_log.outcomes()] == ["acted", "duplicate", "skipped"]
    (annotation,) = buildkite.annotations[("acme-inc", "web-app", 42)].values()
    assert annotation["style"] == "error" and annotation["context"] == "cievents-secret-scan"
    assert LEAK not in annotation["body"] and "ghp_" in annotation["body"]


def test_a_bad_scan_on_stops_the_cold_start_naming_the_setting(
    buildkite: FakeServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=r"SCAN_ON: .*every\.thing.*job\.finished"):
        scan_client(buildkite, monkeypatch, tmp_path, SCAN_ON="every.thing")
