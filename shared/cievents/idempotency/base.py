"""The idempotency store contract, shared by every backend.

Pub/Sub delivers at least once, so every side effect is guarded by a record
keyed by ``<function>:<event key>``:

* ``claim`` creates the record *in progress* with a lease and a fresh owner
  token. A record that is *done* means duplicate; one *in progress* under an
  unexpired lease means another execution is working on it (busy, retry
  later); one whose lease expired is taken over with a new token.
* ``complete`` and ``release`` succeed only for the current owner token, so
  an execution whose lease expired and was taken over can neither mark the
  record done nor delete the new owner's claim.
* Expiry is checked in code (``lease_until``, ``expires_at``), never left to
  a backend's TTL sweeper, which may run days late.

The store also keeps small per-key state (a Slack message ``ts``, the last
state of a branch) with optimistic versioning: ``set_state`` with
``expected_version`` fails instead of overwriting a concurrent writer.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from cievents import clock

ClaimStatus = Literal["claimed", "duplicate", "busy"]

DEFAULT_LEASE_S = 120.0
DEFAULT_DONE_TTL_S = 7 * 24 * 3600.0


@dataclass(frozen=True)
class Claim:
    """The outcome of ``claim``. ``token`` is set only when ``status == "claimed"``."""

    key: str
    status: ClaimStatus
    token: str = ""
    taken_over: bool = False


@dataclass(frozen=True)
class State:
    """Per-key state and its version (0 when the key has no state yet)."""

    value: Mapping[str, Any] = field(default_factory=dict)
    version: int = 0


@dataclass
class Record:
    """What a backend stores for one idempotency key."""

    key: str
    status: Literal["in_progress", "done"]
    owner: str
    lease_until: float
    expires_at: float
    result: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "status": self.status,
            "owner": self.owner,
            "lease_until": self.lease_until,
            "expires_at": self.expires_at,
            "result": self.result,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Record:
        return cls(
            key=str(data["key"]),
            status="done" if data.get("status") == "done" else "in_progress",
            owner=str(data.get("owner", "")),
            lease_until=float(data.get("lease_until", 0.0)),
            expires_at=float(data.get("expires_at", 0.0)),
            result=str(data.get("result", "")),
        )


def new_token() -> str:
    return secrets.token_hex(16)


def key_id(key: str) -> str:
    """A backend-safe identifier for any key (Firestore ids and object names forbid some bytes)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def decide(
    existing: Record | None, now: float
) -> Literal["create", "duplicate", "busy", "take_over"]:
    """The claim decision, the same for every backend."""
    if existing is None or existing.expires_at <= now:
        return "create" if existing is None else "take_over"
    if existing.status == "done":
        return "duplicate"
    if existing.lease_until > now:
        return "busy"
    return "take_over"


@runtime_checkable
class Store(Protocol):
    """An idempotency store. Every method is safe under concurrent callers."""

    def claim(self, key: str, lease_s: float = DEFAULT_LEASE_S) -> Claim: ...

    def complete(
        self, key: str, token: str, result: str = "", ttl_s: float = DEFAULT_DONE_TTL_S
    ) -> bool: ...

    def release(self, key: str, token: str) -> bool: ...

    def get_state(self, key: str) -> State: ...

    def set_state(
        self, key: str, value: Mapping[str, Any], expected_version: int | None = None
    ) -> bool: ...


def get_states(store: Store, keys: Sequence[str]) -> list[State]:
    """The state of each key, in order: one round trip where the backend reads several
    documents at once (Firestore's batch get), else a read each."""
    many = getattr(store, "get_states", None)
    if callable(many):
        return list(many(keys))
    return [store.get_state(key) for key in keys]


def update_state(
    store: Store,
    key: str,
    change: Callable[[Mapping[str, Any]], Mapping[str, Any] | None],
    attempts: int = 5,
    known: State | None = None,
) -> Mapping[str, Any] | None:
    """Read-modify-write with optimistic retries. ``change`` returns None to leave the state as is.

    ``known``: the state the caller read already; the first attempt starts from it instead
    of reading again (stale, its versioned write fails and the next attempt reads afresh).
    Returns the state now stored (the new one, or the unchanged one when ``change`` declined).
    """
    from cievents.errors import TransientError

    for attempt in range(attempts):
        current = known if attempt == 0 and known is not None else store.get_state(key)
        new = change(current.value)
        if new is None:
            return current.value
        if store.set_state(key, new, expected_version=current.version):
            return new
    raise TransientError(f"state {key!r} kept changing under {attempts} concurrent writes")


class Clock(Protocol):
    def __call__(self) -> float: ...


def wall_clock() -> float:
    return clock.now()
