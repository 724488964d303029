"""Thousands of malformed messages through the handler: no unhandled exception, ever.

Every message must end in an acked outcome with a log line (or, for the
deliberately transient payload, a TransientError) — never another exception.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cievents import log
from cievents.events import BuildEvent
from cievents.handler import Context, pubsub_function
from cievents.idempotency.memory import MemoryStore
from tests.conftest import OWN
from tests.support.settings import in_memory

SETTINGS = in_memory(dry_run=False, outbox_dir="/nonexistent")


@pubsub_function(
    "fuzz", settings=SETTINGS, store=MemoryStore(), accepts=lambda e: isinstance(e, BuildEvent)
)
def handle(event: Any, ctx: Context) -> None:
    assert isinstance(event, BuildEvent)
    _ = (event.number + 1, event.state.upper(), event.duration_s, event.jira_keys)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
BUILD = json.loads((OWN / "buildkite" / "build.finished.failed.json").read_text())
FIELDS = [
    "number",
    "state",
    "branch",
    "commit",
    "message",
    "author",
    "created_at",
    "started_at",
    "finished_at",
    "pull_request",
    "web_url",
    "pipeline",
    "blocked",
    "creator",
]


@st.composite
def mutated_builds(draw: st.DrawFn) -> bytes:
    body = json.loads(json.dumps(BUILD))
    for field in draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=4, unique=True)):
        if draw(st.booleans()):
            body["build"][field] = draw(json_values)
        else:
            body["build"].pop(field, None)
    if draw(st.booleans()):
        body["pipeline"] = draw(json_values)
    return json.dumps(body).encode()


payloads = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    mutated_builds(),
)
attribute_maps = st.dictionaries(
    st.sampled_from(["source", "event", "delivery_id", "pipeline"]),
    st.sampled_from(
        [
            "buildkite",
            "github",
            "gitlab",
            "nope",
            "",
            "build.finished",
            "job.finished",
            "ping",
            "x" * 50,
        ]
    ),
)


@st.composite
def push_bodies(draw: st.DrawFn) -> Any:
    data = draw(payloads)
    encoded: Any = base64.b64encode(data).decode()
    if draw(st.integers(0, 9)) == 0:
        encoded = draw(json_values)  # a broken envelope
    message: dict[str, Any] = {"data": encoded, "messageId": str(draw(st.integers(0, 10**9)))}
    message["attributes"] = draw(attribute_maps)
    if draw(st.integers(0, 9)) == 0:
        message["publishTime"] = draw(st.text(max_size=30))
    if draw(st.integers(0, 19)) == 0:
        return draw(json_values)  # not even a push body
    return {"message": message, "subscription": "s"}


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(push_bodies())
def test_no_message_escapes_the_handler(body: Any) -> None:
    sink = _Sink()
    log.logger.set_stream(sink)
    try:
        result = handle.process_call(body)
    finally:
        log.logger.set_stream(None)
    assert result.outcome in ("acted", "skipped", "duplicate", "failed", "stale")
    assert sink.outcomes == [result.outcome]  # exactly one outcome line per message


class _Sink:
    """Collects the outcome of every log line; each line must be valid JSON."""

    def __init__(self) -> None:
        self.outcomes: list[str] = []

    def write(self, text: str) -> int:
        line = json.loads(text)
        if "outcome" in line:
            self.outcomes.append(line["outcome"])
        return len(text)

    def flush(self) -> None:
        pass
