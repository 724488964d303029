"""Per-vendor verification. See the package docstring for each vendor's scheme."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence

from cievents.payload import ascii_digits

SOURCES = ("buildkite", "github", "gitlab", "bitbucket", "azure-devops", "jira")
DEFAULT_REPLAY_WINDOW_S = 300.0


class Refusal(Exception):  # noqa: N818 - a refusal is an answer, not a fault
    """A request ingest must refuse; ``status`` is what to answer, ``reason`` what to log."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


def _any_secret(secrets: Sequence[str], matches: Callable[[str], bool]) -> bool:
    """True when one of the secrets matches; every secret is tried (no early timing tell)."""
    found = False
    for secret in secrets:
        found = matches(secret) or found
    return found


def _prefixed_hex(value: str, prefix: str) -> str | None:
    if not value.startswith(prefix):
        return None
    digest = value[len(prefix) :].strip().lower()
    return digest if len(digest) == 64 else None


def _buildkite(
    headers: Mapping[str, str], body: bytes, secrets: Sequence[str], now: float, window: float
) -> None:
    signature = headers.get("x-buildkite-signature")
    if signature:
        parts = dict(p.strip().split("=", 1) for p in signature.split(",") if "=" in p)
        timestamp, digest = parts.get("timestamp", ""), parts.get("signature", "").lower()
        if not ascii_digits(timestamp) or len(digest) != 64:
            raise Refusal(401, "malformed X-Buildkite-Signature")
        if abs(now - int(timestamp)) > window:
            raise Refusal(401, f"stale X-Buildkite-Signature timestamp (window {window:.0f} s)")
        signed = timestamp.encode() + b"." + body
        if not _any_secret(secrets, lambda s: _equal(_hmac_hex(s, signed), digest)):
            raise Refusal(401, "X-Buildkite-Signature does not match any configured secret")
        return
    token = headers.get("x-buildkite-token")
    if token:
        if not _any_secret(secrets, lambda s: _equal(s, token)):
            raise Refusal(401, "X-Buildkite-Token does not match any configured secret")
        return
    raise Refusal(401, "missing X-Buildkite-Signature or X-Buildkite-Token")


def _body_hmac(
    header: str, prefix: str
) -> Callable[[Mapping[str, str], bytes, Sequence[str]], None]:
    def check(headers: Mapping[str, str], body: bytes, secrets: Sequence[str]) -> None:
        value = headers.get(header)
        if not value:
            raise Refusal(401, f"missing {header}")
        digest = _prefixed_hex(value, prefix)
        if digest is None:
            raise Refusal(401, f"malformed {header} (expected {prefix}<64 hex digits>)")
        if not _any_secret(secrets, lambda s: _equal(_hmac_hex(s, body), digest)):
            raise Refusal(401, f"{header} does not match any configured secret")

    return check


def _standard_webhook_key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret[len("whsec_") :])
        except binascii.Error:
            pass
    return secret.encode("utf-8")


def _gitlab(
    headers: Mapping[str, str], body: bytes, secrets: Sequence[str], now: float, window: float
) -> None:
    # The signing token's Standard Webhooks signature covers webhook-id (the delivery key
    # ingest uses), so it is checked first; X-Gitlab-Token is a static secret that signs nothing.
    signature = headers.get("webhook-signature")
    if signature:
        webhook_id, timestamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
        if not ascii_digits(timestamp) or not webhook_id:
            raise Refusal(401, "malformed Standard Webhooks headers")
        if abs(now - int(timestamp)) > window:
            raise Refusal(401, f"stale webhook-timestamp (window {window:.0f} s)")
        signed = f"{webhook_id}.{timestamp}.".encode() + body
        offered = [p.split(",", 1)[1] for p in signature.split() if p.startswith("v1,")]

        def matches(secret: str) -> bool:
            expected = base64.b64encode(
                hmac.new(_standard_webhook_key(secret), signed, hashlib.sha256).digest()
            ).decode()
            return any(_equal(expected, candidate) for candidate in offered)

        if not _any_secret(secrets, matches):
            raise Refusal(401, "webhook-signature does not match any configured secret")
        return
    token = headers.get("x-gitlab-token")
    if token:
        if not _any_secret(secrets, lambda s: _equal(s, token)):
            raise Refusal(401, "X-Gitlab-Token does not match any configured secret")
        return
    raise Refusal(401, "missing X-Gitlab-Token or webhook-signature")


def _azure_devops(headers: Mapping[str, str], secrets: Sequence[str]) -> None:
    token = headers.get("x-cievents-token")
    if token:
        if not _any_secret(secrets, lambda s: _equal(s, token)):
            raise Refusal(401, "X-Cievents-Token does not match any configured secret")
        return
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise Refusal(401, "malformed Basic authorization") from None
        password = decoded.partition(":")[2]
        if not _any_secret(secrets, lambda s: _equal(s, password)):
            raise Refusal(401, "Basic authorization password does not match any configured secret")
        return
    raise Refusal(401, "missing Basic authorization or X-Cievents-Token")


def _jira(
    headers: Mapping[str, str], body: bytes, secrets: Sequence[str], query_token: str
) -> None:
    if headers.get("x-hub-signature"):
        _body_hmac("x-hub-signature", "sha256=")(headers, body, secrets)
        return
    if query_token:
        if not _any_secret(secrets, lambda s: _equal(s, query_token)):
            raise Refusal(401, "URL token does not match any configured secret")
        return
    raise Refusal(401, "missing X-Hub-Signature or URL token")


def verify(
    source: str,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str],
    now: float,
    *,
    query_token: str = "",
    replay_window_s: float = DEFAULT_REPLAY_WINDOW_S,
) -> None:
    """Raise ``Refusal`` unless ``body`` is authenticated for ``source``.

    ``headers`` must have lower-case names. A source with no secret configured is
    refused: ingest never accepts an unsigned webhook.
    """
    if source not in SOURCES:
        raise Refusal(404, f"unknown source {source!r}")
    if not secrets:
        raise Refusal(401, f"no secret configured for {source}")
    if source == "buildkite":
        _buildkite(headers, body, secrets, now, replay_window_s)
    elif source == "github":
        _body_hmac("x-hub-signature-256", "sha256=")(headers, body, secrets)
    elif source == "gitlab":
        _gitlab(headers, body, secrets, now, replay_window_s)
    elif source == "bitbucket":
        _body_hmac("x-hub-signature", "sha256=")(headers, body, secrets)
    elif source == "azure-devops":
        _azure_devops(headers, secrets)
    else:
        _jira(headers, body, secrets, query_token)
