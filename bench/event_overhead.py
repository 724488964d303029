"""Per-event overhead of the library: envelope → parse → validate → claim → act → log.

A no-op function decorated with the real handler processes a ~20 KB
Buildkite build.finished message (the bundled payload padded with a long
commit message and env) with an in-memory store, log lines written to
/dev/null. Reported: mean and p50/p99 per event. Goal (issue 2): ≤ 0.3 ms.
"""

from __future__ import annotations

import base64
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from bench.table import render

ROOT = Path(__file__).resolve().parents[1]
N = 5000


def payload(size: int = 20 * 1024) -> bytes:
    body = json.loads(
        (ROOT / "tests/fixtures/own/buildkite/build.finished.failed.json").read_text()
    )
    body["build"]["env"] = {f"VAR_{i}": "value-" + "x" * 40 for i in range(120)}
    raw = json.dumps(body)
    body["build"]["message"] += "\n" + "lorem ipsum dolor " * ((size - len(raw)) // 18)
    return json.dumps(body).encode()


def main(argv: list[str]) -> int:
    from cievents import log
    from cievents.config import CommonSettings
    from cievents.envelope import Message, from_push_body
    from cievents.handler import Context, pubsub_function
    from cievents.idempotency.memory import MemoryStore

    settings = CommonSettings(
        max_event_age_s=1e12,
        lease_s=60,
        store_url="memory:",
        dead_letter=None,
        dry_run=False,
        outbox_dir="/tmp",
    )

    @pubsub_function("bench", settings=settings, store=MemoryStore())
    def handle(event: Any, ctx: Context) -> None:
        return None

    data = payload()
    encoded = base64.b64encode(data).decode()
    sink = open("/dev/null", "w")
    log.logger.set_stream(sink)
    timings = {
        "handler.process (parse+validate+claim+act+log)": [],
        "envelope+handler (push body)": [],
    }
    for i in range(N):
        message = Message(
            id=str(i), data=data, attributes={"source": "buildkite", "event": "build.finished"}
        )
        t0 = time.perf_counter()
        handle.process(message)
        timings["handler.process (parse+validate+claim+act+log)"].append(time.perf_counter() - t0)
    for i in range(N):
        body = {
            "message": {
                "data": encoded,
                "messageId": f"p{i}",
                "attributes": {"source": "buildkite"},
            },
            "subscription": "s",
        }
        t0 = time.perf_counter()
        handle.process(from_push_body(body))
        timings["envelope+handler (push body)"].append(time.perf_counter() - t0)
    log.logger.set_stream(None)
    rows = []
    for name, values in timings.items():
        values.sort()
        rows.append(
            [
                name,
                round(statistics.mean(values) * 1000, 4),
                round(values[len(values) // 2] * 1000, 4),
                round(values[int(len(values) * 0.99)] * 1000, 4),
            ]
        )
    print(f"payload {len(data) / 1024:.1f} KB, {N} events each, one core\n")
    print(render(["path", "mean ms", "p50 ms", "p99 ms"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
