"""slack_notify with the real slack_sdk WebClient against a local Slack Web API."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from flask.testing import FlaskClient

from tests.conftest import CapturedLog
from tests.notify.events import build, job, push_body
from tests.notify.slack_fake import TOKEN, slack_server
from tests.support.fakehttp import FakeServer, Reply

SOURCE = str(Path(__file__).parents[2] / "functions" / "slack_notify" / "main.py")
ALL_TO_CI = "rules:\n  - name: everything\n    source: buildkite\n    slack: '#ci'\n"


@pytest.fixture
def slack() -> Iterator[FakeServer]:
    with slack_server() as server:
        yield server


@pytest.fixture
def client_for(
    slack: FakeServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Callable[..., FlaskClient]:
    def make(rules: str = ALL_TO_CI, **env: str) -> FlaskClient:
        routing_file = tmp_path / "routing.yaml"
        routing_file.write_text(rules)
        monkeypatch.setenv("CIEVENTS_ROUTING_FILE", str(routing_file))
        monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("SLACK_API_URL", f"{slack.url}/api/")
        monkeypatch.setenv("SLACK_MIN_POST_INTERVAL_S", "0")
        monkeypatch.setenv("CIEVENTS_STORE", f"sqlite:{tmp_path / 'state.db'}")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        app = functions_framework.create_app(
            target="handle", source=SOURCE, signature_type="cloudevent"
        )
        return app.test_client()

    return make


ids = itertools.count(1)


def deliver(client: FlaskClient, payload: dict[str, Any]) -> int:
    return client.post("/", json=push_body(payload, f"m{next(ids)}")).status_code


def posts(slack: FakeServer) -> list[dict[str, Any]]:
    return [r.json() for r in slack.calls("POST", "/api/chat.postMessage")]


def updates(slack: FakeServer) -> list[dict[str, Any]]:
    return [r.json() for r in slack.calls("POST", "/api/chat.update")]


SEQUENCE = [
    build("build.scheduled", "scheduled"),
    build("build.running", "running"),
    job("job-a", ":rspec: Tests"),
    job("job-b", ":eslint: Lint", exit_status=2),
    build("build.finished", "failed"),
]


@pytest.mark.parametrize("seed", [None, 1, 2, 3, 4])
def test_one_message_updated_in_place_with_threaded_failures(
    client_for: Callable[..., FlaskClient], slack: FakeServer, seed: int | None
) -> None:
    deliveries = [payload for payload in SEQUENCE for _ in range(3)]
    if seed is not None:
        random.Random(seed).shuffle(deliveries)
    client = client_for()
    for payload in deliveries:
        assert deliver(client, payload) == 200
    messages = posts(slack)
    top = [m for m in messages if "thread_ts" not in m]
    replies = [m for m in messages if "thread_ts" in m]
    assert len(top) == 1
    assert top[0]["channel"] == "#ci"
    assert sorted(r["text"] for r in replies) == [
        ":x: :eslint: Lint failed (exit status 2)",
        ":x: :rspec: Tests failed (exit status 1)",
    ]
    assert {r["thread_ts"] for r in replies} == {"1700000000.000001"}
    assert {r["channel"] for r in replies} == {"C0CI"}  # the ID the post returned
    final = updates(slack)[-1] if updates(slack) else top[0]
    assert final["blocks"][0]["text"]["text"].startswith(":red_circle:")
    for update in updates(slack):
        assert update["channel"] == "C0CI" and update["ts"] == "1700000000.000001"


def test_late_running_never_turns_red_back_to_yellow(
    client_for: Callable[..., FlaskClient], slack: FakeServer
) -> None:
    client = client_for()
    deliver(client, build("build.scheduled", "scheduled"))
    deliver(client, build("build.finished", "failed"))
    deliver(client, build("build.running", "running"))
    assert len(updates(slack)) == 1
    assert ":red_circle:" in updates(slack)[0]["blocks"][0]["text"]["text"]


def test_block_kit_layout_and_mention(
    client_for: Callable[..., FlaskClient], slack: FakeServer
) -> None:
    client = client_for()
    deliver(client, build("build.finished", "failed"))
    (message,) = posts(slack)
    headline, fields, actions = message["blocks"]
    assert headline["text"]["text"] == (
        ":red_circle: *<https://buildkite.com/acme-inc/web-app/builds/42|Web App #42>* failed"
        " — <@U0JANE>"
    )
    texts = [f["text"] for f in fields["fields"]]
    assert texts == [
        "*Branch*\nmain",
        "*Commit*\n`a1b2c3d` Fix checkout rounding error (SHOP-311)",
        "*Author*\nJane Doe",
        "*Duration*\n3m12s",
    ]
    assert actions["elements"][0]["url"] == "https://buildkite.com/acme-inc/web-app/builds/42"
    assert message["text"] == "Web App #42 failed on main"
    assert slack.calls("POST", "/api/users.lookupByEmail")[0].json() == {
        "email": "jane@acme.example"
    }


def test_routing_changed_only_first_failure_and_recovery(
    client_for: Callable[..., FlaskClient], slack: FakeServer
) -> None:
    rules = (
        "rules:\n  - name: news\n    event: build.finished\n    changed: true\n"
        "    slack: '#ci'\n"
    )
    client = client_for(rules)
    for number, state in [
        (1, "passed"),
        (2, "failed"),
        (3, "failed"),
        (4, "passed"),
        (5, "passed"),
    ]:
        deliver(client, build("build.finished", state, number=number, branch="feature/x"))
    announced = [m["text"] for m in posts(slack)]
    assert announced == ["Web App #2 failed on feature/x", "Web App #4 passed on feature/x"]


@pytest.mark.parametrize(
    ("reply", "status", "outcome"),
    [
        (Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"}), 500, "retried"),
        (Reply(503, "unavailable"), 500, "retried"),
        (Reply(200, {"ok": False, "error": "not_in_channel"}), 200, "failed"),
        (Reply(200, {"ok": False, "error": "invalid_auth"}), 200, "failed"),
    ],
)
def test_error_classification(
    client_for: Callable[..., FlaskClient],
    slack: FakeServer,
    captured_log: CapturedLog,
    reply: Reply,
    status: int,
    outcome: str,
) -> None:
    slack.queue("POST", "/api/chat.postMessage", reply)
    client = client_for()
    assert deliver(client, build("build.finished", "failed")) == status
    line = captured_log.outcomes()[-1]
    assert line["outcome"] == outcome
    assert TOKEN not in captured_log.text
    if outcome == "retried":  # the redelivery goes through and posts exactly once more
        assert deliver(client, build("build.finished", "failed")) == 200
        assert deliver(client, build("build.finished", "failed")) == 200
        assert len(posts(slack)) == 2  # the refused attempt, then the one that landed


@pytest.mark.parametrize("env", [{"SLACK_BOT_TOKEN": ""}, {"CIEVENTS_DRY_RUN": "true"}])
def test_dry_run_records_into_the_outbox(
    client_for: Callable[..., FlaskClient], slack: FakeServer, tmp_path: Path, env: dict[str, str]
) -> None:
    client = client_for(**env)
    deliver(client, build("build.scheduled", "scheduled"))
    deliver(client, build("build.finished", "passed"))
    assert slack.requests == []  # nothing sent
    outbox = tmp_path / "outbox" / "slack.jsonl"
    lines = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert [entry["url"].rsplit("/", 1)[1] for entry in lines] == [
        "chat.postMessage",
        "chat.update",
    ]
    assert lines[0]["body"]["channel"] == "#ci" and lines[0]["sink"] == "slack"
    assert ":large_green_circle:" in lines[1]["body"]["blocks"][0]["text"]["text"]
