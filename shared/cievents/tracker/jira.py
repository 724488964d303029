"""A ``jira`` client fit for a function, and its errors in our taxonomy.

The package's defaults suit an interactive script, not a function: no
timeout, and up to three in-call retries of 429/503 that may sleep a minute
each. Here: a timeout, ``max_retries=0``, and every ``JIRAError`` classified
so that Pub/Sub does the waiting. Jira Cloud authenticates with e-mail + API
token (HTTP Basic); Server / Data Center with a personal access token
(Bearer). It never asks PyPI for updates (the package's default does).
The package is imported on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cievents.config import Env, env_int, env_opt
from cievents.errors import (
    AuthError,
    CIEventsError,
    RateLimitedError,
    RejectedError,
    TransientError,
    UnknownTargetError,
)
from cievents.http import retry_after_seconds

__all__ = ["CREDENTIAL", "JiraSettings", "classify", "hidden_marker", "make_client"]

CREDENTIAL = "JIRA_API_TOKEN (with JIRA_EMAIL) or JIRA_PAT"


def hidden_marker(marker: str) -> str:
    """Wiki markup that renders nothing (an anchor), carried in a comment so the comment
    can be found again when the answer to its creation is lost."""
    return "{anchor:" + marker + "}"


@dataclass(frozen=True)
class JiraSettings:
    url: str
    email: str | None = None
    api_token: str | None = None
    pat: str | None = None
    timeout_s: int = 10

    @classmethod
    def from_env(cls, environ: Env | None = None) -> JiraSettings:
        """``JIRA_URL``, ``JIRA_EMAIL`` + ``JIRA_API_TOKEN`` (Cloud) or ``JIRA_PAT`` (Data
        Center), ``JIRA_TIMEOUT_S`` (default 10)."""
        return cls(
            url=(env_opt("JIRA_URL", environ=environ) or "").rstrip("/"),
            email=env_opt("JIRA_EMAIL", environ=environ),
            api_token=env_opt("JIRA_API_TOKEN", environ=environ),
            pat=env_opt("JIRA_PAT", environ=environ),
            timeout_s=env_int("JIRA_TIMEOUT_S", 10, minimum=1, environ=environ),
        )

    @property
    def has_credentials(self) -> bool:
        return bool(self.pat or (self.email and self.api_token))


def make_client(settings: JiraSettings) -> Any:
    from jira import JIRA

    auth: dict[str, Any] = (
        {"token_auth": settings.pat}
        if settings.pat
        else {"basic_auth": (settings.email, settings.api_token)}
    )
    try:
        return JIRA(
            server=settings.url,
            timeout=settings.timeout_s,
            max_retries=0,
            get_server_info=True,
            **auth,
        )
    except Exception as exc:
        raise classify(exc, "jira: connect") from None


def classify(exc: BaseException, what: str) -> CIEventsError:
    """A ``JIRAError`` (or a requests error underneath) → our error classes."""
    if isinstance(exc, CIEventsError):
        return exc
    status = getattr(exc, "status_code", None)
    response = getattr(exc, "response", None)
    text = str(getattr(exc, "text", "") or "")[:200]
    if status is None:
        # Not an HTTP answer: the requests/urllib3 error underneath (connection, timeout,
        # a broken read) is transient; anything else is classified like any exception.
        from cievents.handler import classify_exception

        name = type(exc).__name__
        if "Timeout" in name or "Connection" in name:
            return TransientError(f"{what}: {name}", reason="network")
        if isinstance(exc, ValueError) and "JSONDecodeError" in name:
            return TransientError(
                f"{what}: an unreadable answer; outcome unknown", reason="unreadable_answer"
            )
        classified = classify_exception(exc)
        if isinstance(classified, TransientError):
            return TransientError(f"{what}: {classified.message}", reason="network")
        return RejectedError(f"{what}: {name}: {str(exc)[:200]}")
    headers = dict(getattr(response, "headers", {}) or {})
    if status == 429 or (status == 503 and headers.get("Retry-After")):
        return RateLimitedError(
            f"{what}: rate limited ({status})",
            status=status,
            retry_after=retry_after_seconds(headers),
        )
    if status >= 500:
        return TransientError(f"{what}: HTTP {status}", status=status)
    if status == 404:
        return UnknownTargetError(f"{what}: not found or not visible to this account ({text})")
    if status in (401, 403):
        fix = "is invalid or revoked" if status == 401 else "lacks a permission"
        return AuthError(
            f"{what}: HTTP {status}: {CREDENTIAL} {fix} ({text})",
            status=status,
            credential=CREDENTIAL,
        )
    return RejectedError(f"{what}: HTTP {status} ({text})", status=status)


def issue_exists(client: Any, key: str) -> bool:
    """True when ``key`` names an issue the account can browse; False when Jira says 404.
    Other failures are raised classified (a 5xx retries the message)."""
    try:
        client.issue(key, fields="summary")
    except Exception as exc:
        error = classify(exc, f"jira: issue {key}")
        if isinstance(error, UnknownTargetError):
            return False
        raise error from None
    return True


def issue_lookup(settings: JiraSettings) -> Callable[[str], bool] | None:
    """Whether a key names an issue, asked once per key, the client made on first use;
    None when Jira is not configured (the caller says so rather than guessing)."""
    if not (settings.url and settings.has_credentials):
        return None
    client: list[Any] = []
    seen: dict[str, bool] = {}

    def exists(key: str) -> bool:
        if key not in seen:
            if not client:
                client.append(make_client(settings))
            seen[key] = issue_exists(client[0], key)
        return seen[key]

    return exists
