"""The check record, and running many checks concurrently under one timeout each."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from cievents import log, neterrors
from cievents.errors import CIEventsError

Status = Literal["pass", "fail"]
DEFAULT_TIMEOUT_S = 10.0
NETWORK_FIX = (
    "the service did not answer over HTTP: check the URL, DNS, proxy and firewall from here "
    "(the credential was not tested)"
)


class CheckFailedError(Exception):
    """A check's negative answer, with what the operator should do about it."""

    def __init__(self, detail: str, fix: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.fix = fix


@dataclass(frozen=True)
class Check:
    """One harmless call. ``probe`` returns a short detail on success or raises."""

    integration: str
    target: str
    probe: Callable[[], str]
    fix: str
    functions: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class CheckResult:
    integration: str
    target: str
    status: Status
    latency_ms: float
    detail: str
    fix: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _run_one(check: Check) -> CheckResult:
    started = time.perf_counter()
    try:
        detail = check.probe()
        status: Status = "pass"
        fix = ""
    except CheckFailedError as exc:
        status, detail, fix = "fail", exc.detail, exc.fix
    except CIEventsError as exc:
        status, detail, fix = "fail", exc.message, check.fix
        if exc.reason == "network":  # no HTTP answer: the credential was never tested
            fix = NETWORK_FIX
    except Exception as exc:
        status, detail, fix = "fail", f"{type(exc).__name__}: {exc}", check.fix
        if neterrors.classify(exc) is not None:
            detail, fix = neterrors.describe(exc, check.target), NETWORK_FIX
    latency = round((time.perf_counter() - started) * 1000, 1)
    if status == "fail":
        detail = f"{detail} [after {latency:.0f} ms]"
    return CheckResult(
        check.integration, check.target, status, latency, log.mask(detail)[:300], fix
    )


def run_checks(checks: Sequence[Check], timeout_s: float = DEFAULT_TIMEOUT_S) -> list[CheckResult]:
    """Run every check concurrently; one that outlives ``timeout_s`` is reported failed."""
    if not checks:
        return []
    pool = ThreadPoolExecutor(max_workers=min(8, len(checks)), thread_name_prefix="check")
    futures = [(check, pool.submit(_run_one, check)) for check in checks]
    deadline = time.monotonic() + timeout_s
    results: list[CheckResult] = []
    for check, future in futures:
        try:
            results.append(future.result(timeout=max(0.0, deadline - time.monotonic())))
        except FutureTimeout:
            results.append(
                CheckResult(
                    check.integration,
                    check.target,
                    "fail",
                    timeout_s * 1000,
                    f"no answer within {timeout_s:.0f} s",
                    check.fix,
                )
            )
    pool.shutdown(wait=False, cancel_futures=True)
    return results
