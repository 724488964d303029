"""Routing rules: which events reach which Slack channel or Teams webhook.

A YAML file (``CIEVENTS_ROUTING_FILE``; the built-in default is
``cievents/data/routing.default.yaml``) holds a list of rules. A rule matches
when every filter it names matches; an event goes to the union of the
destinations of the rules it matches::

    rules:
      - name: failures and recoveries
        source: buildkite            # one value or a list
        event: build.finished        # the vendor's event name(s)
        pipeline: ["web-*", "api"]   # globs
        branch: main                 # globs
        state: [failed, passed]      # build state(s); "blocked" for blocked builds
        changed: true                # only when the state differs from the last
                                     # finished build on this pipeline and branch
        slack: "#ci"                 # a channel name or ID
        teams: default               # TEAMS_WEBHOOK_URL; "oncall" → TEAMS_WEBHOOK_URL_ONCALL

Values may use ``${VAR}`` and ``${VAR:-default}`` from the environment.
The file is validated at cold start: a bad rule raises ``ConfigError``
naming the variable, the rule and the problem (an unknown key, source or
state is a typo that would otherwise silently never match). A ``teams:``
value that is a literal URL is registered as a secret, so it is masked in
logs and in the outbox like ``TEAMS_WEBHOOK_URL``.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from cievents import log
from cievents.config import env_opt, expand_vars
from cievents.errors import ConfigError
from cievents.sources import SOURCES

FILTERS = ("source", "event", "pipeline", "branch", "state")
KEYS = {"name", *FILTERS, "changed", "slack", "teams"}
# Every state a source normalizes a build to (cievents.sources), plus "blocked".
STATES = frozenset(
    {
        "creating",
        "scheduled",
        "waiting",
        "running",
        "failing",
        "blocked",
        "canceling",
        "passed",
        "failed",
        "canceled",
        "skipped",
        "not_run",
        "waiting_failed",
    }
)


@dataclass(frozen=True)
class Query:
    """What routing needs to know of an event."""

    source: str
    event: str
    pipeline: str
    branch: str
    state: str
    changed: bool | None = None  # None: not known (e.g. not a finished build)


@dataclass(frozen=True)
class Rule:
    name: str
    filters: Mapping[str, tuple[str, ...]]
    changed: bool | None
    slack: str | None
    teams: str | None

    def matches(self, query: Query) -> bool:
        for field, patterns in self.filters.items():
            value = str(getattr(query, field) or "")
            globbing = field in ("pipeline", "branch")
            if not any(fnmatch.fnmatchcase(value, p) if globbing else value == p for p in patterns):
                return False
        return self.changed is None or query.changed is self.changed


@dataclass(frozen=True)
class Routes:
    rules: tuple[Rule, ...]

    def slack_channels(self, query: Query) -> list[str]:
        return _unique(r.slack for r in self.rules if r.slack and r.matches(query))

    def teams_webhooks(self, query: Query) -> list[str]:
        return _unique(r.teams for r in self.rules if r.teams and r.matches(query))

    def all_slack_channels(self) -> list[str]:
        return _unique(r.slack for r in self.rules if r.slack)

    def teams_destinations(self) -> dict[str, str]:
        """Each Teams destination the rules name, with the first rule that names it."""
        found: dict[str, str] = {}
        for rule in self.rules:
            if rule.teams:
                found.setdefault(rule.teams, rule.name)
        return found

    def needs_change_tracking(self) -> bool:
        return any(r.changed is not None for r in self.rules)


def _unique(values: Any) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _values(raw: Any, where: str, key: str, env: Mapping[str, str]) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else [raw]
    if not items or not all(
        isinstance(v, str | int) and not isinstance(v, bool) and str(v) for v in items
    ):
        raise ConfigError(
            "CIEVENTS_ROUTING_FILE", f"{where}: '{key}' must be a string or a list of strings"
        )
    values = tuple(expand_vars(str(v), env, where) for v in items)
    known = {"source": SOURCES, "state": STATES}.get(key)
    if known is not None:
        unknown = [v for v in values if v not in known]
        if unknown:
            raise ConfigError(
                "CIEVENTS_ROUTING_FILE",
                f"{where}: unknown {key} {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(sorted(known))}",
            )
    return values


def parse_rules(document: Any, env: Mapping[str, str] | None = None) -> Routes:
    """Validate a loaded YAML document into ``Routes``."""
    environ = os.environ if env is None else env
    if not isinstance(document, Mapping) or not isinstance(document.get("rules"), list):
        raise ConfigError("CIEVENTS_ROUTING_FILE", "the file must be a mapping with a 'rules' list")
    rules = []
    for index, raw in enumerate(document["rules"], start=1):
        where = f"rule {index}"
        if not isinstance(raw, Mapping):
            raise ConfigError("CIEVENTS_ROUTING_FILE", f"{where}: must be a mapping")
        if isinstance(raw.get("name"), str):
            where = f"rule {index} ({raw['name']!r})"
        unknown = sorted(set(map(str, raw)) - KEYS)
        if unknown:
            raise ConfigError(
                "CIEVENTS_ROUTING_FILE",
                f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(KEYS))}",
            )
        filters = {k: _values(raw[k], where, k, environ) for k in FILTERS if k in raw}
        changed = raw.get("changed")
        if changed is not None and not isinstance(changed, bool):
            raise ConfigError("CIEVENTS_ROUTING_FILE", f"{where}: 'changed' must be true or false")
        slack = expand_vars(str(raw["slack"]), environ, where) if raw.get("slack") else None
        teams = expand_vars(str(raw["teams"]), environ, where) if raw.get("teams") else None
        if not slack and not teams:
            raise ConfigError(
                "CIEVENTS_ROUTING_FILE", f"{where}: names no destination (slack or teams)"
            )
        if teams and teams.startswith(("https://", "http://")):
            log.register_secrets(teams)  # a webhook URL is a credential
        rules.append(Rule(str(raw.get("name") or where), filters, changed, slack, teams))
    return Routes(tuple(rules))


def load(path: str | None = None, env: Mapping[str, str] | None = None) -> Routes:
    """The rules from ``path``, ``CIEVENTS_ROUTING_FILE`` or the built-in default."""
    environ = os.environ if env is None else env
    chosen = path or environ.get("CIEVENTS_ROUTING_FILE")
    if chosen:
        try:
            with open(chosen, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise ConfigError(
                "CIEVENTS_ROUTING_FILE", f"cannot read {chosen}: {exc.strerror}"
            ) from None
    else:
        # The built-in rules as JSON, read without loading a YAML parser at cold start:
        # routing.default.yaml (the commented copy users start from) holds the same rules,
        # and tests/notify/test_routing.py checks the two agree.
        default = resources.files("cievents").joinpath("data/routing.default.json")
        return parse_rules(json.loads(default.read_text("utf-8")), environ)
    import yaml

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError("CIEVENTS_ROUTING_FILE", f"not valid YAML: {exc}") from None
    return parse_rules(document, environ)


def slack_channels() -> list[str]:
    """Every Slack channel the configured rules can send to (used by ``cievents check``)."""
    return load().all_slack_channels()


def teams_webhook_variable(name: str) -> str:
    """The environment variable that holds destination ``name``'s webhook URL."""
    if name == "default":
        return "TEAMS_WEBHOOK_URL"
    return "TEAMS_WEBHOOK_URL_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def teams_webhook_url(name: str, env: Mapping[str, str] | None = None) -> str | None:
    """The webhook URL of a destination: ``default``, a name, or a literal URL."""
    environ = os.environ if env is None else env
    if name.startswith(("https://", "http://")):
        return name
    return env_opt(teams_webhook_variable(name), environ=environ)  # checked: an http(s) URL
