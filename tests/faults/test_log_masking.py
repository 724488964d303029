"""No planted secret reaches a log line: a PEM key, an AWS secret key and every token family
the secret scanner knows, put in payload fields of messages a function logs, and in SDK warnings.

The messages go through a real function (slack_notify, served as deployed) and fail in ways
that quote the payload (a field of the wrong type, an unknown channel), so the secrets are in
the errors; every line written is grepped for every secret."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from cievents import log
from tests.conftest import CapturedLog
from tests.notify.events import build
from tests.scanning.samples import B62, pem, positives, rand
from tests.support.apps import function_client

ROOT = Path(__file__).resolve().parents[2]


def planted() -> list[tuple[str, str, str]]:
    """(rule, text, secret) for every positive sample whose secret is known, plus a PEM key."""
    key = pem()
    cases = [("private-key", key, key.splitlines()[1])]
    cases += [(rule, text, secret or text) for rule, text, secret in positives()]
    return cases


def push(payload: dict[str, Any], n: int, **attributes: str) -> dict[str, Any]:
    return {
        "message": {
            "data": base64.b64encode(json.dumps(payload).encode()).decode(),
            "messageId": f"leak-{n}",
            "attributes": {"source": "buildkite", "event": payload["event"], **attributes},
        },
        "subscription": "projects/p/subscriptions/s",
    }


def test_planted_secrets_never_reach_a_log_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, captured_log: CapturedLog
) -> None:
    client = function_client(
        monkeypatch,
        str(ROOT / "functions" / "slack_notify" / "main.py"),
        {
            "CIEVENTS_STORE": "memory:",
            "CIEVENTS_DRY_RUN": "1",
            "CIEVENTS_OUTBOX": str(tmp_path / "outbox"),
            "CIEVENTS_DEAD_LETTER": f"file:{tmp_path / 'dead.jsonl'}",
        },
        signature_type="http",
    )
    cases = planted()
    for n, (_rule, text, _secret) in enumerate(cases):
        # Logged in every line: the pipeline attribute of a message that fails to parse ...
        bad = build("build.finished", "failed")
        bad["build"]["number"] = "not a number"
        client.post("/", json=push(bad, n, pipeline=text))
        # ... and the pipeline of a parsed event, which the function acts on (dry run).
        acted = build("build.finished", "failed", number=n + 1)
        acted["pipeline"]["slug"] = text
        acted["build"]["message"] = text
        client.post("/", json=push(acted, 10_000 + n))
    for _rule, text, _secret in cases:  # an SDK's warning through stdlib logging
        logging.getLogger("urllib3.connectionpool").warning("Retrying after %s", text)
    lines = captured_log.text.splitlines()
    assert len(captured_log.outcomes()) == 2 * len(cases)
    assert any(json.loads(x).get("logger") == "urllib3.connectionpool" for x in lines)
    leaked = [rule for rule, _text, secret in cases if any(secret in line for line in lines)]
    assert leaked == [], leaked


def test_mask_covers_exception_text() -> None:
    key = pem()
    secret = rand(40, B62 + "/+")
    masked = log.mask(f"boom: {key}\naws_secret_access_key = {secret}")
    assert key.splitlines()[1] not in masked and secret not in masked
