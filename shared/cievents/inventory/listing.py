"""Paged listing under each vendor's rate limits: the pacing and bounds every lister shares.

Every page goes through ``Listing.pages``, built on ``cievents.scm.base.paginate`` (which
stops at the page bound with a warning). After each answer ``Pacer.observe`` reads the
vendor's rate-limit headers:

* ``X-RateLimit-Remaining`` / ``X-RateLimit-Reset`` (GitHub: epoch seconds; Bitbucket),
* ``RateLimit-Remaining`` / ``RateLimit-Reset`` (GitLab: epoch seconds; IETF draft and Azure
  DevOps: ``RateLimit-Reset`` in seconds from now, or ``X-RateLimit-Reset``),
* ``Retry-After`` (seconds) on any answer, which Azure DevOps sends before it throttles,

logs one ``scm_rate_limit_remaining`` line (provider, remaining, limit, waited_s), and when
the remaining budget is at or below ``INVENTORY_RATE_RESERVE`` it *waits before the next
request* until the reset (at most ``INVENTORY_RATE_MAX_WAIT_S``; beyond that the listing
stops with a ``RateLimitedError`` so the next run resumes). A 429 or 5xx on a page is
retried by ``cievents.http`` (``Retry-After`` honoured).

``Listing.complete`` is False once any page bound cut a list: a sync then never marks a
repository deleted for being absent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cievents import clock, log
from cievents.config import Env, env_float, env_int
from cievents.errors import RateLimitedError
from cievents.http import HttpClient
from cievents.scm.base import paginate

__all__ = ["Listing", "ListingSettings", "Pacer", "rate_headers"]

NextPage = Callable[[Any, Any], tuple[str, dict[str, Any] | None] | None]


@dataclass(frozen=True)
class ListingSettings:
    """``INVENTORY_MAX_PAGES`` (per list, default 50 pages of 100), ``INVENTORY_CONCURRENCY``
    (owners listed at once per vendor, default 4), ``INVENTORY_RATE_RESERVE`` (requests kept
    in hand, default 50), ``INVENTORY_RATE_MAX_WAIT_S`` (longest proactive wait, default 60)."""

    max_pages: int = 50
    concurrency: int = 4
    reserve: int = 50
    max_wait_s: float = 60.0
    per_page: int = 100

    @classmethod
    def from_env(cls, environ: Env | None = None) -> ListingSettings:
        e = environ
        return cls(
            max_pages=env_int("INVENTORY_MAX_PAGES", 50, minimum=1, environ=e),
            concurrency=env_int("INVENTORY_CONCURRENCY", 4, minimum=1, environ=e),
            reserve=env_int("INVENTORY_RATE_RESERVE", 50, minimum=0, environ=e),
            max_wait_s=env_float("INVENTORY_RATE_MAX_WAIT_S", 60.0, minimum=0, environ=e),
            per_page=env_int("INVENTORY_PER_PAGE", 100, minimum=1, environ=e),
        )


def _header(headers: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = headers.get(name)
        if value is None:
            value = headers.get(name.lower())
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def rate_headers(
    headers: Mapping[str, str], now: float
) -> tuple[float | None, float | None, float | None]:
    """(remaining, limit, seconds until the window resets) from an answer's headers."""
    remaining = _number(_header(headers, "X-RateLimit-Remaining", "RateLimit-Remaining"))
    limit = _number(_header(headers, "X-RateLimit-Limit", "RateLimit-Limit"))
    reset = _number(_header(headers, "X-RateLimit-Reset", "RateLimit-Reset"))
    wait: float | None = None
    if reset is not None:
        # An epoch (GitHub, GitLab) or a delta in seconds (IETF RateLimit-Reset, Azure).
        wait = reset - now if reset > 1_000_000_000 else reset
    retry_after = _number(_header(headers, "Retry-After"))
    if retry_after is not None:
        wait = max(wait or 0.0, retry_after)
        if remaining is None:
            remaining = 0.0  # Azure DevOps: Retry-After before throttling means "slow down now"
    return remaining, limit, (max(0.0, wait) if wait is not None else None)


@dataclass
class Pacer:
    """One per vendor and credential: waits before the next request when the budget is low."""

    provider: str
    reserve: int = 50
    max_wait_s: float = 60.0
    sleep: Callable[[float], None] = time.sleep
    waited_s: float = 0.0
    observed: int = 0
    last_remaining: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def observe(self, response: Any) -> None:
        headers = getattr(response, "headers", None) or {}
        remaining, limit, wait = rate_headers(headers, clock.now())
        if remaining is None:
            return
        pause = 0.0
        if remaining <= self.reserve and wait:
            if wait > self.max_wait_s:
                log.logger.warning(
                    "rate limit nearly spent: the listing stops until the window reopens",
                    provider=self.provider,
                    remaining=remaining,
                    reset_in_s=round(wait, 1),
                )
                raise RateLimitedError(
                    f"{self.provider}: {remaining:g} requests left, the window reopens in "
                    f"{wait:.0f} s (over INVENTORY_RATE_MAX_WAIT_S={self.max_wait_s:g})",
                    retry_after=wait,
                )
            pause = wait
        with self._lock:
            self.observed += 1
            self.last_remaining = remaining
            self.waited_s += pause
        log.logger.info(
            "scm rate limit",
            metric="scm_rate_limit_remaining",
            provider=self.provider,
            remaining=remaining,
            limit=limit,
            waited_s=round(pause, 3),
        )
        if pause:
            self.sleep(pause)


@dataclass
class Listing:
    """Pages of one vendor's lists through one ``HttpClient``, paced and bounded."""

    http: HttpClient
    pacer: Pacer
    settings: ListingSettings
    headers: Callable[[], Mapping[str, str]] = dict
    complete: bool = True
    pages_read: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _cut(self) -> None:
        with self._lock:
            self.complete = False

    def absorb(self, other: Listing) -> None:
        """Count another listing of the same vendor (another credential) as this one's."""
        with self._lock:
            self.pages_read += other.pages_read
            self.complete = self.complete and other.complete

    def pages(
        self,
        path: str,
        *,
        items: Callable[[Any], list[Any]],
        next_page: NextPage,
        params: dict[str, Any] | None = None,
        what: str,
    ) -> Iterator[Any]:
        """Every item of the list, page by page (one page in memory at a time)."""

        def paced(response: Any, body: Any) -> tuple[str, dict[str, Any] | None] | None:
            with self._lock:
                self.pages_read += 1
            self.pacer.observe(response)
            return next_page(response, body)

        yield from paginate(
            self.http,
            path,
            items=items,
            next_page=paced,
            params=params,
            headers=self.headers(),
            max_pages=self.settings.max_pages,
            what=what,
            on_bound=self._cut,
        )

    def get(self, path: str, *, params: dict[str, Any] | None = None, what: str) -> Any:
        """One object (a single repository), paced; None when the vendor answers 404."""
        response = self.http.get(
            path, params=params, headers=self.headers(), what=what, ok_statuses=(404,)
        )
        self.pacer.observe(response)
        if response.status_code == 404:
            return None
        return self.http.json(response, what)
