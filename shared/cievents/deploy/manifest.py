"""function.yaml, loaded, validated against schema/function.schema.json, defaults applied.

Terraform reads the same file with ``yamldecode`` (infra/modules/manifest
applies the same defaults), so what ``make deploy`` and Terraform deploy
cannot drift apart.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cievents.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]
DEFAULTS: dict[str, Any] = {
    "runtime": "python311",
    "memory": "256Mi",
    "timeout": 60,
    "max_instances": 10,
    "concurrency": 1,
    "retry": True,
    "max_delivery_attempts": 10,
}
BUILTIN_VARIABLES = ("project", "region")
FIRESTORE_STORE = "firestore:cievents"
TRACE_ROLE = "roles/cloudtrace.agent"
_VAR = re.compile(r"\$\{([a-z_][a-z0-9_]*)\}")

__all__ = [
    "DEFAULTS",
    "FIRESTORE_STORE",
    "ROOT",
    "Function",
    "Grant",
    "Manifest",
    "Schedule",
    "Trigger",
    "Variable",
    "fill",
    "load",
    "validate",
]


def fill(value: str, variables: Mapping[str, str], needed_by: str) -> str:
    """``value`` with every ``${name}`` replaced; an unknown name is a ConfigError."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise ConfigError(
                f"deploy variable {name}", f"{needed_by} needs it; set {name.upper()}=…"
            )
        return variables[name]

    return _VAR.sub(one, value)


def references(value: str) -> set[str]:
    return set(_VAR.findall(value))


@dataclass(frozen=True)
class Variable:
    name: str
    description: str
    default: str | None = None
    example: str = ""

    @property
    def required(self) -> bool:
        return self.default is None


@dataclass(frozen=True)
class Schedule:
    """A Cloud Scheduler job publishing ``attributes`` (and ``data``) to ``topic``."""

    name: str
    schedule: str
    time_zone: str
    topic: str
    attributes: Mapping[str, str]
    data: str

    @property
    def resource_name(self) -> str:
        return f"cievents-{self.name.replace('_', '-')}"


@dataclass(frozen=True)
class Grant:
    """``role`` for ``function``'s service account on one resource.

    ``kind`` is topic, dead_letter_topic, secret, bucket, dataset, project or invoker
    (run.invoker on the function's own service, for its push subscriptions).
    """

    function: str
    role: str
    kind: str
    target: str


@dataclass(frozen=True)
class Trigger:
    topic: str
    filter: str = ""


@dataclass(frozen=True)
class Function:
    name: str
    source: str
    entry_point: str
    signature_type: str
    extras: tuple[str, ...]
    triggers: tuple[Trigger, ...]
    public: bool
    runtime: str
    memory: str
    timeout: int
    max_instances: int
    concurrency: int
    retry: bool
    max_delivery_attempts: int
    environment: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict)
    roles: tuple[Mapping[str, Any], ...] = ()

    @property
    def http(self) -> bool:
        return not self.triggers

    @property
    def resource_name(self) -> str:
        """The Cloud Functions / Cloud Run service name (underscores are not allowed)."""
        return self.name.replace("_", "-")

    @property
    def account_id(self) -> str:
        return f"cief-{self.resource_name}"

    @property
    def dead_letter_topic(self) -> str | None:
        """The topic the handler republishes permanent failures to (its first trigger's)."""
        return f"{self.triggers[0].topic}-dead-letter" if self.triggers and self.retry else None

    def subscription_name(self, index: int) -> str:
        return f"{self.resource_name}-{index}"

    def environment_with(self, variables: Mapping[str, str]) -> dict[str, str]:
        """The deployed environment: the manifest's, ``${name}`` filled, plus the built-ins.

        Built-ins (both deploy paths set them): ``GOOGLE_CLOUD_PROJECT``,
        ``CIEVENTS_TRACING`` (the ``tracing`` variable); for a function
        with the firestore extra ``CIEVENTS_STORE``; for a retrying Pub/Sub function
        ``CIEVENTS_DEAD_LETTER``, the fully-qualified dead-letter topic.
        """
        environment = {k: fill(v, variables, self.name) for k, v in self.environment.items()}
        project = variables["project"]
        environment.setdefault("GOOGLE_CLOUD_PROJECT", project)
        environment.setdefault("CIEVENTS_TRACING", variables.get("tracing", "off"))
        if "firestore" in self.extras:
            environment.setdefault("CIEVENTS_STORE", FIRESTORE_STORE)
        if self.dead_letter_topic:
            environment["CIEVENTS_DEAD_LETTER"] = (
                f"projects/{project}/topics/{self.dead_letter_topic}"
            )
        return environment

    def grants(self) -> list[Grant]:
        """Every role this function's service account gets, and on what."""
        out = [
            Grant(self.name, "roles/secretmanager.secretAccessor", "secret", secret)
            for secret in sorted(set(self.secrets.values()))
        ]
        if self.dead_letter_topic:
            out.append(
                Grant(
                    self.name, "roles/pubsub.publisher", "dead_letter_topic", self.dead_letter_topic
                )
            )
        if self.triggers:
            out.append(Grant(self.name, "roles/run.invoker", "invoker", self.name))
        # Spans to Cloud Trace (CIEVENTS_TRACING=gcp): write-only, so every function has it.
        out.append(Grant(self.name, TRACE_ROLE, "project", ""))
        for role in self.roles:
            kind = next(k for k in ("topic", "bucket", "dataset", "project") if k in role)
            target = "" if kind == "project" else str(role[kind])
            out.append(Grant(self.name, str(role["role"]), kind, target))
        return out


@dataclass(frozen=True)
class Manifest:
    topics: tuple[str, ...]
    functions: tuple[Function, ...]
    variables: Mapping[str, Variable] = field(default_factory=dict)
    schedules: tuple[Schedule, ...] = ()
    apis: tuple[str, ...] = ()

    def function(self, name: str) -> Function:
        for function in self.functions:
            if function.name == name:
                return function
        raise ConfigError("--function", f"no function {name!r} in function.yaml")

    @property
    def dead_letter_topics(self) -> tuple[str, ...]:
        """``<topic>-dead-letter`` for every topic a retrying function subscribes to."""
        return tuple(
            f"{topic}-dead-letter"
            for topic in self.topics
            if any(t.topic == topic and f.retry for f in self.functions for t in f.triggers)
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(sorted({s for f in self.functions for s in f.secrets.values()}))

    def referenced(self) -> dict[str, list[str]]:
        """Deploy variable -> what references it (functions, schedules, other defaults)."""
        users: dict[str, list[str]] = {}
        for f in self.functions:
            for value in f.environment.values():
                for name in references(value):
                    users.setdefault(name, []).append(f.name)
        for s in self.schedules:
            for value in (s.schedule, s.time_zone, s.data, *s.attributes.values()):
                for name in references(value):
                    users.setdefault(name, []).append(f"schedule {s.name}")
        return users

    def missing(self, given: Mapping[str, str]) -> list[str]:
        """Required variables that are referenced but neither given nor defaulted."""
        return sorted(
            name
            for name in self.referenced()
            if name not in given
            and name not in BUILTIN_VARIABLES
            and (name not in self.variables or self.variables[name].required)
        )

    def resolve(self, given: Mapping[str, str], project: str, region: str) -> dict[str, str]:
        """Every deploy variable's value: given, else its default (``${...}`` filled)."""
        missing = self.missing(given)
        if missing:
            names = ", ".join(f"{n.upper()} ({self._describe(n)})" for n in missing)
            raise ConfigError("deploy variables", f"not set: {names}")
        unknown = sorted(set(given) - set(self.variables) - set(BUILTIN_VARIABLES))
        if unknown:
            raise ConfigError(
                "deploy variables",
                f"unknown: {', '.join(unknown)}; known: {', '.join(sorted(self.variables))}",
            )
        base = {"project": project, "region": region}
        values = dict(base)
        for name, variable in self.variables.items():
            raw = given.get(name, variable.default)
            if raw is not None:
                values[name] = fill(raw, base, f"the default of {name}")
        return values

    def _describe(self, name: str) -> str:
        variable = self.variables.get(name)
        if variable is None:
            return "not declared under variables: in function.yaml"
        return variable.description + (f" e.g. {variable.example}" if variable.example else "")

    def grants(self) -> list[Grant]:
        return [g for f in self.functions for g in f.grants()]


def validate(document: Any, schema_path: Path | None = None) -> None:
    import jsonschema

    schema = json.loads(
        (schema_path or ROOT / "schema" / "function.schema.json").read_text("utf-8")
    )
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(document), key=lambda e: e.path
    )
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.path) or "(top level)"
        raise ConfigError("function.yaml", f"{where}: {first.message}")


def load(path: Path | None = None, *, check_schema: bool = True) -> Manifest:
    document = yaml.safe_load((path or ROOT / "function.yaml").read_text("utf-8"))
    if check_schema:
        validate(document)
    defaults = {**DEFAULTS, **(document.get("defaults") or {})}
    functions = []
    for name, spec in document["functions"].items():
        raw = spec.get("trigger")
        triggers = (
            ()
            if raw == "http"
            else tuple(
                Trigger(str(t["topic"]), str(t.get("filter", "")))
                for t in (raw if isinstance(raw, list) else [raw])
            )
        )
        merged = {**defaults, **{k: v for k, v in spec.items() if k in DEFAULTS}}
        functions.append(
            Function(
                name=name,
                source=str(spec["source"]),
                entry_point=str(spec["entry_point"]),
                # Every function is deployed with an HTTP trigger (--trigger-http; Pub/Sub
                # reaches it through a push subscription), so it serves the HTTP signature.
                signature_type=str(spec.get("signature_type") or "http"),
                extras=tuple(spec.get("extras") or ()),
                triggers=triggers,
                public=bool(spec.get("public")),
                runtime=str(merged["runtime"]),
                memory=str(merged["memory"]),
                timeout=int(merged["timeout"]),
                max_instances=int(merged["max_instances"]),
                concurrency=int(merged["concurrency"]),
                retry=bool(merged["retry"]),
                max_delivery_attempts=int(merged["max_delivery_attempts"]),
                environment=dict(spec.get("environment") or {}),
                secrets=dict(spec.get("secrets") or {}),
                roles=tuple(spec.get("roles") or ()),
            )
        )
    variables = {
        name: Variable(
            name,
            str(spec.get("description", "")),
            None if spec.get("default") is None else str(spec["default"]),
            str(spec.get("example", "")),
        )
        for name, spec in (document.get("variables") or {}).items()
    }
    schedules = tuple(
        Schedule(
            name,
            str(spec["schedule"]),
            str(spec.get("time_zone", "Etc/UTC")),
            str(spec["topic"]),
            {str(k): str(v) for k, v in (spec.get("attributes") or {}).items()},
            str(spec.get("data", "{}")),
        )
        for name, spec in (document.get("schedules") or {}).items()
    )
    loaded = Manifest(
        tuple(document["topics"]),
        tuple(functions),
        variables,
        schedules,
        tuple(str(a) for a in document.get("apis") or ()),
    )
    _check_references(loaded)
    return loaded


def _check_references(manifest: Manifest) -> None:
    """What the schema cannot see: topics and variables named must be declared."""
    topics = set(manifest.topics)
    for f in manifest.functions:
        for topic in [t.topic for t in f.triggers] + [
            str(r["topic"]) for r in f.roles if "topic" in r
        ]:
            if topic not in topics:
                raise ConfigError(
                    "function.yaml", f"functions/{f.name} names topic {topic!r}, not under topics:"
                )
    for s in manifest.schedules:
        if s.topic not in topics:
            raise ConfigError(
                "function.yaml", f"schedules/{s.name} names topic {s.topic!r}, not under topics:"
            )
    for name, users in manifest.referenced().items():
        if name not in manifest.variables and name not in BUILTIN_VARIABLES:
            raise ConfigError(
                "function.yaml",
                f"${{{name}}} is used by {users[0]} but not declared under variables:",
            )
