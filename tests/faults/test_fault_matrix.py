"""The fault matrix: every write sink × every network fault, in the deployed shape.

Each function is served by functions-framework with the HTTP signature (as
function.yaml deploys it, behind a push subscription), with the real client
(slack_sdk, jira, requests) against a loopback fake of the vendor. The fake
suffers one fault on the sink's create call; the test then redelivers as
Pub/Sub would (same message, next delivery attempt) until the push is acked,
and checks:

* the status each delivery answered Pub/Sub (5xx = redeliver, 2xx = ack);
* the outcome line each delivery logged (exactly one per delivery);
* what the vendor committed once the fault cleared: exactly one effect for a
  transient fault (commit-then-drop, time-out-after-commit, reset, unreadable
  200, 500 after commit, 429, 503); none for a permanent 4xx, with one dead
  letter naming the reason (``auth`` and the credential for 401/403).

The sinks: Slack post; GitHub status and check run; GitLab, Bitbucket Cloud and Azure
Repos commit statuses; Jira comment; Teams card; workitem_sync's creates (a Jira issue,
an Azure Boards work item). A commit status is last-write-wins: after a lost answer it
may be re-sent, at most once per delivery (Bitbucket's is keyed, so the vendor holds one).
A Teams card cannot be looked up: when its answer is lost after it was sent, the message
is dead-lettered (``outcome_unknown``) instead of re-sent blind, so the vendor holds the
card it may have committed (one, or none for a reset) and the letter says to replay.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask.testing import FlaskClient

from tests.conftest import CapturedLog
from tests.notify.events import build
from tests.support import fakes
from tests.support.apps import function_client
from tests.support.fakehttp import FAULTS, PERMANENT_FAULTS, TRANSIENT_FAULTS, FakeServer
from tests.support.fakes import jira, slack, teams
from tests.support.fakes.azure_devops import FakeAzureDevOps
from tests.support.fakes.bitbucket import FakeBitbucket
from tests.support.fakes.github import FakeGitHub
from tests.support.fakes.gitlab import FakeGitLab
from tests.workitems.test_workitem_sync import finding_from_scan

ROOT = Path(__file__).resolve().parents[2]
APP_KEY_OBJ = rsa.generate_private_key(public_exponent=65537, key_size=2048)
APP_KEY = APP_KEY_OBJ.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
GITHUB_TOKEN = "gh-test-token-not-real"
SCM_TOKEN = "scm-test-token-not-real"
ROUTES = "rules:\n  - name: all\n    source: buildkite\n    slack: '#ci'\n    teams: default\n"
MAX_DELIVERIES = 4
ids = itertools.count(1)
# The faults after which the request was sent and no usable answer came back.
UNKNOWN_OUTCOME = ("commit_then_drop", "timeout_after_commit", "reset", "500")


@dataclass(frozen=True)
class Sink:
    function: str
    server: Callable[[], FakeServer]
    method: str
    path: str  # regex of the create call the fault hits
    effects: Callable[[FakeServer], int]  # how many the vendor holds
    env: Callable[[str], dict[str, str]]
    payload: Callable[[], dict[str, Any]]
    credential: str
    # A commit status: the newest wins, so after a lost answer it may be re-sent, once per
    # redelivery (a status cannot be looked up by a marker of ours).
    last_write_wins: bool = False
    # No read API (Teams): a lost answer is dead-lettered, never re-sent blind.
    unanswerable: bool = False
    # An upsert by key (Bitbucket's build status): retried in-call like a PUT.
    keyed: bool = False
    message: Callable[[dict[str, Any]], tuple[bytes, dict[str, str]]] | None = None


def with_repository(url: str, message: str = "") -> Callable[[], dict[str, Any]]:
    def payload() -> dict[str, Any]:
        body = build("build.finished", "failed")
        body["pipeline"]["repository"] = url
        if message:
            body["build"]["message"] = message
        return body

    return payload


def github_fake() -> FakeServer:
    return FakeGitHub(tokens=(GITHUB_TOKEN,), app_key=APP_KEY_OBJ)


def a_finding(_: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """workitem_sync's input: a finding on ``security-findings`` (one per test)."""
    finding = finding_from_scan(next(ids))
    return finding.to_bytes(), finding.attributes()


def tracker_env(kind: str, url: str) -> dict[str, str]:
    if kind == "jira":
        return {"WORKITEM_TRACKER": "jira", "JIRA_URL": url, "JIRA_PAT": jira.PAT}
    return {
        "WORKITEM_TRACKER": "azure-boards",
        "AZURE_DEVOPS_ORG_URL": f"{url}/acme",
        "AZURE_DEVOPS_PROJECT": "Security",
        "AZURE_DEVOPS_PAT": SCM_TOKEN,
    }


SINKS = {
    "slack_post": Sink(
        "slack_notify",
        slack.slack_server,
        "POST",
        "/api/chat.postMessage",
        lambda server: len(server.committed("post")),
        lambda url: {
            "SLACK_BOT_TOKEN": slack.TOKEN,
            "SLACK_API_URL": f"{url}/api/",
            "SLACK_MIN_POST_INTERVAL_S": "0",
            "SLACK_MENTION_AUTHORS": "false",
        },
        lambda: build("build.finished", "failed"),
        "SLACK_BOT_TOKEN",
    ),
    "github_status": Sink(
        "github_status",
        github_fake,
        "POST",
        r"/repos/.*/statuses/.*",
        lambda server: len(getattr(server, "statuses")),  # noqa: B009
        lambda url: {"GITHUB_API_URL": url, "GITHUB_TOKEN": GITHUB_TOKEN},
        with_repository("git@github.com:acme-inc/web-app.git"),
        "GITHUB_TOKEN",
        last_write_wins=True,
    ),
    "github_check_run": Sink(
        "github_status",
        github_fake,
        "POST",
        r"/repos/.*/check-runs",
        lambda server: len(getattr(server, "check_runs")),  # noqa: B009
        lambda url: {
            "GITHUB_API_URL": url,
            "GITHUB_APP_ID": "12345",
            "GITHUB_APP_PRIVATE_KEY": APP_KEY,
            "GITHUB_APP_INSTALLATION_ID": "77",
        },
        with_repository("git@github.com:acme-inc/web-app.git"),
        "GITHUB_APP_ID",
    ),
    "jira_comment": Sink(
        "jira_update",
        jira.jira_server,
        "POST",
        r"/rest/api/2/issue/.*/comment",
        lambda server: len(server.committed("comment")),
        lambda url: {"JIRA_URL": url, "JIRA_PAT": jira.PAT, "JIRA_TIMEOUT_S": "1"},
        with_repository("git@github.com:acme-inc/web-app.git", "SHOP-311 fix the cart"),
        "JIRA_PAT",
    ),
    "gitlab_status": Sink(
        "github_status",
        lambda: FakeGitLab(tokens=(SCM_TOKEN,)),
        "POST",
        r"/projects/.*/statuses/.*",
        lambda server: len(getattr(server, "statuses")),  # noqa: B009
        lambda url: {"GITLAB_API_URL": url, "GITLAB_TOKEN": SCM_TOKEN},
        with_repository("git@gitlab.com:acme/web-app.git"),
        "GITLAB_TOKEN",
        last_write_wins=True,
    ),
    "bitbucket_status": Sink(
        "github_status",
        lambda: FakeBitbucket(tokens=(SCM_TOKEN,)),
        "POST",
        r"/repositories/.*/commit/.*/statuses/build",
        # Keyed: a POST with the same key replaces the status, so the vendor holds one.
        lambda server: len({(s["sha"], s["key"]) for s in getattr(server, "statuses")}),  # noqa: B009
        lambda url: {"BITBUCKET_API_URL": url, "BITBUCKET_TOKEN": SCM_TOKEN},
        with_repository("git@bitbucket.org:acme/web-app.git"),
        "BITBUCKET_TOKEN",
        last_write_wins=True,
        keyed=True,
    ),
    "azure_repos_status": Sink(
        "github_status",
        lambda: FakeAzureDevOps(pats=(SCM_TOKEN,)),
        "POST",
        r"/.*/_apis/git/repositories/.*/commits/.*/statuses",
        lambda server: len(getattr(server, "commit_statuses")),  # noqa: B009
        lambda url: {"AZURE_DEVOPS_API_URL": url, "AZURE_DEVOPS_PAT": SCM_TOKEN},
        with_repository("https://dev.azure.com/acme/web/_git/web-app"),
        "AZURE_DEVOPS_PAT",
        last_write_wins=True,
    ),
    "teams_card": Sink(
        "teams_notify",
        teams.teams_server,
        "POST",
        r"/workflows/.*",
        lambda server: len(server.committed("card")),
        lambda url: {"TEAMS_WEBHOOK_URL": f"{url}/workflows/ci"},
        lambda: build("build.finished", "failed"),
        "TEAMS_WEBHOOK_URL",
        unanswerable=True,
    ),
    "jira_issue": Sink(
        "workitem_sync",
        jira.jira_server,
        "POST",
        r"/rest/api/2/issue",
        lambda server: len(server.committed("issue")),
        lambda url: {**tracker_env("jira", url), "JIRA_TIMEOUT_S": "1"},
        dict,
        "JIRA_PAT",
        message=a_finding,
    ),
    "azure_boards_item": Sink(
        "workitem_sync",
        lambda: FakeAzureDevOps(pats=(SCM_TOKEN,)),
        "POST",
        r"/acme/Security/_apis/wit/workitems/\$Bug",
        lambda server: len(server.committed("workitem")),
        lambda url: tracker_env("azure-boards", url),
        dict,
        "AZURE_DEVOPS_PAT",
        message=a_finding,
    ),
}
assert fakes.__doc__  # the shared package of vendor fakes


@pytest.fixture
def served(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[Sink, FakeServer, FlaskClient, Path]]:
    sink = SINKS[request.param]
    server = sink.server()
    dead = tmp_path / "dead-letters.jsonl"
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTES)
    with server:
        env = {
            **sink.env(server.url),
            "CIEVENTS_STORE": f"sqlite:{tmp_path / 'state.db'}",
            "CIEVENTS_DEAD_LETTER": f"file:{dead}",
            "CIEVENTS_HTTP_READ_TIMEOUT_S": "1",
        }
        if sink.function in ("slack_notify", "teams_notify"):
            env["CIEVENTS_ROUTING_FILE"] = str(routing)
        client = function_client(
            monkeypatch,
            str(ROOT / "functions" / sink.function / "main.py"),
            env,
            signature_type="http",
        )
        yield sink, server, client, dead


def push(message: tuple[bytes, dict[str, str]], message_id: str, attempt: int) -> dict[str, Any]:
    data, attributes = message
    return {
        "message": {
            "data": base64.b64encode(data).decode(),
            "messageId": message_id,
            "attributes": attributes,
        },
        "subscription": "projects/p/subscriptions/s",
        "deliveryAttempt": attempt,
    }


def deliver_until_acked(
    client: FlaskClient, message: tuple[bytes, dict[str, str]], log: CapturedLog
) -> list[tuple[int, dict[str, Any]]]:
    """Deliver as Pub/Sub does until a 2xx; each delivery's status and its one outcome line."""
    message_id = f"fault-{next(ids)}"
    seen: list[tuple[int, dict[str, Any]]] = []
    for attempt in range(1, MAX_DELIVERIES + 1):
        before = len(log.outcomes())
        status = client.post("/", json=push(message, message_id, attempt)).status_code
        lines = log.outcomes()[before:]
        assert len(lines) == 1, f"delivery {attempt}: {len(lines)} outcome lines"
        seen.append((status, lines[0]))
        if status < 500:
            return seen
    return seen


def with_fault(
    served: tuple[Sink, FakeServer, FlaskClient, Path], fault: str, log: CapturedLog
) -> tuple[Sink, FakeServer, Path, list[tuple[int, dict[str, Any]]]]:
    """The sink's create suffers ``fault`` once; the event is delivered until acked."""
    sink, server, client, dead = served
    server.fault(sink.method, sink.path, FAULTS[fault])
    payload = sink.payload()
    message = (
        sink.message(payload)
        if sink.message
        else (
            json.dumps(payload).encode(),
            {"source": "buildkite", "event": str(payload["event"])},
        )
    )
    return sink, server, dead, deliver_until_acked(client, message, log)


@pytest.mark.parametrize("served", list(SINKS), indirect=True)
@pytest.mark.parametrize("fault", TRANSIENT_FAULTS)
def test_a_transient_fault_ends_in_exactly_one_effect(
    served: tuple[Sink, FakeServer, FlaskClient, Path], fault: str, captured_log: CapturedLog
) -> None:
    sink, server, dead, seen = with_fault(served, fault, captured_log)
    statuses = [status for status, _ in seen]
    outcomes = [line["outcome"] for _, line in seen]
    if sink.unanswerable and fault in UNKNOWN_OUTCOME:
        # Sent, answer lost, no way to ask: dead-lettered once, never re-sent blind.
        assert len(seen) == 1 and statuses[0] in (200, 204), seen
        assert outcomes[0] == "dead_lettered" and seen[0][1]["reason"] == "outcome_unknown"
        assert sink.effects(server) == (0 if fault == "reset" else 1), fault
        (letter,) = [json.loads(x) for x in dead.read_text().splitlines()]
        assert letter["attributes"]["cievents_reason"] == "outcome_unknown"
        return
    assert statuses[-1] in (200, 204) and outcomes[-1] == "acted", seen
    for status, line in seen[:-1]:  # every earlier delivery asked Pub/Sub to redeliver
        assert status == 500 and line["outcome"] == "retried" and line["reason"], line
    if sink.last_write_wins:
        assert 1 <= sink.effects(server) <= len(seen), (fault, seen)
        if not sink.keyed:  # a create: at most one write sent per delivery, never in-call
            refused = 1 if fault in ("429", "503") else 0  # refused unread: sent again in-call
            sent = len(server.calls(sink.method, sink.path)) - refused
            assert sent <= len(seen), (fault, sent, seen)
    else:
        assert sink.effects(server) == 1, (fault, seen)
    assert not dead.exists()


@pytest.mark.parametrize("served", list(SINKS), indirect=True)
@pytest.mark.parametrize("fault", PERMANENT_FAULTS)
def test_a_permanent_fault_is_dead_lettered_once_with_its_reason(
    served: tuple[Sink, FakeServer, FlaskClient, Path], fault: str, captured_log: CapturedLog
) -> None:
    sink, server, dead, seen = with_fault(served, fault, captured_log)
    assert len(seen) == 1, seen  # one delivery: acked, never looped
    status, line = seen[0]
    assert status in (200, 204) and line["outcome"] == "dead_lettered", line
    expected = "unknown_target" if fault == "404" else "auth"
    assert line["reason"] == expected
    if expected == "auth":
        assert sink.credential in line["error"]
    assert sink.effects(server) == 0
    (letter,) = [json.loads(x) for x in dead.read_text().splitlines()]
    assert letter["attributes"]["cievents_reason"] == expected
    assert letter["attributes"]["cievents_function"] == sink.function
