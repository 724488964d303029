"""The headers each vendor would send for a body: used by the demo, ``cievents replay``
and tests, so locally signed requests pass exactly the checks production ones do."""

from __future__ import annotations

import base64
import hashlib
import hmac

from cievents import clock


def _hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign_headers(
    source: str, body: bytes, secret: str, *, event: str | None = None, now: float | None = None
) -> dict[str, str]:
    """Authentication headers (and the event header, when ``event`` is given) for ``body``."""
    timestamp = int(clock.now() if now is None else now)
    headers: dict[str, str] = {"Content-Type": "application/json"}
    if source == "buildkite":
        signature = _hex(secret, f"{timestamp}".encode() + b"." + body)
        headers["X-Buildkite-Signature"] = f"timestamp={timestamp},signature={signature}"
        if event:
            headers["X-Buildkite-Event"] = event
    elif source == "github":
        headers["X-Hub-Signature-256"] = "sha256=" + _hex(secret, body)
        if event:
            headers["X-GitHub-Event"] = event
    elif source == "gitlab":
        headers["X-Gitlab-Token"] = secret
        if event:
            headers["X-Gitlab-Event"] = event
    elif source == "bitbucket":
        headers["X-Hub-Signature"] = "sha256=" + _hex(secret, body)
        if event:
            headers["X-Event-Key"] = event
    elif source == "azure-devops":
        # Service hooks send Basic auth with the user name and password typed into the
        # subscription; ingest checks the password only.
        credentials = base64.b64encode(f"azure-devops:{secret}".encode()).decode()
        headers["Authorization"] = f"Basic {credentials}"
    elif source == "jira":
        headers["X-Hub-Signature"] = "sha256=" + _hex(secret, body)
    else:
        raise ValueError(f"unknown source {source!r}")
    return headers
