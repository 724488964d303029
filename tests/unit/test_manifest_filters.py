"""Every subscription filter function.yaml deploys is one the demo's filter engine (Pub/Sub's
filter syntax) can read: a missing parenthesis stops ``make demo`` before any event."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cievents.demo.filters import compile_filter

ROOT = Path(__file__).resolve().parents[2]


def filters() -> list[tuple[str, str]]:
    manifest = yaml.safe_load((ROOT / "function.yaml").read_text("utf-8"))
    found = []
    for name, function in manifest["functions"].items():
        triggers = function.get("trigger") or []
        for trigger in triggers if isinstance(triggers, list) else [triggers]:
            if isinstance(trigger, dict) and trigger.get("filter"):
                found.append((name, str(trigger["filter"])))
    return found


@pytest.mark.parametrize(("function", "text"), filters())
def test_every_deployed_filter_compiles(function: str, text: str) -> None:
    assert text.count("(") == text.count(")"), f"{function}: unbalanced parentheses"
    compile_filter(text)
