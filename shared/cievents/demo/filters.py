"""Pub/Sub subscription filters, evaluated locally.

The Pub/Sub emulator accepts a subscription's filter but does not apply it,
so the demo applies the manifest's filters itself, with the same language
subset Pub/Sub documents: ``attributes.NAME = "v"``, ``!=``,
``hasPrefix(attributes.NAME, "p")``, ``attributes:NAME`` (has the key),
``NOT`` / ``-``, ``AND``, ``OR`` and parentheses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

Predicate = Callable[[Mapping[str, str]], bool]
_TOKEN = re.compile(
    r"\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<and>AND\b)|(?P<or>OR\b)|(?P<not>NOT\b|-)"
    r'|hasPrefix\(\s*attributes\.(?P<pk>[\w-]+)\s*,\s*"(?P<pv>[^"]*)"\s*\)'
    r'|attributes\.(?P<k>[\w-]+)\s*(?P<op>=|!=)\s*"(?P<v>[^"]*)"'
    r"|attributes:(?P<hk>[\w-]+))"
)


class FilterError(ValueError):
    pass


def compile_filter(text: str | None) -> Predicate:
    """A predicate over message attributes; an empty filter matches everything."""
    if not text or not text.strip():
        return lambda attributes: True
    tokens: list[re.Match[str]] = []
    position = 0
    while position < len(text.rstrip()):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise FilterError(f"cannot parse filter at {text[position:position + 20]!r}")
        tokens.append(match)
        position = match.end()
    predicate, rest = _or(tokens)
    if rest:
        raise FilterError(f"unexpected {rest[0].group(0).strip()!r} in filter")
    return predicate


def _either(a: Predicate, b: Predicate) -> Predicate:
    return lambda attrs: a(attrs) or b(attrs)


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda attrs: a(attrs) and b(attrs)


def _or(tokens: list[re.Match[str]]) -> tuple[Predicate, list[re.Match[str]]]:
    left, rest = _and(tokens)
    while rest and rest[0].group("or"):
        right, rest = _and(rest[1:])
        left = _either(left, right)
    return left, rest


def _and(tokens: list[re.Match[str]]) -> tuple[Predicate, list[re.Match[str]]]:
    left, rest = _unary(tokens)
    while rest and rest[0].group("and"):
        right, rest = _unary(rest[1:])
        left = _both(left, right)
    return left, rest


def _unary(tokens: list[re.Match[str]]) -> tuple[Predicate, list[re.Match[str]]]:
    if not tokens:
        raise FilterError("filter ends too early")
    head = tokens[0]
    if head.group("not"):
        inner, rest = _unary(tokens[1:])
        return (lambda attrs: not inner(attrs)), rest
    if head.group("lp"):
        inner, rest = _or(tokens[1:])
        if not rest or not rest[0].group("rp"):
            raise FilterError("missing ')' in filter")
        return inner, rest[1:]
    if head.group("pk"):
        key, prefix = head.group("pk"), head.group("pv")
        return (lambda attrs: attrs.get(key, "").startswith(prefix) and key in attrs), tokens[1:]
    if head.group("k"):
        key, op, value = head.group("k"), head.group("op"), head.group("v")
        if op == "=":
            return (lambda attrs: attrs.get(key) == value), tokens[1:]
        return (lambda attrs: attrs.get(key) != value), tokens[1:]
    if head.group("hk"):
        key = head.group("hk")
        return (lambda attrs: key in attrs), tokens[1:]
    raise FilterError(f"unexpected {head.group(0).strip()!r} in filter")
