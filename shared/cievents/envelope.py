"""Every way a Pub/Sub message reaches a function, turned into one typed ``Message``.

Three delivery shapes exist in the wild:

* an Eventarc CloudEvent whose data is ``MessagePublishedData``
  (``{"message": {...}, "subscription": ...}``), binary or structured mode;
* a raw push body from a direct push subscription
  (``{"message": {...}, "subscription": ..., "deliveryAttempt": n}``), which
  functions-framework turns into a CloudEvent without ``subscription``;
* the legacy background signature ``(event, context)`` where ``event`` is the
  message itself (``{"data": ..., "attributes": ...}``).

Base64 is decoded here and nowhere else. Anything malformed becomes a
``ValidationError`` naming the message id when one could be read.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cievents import clock, frozen, jsonsafe
from cievents.errors import ValidationError

MAX_DATA_BYTES = 10 * 1024 * 1024  # Pub/Sub's own limit on a message


@dataclass(frozen=True)
class Message:
    """One Pub/Sub message, whatever envelope it arrived in."""

    id: str
    data: bytes
    attributes: Mapping[str, str] = field(default_factory=dict)
    publish_time: datetime | None = None
    delivery_attempt: int | None = None
    subscription: str | None = None
    ordering_key: str | None = None

    def text(self) -> str:
        """The data as UTF-8 text; a ValidationError when it is not."""
        try:
            return self.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError(
                f"message {self.id}: data is not UTF-8 (byte {exc.start})", reason="not_utf8"
            ) from None

    def json(self) -> Any:
        """The data parsed as JSON; a ValidationError when it is not."""
        if not self.data.strip():
            raise ValidationError(f"message {self.id}: data is empty", reason="empty")
        return jsonsafe.loads(self.text(), f"message {self.id}: data")

    def attribute(self, name: str, default: str = "") -> str:
        return self.attributes.get(name, default)


def parse_time(value: Any) -> datetime | None:
    """RFC 3339 timestamp → aware datetime; None for missing or unparseable values."""
    if not isinstance(value, str) or not value:
        return None
    try:  # the common shapes (Z, 3 to 9 fractional digits) in one call since Python 3.11
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError:
        pass
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    # Pub/Sub sends nanoseconds; Python keeps microseconds.
    if "." in text:
        head, _, rest = text.partition(".")
        digits = rest[: len(rest) - len(rest.lstrip("0123456789"))]
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _decode_data(raw: Any, message_id: str) -> bytes:
    """The one place base64 is decoded."""
    if raw is None or raw == "":
        return b""
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", errors="replace")
    if not isinstance(raw, str):
        raise ValidationError(
            f"message {message_id}: data is {type(raw).__name__}, expected base64 text",
            reason="bad_envelope",
        )
    if len(raw) > MAX_DATA_BYTES * 4 // 3 + 4:
        raise ValidationError(
            f"message {message_id}: data is larger than {MAX_DATA_BYTES} bytes",
            reason="too_large",
        )
    try:
        # binascii's strict mode, not b64decode(validate=True): the same refusals (a
        # character outside the alphabet, bad padding) without the regular expression
        # b64decode runs over the whole text first, which costs as much as the decode.
        return binascii.a2b_base64(raw.encode("ascii"), strict_mode=True)
    except (binascii.Error, ValueError):
        try:  # Some publishers use the URL-safe alphabet.
            return base64.urlsafe_b64decode(raw)
        except (binascii.Error, ValueError):
            raise ValidationError(
                f"message {message_id}: data is not valid base64", reason="bad_base64"
            ) from None


def _attributes(raw: Any, message_id: str) -> dict[str, str]:
    if raw is None:
        return {}
    if not (type(raw) is dict or isinstance(raw, Mapping)):
        raise ValidationError(
            f"message {message_id}: attributes is {type(raw).__name__}, expected an object",
            reason="bad_envelope",
        )
    return {str(k): str(v) for k, v in raw.items()}


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _from_pubsub_message(
    message: Any,
    *,
    fallback_id: str = "",
    fallback_time: Any = None,
    subscription: Any = None,
    delivery_attempt: Any = None,
) -> Message:
    if not (type(message) is dict or isinstance(message, Mapping)):
        raise ValidationError(
            f"message {fallback_id or '?'}: 'message' is {type(message).__name__}, "
            "expected an object",
            reason="bad_envelope",
        )
    message_id = str(message.get("messageId") or message.get("message_id") or fallback_id or "")
    if not message_id:
        raise ValidationError("message without messageId", reason="bad_envelope")
    publish = message.get("publishTime") or message.get("publish_time") or fallback_time
    return frozen.new(
        Message,
        {
            "id": message_id,
            "data": _decode_data(message.get("data"), message_id),
            "attributes": _attributes(message.get("attributes"), message_id),
            "publish_time": parse_time(publish),
            "delivery_attempt": _int_or_none(delivery_attempt),
            "subscription": str(subscription) if subscription else None,
            "ordering_key": message.get("orderingKey") or None,
        },
    )


def from_push_body(body: Any) -> Message:
    """A raw Pub/Sub push request body (direct push subscription)."""
    if not (type(body) is dict or isinstance(body, Mapping)) or "message" not in body:
        raise ValidationError("push body has no 'message' object", reason="bad_envelope")
    return _from_pubsub_message(
        body["message"],
        subscription=body.get("subscription"),
        delivery_attempt=body.get("deliveryAttempt"),
    )


def _ce_attribute(event: Any, name: str) -> Any:
    try:
        return event[name]
    except (KeyError, TypeError):
        getter = getattr(event, "get", None)
        return getter(name) if callable(getter) else None


def from_cloudevent(event: Any) -> Message:
    """A CloudEvent as functions-framework hands it over (Eventarc or converted push)."""
    ce_id = str(_ce_attribute(event, "id") or "")
    ce_time = _ce_attribute(event, "time")
    data = getattr(event, "data", None)
    if isinstance(data, bytes | str):
        # Binary mode with a JSON content type is decoded by the SDK; other types are not.
        data = jsonsafe.loads(data, f"message {ce_id or '?'}: CloudEvent data")
    if not isinstance(data, Mapping) or "message" not in data:
        raise ValidationError(
            f"message {ce_id or '?'}: CloudEvent data is not a Pub/Sub MessagePublishedData",
            reason="bad_envelope",
        )
    return _from_pubsub_message(
        data["message"],
        fallback_id=ce_id,
        fallback_time=ce_time,
        subscription=data.get("subscription"),
        delivery_attempt=data.get("deliveryAttempt"),
    )


def from_background(event: Any, context: Any) -> Message:
    """The legacy background signature: ``event`` is the Pub/Sub message itself."""
    event_id = str(getattr(context, "event_id", "") or "")
    timestamp = getattr(context, "timestamp", None)
    if isinstance(event, Mapping) and "message" in event:
        return from_push_body(event)
    return _from_pubsub_message(event, fallback_id=event_id, fallback_time=timestamp)


def is_http_request(arg: Any) -> bool:
    """A Flask/werkzeug request: what an HTTP-triggered function is called with."""
    return hasattr(arg, "get_data") and hasattr(arg, "headers") and hasattr(arg, "method")


def from_http_request(request: Any) -> Message:
    """A function deployed with an HTTP trigger behind a direct push subscription.

    The body is a raw push body; CloudEvents (binary or structured) posted to it are
    accepted too, so the same deployment works behind Eventarc.
    """
    raw = request.get_data(cache=True)
    headers = request.headers
    if len(raw) > MAX_DATA_BYTES * 4 // 3 + 64 * 1024:
        raise ValidationError(
            "request body is larger than a Pub/Sub message can be", reason="too_large"
        )
    try:
        body = jsonsafe.loads(raw or b"null", "request body")
    except ValidationError as exc:
        raise ValidationError(exc.message, reason="bad_envelope") from None
    if headers.get("ce-id"):
        return from_cloudevent(_HeaderEvent(headers, body))
    if isinstance(body, Mapping) and body.get("specversion") and "data" in body:
        return from_cloudevent(
            _HeaderEvent({"ce-id": body.get("id"), "ce-time": body.get("time")}, body["data"])
        )
    return from_push_body(body)


class _HeaderEvent:
    """Just enough of a CloudEvent for ``from_cloudevent``."""

    def __init__(self, headers: Any, data: Any) -> None:
        self._attributes = {"id": headers.get("ce-id"), "time": headers.get("ce-time")}
        self.data = data

    def __getitem__(self, name: str) -> Any:
        return self._attributes[name]


def from_any(*args: Any) -> Message:
    """Dispatch on the call shape: ``(cloud_event)``, ``(request)``, ``(push_body)`` or
    ``(event, context)``."""
    if len(args) == 2:
        return from_background(args[0], args[1])
    if len(args) != 1:
        raise ValidationError(f"unexpected call with {len(args)} arguments", reason="bad_envelope")
    (arg,) = args
    if type(arg) is dict or isinstance(arg, Mapping):
        return from_push_body(arg)
    if is_http_request(arg):
        return from_http_request(arg)
    return from_cloudevent(arg)


def now_utc() -> datetime:
    """The library clock (``cievents.clock``), kept here for existing callers."""
    return clock.now_utc()
