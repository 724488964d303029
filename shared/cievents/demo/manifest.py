"""The parts of function.yaml the demo needs: functions, their triggers and filters."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cievents.demo.filters import Predicate, compile_filter


@dataclass(frozen=True)
class Subscription:
    topic: str
    filter_text: str
    matches: Predicate


@dataclass(frozen=True)
class LocalFunction:
    name: str
    source: Path
    entry_point: str
    signature_type: str
    subscriptions: tuple[Subscription, ...]

    @property
    def http(self) -> bool:
        return not self.subscriptions


def _triggers(raw: Any) -> list[dict[str, Any]]:
    if raw in (None, "http"):
        return []
    if isinstance(raw, dict):
        return [raw]
    return [t for t in raw if isinstance(t, dict)]


def load(root: Path) -> tuple[list[LocalFunction], list[str], list[str]]:
    """(functions whose code exists, names skipped because it does not, topics)."""
    document = yaml.safe_load((root / "function.yaml").read_text("utf-8"))
    built, missing = [], []
    for name, spec in (document.get("functions") or {}).items():
        main = root / str(spec["source"]) / "main.py"
        if not main.exists():
            missing.append(name)
            continue
        subscriptions = tuple(
            Subscription(
                str(t["topic"]), str(t.get("filter") or ""), compile_filter(t.get("filter"))
            )
            for t in _triggers(spec.get("trigger"))
        )
        # As deployed: every function has an HTTP trigger (Pub/Sub reaches it through a
        # push subscription), so functions-framework serves the HTTP signature.
        signature = str(spec.get("signature_type") or "http")
        built.append(LocalFunction(name, main, str(spec["entry_point"]), signature, subscriptions))
    topics = [str(t) for t in document.get("topics") or []]
    return built, missing, topics
