"""``frozen.new`` makes the instance the dataclass's own ``__init__`` would, or refuses alike."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from cievents import frozen
from cievents.envelope import Message
from cievents.errors import ValidationError
from cievents.events import BuildEvent, Event, JobEvent
from cievents.sources import parse

ROOT = Path(__file__).resolve().parents[2]


def _fields(instance: Event) -> dict[str, Any]:
    return {f.name: getattr(instance, f.name) for f in dataclasses.fields(instance)}


def _payloads() -> list[Path]:
    return sorted((ROOT / "tests/fixtures/vendor/buildkite").glob("*.json")) + sorted(
        (ROOT / "tests/fixtures/own/buildkite").glob("*.json")
    )


def test_events_parsed_from_payloads_equal_their_constructed_twins() -> None:
    """Every Buildkite payload that parses (the vendor's docs skeletons lack a pipeline slug
    and are refused, as before) gives the event its class's ``__init__`` would have made."""
    kinds = set()
    for path in _payloads():
        try:
            event = parse(
                json.loads(path.read_text()), source="buildkite", headers={"X-Request-Id": "r1"}
            )
        except ValidationError:
            continue
        kinds.add(type(event))
        twin = type(event)(**_fields(event))
        assert event == twin and hash(event) == hash(twin) and repr(event) == repr(twin), path
        assert event.to_dict() == twin.to_dict()
        assert dataclasses.replace(event, delivery_id="x") == dataclasses.replace(
            twin, delivery_id="x"
        )
        assert copy.copy(event) == event and copy.deepcopy(event) == event
        with pytest.raises(dataclasses.FrozenInstanceError):
            event.source = "other"  # type: ignore[misc]
        assert event.delivery_id == "r1"
    assert {BuildEvent, JobEvent} <= kinds


def test_defaults_and_factories_are_filled_and_not_shared() -> None:
    one = frozen.new(Event, {"source": "s", "event": "e"})
    two = frozen.new(Event, {"source": "s", "event": "e"})
    assert one == Event(source="s", event="e")
    assert one.delivery_id is None and one.jira_keys == ()
    assert one.raw == {} and one.raw is not two.raw


def test_unknown_and_missing_fields_are_refused_as_init_refuses_them() -> None:
    with pytest.raises(TypeError, match="unexpected field"):
        frozen.new(Message, {"id": "1", "data": b"", "colour": "blue"})
    with pytest.raises(TypeError, match="missing field.*data"):
        frozen.new(Message, {"id": "1"})
    assert frozen.new(Message, {"id": "1", "data": b"x"}) == Message(id="1", data=b"x")


def test_classes_it_cannot_build_faithfully_are_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class Checked:
        n: int

        def __post_init__(self) -> None:
            if self.n < 0:
                raise ValueError("negative")

    @dataclasses.dataclass(frozen=True, slots=True)
    class Slotted:
        n: int

    for cls in (Checked, Slotted):
        with pytest.raises(TypeError, match="frozen.new needs"):
            frozen.new(cls, {"n": 1})
