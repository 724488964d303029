"""Tracing with OpenTelemetry, one build's path through ingest and every function.

``CIEVENTS_TRACING`` chooses where spans go:

=================  ==========================================================
unset, ``off``     nowhere; OpenTelemetry is not even imported
``gcp``            Cloud Trace (what the deploy sets; the function's service
                   account needs ``roles/cloudtrace.agent``)
``console``        stdout, one JSON document per span (OpenTelemetry's own)
``otlp``           an OTLP/HTTP collector: ``OTEL_EXPORTER_OTLP_ENDPOINT``
                   (default ``http://localhost:4318``)
``file:PATH``      JSON lines, one span each (the demo and the tests)
=================  ==========================================================

ingest starts a SERVER span from the vendor's request, continuing an incoming
W3C ``traceparent`` or Google's ``X-Cloud-Trace-Context``, and :func:`inject`
puts the W3C context into the Pub/Sub attributes it publishes (``traceparent``,
``tracestate``). Every Pub/Sub function continues that trace with a CONSUMER
span (:func:`consume`) and one CLIENT span per outgoing HTTP call
(:func:`outgoing`). Log lines carry ``logging.googleapis.com/trace`` whether
or not spans are exported: :func:`trace_id` reads the current span, else the
message's ``traceparent``, so Cloud Logging groups a build's lines by trace.

Each function's cold start pays nothing for this when tracing is off: the
module imports only the standard library until a span is asked for.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any

from cievents.errors import ConfigError

__all__ = [
    "consume",
    "enabled",
    "flush",
    "incoming_traceparent",
    "inject",
    "outgoing",
    "recorded",
    "serve",
    "trace_id",
    "traced",
]

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_CLOUD = re.compile(r"^([0-9a-fA-F]{32})(?:/([0-9]{1,20}))?(?:;o=([01]))?$")
_incoming: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "cievents_traceparent", default=None
)
_lock = threading.Lock()
_provider: Any = None
_mode: str | None = None


def _setting() -> str:
    value = os.environ.get("CIEVENTS_TRACING", "").strip()
    if value in ("", "off", "0", "false"):
        return "off"
    if value in ("gcp", "console", "otlp") or (value.startswith("file:") and len(value) > 5):
        return value
    raise ConfigError("CIEVENTS_TRACING", f"{value!r}: use off, gcp, console, otlp or file:PATH")


def enabled() -> bool:
    global _mode  # noqa: PLW0603 - read once per process
    if _mode is None:
        _mode = _setting()
    return _mode != "off"


def incoming_traceparent(headers: Mapping[str, str]) -> str | None:
    """The W3C traceparent a request carries: ``traceparent``, else ``X-Cloud-Trace-Context``."""
    lowered = {k.lower(): v for k, v in headers.items()}
    parent = (lowered.get("traceparent") or "").strip().lower()
    found = _TRACEPARENT.match(parent)
    if found and found.group(1) != "0" * 32 and found.group(2) != "0" * 16:
        return parent
    cloud = _CLOUD.match((lowered.get("x-cloud-trace-context") or "").strip())
    if cloud and cloud.group(1).strip("0"):
        span = int(cloud.group(2) or "0") & (2**64 - 1)
        sampled = "01" if cloud.group(3) != "0" else "00"
        return f"00-{cloud.group(1).lower()}-{(span or 1):016x}-{sampled}"
    return None


def _exporter(mode: str) -> Any:
    if mode == "gcp":
        from opentelemetry.exporter.cloud_trace import CloudTraceSpanExporter

        project = os.environ.get("GOOGLE_CLOUD_PROJECT") or None
        return CloudTraceSpanExporter(project_id=project)  # type: ignore[no-untyped-call]
    if mode == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if mode == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318").rstrip("/")
        return OTLPSpanExporter(endpoint=f"{base}/v1/traces")
    return _FileExporter(mode.removeprefix("file:"))


class _FileExporter:
    """JSON lines: trace and span ids, parent, name, kind, service, times, attributes."""

    def __init__(self, path: str) -> None:
        self.path = path

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        lines = []
        for span in spans:
            context = span.get_span_context()
            lines.append(
                json.dumps(
                    {
                        "trace_id": f"{context.trace_id:032x}",
                        "span_id": f"{context.span_id:016x}",
                        "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
                        "name": span.name,
                        "kind": span.kind.name,
                        "service": span.resource.attributes.get("service.name"),
                        "start_ns": span.start_time,
                        "end_ns": span.end_time,
                        "status": span.status.status_code.name,
                        "attributes": dict(span.attributes or {}),
                    },
                    sort_keys=True,
                    default=str,
                )
            )
        with _lock, open(self.path, "a", encoding="utf-8") as fh:
            fh.write("".join(line + "\n" for line in lines))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _tracer() -> Any:
    """The process's tracer, built on first use (only when tracing is on)."""
    global _provider  # noqa: PLW0603 - one provider per process

    with _lock:
        if _provider is None:
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

            mode = _mode or _setting()
            service = (
                os.environ.get("OTEL_SERVICE_NAME")
                or os.environ.get("K_SERVICE")
                or "ci-event-functions"
            )
            _provider = TracerProvider(resource=Resource.create({"service.name": service}))
            exporter = _exporter(mode)
            # Local exporters write at once; remote ones batch, flushed at the end of a message.
            local = mode == "console" or mode.startswith("file:")
            processor = SimpleSpanProcessor(exporter) if local else BatchSpanProcessor(exporter)
            _provider.add_span_processor(processor)
    return _provider.get_tracer("cievents")


def _parent_context(traceparent: str | None, tracestate: str | None = None) -> Any:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier = {"traceparent": traceparent or ""}
    if tracestate:
        carrier["tracestate"] = tracestate
    return TraceContextTextMapPropagator().extract(carrier)


@contextlib.contextmanager
def serve(name: str, headers: Mapping[str, str], **attributes: Any) -> Iterator[None]:
    """A SERVER span for an incoming request (ingest), continuing its trace if it has one."""
    parent = incoming_traceparent(headers)
    token = _incoming.set(parent)
    try:
        if not enabled():
            yield
            return
        from opentelemetry.trace import SpanKind

        with _tracer().start_as_current_span(
            name,
            context=_parent_context(parent),
            kind=SpanKind.SERVER,
            attributes={k: v for k, v in attributes.items() if v is not None},
        ):
            yield
        flush()
    finally:
        _incoming.reset(token)


def consume(
    name: str, attributes: Mapping[str, str], **extra: Any
) -> contextlib.AbstractContextManager[None]:
    """A CONSUMER span for one Pub/Sub message, continuing the trace in its attributes.

    With tracing off, only the message's ``traceparent`` is kept for :func:`trace_id`, by
    a plain context manager (this runs on every message)."""
    if not enabled():
        return _Incoming(attributes.get("traceparent"))
    return _consume(name, attributes, **extra)


class _Incoming:
    """The message's traceparent, current for the block (when tracing is off)."""

    __slots__ = ("_parent", "_token")

    def __init__(self, parent: str | None) -> None:
        self._parent = parent if parent and _TRACEPARENT.match(parent) else None
        self._token: contextvars.Token[str | None] | None = None

    def __enter__(self) -> None:
        self._token = _incoming.set(self._parent)

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _incoming.reset(self._token)


@contextlib.contextmanager
def _consume(name: str, attributes: Mapping[str, str], **extra: Any) -> Iterator[None]:
    parent = attributes.get("traceparent")
    token = _incoming.set(parent if parent and _TRACEPARENT.match(parent) else None)
    try:
        from opentelemetry.trace import SpanKind

        span_attributes = {"messaging.system": "gcp_pubsub", "faas.name": name}
        span_attributes.update({k: v for k, v in extra.items() if v is not None})
        with _tracer().start_as_current_span(
            f"{name} process",
            context=_parent_context(parent, attributes.get("tracestate")),
            kind=SpanKind.CONSUMER,
            attributes=span_attributes,
        ):
            yield
        flush()
    finally:
        _incoming.reset(token)


class _Call:
    """What :func:`outgoing` yields: record the answer's status on the span."""

    def __init__(self, span: Any = None) -> None:
        self.span = span

    def dry_run(self) -> None:
        if self.span is not None:
            self.span.set_attribute("cievents.dry_run", True)

    def status(self, code: int) -> None:
        if self.span is not None:
            self.span.set_attribute("http.response.status_code", code)
            if code >= 400:
                from opentelemetry.trace import Status, StatusCode

                self.span.set_status(Status(StatusCode.ERROR))


_NOOP = _Call()


@contextlib.contextmanager
def outgoing(sink: str, method: str, url: str) -> Iterator[_Call]:
    """A CLIENT span per outgoing HTTP call, child of the message's span."""
    if not enabled():
        yield _NOOP
        return
    from opentelemetry.trace import SpanKind

    with _tracer().start_as_current_span(
        f"{sink} {method.upper()}",
        kind=SpanKind.CLIENT,
        attributes={
            "http.request.method": method.upper(),
            "url.full": url.split("?", 1)[0],  # no query: it can carry tokens
            "peer.service": sink,
        },
    ) as span:
        yield _Call(span)


def traced(
    sink: str, call: Callable[..., Any], describe: Callable[..., tuple[str, str]]
) -> Callable[..., Any]:
    """``call`` inside a CLIENT span; ``describe(*args, **kwargs)`` gives (method, url).

    For clients with one choke point (``HttpClient.request``, the Slack client's ``call``):
    one span per logical call, its retries and dry-run recording included.
    """

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        method, url = describe(*args, **kwargs)
        with outgoing(sink, method, url) as span:
            answer = call(*args, **kwargs)
            code = getattr(answer, "status_code", None)
            if isinstance(code, int):
                span.status(code)
            return answer

    return wrapper


def recorded(sink: str, method: str, url: str) -> None:
    """A dry-run write recorded in the outbox, as a CLIENT span unless one is open already."""
    if not enabled():
        return
    from opentelemetry import trace

    if getattr(trace.get_current_span(), "kind", None) is not None:
        from opentelemetry.trace import SpanKind

        if trace.get_current_span().kind == SpanKind.CLIENT:  # type: ignore[attr-defined]
            return
    with outgoing(sink, method, url) as span:
        span.dry_run()


def inject(attributes: MutableMapping[str, str]) -> None:
    """Put the current trace context into outgoing Pub/Sub message attributes."""
    if enabled():
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        carrier: dict[str, str] = {}
        TraceContextTextMapPropagator().inject(carrier)
        if carrier.get("traceparent"):
            attributes.update(carrier)
            return
    incoming = _incoming.get()
    if incoming:  # tracing off: still pass the caller's trace along, for the logs
        attributes.setdefault("traceparent", incoming)


def trace_id() -> str | None:
    """The current trace id (32 hex digits), for ``logging.googleapis.com/trace``."""
    if enabled():
        from opentelemetry import trace

        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            return f"{context.trace_id:032x}"
    incoming = _incoming.get()
    if not incoming:  # no traceparent kept: nothing to match
        return None
    found = _TRACEPARENT.match(incoming)
    return found.group(1) if found else None


def flush(timeout_s: float = 5.0) -> None:
    """Export what is batched (Cloud Run may freeze the instance once the answer is sent)."""
    if _provider is not None:
        _provider.force_flush(int(timeout_s * 1000))
