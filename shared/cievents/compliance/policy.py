"""The compliance policy: which checks a pull request must pass, chosen by repository and branch.

A YAML file (``COMPLIANCE_POLICY_FILE``, or the YAML itself in ``COMPLIANCE_POLICY``; the
built-in default is ``cievents/data/compliance.default.yaml``) holds a list of rules. The
first rule whose ``repository`` and ``target_branch`` globs both match a pull request
decides its checks; a pull request no rule matches is not governed (nothing is written)::

    rules:
      - name: production branches
        repository: ["acme-inc/*"]          # globs on owner/name (GitLab group/sub/project,
                                            # Azure org/project/repo); default "*"
        target_branch: [main, "release/*"]  # globs; default "*"
        checks:                             # every check is optional
          branch_name: '^(feature|fix|chore)/[A-Z]+-\\d+-'
          jira_key: {in: [title, branch], verify: true, projects: [SHOP]}
          approvals: {minimum: 2, exclude_stale: true}
          reviewers: {users: [alice], groups: [acme-inc/security], code_owners: true}
          status_checks: ["buildkite/*", "ci/lint"]
          no_merge_commits: true
          max_files: 50
          max_lines: 1000
          description: true

Values may use ``${VAR}`` and ``${VAR:-default}`` from the environment, as the routing
rules do. The file is validated at cold start: a bad key raises ``ConfigError`` naming
the variable, the rule and the key in one line.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from cievents.config import expand_vars as expand
from cievents.errors import ConfigError

__all__ = [
    "CHECK_NAMES",
    "Approvals",
    "Checks",
    "JiraKey",
    "Policy",
    "Reviewers",
    "Rule",
    "load",
    "parse_policy",
]

VARIABLE = "COMPLIANCE_POLICY_FILE"
RULE_KEYS = {"name", "repository", "target_branch", "checks"}
CHECK_NAMES = (
    "branch_name",
    "jira_key",
    "approvals",
    "reviewers",
    "status_checks",
    "no_merge_commits",
    "max_files",
    "max_lines",
    "description",
)
JIRA_KEYS = {"in", "verify", "projects"}
APPROVAL_KEYS = {"minimum", "exclude_stale"}
REVIEWER_KEYS = {"users", "groups", "code_owners"}
JIRA_PLACES = ("title", "branch")


@dataclass(frozen=True)
class JiraKey:
    places: tuple[str, ...] = JIRA_PLACES
    verify: bool = False
    projects: tuple[str, ...] = ()


@dataclass(frozen=True)
class Approvals:
    minimum: int = 1
    exclude_stale: bool = False


@dataclass(frozen=True)
class Reviewers:
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    code_owners: bool = False


@dataclass(frozen=True)
class Checks:
    branch_name: re.Pattern[str] | None = None
    jira_key: JiraKey | None = None
    approvals: Approvals | None = None
    reviewers: Reviewers | None = None
    status_checks: tuple[str, ...] = ()
    no_merge_commits: bool = False
    max_files: int | None = None
    max_lines: int | None = None
    description: bool = False

    def enabled(self) -> tuple[str, ...]:
        """The names of the checks this rule runs, in the order the report lists them."""
        on = {
            "branch_name": self.branch_name is not None,
            "jira_key": self.jira_key is not None,
            "approvals": self.approvals is not None,
            "reviewers": self.reviewers is not None,
            "status_checks": bool(self.status_checks),
            "no_merge_commits": self.no_merge_commits,
            "max_files": self.max_files is not None,
            "max_lines": self.max_lines is not None,
            "description": self.description,
        }
        return tuple(name for name in CHECK_NAMES if on[name])


@dataclass(frozen=True)
class Rule:
    name: str
    repositories: tuple[str, ...] = ("*",)
    target_branches: tuple[str, ...] = ("*",)
    checks: Checks = field(default_factory=Checks)

    def matches(self, repository: str, target_branch: str) -> bool:
        return any(fnmatch.fnmatchcase(repository, p) for p in self.repositories) and any(
            fnmatch.fnmatchcase(target_branch, p) for p in self.target_branches
        )


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...]

    def rule_for(self, repository: str, target_branch: str) -> Rule | None:
        """The first rule that governs a pull request into ``target_branch`` of ``repository``."""
        for rule in self.rules:
            if rule.matches(repository, target_branch):
                return rule
        return None

    def needs_jira(self) -> bool:
        return any(r.checks.jira_key is not None and r.checks.jira_key.verify for r in self.rules)


def _fail(where: str, problem: str) -> ConfigError:
    return ConfigError(VARIABLE, f"{where}: {problem}")


def _strings(raw: Any, where: str, key: str, env: Mapping[str, str]) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else [raw]
    if not items or not all(
        isinstance(v, str | int) and not isinstance(v, bool) and str(v) for v in items
    ):
        raise _fail(where, f"'{key}' must be a string or a list of strings")
    return tuple(expand(str(v), env, where) for v in items)


def _bool(raw: Any, where: str, key: str) -> bool:
    if not isinstance(raw, bool):
        raise _fail(where, f"'{key}' must be true or false, got {raw!r}")
    return raw


def _count(raw: Any, where: str, key: str, env: Mapping[str, str], minimum: int) -> int:
    value = expand(raw, env, where) if isinstance(raw, str) else raw
    try:
        number = int(value) if isinstance(value, str | int) and not isinstance(value, bool) else -1
    except ValueError:
        number = -1
    if number < minimum:
        raise _fail(where, f"'{key}' must be an integer of at least {minimum}, got {raw!r}")
    return number


def _mapping(raw: Any, where: str, key: str, known: set[str]) -> Mapping[str, Any]:
    if raw is True:
        return {}
    if not isinstance(raw, Mapping):
        raise _fail(where, f"'{key}' must be a mapping (or true for the defaults)")
    unknown = sorted(set(map(str, raw)) - known)
    if unknown:
        raise _fail(
            where,
            f"unknown key '{key}.{unknown[0]}'; known: {', '.join(sorted(known))}",
        )
    return raw


def _checks(raw: Any, where: str, env: Mapping[str, str]) -> Checks:
    if raw is None:
        return Checks()
    if not isinstance(raw, Mapping):
        raise _fail(where, "'checks' must be a mapping")
    unknown = sorted(set(map(str, raw)) - set(CHECK_NAMES))
    if unknown:
        raise _fail(
            where, f"unknown key 'checks.{unknown[0]}'; known: {', '.join(sorted(CHECK_NAMES))}"
        )
    values: dict[str, Any] = {}
    if raw.get("branch_name") is not None:
        pattern = expand(str(raw["branch_name"]), env, where)
        try:
            values["branch_name"] = re.compile(pattern)
        except re.error as exc:
            raise _fail(where, f"'checks.branch_name' is not a regular expression: {exc}") from None
    if raw.get("jira_key") not in (None, False):
        spec = _mapping(raw["jira_key"], where, "checks.jira_key", JIRA_KEYS)
        places = _strings(spec.get("in", list(JIRA_PLACES)), where, "checks.jira_key.in", env)
        bad = [p for p in places if p not in JIRA_PLACES]
        if bad:
            raise _fail(where, f"'checks.jira_key.in' accepts title, branch; got {bad[0]!r}")
        values["jira_key"] = JiraKey(
            places=places,
            verify=_bool(spec.get("verify", False), where, "checks.jira_key.verify"),
            projects=_strings(spec["projects"], where, "checks.jira_key.projects", env)
            if "projects" in spec
            else (),
        )
    if raw.get("approvals") not in (None, False):
        spec = _mapping(raw["approvals"], where, "checks.approvals", APPROVAL_KEYS)
        values["approvals"] = Approvals(
            minimum=_count(spec.get("minimum", 1), where, "checks.approvals.minimum", env, 1),
            exclude_stale=_bool(
                spec.get("exclude_stale", False), where, "checks.approvals.exclude_stale"
            ),
        )
    if raw.get("reviewers") not in (None, False):
        spec = _mapping(raw["reviewers"], where, "checks.reviewers", REVIEWER_KEYS)
        reviewers = Reviewers(
            users=_strings(spec["users"], where, "checks.reviewers.users", env)
            if "users" in spec
            else (),
            groups=_strings(spec["groups"], where, "checks.reviewers.groups", env)
            if "groups" in spec
            else (),
            code_owners=_bool(
                spec.get("code_owners", False), where, "checks.reviewers.code_owners"
            ),
        )
        if not (reviewers.users or reviewers.groups or reviewers.code_owners):
            raise _fail(where, "'checks.reviewers' names no users, groups or code_owners")
        values["reviewers"] = reviewers
    if raw.get("status_checks") is not None:
        values["status_checks"] = _strings(raw["status_checks"], where, "checks.status_checks", env)
    for key in ("no_merge_commits", "description"):
        if raw.get(key) is not None:
            values[key] = _bool(raw[key], where, f"checks.{key}")
    for key in ("max_files", "max_lines"):
        if raw.get(key) is not None:
            values[key] = _count(raw[key], where, f"checks.{key}", env, 1)
    checks = Checks(**values)
    if not checks.enabled():
        raise _fail(where, "'checks' enables no check; known: " + ", ".join(CHECK_NAMES))
    return checks


def parse_policy(document: Any, env: Mapping[str, str] | None = None) -> Policy:
    """Validate a loaded YAML document into a ``Policy``."""
    environ = os.environ if env is None else env
    if not isinstance(document, Mapping) or not isinstance(document.get("rules"), list):
        raise ConfigError(VARIABLE, "the policy must be a mapping with a 'rules' list")
    extra = sorted(set(map(str, document)) - {"rules"})
    if extra:
        raise ConfigError(VARIABLE, f"unknown top-level key '{extra[0]}'; known: rules")
    rules = []
    for index, raw in enumerate(document["rules"], start=1):
        where = f"rule {index}"
        if not isinstance(raw, Mapping):
            raise _fail(where, "must be a mapping")
        if isinstance(raw.get("name"), str):
            where = f"rule {index} ({raw['name']!r})"
        unknown = sorted(set(map(str, raw)) - RULE_KEYS)
        if unknown:
            raise _fail(where, f"unknown key '{unknown[0]}'; known: {', '.join(sorted(RULE_KEYS))}")
        rules.append(
            Rule(
                name=str(raw.get("name") or where),
                repositories=_strings(raw.get("repository", "*"), where, "repository", environ),
                target_branches=_strings(
                    raw.get("target_branch", "*"), where, "target_branch", environ
                ),
                checks=_checks(raw.get("checks"), where, environ),
            )
        )
    return Policy(tuple(rules))


def load(path: str | None = None, env: Mapping[str, str] | None = None) -> Policy:
    """The policy from ``path``, ``COMPLIANCE_POLICY`` (YAML), ``COMPLIANCE_POLICY_FILE``
    or the built-in default."""
    environ = os.environ if env is None else env
    chosen = path or environ.get(VARIABLE)
    inline = None if path else environ.get("COMPLIANCE_POLICY")
    if inline:
        text, variable = inline, "COMPLIANCE_POLICY"
    elif chosen:
        variable = VARIABLE
        try:
            with open(chosen, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise ConfigError(VARIABLE, f"cannot read {chosen}: {exc.strerror}") from None
    else:
        variable = VARIABLE
        data = resources.files("cievents").joinpath("data/compliance.default.yaml")
        text = data.read_text("utf-8")
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = " ".join(str(exc).split())
        raise ConfigError(variable, f"not valid YAML: {problem}") from None
    try:
        return parse_policy(document, environ)
    except ConfigError as exc:
        if variable != VARIABLE and exc.variable == VARIABLE:
            raise ConfigError(variable, exc.problem) from None  # name where the YAML came from
        raise
