"""Firestore store: the cloud default.

A claim is a ``create`` that fails when the document exists (so two
executions can never both create it); take-over runs in a transaction that
re-reads the record. Completion and release of a claim this instance created
are one write with a precondition: the document's update time must still be
the one its ``create`` returned, so a record that changed since (a successor
took over an expired lease) is never overwritten or deleted. A precondition
that fails, or a claim taken over in a transaction, falls back to a
transaction that re-reads the record and checks the owner token. (One write
instead of a transaction's three calls: on the first message of an instance,
when the channel is new, that was a tenth of its answer.) Documents are
named by a hash of the key (Firestore ids forbid ``/``); the key itself is
kept as a field for people reading the collection.
A TTL policy on ``expires_at_ts`` may sweep old records, but expiry is always
checked in code.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from cievents.errors import TransientError
from cievents.idempotency.base import (
    DEFAULT_DONE_TTL_S,
    DEFAULT_LEASE_S,
    Claim,
    Clock,
    Record,
    State,
    decide,
    key_id,
    new_token,
    wall_clock,
)

CREATED_KEPT = 10_000
_CLIENTS: dict[tuple[str | None, str | None], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def shared_client(project: str | None = None) -> Any:
    """One Firestore client per process (per project and emulator host): the store and
    health's Firestore probe share its channel instead of each setting one up."""
    project = project or os.environ.get("GOOGLE_CLOUD_PROJECT") or None
    key = (project, os.environ.get("FIRESTORE_EMULATOR_HOST"))
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            from google.cloud import firestore

            client = _CLIENTS[key] = firestore.Client(project=project)
        return client


def _state(data: Mapping[str, Any]) -> State:
    return State(dict(data.get("value") or {}), int(data.get("version", 0)))


def _version(snapshot: Any) -> int:
    """The state version a document snapshot holds (0: no document)."""
    return int((snapshot.to_dict() or {}).get("version", 0)) if snapshot.exists else 0


def _contended(exc: BaseException) -> bool:
    """A transaction that lost to concurrent writers (retries exhausted, or aborted)."""
    from google.api_core import exceptions as gexc

    return isinstance(exc, gexc.Aborted) or (
        isinstance(exc, ValueError) and "transaction" in str(exc).lower()
    )


class FirestoreStore:
    def __init__(
        self,
        collection: str = "cievents",
        client: Any = None,
        clock: Clock = wall_clock,
    ) -> None:
        from google.cloud import firestore

        self._firestore = firestore
        self._client = client or shared_client()
        self._claims = self._client.collection(f"{collection}_claims")
        self._states = self._client.collection(f"{collection}_state")
        self._clock = clock
        # (key, token) → the update time of the claim this instance created: what the
        # one-write completion's precondition expects. Bounded: a claim never completed
        # (its process died) must not keep its entry forever.
        self._created: dict[tuple[str, str], Any] = {}
        # key → (version, update time) of the state this instance last read or wrote.
        self._seen: dict[str, tuple[int, Any]] = {}

    def _data(self, record: Record) -> dict[str, Any]:
        data = record.to_dict()
        data["expires_at_ts"] = datetime.fromtimestamp(record.expires_at, UTC)
        return data

    def claim(self, key: str, lease_s: float = DEFAULT_LEASE_S) -> Claim:
        from google.api_core import exceptions as gexc

        ref = self._claims.document(key_id(key))
        now = self._clock()
        token = new_token()
        record = Record(key, "in_progress", token, now + lease_s, now + lease_s)
        try:
            written = ref.create(self._data(record))
            if len(self._created) >= CREATED_KEPT:
                self._created.clear()
            self._created[(key, token)] = getattr(written, "update_time", None)
            return Claim(key, "claimed", token)
        except gexc.AlreadyExists:
            pass
        except gexc.GoogleAPICallError as exc:
            raise TransientError(f"Firestore claim failed: {type(exc).__name__}") from None

        outcome: dict[str, str] = {}

        @self._firestore.transactional
        def take_over(transaction: Any) -> None:
            snapshot = ref.get(transaction=transaction)
            existing = Record.from_dict(snapshot.to_dict() or {}) if snapshot.exists else None
            current = self._clock()
            decision = decide(existing, current)
            outcome["decision"] = decision
            if decision in ("create", "take_over"):
                fresh = Record(key, "in_progress", token, current + lease_s, current + lease_s)
                transaction.set(ref, self._data(fresh))

        try:
            take_over(self._client.transaction())
        except (gexc.GoogleAPICallError, ValueError) as exc:
            if _contended(exc):
                return Claim(key, "busy")  # someone else is taking it over right now
            raise TransientError(f"Firestore claim failed: {type(exc).__name__}") from None
        decision = outcome.get("decision", "busy")
        if decision in ("duplicate", "busy"):
            return Claim(key, decision)  # type: ignore[arg-type]
        return Claim(key, "claimed", token, taken_over=decision == "take_over")

    def _owned_change(self, key: str, token: str, done: Record | None) -> bool:
        """Complete (``done`` given) or release (``done`` None) if ``token`` owns the claim."""
        ref = self._claims.document(key_id(key))
        created = self._created.pop((key, token), None)
        if created is not None and self._unchanged_change(ref, created, done):
            return True
        result = {"ok": False}

        @self._firestore.transactional
        def change(transaction: Any) -> None:
            result["ok"] = False  # the transaction may be retried: decide afresh each attempt
            snapshot = ref.get(transaction=transaction)
            if not snapshot.exists:
                return
            record = Record.from_dict(snapshot.to_dict() or {})
            if record.owner != token or record.status != "in_progress":
                return
            if done is None:
                transaction.delete(ref)
            else:
                transaction.set(ref, self._data(done))
            result["ok"] = True

        for _ in range(3):
            try:
                change(self._client.transaction())
                return result["ok"]
            except Exception as exc:
                if not _contended(exc):
                    raise
        raise TransientError(f"Firestore update of {key!r} kept conflicting")

    def _unchanged_change(self, ref: Any, created: Any, done: Record | None) -> bool:
        """The change as one write, if the record is still the one this instance created
        (its update time unchanged); False when it changed or is gone, for the caller to
        decide by a transaction."""
        from google.api_core import exceptions as gexc

        option = self._client.write_option(last_update_time=created)
        try:
            if done is None:
                ref.delete(option=option)
            else:
                ref.update(self._data(done), option=option)
        except (gexc.FailedPrecondition, gexc.NotFound, gexc.Aborted):
            return False
        return True

    def complete(
        self, key: str, token: str, result: str = "", ttl_s: float = DEFAULT_DONE_TTL_S
    ) -> bool:
        now = self._clock()
        return self._owned_change(key, token, Record(key, "done", token, now, now + ttl_s, result))

    def release(self, key: str, token: str) -> bool:
        return self._owned_change(key, token, None)

    def _saw(self, key: str, version: int, update_time: Any) -> None:
        """Remember the version of ``key``'s state this instance last read or wrote, and
        that document's update time: a versioned write expecting that version is then one
        call, on the update time's precondition, instead of a read and a write."""
        if update_time is None:
            self._seen.pop(key, None)
            return
        if len(self._seen) >= CREATED_KEPT:
            self._seen.clear()
        self._seen[key] = (version, update_time)

    def get_state(self, key: str) -> State:
        snapshot = self._states.document(key_id(key)).get()
        if not snapshot.exists:
            self._seen.pop(key, None)
            return State()
        state = _state(snapshot.to_dict() or {})
        self._saw(key, state.version, snapshot.update_time)
        return state

    def get_states(self, keys: Sequence[str]) -> list[State]:
        """Several keys' states in one batch get (in the keys' order)."""
        refs = [self._states.document(key_id(key)) for key in keys]
        found: dict[str, tuple[State, Any]] = {}
        for snapshot in self._client.get_all(refs) if refs else ():
            if snapshot.exists:
                found[snapshot.id] = (_state(snapshot.to_dict() or {}), snapshot.update_time)
        states = []
        for key, ref in zip(keys, refs, strict=True):
            state, update_time = found.get(ref.id, (State(), None))
            self._saw(key, state.version, update_time)
            states.append(state)
        return states

    def set_state(
        self, key: str, value: Mapping[str, Any], expected_version: int | None = None
    ) -> bool:
        ref = self._states.document(key_id(key))
        if expected_version is not None:
            return self._set_state_if(ref, key, value, expected_version)
        # Unconditional: on the version this instance last read or wrote, one call (its
        # update time is the precondition); else, or when that document changed since, the
        # version read, then a write on that version's precondition (two calls; a
        # transaction takes three and waits on locks, about 50 ms on the emulator).
        # A writer that keeps losing the race ends in the transaction below.
        seen = self._seen.get(key)
        if seen is not None and self._set_state_if(ref, key, value, seen[0]):
            return True
        for _ in range(3):
            snapshot = ref.get()
            current = _version(snapshot)
            if self._set_state_if(ref, key, value, current, snapshot):
                return True
        result = {"ok": False}

        @self._firestore.transactional
        def write(transaction: Any) -> None:
            result["ok"] = False  # the transaction may be retried: decide afresh each attempt
            snapshot = ref.get(transaction=transaction)
            current = _version(snapshot)
            if expected_version is not None and current != expected_version:
                return
            transaction.set(ref, {"key": key, "value": dict(value), "version": current + 1})
            result["ok"] = True

        try:
            write(self._client.transaction())
        except Exception as exc:
            if _contended(exc):
                return False  # a concurrent writer won: the caller re-reads and retries
            raise
        return result["ok"]

    def _set_state_if(
        self,
        ref: Any,
        key: str,
        value: Mapping[str, Any],
        expected_version: int,
        snapshot: Any = None,
    ) -> bool:
        """Compare-and-set by precondition, not by a transaction: a lost race is an
        immediate ``AlreadyExists`` / ``FailedPrecondition`` instead of lock waits (which
        pile up when several writers contend, on Firestore and even more on its emulator)."""
        from google.api_core import exceptions as gexc

        data = {"key": key, "value": dict(value), "version": expected_version + 1}
        seen = self._seen.pop(key, None)
        try:
            if expected_version == 0:
                written = ref.create(data)
            else:
                if snapshot is not None:
                    update_time = snapshot.update_time
                    current = _version(snapshot)
                elif seen is not None and seen[0] == expected_version:
                    # the version this instance last saw: its update time is the precondition
                    current, update_time = seen
                else:
                    fresh = ref.get()
                    current = _version(fresh)
                    update_time = fresh.update_time
                if current != expected_version:
                    return False
                option = self._client.write_option(last_update_time=update_time)
                written = ref.update(data, option=option)
        except (gexc.AlreadyExists, gexc.FailedPrecondition, gexc.NotFound, gexc.Aborted):
            return False  # a concurrent writer won: the caller re-reads and retries
        self._saw(key, expected_version + 1, getattr(written, "update_time", None))
        return True
