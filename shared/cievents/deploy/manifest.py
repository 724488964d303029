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
    "runtime": "python312",
    "memory": "256Mi",
    "timeout": 60,
    "max_instances": 10,
    "concurrency": 1,
    "retry": True,
    "max_delivery_attempts": 10,
}
_VAR = re.compile(r"\$\{([a-z_][a-z0-9_]*)\}")


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

    def environment_with(self, variables: Mapping[str, str]) -> dict[str, str]:
        """Environment with ``${name}`` deploy variables filled in."""

        def fill(value: str) -> str:
            def one(match: re.Match[str]) -> str:
                name = match.group(1)
                if name not in variables:
                    raise ConfigError(
                        f"deploy variable {name}", f"{self.name} needs it for its environment"
                    )
                return variables[name]

            return _VAR.sub(one, value)

        return {k: fill(v) for k, v in self.environment.items()}


@dataclass(frozen=True)
class Manifest:
    topics: tuple[str, ...]
    functions: tuple[Function, ...]

    def function(self, name: str) -> Function:
        for function in self.functions:
            if function.name == name:
                return function
        raise ConfigError("--function", f"no function {name!r} in function.yaml")


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
                signature_type=str(
                    spec.get("signature_type") or ("http" if not triggers else "cloudevent")
                ),
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
    return Manifest(tuple(document["topics"]), tuple(functions))
