"""Log masking: what the scanner's rules cost per log line, and what tenacity costs at import.

Per line: ``cievents.log.Logger.log`` writing to an in-memory stream, for real
lines a function writes (an outcome line, a retried line with an error, a
line with an exception's stack trace), with the masker as shipped (configured
values + token shapes + the secret scanner's rules on the pure-Python engine)
and with the rules off (``_rules.secrets_in`` returning nothing), in the same
process. Also the one-time cost of loading the rules (in a deployed function,
on a thread of the forked worker, beside its first request; here at the first
line) and of importing tenacity after functions_framework and requests
(fresh processes; the retry policy's dependency).
"""

from __future__ import annotations

import io
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.table import render

ROOT = Path(__file__).resolve().parents[1]
N = 2000

LINES: dict[str, dict[str, Any]] = {
    "outcome (acted)": {
        "outcome": "acted",
        "duration_ms": 41.2,
        "provider": "slack",
        "operation": "chat",
        "next": "done",
        "reason": "#ci: posted",
    },
    "retried with error": {
        "outcome": "retried",
        "duration_ms": 1012.0,
        "reason": "network",
        "error": "slack chat.postMessage: ReadTimeout (outcome unknown) after 10+3.05 s",
        "next": "raised so Pub/Sub redelivers",
    },
}


def _stack() -> BaseException:
    try:
        json.loads('{"build": {"number": "x"')
    except ValueError as exc:
        return exc
    raise AssertionError


def per_line(masked: bool) -> dict[str, float]:
    from cievents import log

    log._rules.start()
    log._rules.secrets_in(["warm"])  # wait for the rules
    original = log._rules.secrets_in
    if not masked:
        log._rules.secrets_in = lambda texts: []  # type: ignore[method-assign]
    stream = io.StringIO()
    logger = log.Logger(stream)
    results = {}
    try:
        with log.context(function="slack_notify", message_id="123", source="buildkite"):
            for name, fields in LINES.items():
                started = time.perf_counter()
                for _ in range(N):
                    logger.info("slack_notify: acted", **fields)
                results[name] = (time.perf_counter() - started) / N * 1e6
            exc = _stack()
            started = time.perf_counter()
            for _ in range(N // 4):
                logger.error("slack_notify: failed", exc, outcome="failed")  # noqa: PLE1205
            results["error with stack trace"] = (time.perf_counter() - started) / (N // 4) * 1e6
    finally:
        log._rules.secrets_in = original  # type: ignore[method-assign]
    return results


def _median_ms(code: str, runs: int = 5) -> float:
    """The median of what ``code`` prints (milliseconds), each run a fresh process."""
    return statistics.median(
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
            ).stdout.strip()
        )
        for _ in range(runs)
    )


def load_ms() -> float:
    return _median_ms(
        "import time; t=time.perf_counter(); from cievents import log; log._rules.start(); "
        "log._rules.secrets_in(['x']); print((time.perf_counter()-t)*1000)"
    )


def tenacity_ms() -> float:
    return _median_ms(
        "import functions_framework, requests, time; t=time.perf_counter(); import tenacity; "
        "print((time.perf_counter()-t)*1000)"
    )


def main(argv: list[str]) -> int:
    on, off = per_line(True), per_line(False)
    rows = [
        [name, round(off[name], 1), round(on[name], 1), round(on[name] - off[name], 1)]
        for name in on
    ]
    print(render(["log line", "µs, rules off", "µs, rules on", "µs added"], rows))
    print()
    print(
        render(
            ["one-time cost (median of 5 fresh processes)", "ms"],
            [
                [
                    "import log + load the scanner's rules (the worker's thread, beside its first request)",
                    round(load_ms(), 1),
                ],
                ["import tenacity after functions_framework + requests", round(tenacity_ms(), 1)],
            ],
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
