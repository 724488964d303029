"""Precision checks, applied after a rule's regex matched: the difference between a scanner
people trust and one they mute.

* checksums where the format has one (GitHub and npm tokens end in a base62 CRC32);
* structure (a JWT's header decodes to JSON with ``alg``; an Azure key is 64 bytes of
  base64; a PEM body is base64);
* placeholders and masks (``${VAR}``, ``***``, ``<token>``, ``example``, ``changeme``,
  ``xxxx``, one repeated character) and the example keys vendors print in their docs;
* entropy, last, for the formats that have nothing better.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import zlib
from collections.abc import Callable

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_PLACEHOLDER = re.compile(
    r"(?i)(?:\$\{[^}]*\}|\$\(|\{\{|%\(|<[a-z_\- ]+>|\*{3,}|x{6,}|\.\.\.|redacted|masked|"
    r"example|sample|dummy|placeholder|changeme|change_me|your[_\-]?(?:token|key|secret|password)|"
    r"insert[_\-]|replace[_\-]?me|todo|fixme|notreal|not[_\-]a[_\-]real|fake|test123|password123)"
)
_VARIABLE_VALUE = re.compile(r"^\$[A-Za-z_][A-Za-z0-9_]*$|^%[A-Za-z_]+%$|^[A-Za-z_]+\(.*\)$")
# Keys vendors publish in their documentation: matching them is noise, not a leak.
DOC_EXAMPLES = frozenset(
    {
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AKIAI44QH8DHBEXAMPLE",
        "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
        "ASIAIOSFODNN7EXAMPLE",
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        "sk_test_BQokikJOvBiI2HlWgH4olfQ2",
        "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",
        "AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe",
    }
)


def shannon_entropy(text: str) -> float:
    if not text:
        return 0.0
    total = len(text)
    # str.count per distinct character runs in C: faster than a Counter for short secrets.
    return -sum(c / total * math.log2(c / total) for c in map(text.count, set(text)))


def not_placeholder(secret: str, context: str) -> bool:
    if secret in DOC_EXAMPLES or _PLACEHOLDER.search(secret) or _VARIABLE_VALUE.match(secret):
        return False
    if len(set(secret)) <= 3:
        return False
    # 'abcdef…' / '0123456…' style sequences
    return not any(seq in secret for seq in ("abcdefgh", "12345678", "ABCDEFGH", "qwerty"))


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, rest = divmod(number, 62)
        digits.append(_B62[rest])
    return "".join(reversed(digits)).rjust(width, "0")


def _crc_suffix_ok(token: str, prefix_len: int) -> bool:
    body = token[prefix_len:]
    if len(body) < 7:
        return False
    payload, checksum = body[:-6], body[-6:]
    return _base62(zlib.crc32(payload.encode()) & 0xFFFFFFFF, 6) == checksum


def github_crc32(secret: str, context: str) -> bool:
    return _crc_suffix_ok(secret, 4)


def npm_crc32(secret: str, context: str) -> bool:
    return _crc_suffix_ok(secret, 4)


def _b64json(segment: str) -> object:
    padded = segment + "=" * (-len(segment) % 4)
    return json.loads(base64.urlsafe_b64decode(padded))


def jwt_structure(secret: str, context: str) -> bool:
    try:
        header = _b64json(secret.split(".", 1)[0])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return False
    return isinstance(header, dict) and "alg" in header


def jwt_structure_suffix(secret: str, context: str) -> bool:
    """A token that wraps a JWT after its prefix (``ghs_[<app id>_]eyJ…``)."""
    at = secret.find("eyJ")
    return at != -1 and jwt_structure(secret[at:], context)


def azure_key(secret: str, context: str) -> bool:
    try:
        return len(base64.b64decode(secret, validate=True)) == 64
    except binascii.Error:
        return False


def pem_body(secret: str, context: str) -> bool:
    lines = [line for line in secret.splitlines()[1:-1] if line and ":" not in line]
    body = "".join(lines)
    if len(body) < 40 or _PLACEHOLDER.search(body):
        return False
    try:
        base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except binascii.Error:
        return False
    return True


def hex_entropy(secret: str, context: str) -> bool:
    hexdigits = secret[-32:]
    return shannon_entropy(hexdigits) >= 3.0 and not_placeholder(secret, context)


def url_password(secret: str, context: str) -> bool:
    # "user:pass@" in a URL where pass is a variable, a port, or a mask is no leak.
    return not secret.isdigit() and not secret.startswith(("$", "%", "{")) and len(set(secret)) > 3


_NOT_SECRET_VALUES = re.compile(
    r"(?i)^(?:true|false|null|none|nil|yes|no|on|off|required|optional|string|bool(?:ean)?|int(?:eger)?|"
    r"env|secret|token|password|undefined|empty|default|\*+|[a-z]+(?:[_\-][a-z]+){0,3})$"
)


_NUMERIC = re.compile(r"[0-9.:\-]+")
_CLASSES = tuple(re.compile(p) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))


def assignment_value(secret: str, context: str) -> bool:
    """The value of NAME=value must look like a credential, not a word, a path or a reference."""
    if _NOT_SECRET_VALUES.match(secret) or secret.startswith(
        ("/", "./", "~", "http://", "https://")
    ):
        return False
    if _NUMERIC.fullmatch(secret):  # versions, ports, dates
        return False
    return sum(bool(p.search(secret)) for p in _CLASSES) >= 2


CHECKS: dict[str, Callable[[str, str], bool]] = {
    "not_placeholder": not_placeholder,
    "github_crc32": github_crc32,
    "npm_crc32": npm_crc32,
    "jwt_structure": jwt_structure,
    "jwt_structure_suffix": jwt_structure_suffix,
    "azure_key": azure_key,
    "pem_body": pem_body,
    "hex_entropy": hex_entropy,
    "url_password": url_password,
    "assignment_value": assignment_value,
}


def github_style_token(prefix: str, payload: str) -> str:
    """A token with a valid checksum (for tests and the benchmark's fake secrets)."""
    return prefix + payload + _base62(zlib.crc32(payload.encode()) & 0xFFFFFFFF, 6)
