"""Log lines are Cloud Logging JSON and never carry a secret in clear text."""

from __future__ import annotations

import json
import threading

import pytest

from cievents import log
from tests.conftest import CapturedLog

# Synthetic, format-shaped values built at test time: not real credentials.
GH_TOKEN = "ghp_" + "A1b2C3d4" * 4 + "zz"
SLACK_HOOK = "https://hooks.slack.com/services/T000/B000/" + "x" * 24


def test_line_shape(captured_log: CapturedLog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj")
    with log.context(function="slack_notify", source="buildkite", trace="abc123", message_id="9"):
        log.logger.info("posted", channel="C1")
    (line,) = captured_log.lines
    assert line["severity"] == "INFO" and line["message"] == "posted"
    assert line["logging.googleapis.com/trace"] == "projects/proj/traces/abc123"
    assert line["logging.googleapis.com/labels"] == {
        "function": "slack_notify",
        "source": "buildkite",
    }
    assert line["message_id"] == "9" and line["channel"] == "C1"


def test_context_is_per_thread_of_work(captured_log: CapturedLog) -> None:
    def work(n: int) -> None:
        with log.context(message_id=str(n)):
            log.logger.info("hi")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(line["message_id"] for line in captured_log.lines) == ["0", "1", "2", "3", "4"]


def test_secrets_are_masked_everywhere(captured_log: CapturedLog) -> None:
    log.register_secrets("configured-secret-value,rotated-secret-value")
    log.logger.error(
        f"request failed with token {GH_TOKEN}",
        ValueError(f"bad url {SLACK_HOOK}"),
        url="https://deploy:hunter2hunter2@example.com/x",
        headers={"Authorization": "Bearer abc.def", "X-Other": "rotated-secret-value"},
        nested=[{"api_key": "k-123456"}],
    )
    text = captured_log.text
    for secret in (
        GH_TOKEN,
        SLACK_HOOK.rsplit("/", 1)[1],
        "hunter2hunter2",
        "Bearer abc.def",
        "rotated-secret-value",
        "k-123456",
    ):
        assert secret not in text
    line = captured_log.lines[0]
    assert line["headers"]["Authorization"] == "[REDACTED]"
    assert "[REDACTED]" in line["message"] and "[REDACTED]" in line["stack_trace"]


def test_secrets_from_environment_names(captured_log: CapturedLog) -> None:
    log.register_secrets_from_env({"SLACK_BOT_TOKEN": "xoxb-from-env-123", "PATH": "/usr/bin"})
    log.logger.info("using xoxb-from-env-123 on /usr/bin")
    assert json.loads(captured_log.text)["message"] == "using [REDACTED] on /usr/bin"


def test_a_value_found_clean_once_is_still_masked_once_it_is_a_secret(
    captured_log: CapturedLog,
) -> None:
    # Lines repeat their values, so each distinct value is checked once; registering a
    # secret, or a value that holds one, must not be answered from that memory.
    log.register_secrets_from_env({})  # the scanner's rules, as at a cold start
    value = "deploy-key-for-release-" + "7f3a" * 4
    log.logger.info("first", note=value, pipeline="web-app")
    log.logger.info("again", note=value, pipeline="web-app")
    log.register_secrets(value)
    log.logger.info("after registering", note=value, pipeline="web-app")
    log.logger.info("inside", note=f"token {GH_TOKEN} in web-app", pipeline="web-app")
    log.logger.info("twice", note=f"token {GH_TOKEN} in web-app", pipeline="web-app")
    first, again, after, inside, twice = captured_log.lines
    assert log._rules.loaded  # the memory of clean values was in use
    assert first["note"] == again["note"] == value
    assert after["note"] == "[REDACTED]"
    assert GH_TOKEN not in captured_log.text
    assert inside["note"] == twice["note"] == "token [REDACTED] in web-app"
    assert all(line["pipeline"] == "web-app" for line in captured_log.lines)


def test_lines_are_written_as_json_dumps_writes_them(captured_log: CapturedLog) -> None:
    """One shared C encoder writes every line: the same text json.dumps(ensure_ascii=False,
    default=str) makes, whatever the values (non-ASCII, floats, NaN, objects, nesting)."""
    from pathlib import PurePosixPath

    values = {
        "text": 'café ✓ "quoted" \\ tab\t',
        "numbers": [1, -2.5, 1e300, float("nan"), float("inf"), True, None],
        "nested": {"k": [{"deep": "x"}], "empty": {}},
        "object": PurePosixPath("/tmp/x"),
        "big": 10**30,
    }
    assert log._encode(dict(values)) == json.dumps(values, ensure_ascii=False, default=str)
    log.logger.info("values", **values)
    (raw,) = captured_log.text.splitlines()
    line = json.loads(raw)
    assert line["text"] == values["text"] and line["object"] == "/tmp/x"
    assert line["nested"] == values["nested"] and line["big"] == 10**30


def test_a_record_is_masked_as_scrubbing_all_of_it_would(captured_log: CapturedLog) -> None:
    """The one-pass scrub keeps known-clean values as they are and masks the rest exactly as
    scrubbing the whole record did: secret-looking keys over clean values, nested values,
    label dicts, configured secrets."""
    log.register_secrets_from_env({})
    log.register_secrets("configured-secret-value")
    with log.context(function="fn", source="buildkite", message_id="clean-1"):
        log.logger.info("first", outcome="acted")  # every value now known clean
        log.logger.info(
            "second",
            outcome="acted",
            token="clean-1",  # a clean value under a secret-looking key: masked
            nested={"authorization": "Bearer abc", "ok": ["configured-secret-value", 3]},
            labels={"function": "fn", "note": f"see {GH_TOKEN}"},
        )
    second = json.loads(captured_log.text.splitlines()[1])
    assert second["message_id"] == "clean-1" and second["outcome"] == "acted"
    assert second["token"] == log.MASK
    assert second["nested"] == {"authorization": log.MASK, "ok": [log.MASK, 3]}
    assert second["labels"]["function"] == "fn" and GH_TOKEN not in captured_log.text
    assert second["logging.googleapis.com/labels"] == {"function": "fn", "source": "buildkite"}
