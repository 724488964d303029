"""Per-destination budgets that every instance of every function respects.

A vendor's rate limit belongs to the destination (a Slack channel takes about
one post a second; a GitHub token about 80 content-creating writes a minute),
not to one instance: ten instances pacing themselves one post a second offer
ten a second. So the budget is kept where all instances see it, in the
idempotency store's per-key state (memory, sqlite, Firestore or GCS: the
optimistic versioned ``set_state`` every backend already implements), as a
GCRA schedule: ``next`` is the earliest moment the destination takes another
request.

* ``reserve`` books the next free slot and answers how long to wait for it;
  when the slot is further off than the caller may wait, nothing is booked and
  ``RateLimitedError`` says when to come back (so Pub/Sub, not a billed
  instance, does the waiting).
* ``pause`` records the moment the vendor said the window reopens
  (``Retry-After``, ``X-RateLimit-Reset``), so no instance sends into a closed
  window, and each retry is scheduled for when it can succeed.
* ``backlog`` is how far off the next free slot is: what coalescing decides on.

Durations are seconds on the wall clock (``cievents.clock.now``): instances on
different machines share it, where each one's monotonic clock is its own.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cievents import clock
from cievents.config import env_float
from cievents.errors import RateLimitedError, TransientError
from cievents.idempotency.base import Store

__all__ = [
    "GITHUB_WRITES",
    "SLACK_POSTS",
    "Budget",
    "Limit",
    "VendorBudget",
    "max_wait_s",
]

STATE_PREFIX = "ratelimit:"
# Every instance books on one key: optimistic writes lose to each other more often than
# update_state's default expects, and a lost round costs one read and one write.
CONTENDED_ATTEMPTS = 25
# A booked slot is worth waiting for, but not long: a longer wait is Pub/Sub's to serve.
DEFAULT_MAX_WAIT_S = 10.0


def max_wait_s() -> float:
    """``CIEVENTS_BUDGET_MAX_WAIT_S``: the longest an instance waits in-call for a slot."""
    return env_float("CIEVENTS_BUDGET_MAX_WAIT_S", DEFAULT_MAX_WAIT_S, minimum=0)


@dataclass(frozen=True)
class Limit:
    """``count`` requests per ``per_s`` seconds, ``burst`` of them back to back."""

    count: int
    per_s: float
    burst: int = 1

    @property
    def interval_s(self) -> float:
        return self.per_s / self.count if self.count > 0 else 0.0

    def describe(self) -> str:
        return f"{self.count} per {self.per_s:g} s"


# Slack: chat.postMessage "1 per second per channel" (short bursts tolerated, not relied on).
SLACK_POSTS = Limit(1, 1.0)
# GitHub: "no more than 80 content-generating requests per minute" (secondary rate limit).
GITHUB_WRITES = Limit(80, 60.0)


class Budget:
    """The shared schedule of every destination, in ``store``."""

    def __init__(
        self,
        store: Store,
        clock: Callable[[], float] = clock.now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self._clock = clock
        self._sleep = sleep

    def key(self, destination: str) -> str:
        """The state key ``destination``'s schedule is kept under (to read it in a batch)."""
        return STATE_PREFIX + destination

    def _update(
        self, destination: str, change: Callable[[Mapping[str, Any]], Mapping[str, Any] | None]
    ) -> None:
        """Read-modify-write with optimistic retries, jittered so contenders spread out."""
        key = self.key(destination)
        for attempt in range(CONTENDED_ATTEMPTS):
            current = self.store.get_state(key)
            new = change(current.value)
            if new is None or self.store.set_state(key, new, expected_version=current.version):
                return
            self._sleep(random.uniform(0, min(0.05, 0.002 * 2**attempt)))  # noqa: S311 - jitter
        raise TransientError(
            f"budget {destination!r} kept changing under {CONTENDED_ATTEMPTS} concurrent writers"
        )

    def backlog(self, destination: str, state: Mapping[str, Any] | None = None) -> float:
        """Seconds until ``destination`` takes another request (0: now); ``state``: its
        schedule, when the caller read it already (under ``key``)."""
        if state is None:
            state = self.store.get_state(self.key(destination)).value
        return max(0.0, float(state.get("next", 0.0)) - self._clock())

    def reserve(self, destination: str, limit: Limit, max_wait_s: float) -> float:
        """Book the next slot; return the seconds to wait for it.

        Raises ``RateLimitedError`` (``retry_after`` = when the slot would be) and
        books nothing when that is more than ``max_wait_s`` away.
        """
        tolerance = (max(1, limit.burst) - 1) * limit.interval_s
        booked: dict[str, float] = {}

        def book(current: Mapping[str, Any]) -> Mapping[str, Any] | None:
            booked.clear()
            booked["now"] = now = self._clock()  # afresh each round: contention takes time
            next_free = float(current.get("next", 0.0))
            slot = max(now, next_free - tolerance)
            if slot - now > max_wait_s:
                booked["refused"] = slot - now
                return None
            booked["slot"] = slot
            return {**current, "next": max(next_free, now) + limit.interval_s}

        self._update(destination, book)
        if "refused" in booked:
            wait = booked["refused"]
            raise RateLimitedError(
                f"{destination} is rate limited for {wait:.1f} s more "
                f"(budget {limit.describe()}, shared by every instance)",
                status=429,
                retry_after=wait,
            )
        return max(0.0, booked["slot"] - booked["now"])

    def acquire(self, destination: str, limit: Limit, max_wait_s: float) -> float:
        """``reserve`` and wait for the slot; returns the seconds waited."""
        wait = self.reserve(destination, limit, max_wait_s)
        if wait > 0:
            self._sleep(wait)
        return wait

    def pause(self, destination: str, seconds: float) -> None:
        """The vendor said the window reopens in ``seconds``: nobody sends before then."""
        until = self._clock() + max(0.0, seconds)

        def push_back(current: Mapping[str, Any]) -> Mapping[str, Any] | None:
            if float(current.get("next", 0.0)) >= until:
                return None
            return {**current, "next": until}

        self._update(destination, push_back)


@dataclass
class VendorBudget:
    """One destination's budget bound to its limit: the hook HTTP clients call.

    ``before_send`` waits for a slot (at most ``max_wait_s``, else raises
    ``RateLimitedError`` so the message is redelivered later); ``refused`` records
    the vendor's own answer to a rate-limited request.
    """

    budget: Budget
    destination: str
    limit: Limit
    max_wait_s: float

    def before_send(self) -> float:
        return self.budget.acquire(self.destination, self.limit, self.max_wait_s)

    def refused(self, retry_after: float | None) -> None:
        self.budget.pause(
            self.destination, retry_after if retry_after is not None else self.limit.per_s
        )
