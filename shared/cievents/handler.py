"""The one decorator every Pub/Sub function uses. Retry and idempotency policy live here.

    @pubsub_function("slack_notify", accepts=lambda e: e.kind in ("build", "job"))
    def handle(event: Event, ctx: Context) -> Result | None:
        ...  # only the function's own concern

A message goes through: envelope → parse → validate (``accepts``) →
freshness → idempotency claim → act → classify → ack or raise.

* Malformed envelopes and payloads, events older than
  ``CIEVENTS_MAX_EVENT_AGE_S`` and permanent downstream errors are logged
  once and *acked* (the entry point returns normally), so a bad message never
  loops. Permanent failures are first republished to the dead-letter target
  (``CIEVENTS_DEAD_LETTER``) when one is configured.
* Transient errors release the claim and are *raised*, so Pub/Sub
  redelivers with its backoff.
* Every message ends with exactly one ``outcome`` log line carrying
  ``function``, ``source``, ``event``, ``outcome`` (acted, skipped,
  duplicate, stale, retried, failed, dead_lettered), ``provider``,
  ``operation`` and ``duration_ms``.

The entry point accepts every call shape functions-framework produces:
``(cloud_event)``, ``(event, context)`` and a raw push body.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar, cast

from cievents import clock, coldstart, envelope, frozen, log, tracing
from cievents.config import CommonSettings
from cievents.envelope import Message
from cievents.errors import (
    AuthError,
    CIEventsError,
    PermanentError,
    TransientError,
    ValidationError,
)
from cievents.idempotency import Store, open_store
from cievents.outbox import Outbox

Outcome = Literal["acted", "skipped", "duplicate", "stale", "retried", "failed", "dead_lettered"]
E = TypeVar("E")


@dataclass
class Result:
    """What ``act`` reports. Returning None means ``Result("acted")``; ``duplicate`` when the
    side effect was already there (a redelivery), as the handler's own claim check says."""

    outcome: Literal["acted", "skipped", "duplicate"] = "acted"
    detail: str = ""
    provider: str | None = None
    operation: str | None = None


def skipped(detail: str) -> Result:
    return Result("skipped", detail)


@dataclass
class Context:
    """Everything ``act`` may need besides the event, created per message."""

    function: str
    message: Message
    settings: CommonSettings
    _store_factory: Callable[[], Store]
    provider: str | None = None
    operation: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def store(self) -> Store:
        return self._store_factory()

    @property
    def outbox(self) -> Outbox | None:
        """The dry-run outbox when ``CIEVENTS_DRY_RUN`` is set, else None."""
        return Outbox(self.settings.outbox_dir) if self.settings.dry_run else None

    def state_key(self, *parts: object) -> str:
        return ":".join([self.function, *(str(p) for p in parts)])


@dataclass(frozen=True)
class Processed:
    """The handler's verdict on one message (returned by ``process`` for tests and the bus)."""

    outcome: Outcome
    reason: str = ""
    message_id: str = ""


def default_key(message: Message, event: Any) -> str | None:
    """The vendor's delivery id when ingest set one, else the Pub/Sub message id."""
    return message.attributes.get("delivery_id") or message.id


def classify_exception(exc: BaseException) -> CIEventsError:
    """Turn any exception into our taxonomy, without importing the SDKs that raise them."""
    if isinstance(exc, CIEventsError):
        return exc
    names = {cls.__name__ for cls in type(exc).__mro__}
    module = type(exc).__module__
    transient_names = {
        "Timeout",
        "ConnectTimeout",
        "ReadTimeout",
        "ConnectionError",
        "TimeoutError",
        "ServiceUnavailable",
        "InternalServerError",
        "TooManyRequests",
        "DeadlineExceeded",
        "Aborted",
        "BadGateway",
        "GatewayTimeout",
        "RetryError",
        "ProtocolError",
        "ChunkedEncodingError",
    }
    if names & transient_names:
        return TransientError(f"{type(exc).__name__}: {log.mask(str(exc))[:300]}", reason="network")
    code = getattr(exc, "code", None)
    if module.startswith("google.api_core") and isinstance(code, int) and code >= 500:
        return TransientError(f"{type(exc).__name__}: {log.mask(str(exc))[:300]}", status=code)
    return PermanentError(
        f"unexpected {type(exc).__name__}: {log.mask(str(exc))[:300]}", reason="unexpected"
    )


def credential_record(function: str) -> str:
    """The store key under which ``function`` records a refused credential for health."""
    return f"health:credential:{function}"


class _LazyStore:
    def __init__(self, url: str | None, given: Store | None) -> None:
        self._url = url
        self._store = given
        self._lock = threading.Lock()

    def __call__(self) -> Store:
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = open_store(self._url)
        return self._store


class PubSubFunction(Generic[E]):
    """The decorated function: callable by functions-framework, testable via ``process``."""

    def __init__(
        self,
        name: str,
        act: Callable[[E, Context], Result | None],
        *,
        parse: Callable[[Message], E],
        key: Callable[[Message, E], str | None],
        accepts: Callable[[E], bool] | None,
        settings: CommonSettings,
        store: Store | None,
    ) -> None:
        self.name = name
        self.act = act
        self.parse = parse
        self.key = key
        self.accepts = accepts
        self.settings = settings
        self.store = _LazyStore(settings.store_url, store)
        # Whether this instance has looked at its credential record since it started or
        # since a credential was refused (``_credential_ok``).
        self._credential_seen = False
        self._credential_early = False  # the first claimed message's read has been started
        self.__name__ = act.__name__
        self.__doc__ = act.__doc__

    def __call__(self, *args: Any) -> None:
        """The entry point: ack by returning, nack by raising a TransientError."""
        result = self.process_call(*args)
        if result.outcome == "retried":
            raise TransientError(f"{self.name}: {result.reason}")

    def process_call(self, *args: Any) -> Processed:
        started = time.perf_counter()
        try:
            message = envelope.from_any(*args)
        except ValidationError as exc:
            with log.context(function=self.name):
                return self._finish("failed", started, exc, message_id="")
        return self.process(message, started)

    def process(self, message: Message, started: float | None = None) -> Processed:
        started = time.perf_counter() if started is None else started
        attributes = message.attributes
        # One context for the whole message, what the attributes say included, so even a
        # payload that fails to parse is counted by source.
        with (
            tracing.consume(self.name, attributes, **{"messaging.message.id": message.id}),
            log.context(
                function=self.name,
                message_id=message.id,
                delivery_attempt=message.delivery_attempt,
                trace=tracing.trace_id(),
                source=attributes.get("source"),
                event=attributes.get("event"),
                pipeline=attributes.get("pipeline"),
            ),
        ):
            return self._process(message, started)

    def _process(self, message: Message, started: float) -> Processed:
        try:
            event = self.parse(message)
        except CIEventsError as exc:
            return self._permanent(message, started, exc)
        except Exception as exc:
            return self._permanent(message, started, classify_exception(exc), exc)
        # What the event says, where it says it (else the attributes' word stands), and what
        # an operator filters by: one copy of the context, not one per group of fields.
        log.bind(
            source=getattr(event, "source", None) or None,
            event=getattr(event, "event", None) or None,
            pipeline=getattr(event, "pipeline", None) or None,
            **operations_fields(event),
        )
        if self.accepts is not None and not self.accepts(event):
            return self._finish("skipped", started, reason="not for this function")
        age = self._age(message)
        if age is not None and age > self.settings.max_event_age_s:
            return self._finish(
                "stale",
                started,
                reason=f"published {age:.0f} s ago, over CIEVENTS_MAX_EVENT_AGE_S="
                f"{self.settings.max_event_age_s:.0f}; acked without acting",
            )
        key = self.key(message, event)
        claim = None
        full_key = f"{self.name}:{key}" if key else None
        if full_key:
            try:
                claim = self.store().claim(full_key, self.settings.lease_s)
            except Exception as exc:
                return self._finish("retried", started, classify_exception(exc), transient=True)
            if claim.status == "duplicate":
                return self._finish("duplicate", started, reason=f"already handled ({key})")
            if claim.status == "busy":
                return self._finish(
                    "retried", started, reason=f"another execution holds {key}", transient=True
                )
        # The first message an instance acts on reads its credential record (a refusal may
        # have left it failing). On the instance's first message (a cold start, where users
        # wait) it is read while the function acts, not after it; later ones read it only
        # when they act. A function that claims nothing opens the store here first, in this
        # thread, so the reading thread only waits on the network (an import on another
        # thread would contend for the module locks of the function's own SDK imports).
        credential = None
        if not self._credential_seen and not self._credential_early:
            self._credential_early = True
            try:
                self.store()
            except Exception as exc:  # the read after acting logs it as a warning
                log.logger.debug("store not opened early", error=type(exc).__name__)
            else:
                credential = _Background(self._credential_state)
        ctx = Context(self.name, message, self.settings, self.store)
        try:
            result = self.act(event, ctx) or _ACTED
        except BaseException as exc:
            error = exc if isinstance(exc, CIEventsError) else classify_exception(exc)
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            # A ConfigError at run time is permanent: redelivery cannot fix a deploy.
            if isinstance(error, TransientError):
                if claim is not None and full_key:
                    self._quietly(lambda: self.store().release(full_key, claim.token))
                return self._finish(
                    "retried", started, error, transient=True, ctx=ctx, original=exc
                )
            if claim is not None and full_key:
                if self.settings.dead_letter:
                    # The dead letter is the record: a replay after the fix must act, so the
                    # claim is released, not completed.
                    self._quietly(lambda: self.store().release(full_key, claim.token))
                else:
                    self._quietly(
                        lambda: self.store().complete(
                            full_key, claim.token, f"failed:{error.reason}"
                        )
                    )
            if isinstance(error, AuthError):
                self._credential_alert(error)
            return self._permanent(message, started, error, exc, ctx)
        if (
            claim is not None
            and full_key
            and not self.store().complete(full_key, claim.token, result.outcome)
        ):
            log.logger.warning(
                "lease lost before completion: another execution took this message over", key=key
            )
        if result.outcome == "acted" and not self._credential_seen:
            self._credential_ok(credential)
        return self._finish(
            result.outcome,
            started,
            reason=result.detail,
            ctx=ctx,
            provider=result.provider,
            operation=result.operation,
        )

    @staticmethod
    def _age(message: Message) -> float | None:
        if message.publish_time is None:
            return None
        return (envelope.now_utc() - message.publish_time).total_seconds()

    def _credential_alert(self, error: AuthError) -> None:
        """A broken credential: an alert line (the health alert's log-based metric counts
        ``alert="credential"``) and a record the health function reports."""
        credential = error.credential or "a credential"
        log.logger.error(
            f"{self.name}: {credential} was refused; messages are dead-lettered until it is fixed",
            alert="credential",
            credential=credential,
            status=getattr(error, "status", None),
        )

        def record() -> None:
            self.store().set_state(
                credential_record(self.name),
                {"status": "fail", "credential": credential, "at": clock.now()},
            )

        self._quietly(record)
        self._credential_seen = False

    def _credential_state(self) -> Any:
        return self.store().get_state(credential_record(self.name))

    def _credential_ok(self, read: _Background | None = None) -> None:
        """The first message an instance acted on (after its start, or after a refusal):
        a credential record left failing is set back to passing, so the health alert
        recovers once the rotated secret is deployed. ``read``: the record, being read."""
        self._credential_seen = True

        def clear() -> None:
            key = credential_record(self.name)
            state = read.result() if read is not None else self.store().get_state(key)
            if state.value.get("status") == "fail":
                self.store().set_state(
                    key,
                    {**state.value, "status": "pass", "at": clock.now()},
                    expected_version=state.version,
                )

        self._quietly(clear)

    @staticmethod
    def _quietly(action: Callable[[], object]) -> None:
        try:
            action()
        except Exception as exc:
            log.logger.warning("idempotency store update failed", error=type(exc).__name__)

    def _permanent(
        self,
        message: Message,
        started: float,
        error: CIEventsError,
        original: BaseException | None = None,
        ctx: Context | None = None,
    ) -> Processed:
        target = self.settings.dead_letter
        if target:
            try:
                from cievents.publish import publisher_for

                attributes = dict(message.attributes)
                attributes.update(
                    cievents_function=self.name,
                    cievents_reason=error.reason,
                    cievents_error=log.mask(error.message)[:1000],
                    cievents_message_id=message.id,
                    cievents_delivery_attempt=str(message.delivery_attempt or ""),
                )
                if isinstance(error, AuthError) and error.credential:
                    attributes["cievents_credential"] = error.credential
                publisher_for(target).publish(message.data, attributes)
            except Exception as exc:
                # Not acked, so nothing is lost: Pub/Sub redelivers, and past
                # max_delivery_attempts its own dead-letter policy keeps the message.
                return self._finish(
                    "retried",
                    started,
                    classify_exception(exc),
                    transient=True,
                    reason=f"dead-letter publish to {target} failed (does the function's "
                    "service account have roles/pubsub.publisher on it?); will retry",
                )
            return self._finish("dead_lettered", started, error, ctx=ctx, original=original)
        return self._finish("failed", started, error, ctx=ctx, original=original)

    def _finish(
        self,
        outcome: Outcome,
        started: float,
        error: CIEventsError | None = None,
        *,
        reason: str = "",
        transient: bool = False,
        ctx: Context | None = None,
        provider: str | None = None,
        operation: str | None = None,
        original: BaseException | None = None,
        message_id: str | None = None,
    ) -> Processed:
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        what_next = _WHAT_NEXT[outcome]
        text = reason or (error.message if error else "")
        fields: dict[str, Any] = {
            "outcome": outcome,
            "duration_ms": duration_ms,
            "duration_s": round(duration_ms / 1000, 6),  # the *_duration_seconds metrics
            "provider": provider or (ctx.provider if ctx else None),
            "operation": operation or (ctx.operation if ctx else None),
            "next": what_next,
        }
        if ctx is not None and ctx.fields:
            fields.update(ctx.fields)
        if error is not None:
            fields["reason"] = error.reason
            fields["error"] = error.message
        elif reason:
            fields["reason"] = reason
        if message_id is not None:
            fields["message_id"] = message_id or "unknown"
        message = f"{self.name}: {outcome}" + (f": {text}" if text else "")
        if outcome in ("failed", "dead_lettered"):
            unexpected = error is not None and error.reason == "unexpected"
            log.logger.error(message, original if unexpected else None, **fields)
        elif outcome in ("retried", "stale"):
            log.logger.warning(message, **fields)
        else:
            log.logger.info(message, **fields)
        mid = str(log.current_context().get("message_id") or message_id or "")
        return frozen.new(Processed, {"outcome": outcome, "reason": text, "message_id": mid})


# What ``act`` returning None means; only read.
_ACTED = Result()
_WHAT_NEXT: dict[str, str] = {
    "acted": "done",
    "skipped": "acked without acting",
    "duplicate": "acked: already handled",
    "stale": "acked without acting",
    "retried": "raised so Pub/Sub redelivers",
    "failed": "acked: retrying cannot help",
    "dead_lettered": "republished to the dead-letter topic and acked",
}


class _Background:
    """``work()`` on a thread of its own, started now; ``result()`` waits for it (and raises
    what it raised)."""

    def __init__(self, work: Callable[[], Any]) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], Any]) -> None:
        try:
            self._value = work()
        except BaseException as exc:  # handed to result(), in the caller's thread
            self._error = exc

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


class EntryPoint(Protocol):
    """What ``pubsub_function`` returns: a plain function (functions-framework insists on
    ``types.FunctionType``) that also exposes the handler for tests and the local bus."""

    __name__: str
    handler: PubSubFunction[Any]

    def __call__(self, *args: Any) -> Any: ...

    def process(self, message: Message, started: float | None = None) -> Processed: ...

    def process_call(self, *args: Any) -> Processed: ...


def operations_fields(event: Any) -> dict[str, Any]:
    """What an operator filters outcome lines by: commit SHA, PR number, integration."""
    pr = getattr(event, "pull_request", None)
    if pr is None and getattr(event, "kind", "") == "pull_request":
        pr = getattr(event, "number", None)
    fields = {
        "commit_sha": getattr(event, "commit", None),
        "pr_number": pr,
        "integration": getattr(event, "source", None),
    }
    return {k: v for k, v in fields.items() if v not in (None, "")}


def pubsub_function(
    name: str,
    *,
    parse: Callable[[Message], Any] | None = None,
    key: Callable[[Message, Any], str | None] = default_key,
    accepts: Callable[[Any], bool] | None = None,
    settings: CommonSettings | None = None,
    store: Store | None = None,
) -> Callable[[Callable[[Any, Context], Result | None]], EntryPoint]:
    """Wrap ``act`` with the handler policy. Settings are read now, at cold start."""
    resolved = settings or CommonSettings.from_env()
    if resolved.dead_letter:
        from cievents.publish import qualified_target

        resolved = dataclasses.replace(
            resolved, dead_letter=qualified_target(resolved.dead_letter, "CIEVENTS_DEAD_LETTER")
        )
    log.register_secrets_from_env()
    if parse is None:
        from cievents.sources import parse_message

        parse = parse_message

    def decorate(act: Callable[[Any, Context], Result | None]) -> EntryPoint:
        handler: PubSubFunction[Any] = PubSubFunction(
            name, act, parse=parse, key=key, accepts=accepts, settings=resolved, store=store
        )

        def entry(*args: Any) -> Any:
            try:
                handler(*args)
            finally:
                coldstart.release()  # the instance's first answer: collection resumes
            # Deployed with an HTTP trigger (behind a push subscription), the function must
            # answer; a 2xx acks the push. As a CloudEvent function, the return is ignored.
            if len(args) == 1 and envelope.is_http_request(args[0]):
                return ("", 204)
            return None

        entry.__name__ = act.__name__
        entry.__qualname__ = act.__qualname__
        entry.__doc__ = act.__doc__
        entry.__module__ = act.__module__
        setattr(entry, "handler", handler)  # noqa: B010 - attributes on a function object
        setattr(entry, "process", handler.process)  # noqa: B010
        setattr(entry, "process_call", handler.process_call)  # noqa: B010
        return cast(EntryPoint, entry)

    return decorate
