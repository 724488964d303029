"""HTTP for functions: timeouts always, short bounded retries, errors classified.

A function has seconds, not minutes: a request waits at most
``connect_timeout`` + ``read_timeout``; a transient failure (connection
error, timeout, 408/429/5xx) is retried at most ``retries`` times in-call,
with exponential backoff and full jitter, honouring ``Retry-After`` when the
server's wait fits in ``max_inline_wait_s``. Past that the error is raised as
a ``TransientError``/``RateLimitedError`` so Pub/Sub does the waiting, not
our billable instance. Any other 4xx is a ``PermanentError`` subclass.

With an ``Outbox`` the client is in dry-run mode: it records the request and
answers with a canned response instead of sending.
"""

from __future__ import annotations

import email.utils
import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from cievents import tracing
from cievents.errors import (
    CIEventsError,
    RateLimitedError,
    TransientError,
    classify_status,
)
from cievents.outbox import Outbox

USER_AGENT = "ci-event-functions/0.1 (+https://github.com/ci-event-functions)"


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """The wait a response asks for: ``Retry-After`` (seconds or HTTP date), or a
    rate-limit reset epoch (``X-RateLimit-Reset`` as GitHub and GitLab send it)."""
    value = headers.get("Retry-After") or headers.get("retry-after")
    current = time.time() if now is None else now
    if value:
        value = value.strip()
        if value.replace(".", "", 1).isdigit():
            return max(0.0, float(value))
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        if parsed is not None:
            return max(0.0, parsed.timestamp() - current)
    remaining = headers.get("X-RateLimit-Remaining") or headers.get("x-ratelimit-remaining")
    reset = headers.get("X-RateLimit-Reset") or headers.get("x-ratelimit-reset")
    if remaining == "0" and reset and reset.isdigit():
        return max(0.0, float(reset) - current)
    return None


def is_rate_limited(response: requests.Response) -> bool:
    """429, or a 403 that says it is a rate limit (GitHub's secondary limits)."""
    if response.status_code == 429:
        return True
    if response.status_code == 403:
        if response.headers.get("X-RateLimit-Remaining") == "0":
            return True
        if "Retry-After" in response.headers:
            return True
        text = response.text[:500].lower() if response.content else ""
        return "rate limit" in text
    return False


def error_for(response: requests.Response, what: str) -> CIEventsError | None:
    """The classified error a response means, or None when it succeeded."""
    status = response.status_code
    detail = _short_detail(response)
    if is_rate_limited(response):
        return RateLimitedError(
            f"{what}: rate limited ({status}){detail}",
            status=status,
            retry_after=retry_after_seconds(response.headers),
        )
    cls = classify_status(status)
    if cls is None:
        return None
    message = f"{what}: HTTP {status}{detail}"
    if issubclass(cls, TransientError):
        return cls(message, status=status, retry_after=retry_after_seconds(response.headers))
    if cls.__name__ == "RejectedError":
        return cls(message, status=status)  # type: ignore[call-arg]
    return cls(message)


def _short_detail(response: requests.Response) -> str:
    try:
        text = response.text
    except Exception:
        return ""
    text = " ".join(text.split())[:200]
    return f": {text}" if text else ""


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 2
    base_delay_s: float = 0.25
    max_delay_s: float = 4.0
    max_inline_wait_s: float = 5.0


class DryRunResponse:
    """What a dry-run request answers: 200 with the JSON its caller asked for."""

    def __init__(self, body: Any = None, status: int = 200) -> None:
        self.status_code = status
        self._body = {} if body is None else body
        self.headers: dict[str, str] = {}
        self.text = json.dumps(self._body)
        self.content = self.text.encode()
        self.ok = True

    def json(self) -> Any:
        return self._body


class HttpClient:
    """A ``requests.Session`` with our timeout, retry and classification policy."""

    def __init__(
        self,
        *,
        sink: str,
        base_url: str = "",
        headers: Mapping[str, str] | None = None,
        connect_timeout: float = 3.05,
        read_timeout: float = 10.0,
        policy: RetryPolicy | None = None,
        outbox: Outbox | None = None,
        dry_run_answer: Callable[[str, str, Any], Any] | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.sink = sink
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.policy = policy or RetryPolicy()
        self.outbox = outbox
        self._dry_run_answer = dry_run_answer
        self._sleep = sleep
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        if headers:
            self.session.headers.update(headers)
        if tracing.enabled():  # one CLIENT span per call (retries and dry runs included)
            self.request = tracing.traced(  # type: ignore[method-assign]
                sink, self.request, lambda method, path, *_, **__: (method, self.url(path))
            )

    @property
    def dry_run(self) -> bool:
        return self.outbox is not None

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        what: str | None = None,
        stream: bool = False,
        ok_statuses: tuple[int, ...] = (),
    ) -> Any:
        """Send, retrying transient failures briefly; raise a classified error otherwise.

        Returns the ``requests.Response`` (or a ``DryRunResponse`` in dry-run mode).
        ``ok_statuses`` lists non-2xx statuses the caller handles itself (e.g. 404
        meaning "not there yet").
        """
        url = self.url(path)
        label = what or f"{self.sink} {method.upper()} {url.split('?', 1)[0]}"
        if self.outbox is not None:
            body = json_body if json_body is not None else data
            if isinstance(body, bytes):
                body = body.decode("utf-8", errors="replace")
            self.outbox.record(self.sink, method, url, body)
            answer = self._dry_run_answer(method, url, json_body) if self._dry_run_answer else None
            return DryRunResponse(answer)
        attempt = 0
        while True:
            try:
                response = self.session.request(
                    method,
                    url,
                    json=json_body,
                    data=data,
                    headers=dict(headers) if headers else None,
                    params=dict(params) if params else None,
                    timeout=self.timeout,
                    stream=stream,
                )
            except (requests.Timeout, requests.ConnectionError) as exc:
                error: CIEventsError = TransientError(
                    f"{label}: {type(exc).__name__} (no answer within "
                    f"{self.timeout[0]}+{self.timeout[1]} s)",
                    reason="network",
                )
            else:
                if response.status_code in ok_statuses:
                    return response
                classified = error_for(response, label)
                if classified is None:
                    return response
                error = classified
            if not isinstance(error, TransientError) or attempt >= self.policy.retries:
                raise error
            wait = self._backoff(attempt, error.retry_after)
            if wait is None:
                raise error
            attempt += 1
            self._sleep(wait)

    def _backoff(self, attempt: int, retry_after: float | None) -> float | None:
        if retry_after is not None:
            return retry_after if retry_after <= self.policy.max_inline_wait_s else None
        ceiling = min(self.policy.max_delay_s, self.policy.base_delay_s * (2**attempt))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.request("PATCH", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs)
