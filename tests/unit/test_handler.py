"""The handler policy, end to end through functions-framework's own app.

CloudEvents in binary and structured mode and raw Pub/Sub push bodies reach
the same function; acked outcomes answer 200, transient ones 500 (so Pub/Sub
redelivers); every message leaves exactly one ``outcome`` log line.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from flask.testing import FlaskClient

from cievents import clock
from tests.conftest import OWN, CapturedLog

SOURCE = str(Path(__file__).parents[1] / "support" / "recording_function.py")
BUILD = (OWN / "buildkite" / "build.finished.failed.json").read_bytes()


def build_body(message: str | None = None, number: int = 42) -> bytes:
    body = json.loads(BUILD)
    if message is not None:
        body["build"]["message"] = message
    body["build"]["number"] = number
    return json.dumps(body).encode()


def pubsub_message(data: bytes, message_id: str = "m-1", **attributes: str) -> dict[str, Any]:
    return {
        "data": base64.b64encode(data).decode(),
        "messageId": message_id,
        "publishTime": clock.now_iso(),
        "attributes": {"source": "buildkite", "event": "build.finished", **attributes},
    }


@pytest.fixture
def client() -> FlaskClient:
    app = functions_framework.create_app(
        target="handle", source=SOURCE, signature_type="cloudevent"
    )
    return app.test_client()


def post_push(client: FlaskClient, message: dict[str, Any]) -> int:
    body = {"message": message, "subscription": "projects/p/subscriptions/recorder"}
    return client.post("/", json=body).status_code


def post_binary(client: FlaskClient, message: dict[str, Any]) -> int:
    headers = {
        "ce-id": message["messageId"],
        "ce-source": "//pubsub.googleapis.com/projects/p/topics/ci-events",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-specversion": "1.0",
        "Content-Type": "application/json",
    }
    data = {"message": message, "subscription": "projects/p/subscriptions/eventarc"}
    return client.post("/", data=json.dumps(data), headers=headers).status_code


def post_structured(client: FlaskClient, message: dict[str, Any]) -> int:
    envelope = {
        "specversion": "1.0",
        "id": message["messageId"],
        "source": "//pubsub.googleapis.com/projects/p/topics/ci-events",
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "datacontenttype": "application/json",
        "data": {"message": message, "subscription": "projects/p/subscriptions/eventarc"},
    }
    return client.post(
        "/", data=json.dumps(envelope), headers={"Content-Type": "application/cloudevents+json"}
    ).status_code


@pytest.mark.parametrize("post", [post_push, post_binary, post_structured])
def test_every_delivery_shape_acts_once(
    client: FlaskClient, captured_log: CapturedLog, post: Any
) -> None:
    message = pubsub_message(build_body(), "shape-1", delivery_id="d-1")
    assert post(client, message) == 200
    assert post(client, message) == 200  # redelivery
    outcomes = [line["outcome"] for line in captured_log.outcomes()]
    assert outcomes == ["acted", "duplicate"]
    acted = captured_log.outcomes()[0]
    assert acted["function"] == "recorder"
    assert acted["source"] == "buildkite" and acted["event"] == "build.finished"
    assert acted["pipeline"] == "web-app" and acted["message_id"] == "shape-1"
    assert acted["provider"] == "test" and acted["operation"] == "record"
    assert isinstance(acted["duration_ms"], float)
    assert acted["logging.googleapis.com/labels"]["function"] == "recorder"


def test_transient_errors_are_raised_and_the_retry_can_act(
    client: FlaskClient, captured_log: CapturedLog
) -> None:
    message = pubsub_message(build_body("transient"), "t-1")
    assert post_push(client, message) == 500  # nack: Pub/Sub redelivers
    assert post_push(client, message) == 500  # the claim was released, so it tries again
    lines = captured_log.outcomes()
    assert [line["outcome"] for line in lines] == ["retried", "retried"]
    assert lines[0]["severity"] == "WARNING" and "503" in lines[0]["error"]
    assert lines[0]["next"] == "raised so Pub/Sub redelivers"


def test_permanent_errors_are_acked_once_and_not_retried(
    client: FlaskClient, captured_log: CapturedLog
) -> None:
    message = pubsub_message(build_body("permanent"), "p-1")
    assert post_push(client, message) == 200
    assert post_push(client, message) == 200
    assert [line["outcome"] for line in captured_log.outcomes()] == ["failed", "duplicate"]
    failed = captured_log.outcomes()[0]
    assert failed["severity"] == "ERROR" and failed["reason"] == "rejected"


def test_a_bug_is_acked_with_a_stack_trace_not_a_crash_loop(
    client: FlaskClient, captured_log: CapturedLog
) -> None:
    assert post_push(client, pubsub_message(build_body("crash"), "c-1")) == 200
    (line,) = captured_log.outcomes()
    assert line["outcome"] == "failed" and line["reason"] == "unexpected"
    assert "ZeroDivisionError" in line["stack_trace"]
    assert line["@type"].endswith("ReportedErrorEvent")


def test_skips_stale_and_unrelated_events(client: FlaskClient, captured_log: CapturedLog) -> None:
    assert post_push(client, pubsub_message(build_body("skip"), "s-1")) == 200
    old = pubsub_message(build_body(), "old-1")
    old["publishTime"] = (clock.now_utc() - timedelta(days=30)).isoformat()
    assert post_push(client, old) == 200
    ping = (OWN.parent / "vendor" / "buildkite" / "ping.json").read_bytes()
    assert post_push(client, pubsub_message(ping, "ping-1", event="ping")) == 200
    assert [line["outcome"] for line in captured_log.outcomes()] == ["skipped", "stale", "skipped"]
    assert "CIEVENTS_MAX_EVENT_AGE_S" in captured_log.outcomes()[1]["reason"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff\xfe not utf-8", "not_utf8"),
        (b"{not json", "bad_json"),
        (b"[1, 2]", "bad_json"),
        (b'{"event": "build.finished", "build": {"number": "forty-two", "state": 1}}', "bad_field"),
        (b'{"event": "build.finished"}', "bad_field"),
    ],
)
def test_malformed_payloads_are_acked_with_one_line(
    client: FlaskClient, captured_log: CapturedLog, data: bytes, reason: str
) -> None:
    assert post_push(client, pubsub_message(data, "bad-1")) == 200
    (line,) = captured_log.outcomes()
    assert line["outcome"] == "failed" and line["reason"] == reason
    assert line["message_id"] == "bad-1"


def test_undecodable_envelope_is_acked(client: FlaskClient, captured_log: CapturedLog) -> None:
    message = pubsub_message(b"{}", "env-1")
    message["data"] = "%%%not-base64%%%"
    assert post_push(client, message) == 200
    (line,) = captured_log.outcomes()
    assert line["reason"] == "bad_base64" and "env-1" in line["error"]


def test_ten_megabyte_bodies_are_acked(client: FlaskClient, captured_log: CapturedLog) -> None:
    huge = b'{"event": "build.finished", "pad": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    assert post_push(client, pubsub_message(huge, "big-1")) == 200
    (line,) = captured_log.outcomes()
    assert line["outcome"] == "failed"


def test_bridge_shape_without_attributes_is_detected(
    client: FlaskClient, captured_log: CapturedLog
) -> None:
    bridge = (OWN / "buildkite" / "bridge.build.finished.json").read_bytes()
    message = pubsub_message(bridge, "bridge-1")
    message["attributes"] = {}
    assert post_push(client, message) == 200
    (line,) = captured_log.outcomes()
    assert line["outcome"] == "acted" and line["pipeline"] == "web-app"


def test_dead_letter_target_receives_permanent_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, captured_log: CapturedLog
) -> None:
    dead = tmp_path / "dead.jsonl"
    monkeypatch.setenv("CIEVENTS_DEAD_LETTER", f"file:{dead}")
    app = functions_framework.create_app(
        target="handle", source=SOURCE, signature_type="cloudevent"
    )
    data = build_body("permanent")
    assert post_push(app.test_client(), pubsub_message(data, "dl-1")) == 200
    (record,) = [json.loads(line) for line in dead.read_text().splitlines()]
    assert base64.b64decode(record["data"]) == data
    assert record["attributes"]["cievents_function"] == "recorder"
    assert record["attributes"]["cievents_reason"] == "rejected"
    assert captured_log.outcomes()[0]["outcome"] == "dead_lettered"


def test_legacy_background_signature(captured_log: CapturedLog) -> None:
    app = functions_framework.create_app(target="handle", source=SOURCE, signature_type="event")
    message = pubsub_message(build_body(number=7), "bg-1")
    body = {
        "context": {
            "eventId": "bg-1",
            "timestamp": message["publishTime"],
            "eventType": "google.pubsub.topic.publish",
            "resource": {"service": "pubsub.googleapis.com", "name": "projects/p/topics/t"},
        },
        "data": {"data": message["data"], "attributes": message["attributes"]},
    }
    assert app.test_client().post("/", json=body).status_code == 200
    (line,) = captured_log.outcomes()
    assert line["outcome"] == "acted" and line["message_id"] == "bg-1"


def test_http_trigger_behind_a_push_subscription(captured_log: CapturedLog) -> None:
    """Deployed with --trigger-http (direct push subscription), the same entry point works."""
    app = functions_framework.create_app(target="handle", source=SOURCE, signature_type="http")
    client = app.test_client()
    body = {
        "message": pubsub_message(build_body(number=9), "http-1"),
        "subscription": "projects/p/subscriptions/recorder",
        "deliveryAttempt": 2,
    }
    assert client.post("/", json=body).status_code == 204
    assert client.post("/", json=body).status_code == 204
    transient = {"message": pubsub_message(build_body("transient", number=10), "http-2")}
    assert client.post("/", json=transient).status_code == 500  # nack: Pub/Sub retries the push
    assert client.post("/", data=b"not json", content_type="application/json").status_code == 204
    outcomes = captured_log.outcomes()
    assert [o["outcome"] for o in outcomes] == ["acted", "duplicate", "retried", "failed"]
    assert outcomes[0]["delivery_attempt"] == 2
