"""HTTP for functions: timeouts always, short bounded retries, errors classified.

A function has seconds, not minutes: a request waits at most
``connect_timeout`` + ``read_timeout``. Whether a failed call is retried
in-call depends on what the call does (``RetryPolicy.should_retry``, applied
through ``tenacity``):

* an *idempotent* call (GET/HEAD/OPTIONS, PUT/PATCH/DELETE to a known id, or
  a POST its caller marks ``idempotent=True``, e.g. Slack ``chat.update``) is
  retried on any transient failure (connection error, timeout, 408/429/5xx);
* a *create* (any other POST) is retried in-call only when the request
  provably never reached the server: the connection could not be opened, or
  the answer was 429/503, which commit nothing. A read timeout, a reset
  after sending, a 500/502/504 or an unreadable 2xx may hide a committed
  write: the error is raised (``TransientError.unsent`` is False) so the
  caller's intent record (``cievents.effects``) reconciles on redelivery
  instead of creating blind.

Retries are at most ``retries``, with exponential backoff and full jitter,
honouring ``Retry-After`` / ``X-RateLimit-Reset`` when the wait fits in
``max_inline_wait_s``. Past that the error is raised as a
``TransientError``/``RateLimitedError`` so Pub/Sub does the waiting, not our
billable instance. Any other 4xx is a ``PermanentError`` subclass (401/403 are
``AuthError``: a broken credential, dead-lettered for replay).

The policy is pluggable: pass a ``RetryPolicy`` subclass overriding ``wait``
(e.g. to wait for a shared rate-limit reset) or ``should_retry``.

With a ``budget`` (``cievents.ratelimit.VendorBudget``), every write
(POST/PATCH/PUT/DELETE) first takes a slot of the destination's budget shared
by all instances, and a rate-limited answer closes the window for all of them
until the vendor said it reopens, so a retry (in-call or Pub/Sub's) is sent
when the window is open, not into it.

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
from typing import TYPE_CHECKING, Any, TypeVar

import requests

from cievents import clock, neterrors, tracing
from cievents.errors import (
    AuthError,
    CIEventsError,
    RateLimitedError,
    RejectedError,
    TransientError,
    classify_status,
)
from cievents.outbox import Outbox
from cievents.ratelimit import VendorBudget

if TYPE_CHECKING:
    import tenacity

_T = TypeVar("_T")

USER_AGENT = "ci-event-functions/0.1 (+https://github.com/ci-event-functions)"


def default_read_timeout() -> float:
    """``CIEVENTS_HTTP_READ_TIMEOUT_S`` (default 10): how long any vendor call waits for
    its answer. An answer not in by then is a write of unknown outcome."""
    from cievents.config import env_float

    return env_float("CIEVENTS_HTTP_READ_TIMEOUT_S", 10.0, minimum=0.1)


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """The wait a response asks for: ``Retry-After`` (seconds or HTTP date), or a
    rate-limit reset epoch (``X-RateLimit-Reset`` as GitHub and GitLab send it)."""
    value = headers.get("Retry-After") or headers.get("retry-after")
    current = clock.now() if now is None else now
    if value:
        value = value.strip()
        if value.replace(".", "", 1).isascii() and value.replace(".", "", 1).isdigit():
            return max(0.0, float(value))
        try:
            parsed = email.utils.parsedate_to_datetime(value) if value else None
        except (TypeError, ValueError):
            parsed = None
        if parsed is not None:
            return max(0.0, parsed.timestamp() - current)
    remaining = headers.get("X-RateLimit-Remaining") or headers.get("x-ratelimit-remaining")
    reset = headers.get("X-RateLimit-Reset") or headers.get("x-ratelimit-reset")
    if remaining == "0" and reset and reset.isascii() and reset.isdigit():
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


def error_for(response: requests.Response, what: str, credential: str = "") -> CIEventsError | None:
    """The classified error a response means, or None when it succeeded.

    ``credential`` names the setting a 401/403 says is broken. A success is not read: a
    streamed download stays a stream (reading its text here would hold it all in memory)."""
    status = response.status_code
    if status < 400:
        return None
    detail = _short_detail(response)
    if is_rate_limited(response):
        return RateLimitedError(
            f"{what}: rate limited ({status}){detail}",
            status=status,
            retry_after=retry_after_seconds(response.headers),
            unsent=True,
        )
    cls = classify_status(status)
    if cls is None:
        return None
    message = f"{what}: HTTP {status}{detail}"
    if issubclass(cls, TransientError):
        return cls(
            message,
            status=status,
            retry_after=retry_after_seconds(response.headers),
            unsent=status in NOTHING_COMMITTED,
        )
    if cls is AuthError:
        fix = f"; check {credential}" if credential else ""
        scopes = scope_note(response.headers) if status == 403 else ""
        return AuthError(f"{message}{scopes}{fix}", status=status, credential=credential)
    if cls is RejectedError:
        return RejectedError(message, status=status)
    return cls(message)


# Answers that say the server refused the request without acting on it.
NOTHING_COMMITTED = frozenset({429, 503})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
WRITE_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})


def never_sent(exc: BaseException) -> bool:
    """True when a requests error proves the request never reached the server:
    the connection was refused, timed out while connecting, or the host did not resolve."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

    reason: object = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return isinstance(reason, NewConnectionError | ConnectTimeoutError)


def scope_note(headers: Mapping[str, str]) -> str:
    """What a 403's scope headers say (GitHub: ``X-Accepted-OAuth-Scopes``, the scopes the
    call accepts, and ``X-OAuth-Scopes``, the ones the token has), or ""."""
    accepted = headers.get("X-Accepted-OAuth-Scopes")
    if accepted is None:
        return ""
    has = headers.get("X-OAuth-Scopes") or "none"
    return f" (this call needs one of the scopes: {accepted or '?'}; the token has: {has})"


def _host(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]


def _short_detail(response: requests.Response) -> str:
    try:
        text = response.text
    except Exception:
        return ""
    text = " ".join(text.split())[:200]
    return f": {text}" if text else ""


@dataclass(frozen=True)
class RetryPolicy:
    """How one client retries in-call. Subclass and override ``wait`` or ``should_retry``."""

    retries: int = 2
    base_delay_s: float = 0.25
    max_delay_s: float = 4.0
    max_inline_wait_s: float = 5.0

    def should_retry(self, error: BaseException, idempotent: bool) -> bool:
        """Whether this failure may be retried in-call at all (before the wait is considered)."""
        if not isinstance(error, TransientError):
            return False
        return idempotent or error.unsent

    def wait(self, attempt: int, error: TransientError) -> float | None:
        """Seconds to wait before retry number ``attempt`` (1-based), or None to give up
        in-call (the server asked for longer than ``max_inline_wait_s``)."""
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.max_inline_wait_s else None
        ceiling = min(self.max_delay_s, self.base_delay_s * (2 ** (attempt - 1)))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography

    def retrying(
        self, idempotent: bool, sleep: Callable[[float], None] = time.sleep, after: int = 0
    ) -> tenacity.Retrying:
        """The ``tenacity`` controller for one call; ``after``: attempts already made."""
        import tenacity

        waits: dict[int, float] = {}

        def retry(state: tenacity.RetryCallState) -> bool:
            outcome = state.outcome
            error = outcome.exception() if outcome is not None else None
            if error is None or not self.should_retry(error, idempotent):
                return False
            assert isinstance(error, TransientError)
            wait = self.wait(after + state.attempt_number, error)
            if wait is None:
                return False
            waits[state.attempt_number] = wait
            return True

        return tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.retries + 1 - after),
            retry=retry,
            wait=lambda state: waits.get(state.attempt_number, 0.0),
            sleep=sleep,
            reraise=True,
        )

    def call(
        self, attempt: Callable[[], _T], idempotent: bool, sleep: Callable[[float], None]
    ) -> _T:
        """``attempt()`` under this policy: the first try runs as is, and ``tenacity``
        takes over the retries only when it failed in a way that may be retried (most
        calls succeed at once, and then never pay for the controller nor its import)."""
        try:
            return attempt()
        except TransientError as error:
            if self.retries < 1 or not self.should_retry(error, idempotent):
                raise
            wait = self.wait(1, error)
            if wait is None:
                raise
        sleep(wait)
        return self.retrying(idempotent, sleep, after=1)(attempt)


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


class Answer:
    """A response as ``HttpClient`` returns it: the ``requests.Response`` (every attribute
    passes through), whose ``json()`` raises a ``TransientError`` (outcome unknown) for an
    unreadable body instead of a ``JSONDecodeError``: a write that answered 200 with a
    proxy's HTML page may have been made, so the redelivery reconciles it."""

    def __init__(self, response: requests.Response, what: str) -> None:
        self._response = response
        self._what = what

    def __getattr__(self, name: str) -> Any:
        return getattr(self._response, name)

    def __bool__(self) -> bool:
        return bool(self._response)

    def __iter__(self) -> Any:
        return iter(self._response)

    def json(self, **kwargs: Any) -> Any:
        try:
            return self._response.json(**kwargs)
        except ValueError:
            raise TransientError(
                f"{self._what}: HTTP {self._response.status_code} with an unreadable body; "
                "outcome unknown",
                status=self._response.status_code,
                reason="unreadable_answer",
            ) from None


class HttpClient:
    """A ``requests.Session`` with our timeout, retry and classification policy."""

    def __init__(
        self,
        *,
        sink: str,
        base_url: str = "",
        headers: Mapping[str, str] | None = None,
        connect_timeout: float = 3.05,
        read_timeout: float | None = None,
        policy: RetryPolicy | None = None,
        outbox: Outbox | None = None,
        dry_run_answer: Callable[[str, str, Any], Any] | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        credential: str = "",
        budget: VendorBudget | None = None,
    ) -> None:
        self.sink = sink
        self.budget = budget
        self.credential = credential
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout or default_read_timeout())
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
        idempotent: bool | None = None,
    ) -> Any:
        """Send, retrying transient failures briefly as the policy allows; raise a
        classified error otherwise.

        Returns the ``requests.Response`` (or a ``DryRunResponse`` in dry-run mode).
        ``ok_statuses`` lists non-2xx statuses the caller handles itself (e.g. 404
        meaning "not there yet"). ``idempotent`` overrides the method's default
        (True for GET/HEAD/OPTIONS/PUT/PATCH/DELETE, False for POST).
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
        is_idempotent = method.upper() in IDEMPOTENT_METHODS if idempotent is None else idempotent
        budget = self.budget if method.upper() in WRITE_METHODS else None

        def once() -> Any:
            if budget is not None:
                budget.before_send()  # a slot of the shared budget, or RateLimitedError
            started = time.monotonic()
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
                # What happened and how long it really took (not the configured timeouts).
                error = TransientError(
                    f"{label}: {type(exc).__name__}: "
                    + neterrors.describe(exc, _host(url), time.monotonic() - started),
                    reason="network",
                    unsent=never_sent(exc),
                )
                error.network = neterrors.classify(exc)
                raise error from None
            if response.status_code in ok_statuses:
                return Answer(response, label)
            classified = error_for(response, label, self.credential)
            if classified is not None:
                if budget is not None and isinstance(classified, RateLimitedError):
                    budget.refused(classified.retry_after)  # closed for every instance
                raise classified
            return Answer(response, label)

        return self.policy.call(once, is_idempotent, self._sleep)

    def json(self, response: Any, what: str) -> Any:
        """The JSON a 2xx answered. An unreadable body means the write may have been made
        but its result is unknown: a ``TransientError`` (not unsent), so the redelivery
        reconciles instead of trusting or repeating the write."""
        try:
            return response.json()
        except ValueError:
            raise TransientError(
                f"{what}: HTTP {response.status_code} with an unreadable body; outcome unknown",
                status=response.status_code,
                reason="unreadable_answer",
            ) from None

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> Any:
        return self.request("PATCH", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> Any:
        return self.request("PUT", path, **kwargs)
