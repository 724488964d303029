"""A stand-in for ``gcloud`` and ``bq`` over a project kept in a JSON file (FAKE_STATE).

Enough of both CLIs for the deploy: each create/deploy/enable/mk/add-binding records the
resource, each describe/list/show/get-iam-policy answers from what was recorded, the way
the real commands do (exit 1 when a resource does not exist). Every mutating call is
appended to ``mutations``, so a test can count what a deploy changed.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

MUTATING = {"create", "deploy", "enable", "add-iam-policy-binding", "add-invoker-policy-binding"}


def main(tool: str, argv: list[str]) -> int:
    path = Path(os.environ["FAKE_STATE"])
    state: dict[str, Any] = json.loads(path.read_text())
    flags = dict(a[2:].split("=", 1) for a in argv if a.startswith("--") and "=" in a)
    switches = {a[2:] for a in argv if a.startswith("--") and "=" not in a}
    bare = [a for a in argv if not a.startswith("-")]
    out, status = run(tool, bare, flags, switches, state)
    path.write_text(json.dumps(state))
    if out:
        print(out)
    return status


def binding_key(kind: str, name: str) -> str:
    return f"{kind}|{name}"


def run(
    tool: str, bare: list[str], flags: dict[str, str], switches: set[str], state: dict[str, Any]
) -> tuple[str, int]:
    have: dict[str, Any] = state.setdefault("resources", {})
    bindings: dict[str, list[list[str]]] = state.setdefault("bindings", {})
    if tool == "bq":
        return run_bq(bare, flags, switches, state)
    words = " ".join(bare)
    if words == "auth list":
        return state.get("account", ""), 0
    if words == "auth print-access-token":
        return "ya29.fake", 0
    if bare[:2] == ["projects", "describe"]:
        return "123456789", 0
    if bare[:3] == ["billing", "projects", "describe"]:
        return "True", 0
    if bare[:2] == ["services", "list"]:
        enabled = state.setdefault("apis", [])
        wanted = flags.get("filter", "").removeprefix("config.name=")
        return ("\n".join(a for a in enabled if not wanted or a == wanted)), 0
    if bare[:2] == ["services", "enable"]:
        state["apis"] = sorted({*state.setdefault("apis", []), bare[2]})
        state.setdefault("mutations", []).append(words)
        return "", 0
    if bare[:3] == ["secrets", "versions", "list"]:
        return ("1" if bare[3] in state.get("values", []) else ""), 0
    verb_at = next(
        i for i, w in enumerate(bare) if w in MUTATING | {"describe", "get-iam-policy", "update"}
    )
    kind, verb = " ".join(bare[:verb_at]), bare[verb_at]
    rest = [w for w in bare[verb_at + 1 :] if w != "pubsub"]  # scheduler jobs create pubsub NAME
    name = rest[0] if rest else flags.get("database", "")
    if kind == "iam service-accounts":
        name = name.split("@")[0]
    if kind == "functions" and verb == "add-invoker-policy-binding":
        kind, verb, flags["role"] = "run services", "add-iam-policy-binding", "roles/run.invoker"
    key = f"{kind}|{name}"
    if verb in ("create", "deploy"):
        have[key] = {
            "labels": dict(x.split("=", 1) for x in flags.get("update-labels", "").split(",") if x)
        }
        state.setdefault("mutations", []).append(words)
        return "", 0
    if verb == "update":
        have.setdefault(key, {})["versioning"] = "versioning" in switches
        state.setdefault("mutations", []).append(words)
        return "", 0
    if verb == "add-iam-policy-binding":
        pair = [flags["role"], flags["member"]]
        if pair not in bindings.setdefault(key, []):
            bindings[key].append(pair)
        state.setdefault("mutations", []).append(f"{words} {pair[0]} {pair[1]}")
        return "", 0
    if verb == "get-iam-policy":
        return "\n".join(f"{r},{m}" for r, m in bindings.get(key, [])), 0
    # describe
    if key not in have:
        return "", 1
    fmt = flags.get("format", "")
    if "cief-config" in fmt:
        return have[key]["labels"].get("cief-config", ""), 0
    if "serviceConfig.uri" in fmt:
        return f"https://{name}-x.a.run.app", 0
    if "versioning_enabled" in fmt:
        return str(have[key].get("versioning", False)), 0
    return name, 0


def run_bq(
    bare: list[str], flags: dict[str, str], switches: set[str], state: dict[str, Any]
) -> tuple[str, int]:
    have: dict[str, Any] = state["resources"]
    bindings: dict[str, list[list[str]]] = state["bindings"]
    verb, target = bare[0], bare[-1]
    if verb == "query":
        found = re.search(r"`([^`.]+)\.([^`.]+)\.([^`]+)`", target)
        assert found, target
        have[f"bq|{found.group(1)}:{found.group(2)}.{found.group(3)}"] = {}
        state.setdefault("mutations", []).append(f"bq query {found.group(3)}")
        return "", 0
    if verb == "mk":
        have[f"bq|{target}"] = {}
        state.setdefault("mutations", []).append(f"bq mk {target}")
        return "", 0
    if verb == "show":
        return ("", 0) if f"bq|{target}" in have else ("", 1)
    if verb == "add-iam-policy-binding":
        bindings.setdefault(f"bq|{target}", []).append([flags["role"], flags["member"]])
        state.setdefault("mutations", []).append(
            f"bq add-iam-policy-binding {target} {flags['role']} {flags['member']}"
        )
        return "", 0
    if verb == "get-iam-policy":
        policy = {
            "bindings": [{"role": r, "members": [m]} for r, m in bindings.get(f"bq|{target}", [])]
        }
        return json.dumps(policy, indent=2), 0
    return f"unknown bq {verb}", 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
