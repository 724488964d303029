"""GCS store: idempotency with no extra service, for teams that already have a bucket.

Every change is a conditional write: a claim creates its object with
``if_generation_match=0`` (GCS answers 412 when it exists), take-over,
completion and release are conditioned on the generation that was read, so
the owner check and the write cannot be separated by another writer. State
objects use their generation as the version.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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


class GCSStore:
    def __init__(
        self,
        bucket: str,
        prefix: str = "cievents",
        client: Any = None,
        clock: Clock = wall_clock,
    ) -> None:
        import google.cloud.storage as storage
        from google.api_core import exceptions as gexc

        self._gexc = gexc
        self._client = client or storage.Client()
        self._bucket = self._client.bucket(bucket)
        self._prefix = prefix.strip("/")
        self._clock = clock

    def _blob(self, kind: str, key: str) -> Any:
        return self._bucket.blob(f"{self._prefix}/{kind}/{key_id(key)}.json")

    def _read(self, blob: Any) -> tuple[dict[str, Any] | None, int]:
        try:
            text = blob.download_as_bytes()
        except self._gexc.NotFound:
            return None, 0
        except self._gexc.GoogleAPICallError as exc:
            raise TransientError(f"GCS read failed: {type(exc).__name__}") from None
        return json.loads(text), int(blob.generation or 0)

    def _write(self, blob: Any, data: Mapping[str, Any], generation: int) -> bool:
        """Write only if the object is still at ``generation`` (0: does not exist)."""
        try:
            blob.upload_from_string(
                json.dumps(dict(data), sort_keys=True),
                content_type="application/json",
                if_generation_match=generation,
            )
            return True
        except self._gexc.PreconditionFailed:
            return False
        except self._gexc.GoogleAPICallError as exc:
            raise TransientError(f"GCS write failed: {type(exc).__name__}") from None

    def claim(self, key: str, lease_s: float = DEFAULT_LEASE_S) -> Claim:
        for _ in range(5):
            blob = self._blob("claims", key)
            data, generation = self._read(blob)
            existing = Record.from_dict(data) if data else None
            now = self._clock()
            decision = decide(existing, now)
            if decision in ("duplicate", "busy"):
                return Claim(key, decision)
            token = new_token()
            record = Record(key, "in_progress", token, now + lease_s, now + lease_s)
            if self._write(blob, record.to_dict(), generation):
                return Claim(key, "claimed", token, taken_over=decision == "take_over")
        # Lost the race every time: someone else is actively claiming it.
        return Claim(key, "busy")

    def _owned(self, key: str, token: str) -> tuple[Any, int] | None:
        blob = self._blob("claims", key)
        data, generation = self._read(blob)
        if data is None:
            return None
        record = Record.from_dict(data)
        if record.owner != token or record.status != "in_progress":
            return None
        return blob, generation

    def complete(
        self, key: str, token: str, result: str = "", ttl_s: float = DEFAULT_DONE_TTL_S
    ) -> bool:
        owned = self._owned(key, token)
        if owned is None:
            return False
        blob, generation = owned
        now = self._clock()
        done = Record(key, "done", token, now, now + ttl_s, result)
        return self._write(blob, done.to_dict(), generation)

    def release(self, key: str, token: str) -> bool:
        owned = self._owned(key, token)
        if owned is None:
            return False
        blob, generation = owned
        try:
            blob.delete(if_generation_match=generation)
            return True
        except (self._gexc.PreconditionFailed, self._gexc.NotFound):
            return False
        except self._gexc.GoogleAPICallError as exc:
            raise TransientError(f"GCS delete failed: {type(exc).__name__}") from None

    def get_state(self, key: str) -> State:
        data, generation = self._read(self._blob("state", key))
        if data is None:
            return State()
        return State(dict(data.get("value") or {}), generation)

    def set_state(
        self, key: str, value: Mapping[str, Any], expected_version: int | None = None
    ) -> bool:
        blob = self._blob("state", key)
        if expected_version is None:
            _, expected_version = self._read(blob)
        return self._write(blob, {"key": key, "value": dict(value)}, expected_version)
