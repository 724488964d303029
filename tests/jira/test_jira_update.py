"""jira_update with the real `jira` client against a local Jira."""

from __future__ import annotations

import copy
import itertools
import json
import random
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import CapturedLog
from tests.notify.events import build, push_body
from tests.support.apps import function_client
from tests.support.fakehttp import FakeServer, Reply
from tests.support.fakes.jira import API_TOKEN, EMAIL, PAT, jira_server

SOURCE = str(Path(__file__).parents[2] / "functions" / "jira_update" / "main.py")
ids = itertools.count(1)


@pytest.fixture
def jira() -> Iterator[FakeServer]:
    with jira_server() as server:
        yield server


@pytest.fixture
def client_for(
    jira: FakeServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Callable[..., FlaskClient]:
    def make(**env: str) -> FlaskClient:
        return function_client(
            monkeypatch,
            SOURCE,
            {
                "JIRA_URL": jira.url,
                "JIRA_EMAIL": EMAIL,
                "JIRA_API_TOKEN": API_TOKEN,
                "CIEVENTS_STORE": f"sqlite:{tmp_path / 'state.db'}",
                **env,
            },
        )

    return make


def deliver(client: FlaskClient, payload: dict[str, Any]) -> int:
    return client.post("/", json=push_body(payload, f"j{next(ids)}")).status_code


def with_message(payload: dict[str, Any], message: str) -> dict[str, Any]:
    payload = copy.deepcopy(payload)
    payload["build"]["message"] = message
    return payload


def comments(jira: FakeServer) -> list[tuple[str, str]]:
    return [(r.path.split("/")[5], r.json()["body"]) for r in jira.calls("POST", ".*/comment")]


@pytest.mark.parametrize("seed", [None, 3, 4])
def test_one_comment_per_key_under_shuffled_redelivery(
    client_for: Callable[..., FlaskClient], jira: FakeServer, seed: int | None
) -> None:
    events = [
        with_message(build(name, state), "Fix rounding (SHOP-311), see OPS-7")
        for name, state in [
            ("build.scheduled", "scheduled"),
            ("build.running", "running"),
            ("build.finished", "failed"),
        ]
    ]
    deliveries = [e for e in events for _ in range(3)]
    if seed is not None:
        random.Random(seed).shuffle(deliveries)
    client = client_for()
    for payload in deliveries:
        assert deliver(client, payload) == 200
    sent = comments(jira)
    assert sorted(key for key, _ in sent) == ["OPS-7", "SHOP-311"]
    body, marker = dict(sent)["SHOP-311"].rsplit("\n", 1)
    assert body == (
        "Build #42 failed: https://buildkite.com/acme-inc/web-app/builds/42\n"
        "pipeline web-app, branch main, commit a1b2c3d, took 3m12s"
    )
    assert re.fullmatch(r"\{anchor:cievents-[0-9a-f]{20}\}", marker)  # renders nothing
    assert jira.calls("GET", "/rest/api/2/serverInfo")  # the real client's handshake


def test_projects_filter_and_transitions(
    client_for: Callable[..., FlaskClient], jira: FakeServer
) -> None:
    rules = json.dumps(
        [
            {"state": "failed", "branch": "main", "to": "Needs Review"},
            {"state": "passed", "branch": "*", "to": "Done"},
        ]
    )
    client = client_for(JIRA_PROJECTS="SHOP,OPS", JIRA_TRANSITIONS=rules)
    deliver(client, with_message(build("build.finished", "failed"), "SHOP-311 OPS-7 ABC-1"))
    assert sorted(k for k, _ in comments(jira)) == ["OPS-7", "SHOP-311"]  # ABC is not configured
    # In Progress → Needs Review exists for SHOP-311; To Do has no such transition for OPS-7.
    moved = [(r.path.split("/")[5], r.json()) for r in jira.calls("POST", ".*/transitions")]
    assert [(key, str(body["transition"]["id"])) for key, body in moved] == [("SHOP-311", "21")]
    assert jira.known["SHOP-311"] == "Needs Review"  # type: ignore[attr-defined]


def test_unknown_key_is_logged_and_others_still_commented(
    client_for: Callable[..., FlaskClient], jira: FakeServer, captured_log: CapturedLog
) -> None:
    client = client_for()
    assert (
        deliver(client, with_message(build("build.finished", "passed"), "NOPE-1 and SHOP-311"))
        == 200
    )
    assert [k for k, _ in comments(jira)] == ["NOPE-1", "SHOP-311"]
    line = captured_log.outcomes()[-1]
    assert line["outcome"] == "acted" and line["issues"]["NOPE-1"].startswith("failed")
    assert (
        deliver(client, with_message(build("build.finished", "failed", number=43), "NOPE-2")) == 200
    )
    assert captured_log.outcomes()[-1]["outcome"] == "failed"


@pytest.mark.parametrize(
    ("reply", "status", "outcome"),
    [
        (Reply(429, {"errorMessages": ["rate"]}, {"Retry-After": "20"}), 500, "retried"),
        (Reply(503, {"errorMessages": ["down"]}), 500, "retried"),
        (Reply(401, {"errorMessages": ["auth"]}), 200, "auth"),
        (Reply(403, {"errorMessages": ["forbidden"]}), 200, "auth"),
    ],
)
def test_rate_limit_and_auth_failures(
    client_for: Callable[..., FlaskClient],
    jira: FakeServer,
    captured_log: CapturedLog,
    reply: Reply,
    status: int,
    outcome: str,
) -> None:
    jira.queue("POST", ".*/comment", reply)
    client = client_for(JIRA_PAT=PAT)
    assert deliver(client, with_message(build("build.finished", "failed"), "SHOP-311")) == status
    line = captured_log.outcomes()[-1]
    if outcome == "auth":  # a broken credential, not unknown_target; no dead letter set here
        assert line["outcome"] == "failed" and line["reason"] == "auth"
        assert "JIRA_API_TOKEN (with JIRA_EMAIL) or JIRA_PAT" in line["error"]
    else:
        assert line["outcome"] == outcome
    assert len(jira.calls("POST", ".*/comment")) == 1  # no in-call retry inside the jira client
    for secret in (PAT, API_TOKEN):
        assert secret not in captured_log.text
    if outcome == "retried":
        assert deliver(client, with_message(build("build.finished", "failed"), "SHOP-311")) == 200
        assert len(jira.calls("POST", ".*/comment")) == 2


def test_dry_run_without_credentials(
    client_for: Callable[..., FlaskClient], jira: FakeServer, tmp_path: Path
) -> None:
    deliver(client_for(JIRA_URL=""), with_message(build("build.finished", "failed"), "SHOP-311"))
    assert jira.requests == []
    entry = json.loads((tmp_path / "outbox" / "jira.jsonl").read_text())
    assert entry["url"].endswith("/rest/api/2/issue/SHOP-311/comment")
    assert entry["body"]["body"].startswith("Build #42 failed")
