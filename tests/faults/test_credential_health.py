"""A revoked token is noticed: the function's refusal record becomes a failing health check.

slack_notify is served as deployed with a revoked token against the Slack fake; its
delivery is dead-lettered and it records ``health:credential:slack_notify``. The health
function (as deployed, HTTP) reads the record: a failing ``slack_notify SLACK_BOT_TOKEN``
check, alerted once; after the rotation the function acts again and
health reports the recovery, alerted once.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import functions_framework
import pytest

from tests.notify.events import build
from tests.support.apps import function_client
from tests.support.fakes.slack import TOKEN, slack_server

ROOT = Path(__file__).resolve().parents[2]


def push(message_id: str) -> dict[str, Any]:
    payload = build("build.finished", "failed")
    return {
        "message": {
            "data": base64.b64encode(json.dumps(payload).encode()).decode(),
            "messageId": message_id,
            "attributes": {"source": "buildkite", "event": "build.finished"},
        },
        "subscription": "projects/p/subscriptions/slack_notify-0",
        "deliveryAttempt": 1,
    }


def test_a_refused_credential_raises_the_health_alert_until_the_function_acts_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    routing = tmp_path / "routing.yaml"
    routing.write_text("rules:\n  - name: all\n    source: buildkite\n    slack: '#ci'\n")
    store = f"sqlite:{tmp_path / 'state.db'}"
    outbox = tmp_path / "outbox"
    with slack_server() as slack:
        env = {
            "SLACK_API_URL": f"{slack.url}/api/",
            "SLACK_MIN_POST_INTERVAL_S": "0",
            "SLACK_MENTION_AUTHORS": "false",
            "CIEVENTS_ROUTING_FILE": str(routing),
            "CIEVENTS_STORE": store,
            "CIEVENTS_DEAD_LETTER": f"file:{tmp_path / 'dead.jsonl'}",
        }
        source = str(ROOT / "functions" / "slack_notify" / "main.py")
        revoked = function_client(
            monkeypatch, source, {**env, "SLACK_BOT_TOKEN": "xoxb-revoked"}, signature_type="http"
        )
        assert revoked.post("/", json=push("m1")).status_code == 204  # acked: dead-lettered

        def health() -> tuple[int, dict[str, Any]]:
            monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)  # health's alert: the outbox
            for name, value in {
                "CIEVENTS_STORE": store,
                "CIEVENTS_OUTBOX": str(outbox),
                "HEALTH_SLACK_CHANNEL": "#ci-ops",
            }.items():
                monkeypatch.setenv(name, value)
            app = functions_framework.create_app(
                target="health",
                source=str(ROOT / "functions/health/main.py"),
                signature_type="http",
            )
            answer = app.test_client().get("/")
            checks = {
                (c["integration"], c["target"]): c
                for c in answer.json["checks"]  # type: ignore[index]
            }
            return answer.status_code, checks

        def alerts() -> list[str]:
            path = outbox / "slack.jsonl"
            lines = path.read_text().splitlines() if path.exists() else []
            return [json.loads(line)["body"]["text"] for line in lines]

        status, checks = health()
        assert status == 503
        broken = checks[("slack_notify", "SLACK_BOT_TOKEN")]
        assert broken["status"] == "fail" and "SLACK_BOT_TOKEN" in broken["detail"]
        assert "dead-letters replay" in broken["fix"]
        assert health()[0] == 503  # still broken: no second alert
        (alert,) = alerts()
        assert "*slack_notify SLACK_BOT_TOKEN* is failing" in alert and "dead-letters" in alert

        fixed = function_client(
            monkeypatch, source, {**env, "SLACK_BOT_TOKEN": TOKEN}, signature_type="http"
        )
        assert fixed.post("/", json=push("m2")).status_code in (200, 204)
        assert len(slack.committed("post")) == 1
        status, checks = health()
        assert status == 200 and checks[("slack_notify", "SLACK_BOT_TOKEN")]["status"] == "pass"
        assert len(alerts()) == 2 and "*slack_notify SLACK_BOT_TOKEN* recovered" in alerts()[1]


def test_health_watches_every_function_pubsub_pushes_to() -> None:
    import importlib.util

    from cievents.deploy import manifest

    spec = importlib.util.spec_from_file_location("health_main", ROOT / "functions/health/main.py")
    assert spec is not None and spec.loader is not None
    health = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(health)
    pushed = {f.name for f in manifest.load().functions if f.triggers and f.name != "health"}
    assert set(health.PUBSUB_FUNCTIONS) == pushed
