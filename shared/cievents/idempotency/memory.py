"""In-memory store: for tests and for a single process that needs no persistence."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from cievents.idempotency.base import (
    DEFAULT_DONE_TTL_S,
    DEFAULT_LEASE_S,
    Claim,
    Clock,
    Record,
    State,
    decide,
    new_token,
    wall_clock,
)


class MemoryStore:
    def __init__(self, clock: Clock = wall_clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[str, Record] = {}
        self._states: dict[str, State] = {}

    def claim(self, key: str, lease_s: float = DEFAULT_LEASE_S) -> Claim:
        with self._lock:
            now = self._clock()
            existing = self._records.get(key)
            decision = decide(existing, now)
            if decision in ("duplicate", "busy"):
                return Claim(key, decision)
            token = new_token()
            self._records[key] = Record(key, "in_progress", token, now + lease_s, now + lease_s)
            return Claim(key, "claimed", token, taken_over=decision == "take_over")

    def complete(
        self, key: str, token: str, result: str = "", ttl_s: float = DEFAULT_DONE_TTL_S
    ) -> bool:
        with self._lock:
            record = self._records.get(key)
            if record is None or record.owner != token or record.status != "in_progress":
                return False
            now = self._clock()
            self._records[key] = Record(key, "done", token, now, now + ttl_s, result)
            return True

    def release(self, key: str, token: str) -> bool:
        with self._lock:
            record = self._records.get(key)
            if record is None or record.owner != token or record.status != "in_progress":
                return False
            del self._records[key]
            return True

    def get_state(self, key: str) -> State:
        with self._lock:
            return self._states.get(key, State())

    def set_state(
        self, key: str, value: Mapping[str, Any], expected_version: int | None = None
    ) -> bool:
        with self._lock:
            current = self._states.get(key, State())
            if expected_version is not None and current.version != expected_version:
                return False
            self._states[key] = State(dict(value), current.version + 1)
            return True
