"""A Pub/Sub push subscription with the deployed retry policy, pushing to real function servers.

The emulator pushes, but keeps neither a retry policy nor a dead-letter policy,
so a burst test cannot learn from it when redeliveries come back. This does
what the deployed subscription does (function.yaml ``retry: true``,
``max_delivery_attempts``; infra: ``minimum_backoff`` 10 s, ``maximum_backoff``
600 s):

* a message is pushed as Pub/Sub pushes it (the JSON push body with
  ``deliveryAttempt``) and acked by a 2xx answer; any other answer, or none
  within the timeout, is a nack;
* a nacked message comes back after ``min(maximum, minimum × 2^(attempt-1))``
  (Pub/Sub's exponential backoff between its bounds) and after
  ``max_attempts`` deliveries goes to the dead-letter list instead;
* each endpoint is one instance with concurrency 1 (function.yaml's default):
  it takes the next due message when it has answered the previous one, so at
  most ``len(endpoints)`` pushes are outstanding, as Cloud Run's
  ``max_instances`` × ``concurrency`` allows.

Time can be scaled: every duration here (backoff bounds, timeout) is divided
by ``time_scale`` and every figure reported should be multiplied by it.

Waits poll with ``time.sleep`` (``POLL_S``) rather than ``Condition.wait(timeout)`` or
``Thread.join(timeout)``: under ``make test-calendar`` (libfaketime) a timed lock wait
never returns (docs/DEVELOPING.md).
"""

from __future__ import annotations

import base64
import heapq
import itertools
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import requests

from cievents import clock

__all__ = ["Delivery", "PushSubscription"]

POLL_S = 0.01  # how often an idle instance looks for a due message


@dataclass
class Delivery:
    """One message of the subscription and what became of it."""

    message_id: str
    data: bytes
    attributes: dict[str, str]
    published: float
    attempts: int = 0
    answers: list[int] = field(default_factory=list)
    acked_at: float | None = None
    dead_lettered: bool = False


class PushSubscription:
    def __init__(
        self,
        name: str,
        endpoints: Sequence[str],
        *,
        minimum_backoff_s: float = 10.0,
        maximum_backoff_s: float = 600.0,
        max_attempts: int = 10,
        timeout_s: float = 60.0,
        time_scale: float = 1.0,
    ) -> None:
        self.name = name
        self.endpoints = list(endpoints)
        self.minimum = minimum_backoff_s / time_scale
        self.maximum = maximum_backoff_s / time_scale
        self.max_attempts = max_attempts
        self.timeout = timeout_s / time_scale
        self.deliveries: dict[str, Delivery] = {}
        self._due: list[tuple[float, int, str]] = []
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._stopping = False
        self._threads: list[threading.Thread] = []

    # -- publishing --------------------------------------------------------------
    def publish(
        self, data: bytes, attributes: Mapping[str, str], at: float | None = None
    ) -> Delivery:
        """Make a message available at ``at`` (monotonic; default now)."""
        when = time.monotonic() if at is None else at
        delivery = Delivery(uuid.uuid4().hex, data, dict(attributes), when)
        with self._lock:
            self.deliveries[delivery.message_id] = delivery
            heapq.heappush(self._due, (when, next(self._order), delivery.message_id))
        return delivery

    # -- pushing -----------------------------------------------------------------
    def start(self) -> PushSubscription:
        for endpoint in self.endpoints:
            thread = threading.Thread(target=self._instance, args=(endpoint,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
        deadline = time.monotonic() + self.timeout + 5
        for thread in self._threads:
            while thread.is_alive() and time.monotonic() < deadline:
                time.sleep(0.05)

    def settled(self) -> bool:
        """Every message acked or dead-lettered."""
        with self._lock:
            return all(d.acked_at is not None or d.dead_lettered for d in self.deliveries.values())

    def wait_settled(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.settled():
                return True
            time.sleep(0.05)
        return self.settled()

    def _next(self) -> Delivery | None:
        while True:
            with self._lock:
                if self._stopping:
                    return None
                now = time.monotonic()
                if self._due and self._due[0][0] <= now:
                    _, _, message_id = heapq.heappop(self._due)
                    return self.deliveries[message_id]
                wait = (self._due[0][0] - now) if self._due else POLL_S
            time.sleep(min(max(wait, 0.0), POLL_S))

    def _body(self, delivery: Delivery) -> dict[str, object]:
        published = clock.now_iso()
        return {
            "message": {
                "data": base64.b64encode(delivery.data).decode("ascii"),
                "messageId": delivery.message_id,
                "publishTime": published,
                "attributes": delivery.attributes,
            },
            "subscription": f"projects/cievents-bench/subscriptions/{self.name}",
            "deliveryAttempt": delivery.attempts,
        }

    def _instance(self, endpoint: str) -> None:
        session = requests.Session()
        while True:
            delivery = self._next()
            if delivery is None:
                return
            delivery.attempts += 1
            try:
                status = session.post(
                    endpoint, json=self._body(delivery), timeout=self.timeout
                ).status_code
            except requests.RequestException:
                status = 0
            with self._lock:
                delivery.answers.append(status)
                if 200 <= status < 300:
                    delivery.acked_at = time.monotonic()
                elif delivery.attempts >= self.max_attempts:
                    delivery.dead_lettered = True
                else:
                    backoff = min(self.maximum, self.minimum * 2 ** (delivery.attempts - 1))
                    heapq.heappush(
                        self._due,
                        (time.monotonic() + backoff, next(self._order), delivery.message_id),
                    )

    # -- figures -----------------------------------------------------------------
    def pushes(self) -> int:
        return sum(d.attempts for d in self.deliveries.values())

    def dead_lettered(self) -> int:
        return sum(1 for d in self.deliveries.values() if d.dead_lettered)
