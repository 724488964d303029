"""Every delivery shape becomes one Message; malformed envelopes are ValidationErrors."""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace

import pytest
from cloudevents.http import CloudEvent

from cievents import envelope
from cievents.errors import ValidationError

DATA = b'{"event":"build.finished"}'
B64 = base64.b64encode(DATA).decode()


def push_body(**message: object) -> dict[str, object]:
    msg = {
        "data": B64,
        "messageId": "123",
        "publishTime": "2026-11-20T10:00:00.123456789Z",
        "attributes": {"source": "buildkite"},
    }
    msg.update(message)
    return {"message": msg, "subscription": "projects/p/subscriptions/s", "deliveryAttempt": 3}


def test_raw_push_body() -> None:
    m = envelope.from_push_body(push_body())
    assert m.id == "123" and m.data == DATA
    assert m.attributes == {"source": "buildkite"}
    assert m.delivery_attempt == 3 and m.subscription == "projects/p/subscriptions/s"
    assert m.publish_time is not None and m.publish_time.microsecond == 123456


def test_eventarc_cloudevent() -> None:
    event = CloudEvent(
        {
            "id": "ce-1",
            "source": "//pubsub.googleapis.com/projects/p/topics/t",
            "type": "google.cloud.pubsub.topic.v1.messagePublished",
            "time": "2026-11-20T10:00:00Z",
        },
        {
            "message": {"data": B64, "messageId": "777", "attributes": {"a": "b"}},
            "subscription": "projects/p/subscriptions/eventarc",
        },
    )
    m = envelope.from_cloudevent(event)
    assert (m.id, m.data, m.attributes["a"]) == ("777", DATA, "b")
    assert m.subscription == "projects/p/subscriptions/eventarc"
    assert m.publish_time is not None and m.publish_time.year == 2026  # from the CE time


def test_legacy_background_signature() -> None:
    context = SimpleNamespace(event_id="bg-1", timestamp="2026-11-20T10:00:00Z")
    m = envelope.from_any({"data": B64, "attributes": {"x": "1"}}, context)
    assert (m.id, m.data, m.attributes) == ("bg-1", DATA, {"x": "1"})


def test_from_any_dispatches_on_shape() -> None:
    assert envelope.from_any(push_body()).id == "123"
    with pytest.raises(ValidationError):
        envelope.from_any()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"message": {"data": "@@not base64@@", "messageId": "1"}}, "bad_base64"),
        ({"message": {"data": 42, "messageId": "1"}}, "bad_envelope"),
        ({"message": {"data": B64}}, "bad_envelope"),
        ({"message": "text"}, "bad_envelope"),
        ({"nomessage": True}, "bad_envelope"),
        ({"message": {"data": B64, "messageId": "1", "attributes": ["x"]}}, "bad_envelope"),
    ],
)
def test_malformed_envelopes(body: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationError) as info:
        envelope.from_push_body(body)
    assert info.value.reason == reason


def test_data_decoding_errors_name_the_message() -> None:
    m = envelope.Message(id="m-9", data=b"\xff\xfe{")
    with pytest.raises(ValidationError, match="m-9.*not UTF-8"):
        m.json()
    with pytest.raises(ValidationError, match="m-9.*not JSON"):
        envelope.Message(id="m-9", data=b"{nope").json()
    with pytest.raises(ValidationError, match="empty"):
        envelope.Message(id="m-9", data=b"  ").json()
    assert envelope.Message(id="m", data=json.dumps({"a": 1}).encode()).json() == {"a": 1}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20T10:00:00Z", "2026-11-20T10:00:00+00:00"),
        ("2026-11-20T10:00:00.5+02:00", "2026-11-20T10:00:00.500000+02:00"),
        ("2026-11-20T10:00:00", "2026-11-20T10:00:00+00:00"),
    ],
)
def test_parse_time(text: str, expected: str) -> None:
    parsed = envelope.parse_time(text)
    assert parsed is not None and parsed.isoformat() == expected


def test_parse_time_rejects_garbage() -> None:
    assert envelope.parse_time("yesterday") is None
    assert envelope.parse_time(None) is None
