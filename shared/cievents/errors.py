"""The retry taxonomy: one error tree with a single root.

Pub/Sub redelivers a message whenever the function raises, so the type of an
error *is* the retry decision:

    CIEventsError
    ├── PermanentError        log, count, ack: retrying cannot help
    │   ├── ValidationError   the message or payload is malformed
    │   ├── UnknownTargetError   the repo / channel / issue does not exist
    │   └── RejectedError     a downstream 4xx that is not a rate limit
    │       └── AuthError     401/403: a credential is revoked, wrong or lacks a scope
    ├── TransientError        raise, so Pub/Sub redelivers with backoff
    │   └── RateLimitedError  429 / rate-limit 403, with the wait the server asked for
    └── ConfigError           bad settings: fail at cold start, naming the variable

Every error carries a short ``reason`` slug for metrics and log filtering, and
its message says what was wrong; the handler adds what happens next.
"""

from __future__ import annotations


class CIEventsError(Exception):
    """Root of every error this project raises on purpose."""

    reason: str = "error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class PermanentError(CIEventsError):
    """Retrying will not help: the handler logs it and acks the message."""

    reason = "permanent"


class ValidationError(PermanentError):
    """The message, its envelope or the vendor payload is malformed or incomplete."""

    reason = "validation"


class UnknownTargetError(PermanentError):
    """The downstream target (repository, channel, issue, commit) does not exist."""

    reason = "unknown_target"


class RejectedError(PermanentError):
    """A downstream service refused the request for good (4xx other than rate limits)."""

    reason = "rejected"

    def __init__(
        self, message: str, *, status: int | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message, reason=reason)
        self.status = status


class AuthError(RejectedError):
    """401/403 (not a rate limit): the credential is revoked, wrong or lacks a scope.

    Permanent for this delivery, but not the message's fault: the handler
    dead-letters it (for replay once the credential is fixed) and raises the
    health alert. ``credential`` names the setting to fix.
    """

    reason = "auth"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str | None = None,
        credential: str = "",
    ) -> None:
        super().__init__(message, status=status, reason=reason)
        self.credential = credential


class TransientError(CIEventsError):
    """A retry may succeed (timeout, connection error, 5xx): the handler re-raises it.

    ``unsent`` is True only when the request provably never reached the server
    (connection refused, 429/503): only then may a create be retried in-call.
    """

    reason = "transient"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        reason: str | None = None,
        unsent: bool = False,
    ) -> None:
        super().__init__(message, reason=reason)
        self.status = status
        self.retry_after = retry_after
        self.unsent = unsent
        # With reason "network": the kind of failure (``cievents.neterrors.Kind``), or None.
        self.network: str | None = None


class RateLimitedError(TransientError):
    """The service asked us to slow down; ``retry_after`` holds its wait in seconds."""

    reason = "rate_limited"


class ConfigError(CIEventsError):
    """A setting is missing or invalid. Raised at cold start, naming the variable, what is
    wrong with its value and (``example``) a value it accepts: one line."""

    reason = "config"

    def __init__(self, variable: str, problem: str, example: str = "") -> None:
        hint = f" (e.g. {variable}={example})" if example else ""
        super().__init__(f"{variable}: {problem}{hint}", reason="config")
        self.variable = variable
        self.problem = problem
        self.example = example


def classify_status(status: int) -> type[CIEventsError] | None:
    """Map an HTTP status to the error class it implies, or None for success.

    429 is a rate limit, 408 and every 5xx are transient, 404/410 mean the
    target is gone, 401/403 a broken credential, any other 4xx is a permanent
    rejection.
    """
    if status < 400:
        return None
    if status == 429:
        return RateLimitedError
    if status == 408 or status >= 500:
        return TransientError
    if status in (404, 410):
        return UnknownTargetError
    if status in (401, 403):
        return AuthError
    return RejectedError
