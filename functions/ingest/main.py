"""ingest: verified webhooks from six vendors into Pub/Sub, byte for byte.

``POST /<source>`` for buildkite, github, gitlab, bitbucket, azure-devops and
jira. The function verifies the vendor's own authentication, publishes the
body unchanged to the ``ci-events`` topic with filterable attributes, and
answers 202. It does no other work: the functions behind the topic do, at
their own pace, with retries ("respond immediately, queue, process in a
worker").

Refusals (nothing refused is published): unknown source 404, wrong method
405, body over the limit 413, missing or bad signature (or no secret
configured for the source) 401, stale timestamp 401, non-JSON 400. The
caller learns only the status; the log line says why. A delivery id seen
before is answered 202 without publishing again; Pub/Sub unavailable is 503
so the vendor retries.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from cievents import clock, log
from cievents.config import env_float, env_int, env_list, env_opt, env_str
from cievents.errors import CIEventsError
from cievents.idempotency import Store, open_store
from cievents.publish import Publisher, publisher_for
from cievents.webhooks import SOURCES, Refusal, verify
from cievents.webhooks.attributes import attributes_for

Response = tuple[str, int, dict[str, str]]


@dataclass(frozen=True)
class Settings:
    """Read once at cold start; a bad value stops the function naming the variable."""

    secrets: dict[str, tuple[str, ...]]
    publish_to: str
    max_body_bytes: int
    replay_window_s: float
    dedupe_ttl_s: float

    @classmethod
    def from_env(cls) -> Settings:
        secrets = {s: env_list("WEBHOOK_SECRET_" + s.upper().replace("-", "_")) for s in SOURCES}
        log.register_secrets(*(v for values in secrets.values() for v in values))
        return cls(
            secrets=secrets,
            publish_to=env_opt("CIEVENTS_PUBLISH_TO") or env_str("CIEVENTS_TOPIC", "ci-events"),
            max_body_bytes=env_int("CIEVENTS_MAX_BODY_BYTES", 5 * 1024 * 1024, minimum=1),
            replay_window_s=env_float("WEBHOOK_REPLAY_WINDOW_S", 300.0, minimum=1),
            dedupe_ttl_s=env_float("CIEVENTS_DEDUPE_TTL_S", 7 * 24 * 3600.0, minimum=60),
        )


SETTINGS = Settings.from_env()
_store: Store | None = None
_publisher: Publisher | None = None


def _dependencies() -> tuple[Store, Publisher]:
    """The store and publisher, created on first use and reused by this instance."""
    global _store, _publisher  # noqa: PLW0603 - per-instance clients
    if _store is None:
        _store = open_store()
    if _publisher is None:
        _publisher = publisher_for(SETTINGS.publish_to)
    return _store, _publisher


def _answer(status: int, outcome: str, started: float, **fields: Any) -> Response:
    duration_ms = round((time.perf_counter() - started) * 1000, 3)
    severity = log.logger.info if status < 400 else log.logger.warning
    severity(
        f"ingest: {outcome}",
        outcome=outcome,
        status=status,
        duration_ms=duration_ms,
        provider="pubsub",
        operation="publish",
        **fields,
    )
    body = json.dumps({"status": outcome})
    return body, status, {"Content-Type": "application/json"}


def handle_request(
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    query_token: str,
    content_length: int | None,
    now: float | None = None,
) -> Response:
    """The whole policy, free of Flask so tests and the benchmark can call it directly."""
    started = time.perf_counter()
    source = path.strip("/").split("/", 1)[0]
    with log.context(function="ingest", source=source or None):
        if source not in SOURCES:
            return _answer(404, "refused", started, reason="unknown source")
        if method != "POST":
            return _answer(405, "refused", started, reason=f"method {method}")
        if (content_length or len(body)) > SETTINGS.max_body_bytes:
            return _answer(
                413,
                "refused",
                started,
                reason=f"body over CIEVENTS_MAX_BODY_BYTES={SETTINGS.max_body_bytes}",
            )
        try:
            verify(
                source,
                headers,
                body,
                SETTINGS.secrets[source],
                clock.now() if now is None else now,
                query_token=query_token,
                replay_window_s=SETTINGS.replay_window_s,
            )
        except Refusal as refusal:
            return _answer(refusal.status, "refused", started, reason=refusal.reason)
        try:
            payload = json.loads(body.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return _answer(400, "refused", started, reason="body is not JSON")
        if not isinstance(payload, dict):
            return _answer(400, "refused", started, reason="body is not a JSON object")
        attributes = attributes_for(source, headers, payload, body)
        log.bind(
            event=attributes["event"],
            pipeline=attributes.get("pipeline"),
            delivery_id=attributes["delivery_id"],
        )
        return _publish_once(source, body, attributes, started)


def _publish_once(source: str, body: bytes, attributes: dict[str, str], started: float) -> Response:
    try:
        store, publisher = _dependencies()
        key = f"ingest:{source}:{attributes['delivery_id']}"
        claim = store.claim(key, lease_s=30)
    except CIEventsError as exc:
        return _answer(503, "retry", started, reason=exc.message)
    if claim.status == "duplicate":
        return _answer(202, "duplicate", started)
    if claim.status == "busy":
        return _answer(503, "retry", started, reason="the same delivery is being published now")
    try:
        message_id = publisher.publish(body, attributes)
    except CIEventsError as exc:
        store.release(key, claim.token)
        return _answer(503, "retry", started, reason=exc.message)
    store.complete(key, claim.token, message_id, ttl_s=SETTINGS.dedupe_ttl_s)
    return _answer(202, "published", started, message_id=message_id)


def ingest(request: Any) -> Response:
    """HTTP entry point (functions-framework, signature type ``http``)."""
    limit = SETTINGS.max_body_bytes
    length = request.content_length
    # Never read more than the limit (+1 byte, to tell "at the limit" from "over it").
    body = b"" if length and length > limit else request.stream.read(limit + 1)
    headers = {k.lower(): v for k, v in request.headers.items()}
    return handle_request(
        request.method, request.path, headers, body, request.args.get("token", ""), length
    )
