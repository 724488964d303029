"""Outcome metrics: one structured line per message, with the fields the log-based metrics use."""

from __future__ import annotations

import base64
from pathlib import Path

import functions_framework

from tests.conftest import OWN, CapturedLog

SOURCE = str(Path(__file__).parents[1] / "support" / "recording_function.py")
FIELDS = ("function", "source", "event", "outcome", "provider", "operation", "duration_ms")


def push(data: bytes, message_id: str) -> dict[str, object]:
    return {
        "message": {
            "data": base64.b64encode(data).decode(),
            "messageId": message_id,
            "attributes": {"source": "buildkite", "event": "build.finished"},
        },
        "subscription": "projects/p/subscriptions/recorder",
    }


def test_acted_duplicate_and_malformed_each_leave_one_line(captured_log: CapturedLog) -> None:
    app = functions_framework.create_app(
        target="handle", source=SOURCE, signature_type="cloudevent"
    )
    client = app.test_client()
    good = (OWN / "buildkite" / "build.finished.failed.json").read_bytes()
    for body in (push(good, "1"), push(good, "1"), push(b"{truncated", "2")):
        assert client.post("/", json=body).status_code == 200
    lines = captured_log.outcomes()
    assert [line["outcome"] for line in lines] == ["acted", "duplicate", "failed"]
    for line in lines:
        assert all(field in line for field in FIELDS), line
        assert line["function"] == "recorder" and line["source"] == "buildkite"
        assert line["event"] == "build.finished" and line["duration_ms"] >= 0
    assert lines[0]["provider"] == "test" and lines[0]["operation"] == "record"
    assert lines[2]["reason"] == "bad_json" and lines[2]["message_id"] == "2"
    assert lines[2]["severity"] == "ERROR"
