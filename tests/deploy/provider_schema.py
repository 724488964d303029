"""The google provider's resource schema, offline, from the cdktf bindings generated from it.

``@cdktf/provider-google`` (installed by ``make provider-schema``, pinned in the
Makefile) has one ``lib/<resource>/index.d.ts`` per resource and data source.
Each config interface lists the arguments; the doc comment on each property
links the Terraform Registry anchor, which is the argument's HCL name
(``…/pubsub_subscription#ack_deadline_seconds``). A property typed with
another interface of the same file is a nested block.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

_INTERFACE = re.compile(r"export interface (\w+)( extends [\w.]+)? \{(.*?)\n\}", re.S)
_PROPERTY = re.compile(
    r"\{@link https://registry\.terraform\.io/providers/hashicorp/google/[^ ]+#(\w+) [^}]*\}"
    r"(?:(?!\*/).)*\*/\s*readonly (\w+)(\??): ([^;]+);",
    re.S,
)
META = {"for_each", "count", "depends_on", "lifecycle", "provider", "dynamic"}


def location() -> Path:
    default = (
        Path.home()
        / ".cache/ci-event-functions/cdktf-provider-google-16.12.1"
        / "node_modules/@cdktf/provider-google"
    )
    return Path(os.environ.get("CIEVENTS_PROVIDER_SCHEMA") or default)


@dataclass
class Block:
    """Arguments of one (nested) block: name -> (required, nested block or None)."""

    name: str
    arguments: dict[str, tuple[bool, Block | None]] = field(default_factory=dict)


def version() -> str:
    text = (location() / "package.json").read_text()
    found = re.search(
        r'"name": "registry.terraform.io/hashicorp/google",\s*"version": "([^"]+)"', text
    )
    return found.group(1) if found else "?"


@cache
def block(kind: str, data: bool = False) -> Block:
    """The schema of resource ``kind`` (``google_pubsub_topic``) or of that data source."""
    folder = ("data-" if data else "") + kind.removeprefix("" if data else "google_").replace(
        "_", "-"
    )
    path = location() / "lib" / folder / "index.d.ts"
    if not path.is_file():
        raise KeyError(f"the google provider has no {'data source' if data else 'resource'} {kind}")
    found = _INTERFACE.findall(path.read_text())
    interfaces = {name: body for name, _extends, body in found}
    config = next(name for name, extends, _ in found if "TerraformMetaArguments" in extends)
    built: dict[str, Block] = {}

    def build(name: str) -> Block:
        if name in built:
            return built[name]
        out = built[name] = Block(name)
        for snake, _camel, optional, type_text in _PROPERTY.findall(interfaces[name]):
            base = re.sub(r"\[\]|\s*\|\s*cdktf\.IResolvable", "", type_text).strip()
            nested = build(base) if base in interfaces else None
            out.arguments[snake] = (not optional, nested)
        return out

    return build(config)


def problems(
    kind: str, body: dict[str, Any], schema: Block, where: str, top: bool = True
) -> list[str]:
    """Argument names in ``body`` the schema does not have, and required ones missing."""
    found: list[str] = []
    present = set()
    for key, value in body.items():
        if key.startswith("__") or key == "dynamic" or (top and key in META):
            continue
        present.add(key)
        if key not in schema.arguments:
            found.append(f"{where}: {kind} has no argument {key!r}")
            continue
        _required, nested = schema.arguments[key]
        if nested is not None:
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dict):
                    found += problems(kind, item, nested, f"{where}.{key}", top=False)
    for dynamic in body.get("dynamic", []):
        for raw_name, spec in dynamic.items():
            name = raw_name.strip('"')
            present.add(name)
            if name not in schema.arguments or schema.arguments[name][1] is None:
                found.append(f"{where}: {kind} has no block {name!r}")
                continue
            nested = schema.arguments[name][1]
            assert nested is not None
            for content in spec.get("content", []):
                found += problems(kind, content, nested, f"{where}.{name}", top=False)
    for name, (required, _nested) in schema.arguments.items():
        if required and name not in present:
            found.append(f"{where}: {kind} needs {name!r}")
    return found
