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
from tests.support.fakes import jira, slack
from tests.support.fakes.github import FakeGitHub

ROOT = Path(__file__).resolve().parents[2]
APP_KEY_OBJ = rsa.generate_private_key(public_exponent=65537, key_size=2048)
APP_KEY = APP_KEY_OBJ.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
GITHUB_TOKEN = "gh-test-token-not-real"
MAX_DELIVERIES = 4
ids = itertools.count(1)


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
    routing.write_text("rules:\n  - name: all\n    source: buildkite\n    slack: '#ci'\n")
    with server:
        env = {
            **sink.env(server.url),
            "CIEVENTS_STORE": f"sqlite:{tmp_path / 'state.db'}",
            "CIEVENTS_DEAD_LETTER": f"file:{dead}",
            "CIEVENTS_HTTP_READ_TIMEOUT_S": "1",
        }
        if sink.function == "slack_notify":
            env["CIEVENTS_ROUTING_FILE"] = str(routing)
        client = function_client(
            monkeypatch,
            str(ROOT / "functions" / sink.function / "main.py"),
            env,
            signature_type="http",
        )
        yield sink, server, client, dead


def push(payload: dict[str, Any], message_id: str, attempt: int) -> dict[str, Any]:
    return {
        "message": {
            "data": base64.b64encode(json.dumps(payload).encode()).decode(),
            "messageId": message_id,
            "attributes": {"source": "buildkite", "event": payload["event"]},
        },
        "subscription": "projects/p/subscriptions/s",
        "deliveryAttempt": attempt,
    }


def deliver_until_acked(
    client: FlaskClient, payload: dict[str, Any], log: CapturedLog
) -> list[tuple[int, dict[str, Any]]]:
    """Deliver as Pub/Sub does until a 2xx; each delivery's status and its one outcome line."""
    message_id = f"fault-{next(ids)}"
    seen: list[tuple[int, dict[str, Any]]] = []
    for attempt in range(1, MAX_DELIVERIES + 1):
        before = len(log.outcomes())
        status = client.post("/", json=push(payload, message_id, attempt)).status_code
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
    return sink, server, dead, deliver_until_acked(client, sink.payload(), log)


@pytest.mark.parametrize("served", list(SINKS), indirect=True)
@pytest.mark.parametrize("fault", TRANSIENT_FAULTS)
def test_a_transient_fault_ends_in_exactly_one_effect(
    served: tuple[Sink, FakeServer, FlaskClient, Path], fault: str, captured_log: CapturedLog
) -> None:
    sink, server, dead, seen = with_fault(served, fault, captured_log)
    statuses = [status for status, _ in seen]
    outcomes = [line["outcome"] for _, line in seen]
    assert statuses[-1] in (200, 204) and outcomes[-1] == "acted", seen
    for status, line in seen[:-1]:  # every earlier delivery asked Pub/Sub to redeliver
        assert status == 500 and line["outcome"] == "retried" and line["reason"], line
    if sink.last_write_wins:
        assert 1 <= sink.effects(server) <= len(seen), (fault, seen)
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
