"""Typed settings from the environment, validated once at cold start.

Each function declares a frozen dataclass of its settings and builds it with
these readers; a missing or malformed variable raises ``ConfigError`` naming
the variable, so a bad deploy fails at start-up with a clear message instead
of on the first event.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType

from cievents.errors import ConfigError

Env = Mapping[str, str]
_VAR = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}")


def expand_vars(text: str, env: Env, where: str) -> str:
    """``${VAR}`` and ``${VAR:-default}`` in a config file's value, from ``env``; a variable
    that is unset and has no default raises ``ConfigError`` naming it and ``where``."""

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        value = env.get(name) or default
        if value is None:
            raise ConfigError(name, f"is used by {where} but not set")
        return value

    return _VAR.sub(replace, text)


def _env(environ: Env | None) -> Env:
    return os.environ if environ is None else environ


# An accepted value for each address setting, named in its error.
URL_EXAMPLES = {
    "SLACK_API_URL": "https://slack.com/api",
    "TEAMS_WEBHOOK_URL": "https://prod-00.westeurope.logic.azure.com/workflows/ID/triggers/manual/paths/invoke?...",
    "GITHUB_API_URL": "https://api.github.com",
    "GITLAB_API_URL": "https://gitlab.com/api/v4",
    "BITBUCKET_API_URL": "https://api.bitbucket.org/2.0",
    "BITBUCKET_SERVER_URL": "https://bitbucket.acme.example",
    "JIRA_URL": "https://acme.atlassian.net",
    "AZURE_DEVOPS_ORG_URL": "https://dev.azure.com/acme",
    "AZURE_DEVOPS_API_URL": "https://dev.azure.com",
    "BUILDKITE_API_URL": "https://api.buildkite.com/v2",
}
_URL = re.compile(r"^https?://[^/\s?#]+(?:[/?#]\S*)?$")


def url_checked(name: str, value: str, example: str = "") -> str:
    """``value`` when it is an http(s) URL with a host; else ``ConfigError`` naming ``name``."""
    if not _URL.match(value):
        problem = (
            "needs the scheme (https://)"
            if "://" not in value
            else "is not an http(s) URL with a host"
        )
        raise ConfigError(
            name, f"{value!r} {problem}", example or URL_EXAMPLES.get(name, "https://host/path")
        )
    return value


def _checked(name: str, value: str, example: str) -> str:
    """Every ``*_URL`` (and ``TEAMS_WEBHOOK_URL_<ROUTE>``) setting is an http(s) URL."""
    is_url = name.endswith("_URL") or "_WEBHOOK_URL_" in name
    return url_checked(name, value, example) if is_url else value


def env_str(
    name: str, default: str | None = None, *, example: str = "", environ: Env | None = None
) -> str:
    value = _env(environ).get(name, "").strip()
    if value:
        return _checked(name, value, example or (default or ""))
    if default is None:
        raise ConfigError(name, "is required but not set", example)
    return default


def env_opt(name: str, *, environ: Env | None = None) -> str | None:
    value = _env(environ).get(name, "").strip()
    return _checked(name, value, "") if value else None


def env_int(
    name: str, default: int, *, minimum: int | None = None, environ: Env | None = None
) -> int:
    raw = _env(environ).get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"expected an integer, got {raw!r}", str(default)) from None
    if minimum is not None and value < minimum:
        raise ConfigError(name, f"must be at least {minimum}, got {value}", str(default))
    return value


def env_float(
    name: str, default: float, *, minimum: float | None = None, environ: Env | None = None
) -> float:
    raw = _env(environ).get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"expected a number, got {raw!r}", f"{default:g}") from None
    if minimum is not None and value < minimum:
        raise ConfigError(name, f"must be at least {minimum:g}, got {value:g}", f"{default:g}")
    return value


def env_bool(name: str, default: bool = False, *, environ: Env | None = None) -> bool:
    raw = _env(environ).get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(name, f"expected true or false, got {raw!r}", "true")


def env_list(name: str, *, environ: Env | None = None) -> tuple[str, ...]:
    """Comma-separated values, blanks dropped."""
    raw = _env(environ).get(name, "")
    return tuple(part.strip() for part in raw.split(",") if part.strip())


STORE_FORMS = "memory:, sqlite:PATH, firestore:[COLLECTION] or gcs:BUCKET[/PREFIX]"


def store_spec(spec: str | None) -> str | None:
    """``CIEVENTS_STORE`` checked for form (no client is imported): the value, or None."""
    if not spec:
        return None
    scheme, sep, rest = spec.partition(":")
    if not sep or scheme not in ("memory", "sqlite", "firestore", "gcs"):
        raise ConfigError(
            "CIEVENTS_STORE", f"unknown backend {spec!r}; use {STORE_FORMS}", "firestore:cievents"
        )
    if scheme == "gcs" and not rest.removeprefix("//").partition("/")[0]:
        raise ConfigError("CIEVENTS_STORE", "gcs: needs a bucket", "gcs:my-bucket/cievents")
    return spec


@dataclass(frozen=True)
class CommonSettings:
    """Settings every Pub/Sub function reads (through the handler).

    CIEVENTS_MAX_EVENT_AGE_S   ack with a warning what was published longer ago (default 3 days)
    CIEVENTS_LEASE_S           idempotency lease per execution (default 120 s)
    CIEVENTS_STORE             idempotency backend (see ``cievents.idempotency``)
    CIEVENTS_DEAD_LETTER       where permanently failed messages are republished:
                               a Pub/Sub topic name, or ``file:PATH``; unset = log only
    CIEVENTS_DRY_RUN           record outgoing requests in the outbox instead of sending
    CIEVENTS_OUTBOX            the outbox folder (default ``.cievents/outbox``)
    """

    max_event_age_s: float
    lease_s: float
    store_url: str | None
    dead_letter: str | None
    dry_run: bool
    outbox_dir: str

    @classmethod
    def from_env(cls, environ: Env | None = None) -> CommonSettings:
        return cls(
            max_event_age_s=env_float(
                "CIEVENTS_MAX_EVENT_AGE_S", 3 * 24 * 3600.0, minimum=1, environ=environ
            ),
            lease_s=env_float("CIEVENTS_LEASE_S", 120.0, minimum=1, environ=environ),
            store_url=store_spec(env_opt("CIEVENTS_STORE", environ=environ)),
            dead_letter=env_opt("CIEVENTS_DEAD_LETTER", environ=environ),
            dry_run=env_bool("CIEVENTS_DRY_RUN", False, environ=environ),
            outbox_dir=env_str("CIEVENTS_OUTBOX", ".cievents/outbox", environ=environ),
        )


# -- cold start: a bad setting is one line, not a traceback ------------------------------------


def config_error_in(exc: BaseException | None) -> ConfigError | None:
    """The ConfigError that caused ``exc`` (itself, or one in its cause/context chain)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, ConfigError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


Hook = Callable[[type[BaseException], BaseException, TracebackType | None], object]


def _one_line_hook(previous: Hook) -> Hook:
    def excepthook(
        kind: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> object:
        error = config_error_in(value)
        if error is None:
            return previous(kind, value, tb)
        line = {
            "severity": "ERROR",
            "message": f"cold start stopped: {error.message}",
            "reason": "config",
            "variable": error.variable,
        }
        sys.stderr.write(json.dumps(line) + "\n")
        return None

    excepthook.cievents = True  # type: ignore[attr-defined]
    return excepthook


if not getattr(sys.excepthook, "cievents", False):
    # A function reads its settings at import; functions-framework lets the error escape, so
    # Python's last-resort hook is where one line (the variable, its problem, an example)
    # replaces a 37-line traceback. Every other exception keeps the default report.
    sys.excepthook = _one_line_hook(sys.excepthook)
