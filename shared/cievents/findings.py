"""A finding as it travels on the ``security-findings`` topic, and its state in the store.

secret_scan publishes one message per new finding; workitem_sync consumes it and
records what happened to it (open, resolved, suppressed) under
``finding:<fingerprint>`` in the idempotency store's per-key state. The scanner
consults the same state and skips suppressed fingerprints. No message, state
or log ever holds the secret: only its redacted preview and keyed fingerprint.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from cievents.errors import ValidationError
from cievents.idempotency import Store

if TYPE_CHECKING:  # the scanner (and hyperscan) stay out of workitem_sync's imports
    from cievents.scanning import Finding

SCHEMA = "cievents.finding/v1"
STATES = ("open", "resolved", "suppressed")


@dataclass(frozen=True)
class FindingMessage:
    fingerprint: str
    rule_id: str
    family: str
    severity: str
    confidence: str
    preview: str
    location: Mapping[str, Any]
    source: str
    pipeline: str | None = None
    build_number: int | None = None
    build_url: str | None = None
    job_id: str | None = None
    job_name: str | None = None
    repository: str | None = None
    commit: str | None = None
    branch: str | None = None
    pull_request: int | None = None
    detected_at: str | None = None
    # How to revoke the credential kind, and whether the CI's masking should have hidden it
    # (job-log findings; ``cievents.cilogs.advice``).
    advice: Mapping[str, Any] | None = None
    # True on the message saying the finding no longer holds (a repository setting fixed,
    # ``cievents.inventory.audit``): workitem_sync resolves its work item.
    resolved: bool = False
    schema: str = field(default=SCHEMA)

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    def attributes(self) -> dict[str, str]:
        return {
            "source": "cievents",
            "event": "finding",
            "fingerprint": self.fingerprint,
            "rule_id": self.rule_id,
            "severity": self.severity,
        }

    @classmethod
    def from_finding(
        cls, finding: Finding, location: Mapping[str, Any], *, source: str, **context: Any
    ) -> FindingMessage:
        """The message for a scanner finding: its redacted preview, never the secret."""
        return cls(
            fingerprint=finding.fingerprint,
            rule_id=finding.rule_id,
            family=finding.family,
            severity=finding.severity,
            confidence=finding.confidence,
            preview=finding.secret,
            location=location,
            source=source,
            **context,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> FindingMessage:
        try:
            raw = json.loads(data)
            if raw.get("schema") != SCHEMA:
                raise ValidationError(
                    f"finding schema {raw.get('schema')!r}, expected {SCHEMA}", reason="bad_field"
                )
            return cls(**raw)
        except (ValueError, TypeError, AttributeError) as exc:
            raise ValidationError(f"not a finding message: {exc}", reason="bad_field") from None


def state_key(fingerprint: str) -> str:
    return f"finding:{fingerprint}"


def state_of(store: Store, fingerprint: str) -> Mapping[str, Any]:
    return store.get_state(state_key(fingerprint)).value


def is_suppressed(store: Store, fingerprint: str) -> bool:
    return state_of(store, fingerprint).get("status") == "suppressed"
