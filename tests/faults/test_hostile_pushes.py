"""10,000 hostile pushes per Pub/Sub function, in the deployed shape: zero 5xx, one line each.

Every Pub/Sub function in function.yaml is served by functions-framework with
the HTTP signature (as deployed behind a push subscription, in-process through
its test client) and receives pushes that are permanently bad in one of many
ways: a body that is not JSON or nested 5,000 deep, a ``message`` of the wrong
type, data that is not base64, not UTF-8, not JSON, JSON nested too deep or
with a 5,000-digit number or NaN, a payload of the wrong shape, attributes of
the wrong type, a ``deliveryAttempt`` of ``²``. Each must be acked (2xx, so it
is not redelivered) and logged with exactly one outcome line.
``CIEVENTS_HOSTILE_PUSHES`` sets the count per function (default 10,000).
"""

from __future__ import annotations

import base64
import json
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cievents.deploy.manifest import load
from tests.conftest import CapturedLog
from tests.support.apps import function_client

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = load(ROOT / "function.yaml")
PUBSUB = [
    f.name
    for f in MANIFEST.functions
    if f.triggers
    and (ROOT / f.source / "main.py").exists()
    and "@pubsub_function(" in (ROOT / f.source / "main.py").read_text()
]
COUNT = int(os.environ.get("CIEVENTS_HOSTILE_PUSHES", "10000"))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def push(data: Any, attributes: Any = None, **extra: Any) -> dict[str, Any]:
    message: dict[str, Any] = {"data": data, "messageId": "m"}
    if attributes is not None:
        message["attributes"] = attributes
    return {"message": message, "subscription": "projects/p/subscriptions/s", **extra}


def payloads(rng: random.Random) -> list[Callable[[], bytes]]:
    """Bodies (raw request bytes) that are permanently bad."""
    attrs = {"source": "buildkite", "event": "build.finished"}

    def j(body: Any) -> bytes:
        return json.dumps(body).encode()

    return [
        lambda: b"not json at all " + bytes([rng.randrange(256)]),
        lambda: b'{"message":' * 5000 + b"1" + b"}" * 5000,
        lambda: b"[" * rng.randint(70, 3000) + b"]" * 3000,
        lambda: j({"message": rng.choice([None, 1, "x", [], True])}),
        lambda: j(push("%%%not-base64%%%", attrs)),
        lambda: j(push(b64(bytes(rng.randrange(128, 256) for _ in range(8))), attrs)),
        lambda: j(push(b64(b"{" * 5000), attrs)),
        lambda: j(push(b64(b'{"build":' * 5000 + b"1" + b"}" * 5000), attrs)),
        lambda: j(
            push(b64(b'{"event":"build.finished","build":{"number":' + b"7" * 5000 + b"}}"), attrs)
        ),
        lambda: j(push(b64(b'{"event":"build.finished","build":{"number":NaN}}'), attrs)),
        lambda: j(push(b64(j(rng.choice([[], "s", 3, None]))), attrs)),
        lambda: j(
            push(b64(j({"event": "build.finished", "build": rng.choice([1, "x", []])})), attrs)
        ),
        lambda: j(push(b64(b"{}"), rng.choice(["attrs", 5, ["a"]]))),
        lambda: j(push(b64(b""), attrs)),
        lambda: j({**push(b64(b"\xff\xfe"), attrs), "deliveryAttempt": "²"}),
    ]


@pytest.mark.slow
@pytest.mark.parametrize("function", PUBSUB)
def test_hostile_pushes_are_acked_with_one_outcome_line_each(
    function: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, captured_log: CapturedLog
) -> None:
    spec = MANIFEST.function(function)
    client = function_client(
        monkeypatch,
        str(ROOT / spec.source / "main.py"),
        {
            "CIEVENTS_STORE": "memory:",
            "CIEVENTS_DRY_RUN": "1",
            "CIEVENTS_OUTBOX": str(tmp_path / "outbox"),
            "CIEVENTS_DEAD_LETTER": f"file:{tmp_path / 'dead.jsonl'}",
        },
        signature_type="http",
        target=spec.entry_point,
    )
    rng = random.Random(f"{function}-hostile")
    makers = payloads(rng)
    statuses: dict[int, int] = {}
    for index in range(COUNT):
        captured_log.buffer.seek(0)
        captured_log.buffer.truncate()
        body = makers[index % len(makers)]()
        status = client.post("/", data=body, content_type="application/json").status_code
        statuses[status] = statuses.get(status, 0) + 1
        lines = [json.loads(x) for x in captured_log.buffer.getvalue().splitlines() if x]
        outcomes = [x for x in lines if "outcome" in x]
        assert status < 500 and len(outcomes) == 1, (index % len(makers), status, lines)
        # Acked, never "retried" (gcs_archive keeps even undecodable data: that is its job).
        assert outcomes[0]["outcome"] != "retried", outcomes[0]
    assert sum(statuses.values()) == COUNT and all(s < 500 for s in statuses)
