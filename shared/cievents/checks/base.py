"""The check record, and running many checks concurrently under one timeout each."""

from __future__ import annotations

import contextlib
import importlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from cievents import log, neterrors
from cievents.errors import CIEventsError

Status = Literal["pass", "fail"]
# Why a check failed. The first three got no HTTP answer (the credential was never tested);
# the next three are the service's answer about the credential or the target; "failed" is
# any other negative answer (its fix says what to do).
Problem = Literal[
    "",
    "unreachable",
    "timed_out",
    "tls",
    "unauthorized",
    "missing_scope",
    "missing_resource",
    "failed",
]
DEFAULT_TIMEOUT_S = 10.0
NOT_TESTED = " (the credential was not tested)"
# The setting that holds each integration's address, named in an "unreachable" fix.
URL_SETTINGS = {
    "slack": "SLACK_API_URL",
    "teams": "TEAMS_WEBHOOK_URL",
    "github": "GITHUB_API_URL",
    "gitlab": "GITLAB_API_URL",
    "bitbucket": "BITBUCKET_API_URL",
    "jira": "JIRA_URL",
    "azure-devops": "AZURE_DEVOPS_ORG_URL",
    "azure-repos": "AZURE_DEVOPS_ORG_URL",
    "buildkite": "BUILDKITE_API_URL",
}
NETWORK_FIXES: dict[str, str] = {
    "unreachable": "nothing answered at that address: check {url}, DNS, proxy and "
    "firewall from here" + NOT_TESTED,
    "timed_out": "the service did not answer in time: check the proxy and firewall from here, "
    "or raise --timeout" + NOT_TESTED,
    "tls": "the TLS handshake failed: check the URL's scheme and host, a proxy that intercepts "
    "TLS, or REQUESTS_CA_BUNDLE for a private CA" + NOT_TESTED,
}
_KINDS: dict[str, Problem] = {
    "tls": "tls",
    "dns": "unreachable",
    "refused": "unreachable",
    "unreachable": "unreachable",
    "connect_timeout": "timed_out",
    "read_timeout": "timed_out",
}


def http_problem(status: int | None) -> Problem:
    """The problem an HTTP status says: 401 unauthorized, 403 missing scope, 404 missing."""
    return _STATUSES.get(status or 0, "failed")


_STATUSES: dict[int, Problem] = {401: "unauthorized", 403: "missing_scope", 404: "missing_resource"}


def network_problem(exc: BaseException) -> Problem | None:
    """unreachable / timed_out / tls for a request that got no HTTP answer, else None."""
    if isinstance(exc, CIEventsError):
        kind = getattr(exc, "network", None) if exc.reason == "network" else None
        return _KINDS.get(kind or "", "unreachable") if exc.reason == "network" else None
    kind = neterrors.classify(exc)
    return _KINDS[kind] if kind else None


class CheckFailedError(Exception):
    """A check's negative answer, with what the operator should do about it."""

    def __init__(self, detail: str, fix: str, problem: Problem = "failed") -> None:
        super().__init__(detail)
        self.detail = detail
        self.fix = fix
        self.problem = problem


def http_failure(exc: CIEventsError, fixes: dict[Problem, str]) -> Exception:
    """What a check raises for a classified HTTP error: a ``CheckFailedError`` with the fix for
    its problem (401, 403, 404), or the error itself when no HTTP answer came (``_run_one``
    names the network problem then, and never blames the credential)."""
    if exc.reason == "network":
        return exc
    status = getattr(exc, "status", None)
    problem = "missing_resource" if exc.reason == "unknown_target" else http_problem(status)
    fix = fixes.get(problem) or fixes.get("failed") or fixes.get("unauthorized", "")
    return CheckFailedError(exc.message, fix, problem)


@dataclass(frozen=True)
class Check:
    """One harmless call. ``probe`` returns a short detail on success or raises."""

    integration: str
    target: str
    probe: Callable[[], str]
    fix: str
    functions: tuple[str, ...] = field(default=())
    # The SDK modules ``probe`` imports: ``run_checks`` imports them one after another
    # before the probes run at once. Imports racing on threads wait on each other's
    # module locks: health's first run took about 0.5 s for three Google SDKs imported
    # that way, against 0.37 s one by one.
    modules: tuple[str, ...] = field(default=())


@dataclass(frozen=True)
class CheckResult:
    integration: str
    target: str
    status: Status
    latency_ms: float
    detail: str
    fix: str
    problem: Problem = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _run_one(check: Check) -> CheckResult:
    started = time.perf_counter()
    problem: Problem = ""
    try:
        detail = check.probe()
        status: Status = "pass"
        fix = ""
    except CheckFailedError as exc:
        status, detail, fix, problem = "fail", exc.detail, exc.fix, exc.problem
    except Exception as exc:
        status, fix = "fail", check.fix
        network = network_problem(exc)
        if isinstance(exc, CIEventsError):
            detail = exc.message
            problem = network or http_problem(getattr(exc, "status", None))
        else:
            detail = f"{type(exc).__name__}: {exc}"
            problem = network or "failed"
            if network:
                detail = neterrors.describe(exc, check.target)
        if network:  # no HTTP answer: the credential was never tested
            url = URL_SETTINGS.get(check.integration, "the service's address")
            fix = NETWORK_FIXES[network].format(url=url)
    latency = round((time.perf_counter() - started) * 1000, 1)
    if status == "fail":
        detail = f"{detail} [after {latency:.0f} ms]"
    return CheckResult(
        check.integration, check.target, status, latency, log.mask(detail)[:300], fix, problem
    )


def import_modules(checks: Sequence[Check]) -> None:
    """Import the SDK modules the checks' probes need, one after another (see ``modules``)."""
    for module in dict.fromkeys(m for check in checks for m in check.modules):
        # a module that will not import: the probe's own import fails and reports it
        with contextlib.suppress(ImportError):
            importlib.import_module(module)


def run_checks(checks: Sequence[Check], timeout_s: float = DEFAULT_TIMEOUT_S) -> list[CheckResult]:
    """Run every check concurrently; one that outlives ``timeout_s`` is reported failed."""
    if not checks:
        return []
    import_modules(checks)
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
                    f"{check.fix} (it did not answer in time: check the network path from "
                    "here, or raise --timeout)",
                    "timed_out",
                )
            )
    pool.shutdown(wait=False, cancel_futures=True)
    return results
