"""Dead letters end to end on the Pub/Sub emulator: a revoked token costs one delivery, the
letter is listed with the credential to fix, and ``replay`` after the fix acts exactly once."""

from __future__ import annotations

import base64
import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from cievents.cli import main as cli
from tests.conftest import CapturedLog
from tests.notify.events import build
from tests.support.apps import function_client
from tests.support.emulators import RunningServer
from tests.support.fakes.slack import TOKEN, slack_server

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "dead-letter-test"


def run_cli(*args: str) -> tuple[int, list[dict[str, Any]]]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli(["dead-letters", *args])
    return code, [json.loads(line) for line in out.getvalue().splitlines() if line]


def push_of(received: Any, attempt: int = 1) -> dict[str, Any]:
    m = received.message
    return {
        "message": {
            "data": base64.b64encode(m.data).decode(),
            "attributes": dict(m.attributes),
            "messageId": m.message_id,
        },
        "subscription": f"projects/{PROJECT}/subscriptions/slack-notify-0",
        "deliveryAttempt": attempt,
    }


@pytest.mark.emulator
def test_a_revoked_token_is_dead_lettered_listed_and_replayed_once(
    pubsub_emulator: RunningServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    captured_log: CapturedLog,
) -> None:
    import google.cloud.pubsub_v1 as pubsub_v1

    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_emulator.host)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    events = publisher.topic_path(PROJECT, "ci-events")
    dead = publisher.topic_path(PROJECT, "ci-events-dead-letter")
    inbox = subscriber.subscription_path(PROJECT, "slack-notify-0")
    letters = subscriber.subscription_path(PROJECT, "ci-events-dead-letter-sub")
    for topic, subscription in ((events, inbox), (dead, letters)):
        publisher.create_topic(name=topic)
        subscriber.create_subscription(name=subscription, topic=topic)
    routing = tmp_path / "routing.yaml"
    routing.write_text("rules:\n  - name: all\n    source: buildkite\n    slack: '#ci'\n")
    payload = build("build.finished", "failed")
    publisher.publish(
        events,
        json.dumps(payload).encode(),
        source="buildkite",
        event="build.finished",
        delivery_id="bk-delivery-1",
    ).result(timeout=30)
    (received,) = subscriber.pull(
        request={"subscription": inbox, "max_messages": 10}, timeout=30
    ).received_messages
    subscriber.acknowledge(request={"subscription": inbox, "ack_ids": [received.ack_id]})

    with slack_server() as slack:
        env = {
            "SLACK_API_URL": f"{slack.url}/api/",
            "SLACK_MIN_POST_INTERVAL_S": "0",
            "SLACK_MENTION_AUTHORS": "false",
            "CIEVENTS_ROUTING_FILE": str(routing),
            "CIEVENTS_STORE": f"sqlite:{tmp_path / 'state.db'}",
            "CIEVENTS_DEAD_LETTER": "ci-events-dead-letter",  # bare: resolved at cold start
        }
        source = str(ROOT / "functions" / "slack_notify" / "main.py")
        revoked = function_client(
            monkeypatch, source, {**env, "SLACK_BOT_TOKEN": "xoxb-revoked"}, signature_type="http"
        )
        # One delivery: acked (2xx), dead-lettered, nothing posted, the alert line written.
        assert revoked.post("/", json=push_of(received)).status_code == 204
        (outcome,) = captured_log.outcomes()
        assert outcome["outcome"] == "dead_lettered" and outcome["reason"] == "auth"
        assert any(line.get("alert") == "credential" for line in captured_log.lines)
        assert slack.committed("post") == []

        code, listed = run_cli("list", "--subscription", letters)
        assert code == 0 and len(listed) == 1
        assert listed[0]["reason"] == "auth" and listed[0]["credential"] == "SLACK_BOT_TOKEN"
        assert listed[0]["function"] == "slack_notify"
        assert listed[0]["delivery_id"] == "bk-delivery-1"

        # The token is rotated; the letter goes back to the function's topic.
        fixed = function_client(
            monkeypatch, source, {**env, "SLACK_BOT_TOKEN": TOKEN}, signature_type="http"
        )
        code, replayed = run_cli("replay", "--subscription", letters)
        assert code == 0 and [r["replayed"] for r in replayed] == [True]
        assert replayed[0]["to"] == "ci-events"  # from function.yaml
        (again,) = subscriber.pull(
            request={"subscription": inbox, "max_messages": 10}, timeout=30
        ).received_messages
        attributes = dict(again.message.attributes)
        assert attributes["delivery_id"] == "bk-delivery-1" and attributes["source"] == "buildkite"
        assert not any(
            k.startswith("cievents_") and k != "cievents_replayed_from" for k in attributes
        )
        for attempt in (1, 2):  # a redelivery of the replay is a duplicate
            assert fixed.post("/", json=push_of(again, attempt)).status_code == 204
        assert [o["outcome"] for o in captured_log.outcomes()][1:] == ["acted", "duplicate"]
        assert len(slack.committed("post")) == 1
        code, left = run_cli("list", "--subscription", letters, "--timeout", "5")
        assert code == 0 and left == []


def test_file_letters_are_listed_and_replayed(tmp_path: Path) -> None:
    letters = tmp_path / "dead.jsonl"
    replayed = tmp_path / "replayed.jsonl"
    line = {
        "data": base64.b64encode(b'{"x": 1}').decode(),
        "attributes": {
            "source": "github",
            "cievents_function": "jira_update",
            "cievents_reason": "validation",
        },
    }
    letters.write_text(json.dumps(line) + "\n")
    code, listed = run_cli("list", "--file", str(letters))
    assert (
        code == 0 and listed[0]["function"] == "jira_update" and listed[0]["reason"] == "validation"
    )
    code, done = run_cli("replay", "--file", str(letters), "--topic", f"file:{replayed}")
    assert code == 0 and done[0]["replayed"] is True
    (sent,) = [json.loads(x) for x in replayed.read_text().splitlines()]
    assert sent["attributes"] == {"source": "github", "cievents_replayed_from": "line-1"}
    assert letters.read_text() == ""  # replayed letters leave the file
