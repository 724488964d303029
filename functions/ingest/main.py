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
caller learns only the status; the log line says why. Pub/Sub unavailable is
503 so the vendor retries.

The request path holds no store transaction: every function behind the topic
is idempotent on the delivery key (``delivery_id``, or the content keys the
functions derive), so a vendor's re-sent delivery published twice has one
effect. A delivery id this instance published in the last
``CIEVENTS_DEDUPE_TTL_S`` is answered 202 without publishing again (a bounded
in-memory set of ``CIEVENTS_INGEST_RECENT`` ids: it saves the topic a copy, it
is not what correctness rests on). The publisher and its client are created at
cold start, so the first webhook is as fast as the hundredth.
"""

from __future__ import annotations

import gc
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from cievents import clock, coldstart, jsonsafe, log, tracing
from cievents.config import env_float, env_int, env_list, env_opt, env_str, store_spec
from cievents.errors import CIEventsError, ValidationError
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
    recent: int
    store_url: str | None = None  # checked for form here; opened on first use

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
            recent=env_int("CIEVENTS_INGEST_RECENT", 10_000, minimum=0),
            store_url=store_spec(env_opt("CIEVENTS_STORE")),
        )


class RecentDeliveries:
    """Delivery ids this instance published lately, oldest first, bounded in size and age."""

    def __init__(self, size: int, ttl_s: float) -> None:
        self.size, self.ttl_s = size, ttl_s
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, key: str, now: float) -> bool:
        with self._lock:
            when = self._seen.get(key)
            return when is not None and now - when < self.ttl_s

    def add(self, key: str, now: float) -> None:
        if self.size == 0:
            return
        with self._lock:
            self._seen[key] = now
            self._seen.move_to_end(key)
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)


def _publisher() -> Publisher:
    """The publisher (cached by ``publisher_for``): created at cold start, below."""
    return publisher_for(SETTINGS.publish_to)


def _warm() -> None:
    """Create the publisher and its client now, at cold start, not in the first request
    (the client's channel and credentials are the slow part). When that fails (no
    project, no credentials yet), the instance still starts: each request tries again
    and answers 503 naming the cause, so the vendor retries once the deploy is fixed."""
    try:
        _publisher()
    except Exception as exc:
        log.logger.warning(
            "ingest: publisher not created at cold start; requests will retry it",
            target=SETTINGS.publish_to,
            error=log.mask(str(exc))[:300],
        )


SETTINGS = Settings.from_env()
RECENT = RecentDeliveries(SETTINGS.recent, SETTINGS.dedupe_ttl_s)
_warm()
# Everything ingest needs is imported and built: collection resumes (held off since the
# first ``import cievents``), with what the cold start built frozen out of the
# generations, so a full collection (every few thousand requests' garbage) no longer
# walks the SDKs' objects on a request's path, where it showed as the tail.
coldstart.release()
gc.freeze()  # also when not served (no hold): the same tail under a local server


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
    with (
        tracing.serve("ingest", headers, **{"http.request.method": method, "url.path": path}),
        log.context(function="ingest", source=source or None, trace=tracing.trace_id()),
    ):
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
            payload = jsonsafe.loads(body.decode("utf-8-sig"))
        except UnicodeDecodeError:
            return _answer(400, "refused", started, reason="body is not UTF-8")
        except ValidationError as exc:
            return _answer(400, "refused", started, reason=exc.message)
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
    key = f"{source}:{attributes['delivery_id']}"
    now = time.monotonic()
    if RECENT.seen(key, now):
        return _answer(202, "duplicate", started)
    try:
        publisher = _publisher()
    except Exception as exc:
        return _answer(503, "retry", started, reason=log.mask(str(exc))[:300])
    try:
        message_id = publisher.publish(body, attributes)
    except CIEventsError as exc:
        return _answer(503, "retry", started, reason=exc.message)
    RECENT.add(key, now)
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
