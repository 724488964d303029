"""Strict, readable access to fields of a vendor payload.

Sources are tolerant of fields they do not use and strict on the ones they do:
a used field with the wrong type is a ``ValidationError`` that names its path
(``build.number: expected an integer, got str``), never a ``KeyError`` or a
``TypeError`` deep inside a function.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cievents.envelope import parse_time
from cievents.errors import ValidationError

# Go's zero time, which Pub/Sub bridges written in Go send for "not yet".
_ZERO_TIMES = ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00+00:00")


def _fail(path: str, expected: str, value: Any) -> ValidationError:
    got = "missing" if value is None else f"got {type(value).__name__}"
    return ValidationError(f"{path}: expected {expected}, {got}", reason="bad_field")


def obj(data: Any, key: str, path: str = "") -> Mapping[str, Any]:
    """A required nested object."""
    where = f"{path}.{key}" if path else key
    value = data.get(key) if (type(data) is dict or isinstance(data, Mapping)) else None
    if not (type(value) is dict or isinstance(value, Mapping)):
        raise _fail(where, "an object", value)
    return value


def opt_obj(data: Any, key: str) -> Mapping[str, Any]:
    """An optional nested object; an empty mapping when absent or not an object."""
    # ``type(...) is dict`` first, here and on the other per-message paths: a decoded JSON
    # object is a dict, and isinstance against the Mapping ABC is a Python-level call.
    value = data.get(key) if (type(data) is dict or isinstance(data, Mapping)) else None
    return value if (type(value) is dict or isinstance(value, Mapping)) else {}


def req_str(data: Mapping[str, Any], key: str, path: str = "") -> str:
    value = data.get(key)
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise _fail(f"{path}.{key}" if path else key, "a non-empty string", value)


def opt_str(data: Mapping[str, Any], key: str, path: str = "") -> str | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _fail(f"{path}.{key}" if path else key, "a string", value)


def req_int(data: Mapping[str, Any], key: str, path: str = "") -> int:
    value = data.get(key)
    result = _as_int(value)
    if result is None:
        raise _fail(f"{path}.{key}" if path else key, "an integer", value)
    return result


def opt_int(data: Mapping[str, Any], key: str, path: str = "") -> int | None:
    value = data.get(key)
    if value is None or value == "":
        return None
    result = _as_int(value)
    if result is None:
        raise _fail(f"{path}.{key}" if path else key, "an integer", value)
    return result


def ascii_digits(text: str) -> bool:
    """Only ASCII digits: ``"²".isdigit()`` is True, yet ``int("²")`` raises."""
    return bool(text) and text.isascii() and text.isdigit()


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and ascii_digits(value.strip().removeprefix("-")):
        return int(value.strip())
    return None


def opt_bool(data: Mapping[str, Any], key: str, default: bool = False) -> bool:
    value = data.get(key)
    if isinstance(value, bool):
        return value
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def opt_time(data: Mapping[str, Any], key: str, path: str = "") -> datetime | None:
    """An RFC 3339 timestamp; None when absent, null, Go's zero time or epoch 0."""
    value = data.get(key)
    if value is None or value == "" or value in _ZERO_TIMES:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        from datetime import UTC

        return datetime.fromtimestamp(value, UTC) if value > 0 else None
    parsed = parse_time(value)
    if parsed is None:
        raise _fail(f"{path}.{key}" if path else key, "an RFC 3339 timestamp", value)
    if parsed.year <= 1:
        return None
    return parsed


def duration(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds from start to end; None when either is missing or the clock went backwards."""
    if start is None or end is None:
        return None
    seconds = (end - start).total_seconds()
    return seconds if seconds >= 0 else None
