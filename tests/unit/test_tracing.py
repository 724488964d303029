"""Tracing: the incoming context honoured, carried through Pub/Sub attributes, a CLIENT
span per outgoing call, log lines grouped by trace; nothing imported when it is off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cievents import tracing

ROOT = Path(__file__).resolve().parents[2]
PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"traceparent": PARENT}, PARENT),
        ({"Traceparent": PARENT.upper().replace("00-4BF", "00-4bf")}, PARENT),
        (
            {"X-Cloud-Trace-Context": "4bf92f3577b34da6a3ce929d0e0e4736/12345;o=1"},
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000003039-01",
        ),
        (
            {"x-cloud-trace-context": "4bf92f3577b34da6a3ce929d0e0e4736/1;o=0"},
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000001-00",
        ),
        ({"traceparent": "00-" + "0" * 32 + "-00f067aa0ba902b7-01"}, None),  # invalid: zeros
        ({"traceparent": "garbage", "X-Cloud-Trace-Context": "nothex/1"}, None),
        ({}, None),
    ],
)
def test_incoming_context(headers: dict[str, str], expected: str | None) -> None:
    assert tracing.incoming_traceparent(headers) == expected


FLOW = r"""
import json, os, sys
from cievents import tracing, log
from cievents.http import HttpClient
from cievents.outbox import Outbox
from cievents.publish import publisher_for

out = sys.argv[1]
published = publisher_for("file:" + out + "/bus.jsonl")
with tracing.serve("ingest", {"traceparent": sys.argv[2]}):
    with log.context(function="ingest", trace=tracing.trace_id()):
        log.logger.info("ingest: published")
    published.publish(b"{}", {"source": "buildkite", "event": "build.finished"})
attributes = json.loads(open(out + "/bus.jsonl").read())["attributes"]
with tracing.consume("slack_notify", attributes, **{"messaging.message.id": "1"}):
    with log.context(function="slack_notify", trace=tracing.trace_id()):
        client = HttpClient(sink="github", base_url="https://api.github.com",
                            outbox=Outbox(out + "/outbox"), dry_run_answer=lambda *_: {})
        client.post("/repos/o/r/statuses/abc?access_token=x", json_body={"state": "failure"})
        log.logger.info("slack_notify: acted", outcome="acted")
print(json.dumps({"attributes": attributes, "loaded": "opentelemetry" in sys.modules}))
"""


def run_flow(tmp_path: Path, tracing_setting: str) -> tuple[dict[str, object], list[str]]:
    env = {
        **os.environ,
        "CIEVENTS_TRACING": tracing_setting,
        "GOOGLE_CLOUD_PROJECT": "p",
        "OTEL_SERVICE_NAME": "flow",
    }
    done = subprocess.run(
        [sys.executable, "-c", FLOW, str(tmp_path), PARENT],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    *logs, last = done.stdout.strip().splitlines()
    return json.loads(last), logs + done.stderr.strip().splitlines()


def test_one_trace_from_the_vendor_request_through_pubsub_to_each_call(tmp_path: Path) -> None:
    result, lines = run_flow(tmp_path, f"file:{tmp_path / 'spans.jsonl'}")
    spans = [json.loads(s) for s in (tmp_path / "spans.jsonl").read_text().splitlines()]
    by_name = {s["name"]: s for s in spans}
    assert set(by_name) == {"ingest", "pubsub PUBLISH", "slack_notify process", "github POST"}
    trace = PARENT.split("-")[1]
    assert {s["trace_id"] for s in spans} == {trace}  # the vendor's trace, continued
    assert by_name["ingest"]["parent_id"] == PARENT.split("-")[2]
    assert by_name["ingest"]["kind"] == "SERVER"
    assert by_name["pubsub PUBLISH"]["parent_id"] == by_name["ingest"]["span_id"]
    consumer = by_name["slack_notify process"]
    assert consumer["kind"] == "CONSUMER"
    assert consumer["parent_id"] == by_name["pubsub PUBLISH"]["span_id"]
    call = by_name["github POST"]
    assert call["kind"] == "CLIENT" and call["parent_id"] == consumer["span_id"]
    assert call["attributes"]["url.full"] == "https://api.github.com/repos/o/r/statuses/abc"
    attributes = result["attributes"]
    assert isinstance(attributes, dict)
    assert attributes["traceparent"].split("-")[1] == trace
    traced = [json.loads(line) for line in lines if line.startswith("{")]
    assert traced and all(
        t["logging.googleapis.com/trace"] == f"projects/p/traces/{trace}" for t in traced
    )


def test_off_imports_nothing_and_still_carries_the_callers_trace(tmp_path: Path) -> None:
    result, lines = run_flow(tmp_path, "off")
    assert result["loaded"] is False  # not on the cold-start path, not even later
    attributes = result["attributes"]
    assert isinstance(attributes, dict)
    assert attributes["traceparent"] == PARENT  # passed along for the logs
    traced = [json.loads(line) for line in lines if line.startswith("{")]
    trace = PARENT.split("-")[1]
    assert traced and all(
        t["logging.googleapis.com/trace"] == f"projects/p/traces/{trace}" for t in traced
    )
    assert not (tmp_path / "spans.jsonl").exists()


def test_a_bad_setting_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIEVENTS_TRACING", "jaeger")
    with pytest.raises(Exception, match="CIEVENTS_TRACING: 'jaeger': use off, gcp"):
        tracing._setting()
