"""JSON decoding with bounds, for every body that comes from outside.

``json.loads`` on hostile input fails in ways no caller catches: a body nested
5,000 deep raises ``RecursionError``; an integer of 5,000 digits raises
``ValueError`` (Python's int max-str-digits guard) from deep inside the
decoder; ``NaN``/``Infinity`` are accepted although JSON has neither.
``loads`` turns every one of them into a ``ValidationError`` with a reason:

* nesting deeper than ``MAX_DEPTH`` (64; vendor payloads stay under 12);
* a number literal longer than ``MAX_NUMBER_CHARS`` (40 characters: any
  64-bit id fits, with room);
* ``NaN``, ``Infinity``, ``-Infinity``.
"""

from __future__ import annotations

import json
from typing import Any

from cievents.errors import ValidationError

__all__ = ["MAX_DEPTH", "MAX_NUMBER_CHARS", "loads"]

MAX_DEPTH = 64
MAX_NUMBER_CHARS = 40


def _number(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        if len(text) > MAX_NUMBER_CHARS:
            raise ValidationError(
                f"a number of {len(text)} characters (at most {MAX_NUMBER_CHARS})",
                reason="number_too_long",
            )
        return kind(text)

    return parse


def _constant(name: str) -> Any:
    raise ValidationError(f"{name} is not JSON", reason="bad_json")


def depth(value: Any) -> int:
    """The nesting depth of a decoded value (iterative: no recursion to exhaust).

    Only containers go on the stack; leaves are looked at once and left (this runs on
    every message, so it costs a fraction of the decode it checks)."""
    if not isinstance(value, dict | list):
        return 0
    deepest, stack = 1, [(value, 1)]
    containers = (dict, list)
    while stack:
        item, level = stack.pop()
        if level > deepest:
            deepest = level
            if deepest > MAX_DEPTH:
                return deepest
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, containers):
                stack.append((child, level + 1))
    return deepest


# One decoder for every call: ``json.loads`` with hooks builds a new one (and its scanner)
# each time, which costs a tenth of decoding a 20 KB body.
_DECODER = json.JSONDecoder(
    parse_int=_number(int), parse_float=_number(float), parse_constant=_constant
)


def _may_nest_deeper(text: str | bytes) -> bool:
    """False when ``text`` cannot nest deeper than ``MAX_DEPTH``: every container opens with
    ``{`` or ``[``, so no more than ``MAX_DEPTH`` of them (quoted ones counted too) bound the
    depth. Found one by one with ``find`` (memchr, many bytes a cycle) and given up on past
    the bound: ``count`` looks at every byte, and cost a quarter of the decode it guards;
    only deeper-looking bodies pay for walking the decoded value."""
    left = MAX_DEPTH
    for opener in (b"{", b"[") if isinstance(text, bytes) else ("{", "["):
        at = text.find(opener)  # type: ignore[arg-type]
        while at != -1:
            left -= 1
            if left < 0:
                return True
            at = text.find(opener, at + 1)  # type: ignore[arg-type]
    return False


def loads(text: str | bytes, what: str = "body") -> Any:
    """``json.loads`` with the bounds above; ValidationError (reason ``bad_json``,
    ``too_deep`` or ``number_too_long``) on anything else."""
    try:
        if isinstance(text, bytes | bytearray):
            text = text.decode(json.detect_encoding(text), "surrogatepass")
        if text.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        value = _DECODER.decode(text)
    except RecursionError:
        raise ValidationError(
            f"{what} is nested deeper than {MAX_DEPTH} levels", reason="too_deep"
        ) from None
    except ValidationError as exc:
        raise ValidationError(f"{what}: {exc.message}", reason=exc.reason) from None
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"{what} is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})",
            reason="bad_json",
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(
            f"{what} is not JSON ({type(exc).__name__})", reason="bad_json"
        ) from None
    if _may_nest_deeper(text) and depth(value) > MAX_DEPTH:
        raise ValidationError(f"{what} is nested deeper than {MAX_DEPTH} levels", reason="too_deep")
    return value
