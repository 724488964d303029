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
import hashlib
import hmac
import itertools
import json
import math
import re
import zlib
from collections.abc import Callable

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
PLACEHOLDER = re.compile(
    r"(?i)(?:\$\{[^}]*\}|\$\(|\{\{|%\(|#\{|<%|<[a-z_\- ]+>|\*{3,}|x{6,}|\.\.\.|redacted|masked|"
    r"example|sample|dummy|placeholder|changeme|change_me|your[_\-]?(?:api[_\-]?)?(?:token|key|secret|password)|"
    r"insert[_\-]|replace[_\-]?(?:me|with)|todo|fixme|notreal|not[_\-]a[_\-]real|fake|test123|password123|"
    r"randomstring|(?:token|key|secret|string|value|password)[_\-]?here)"
)


def _is_placeholder(secret: str) -> bool:
    """A placeholder marker in the secret. In a long token a placeholder *word* counts only
    where it stands apart (``sk_live_example…``, ``…-fake-…``): 150 random characters
    spell "fake" or "todo" now and then."""
    for match in PLACEHOLDER.finditer(secret):
        if len(secret) < 40 or not match.group().isalnum():
            return True
        start, end = match.span()
        before = secret[start - 1] if start else "_"
        after = secret[end] if end < len(secret) else "_"
        if not before.isalnum() or not after.isalnum():
            return True
    return False


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
        # RFC 6749 (OAuth 2.0) examples, copied into every OAuth library's documentation
        "2YotnFZFEjr1zCsicMWpAA",
        "tGzv3JOkF0XG5Qx2TlKWIA",
        "SplxlOBeZQQYbYS6WxSbIA",
        "SlAV32hkKG",
        "8xLOxBtZp8",
        "mF_9.B5f-4.1JqM",
        "h480djs93hd8",
    }
)
# The signing keys of the JWTs documentation prints (jwt.io's default, the libraries'
# READMEs): a token that verifies with one of them is an example, not a leak.
_DOC_JWT_KEYS = (b"secret", b"your-256-bit-secret", b"your-secret", b"key", b"my-secret", b"")


def shannon_entropy(text: str) -> float:
    if not text:
        return 0.0
    total = len(text)
    # str.count per distinct character runs in C: faster than a Counter for short secrets.
    return -sum(c / total * math.log2(c / total) for c in map(text.count, set(text)))


def not_placeholder(secret: str, context: str) -> bool:
    if secret in DOC_EXAMPLES or _VARIABLE_VALUE.match(secret) or _is_placeholder(secret):
        return False
    if len(set(secret)) <= 3:
        return False
    # 'abcdefgh…' / '12345678…' filler: a run that is most of the value, not one that a
    # random token happens to contain
    return _longest_run(secret) * 2 < len(secret)


_SEQUENCES = (
    "0123456789",
    "abcdefghijklmnopqrstuvwxyz",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "qwertyuiop",
)


_RUN_OF_FOUR = re.compile(
    "|".join(seq[i : i + 4] for seq in _SEQUENCES for i in range(len(seq) - 3))
)


def _longest_run(secret: str) -> int:
    """The longest stretch of ``secret`` that is a stretch of a keyboard or alphabet run
    (0 when there is none of four or more: the common case, decided by ``in``)."""
    if not _RUN_OF_FOUR.search(secret):
        return 0
    best = 0
    for seq in _SEQUENCES:
        run = 0
        for previous, current in itertools.pairwise(secret):
            at = seq.find(previous)
            run = run + 1 if at != -1 and at + 1 < len(seq) and seq[at + 1] == current else 0
            best = max(best, run + 1 if run else 0)
    return best


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
    """The header decodes to a JSON object naming its ``alg``; an unsigned token (empty
    signature) must say ``"alg": "none"``, and its claims must decode too."""
    parts = secret.split(".")
    try:
        header = _b64json(parts[0])
        if not isinstance(header, dict) or "alg" not in header:
            return False
        if len(parts) == 3 and not parts[2]:
            return str(header["alg"]).lower() == "none" and isinstance(_b64json(parts[1]), dict)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return False
    return not (len(parts) == 3 and _signed_with_doc_key(header, parts))


def _signed_with_doc_key(header: dict[str, object], parts: list[str]) -> bool:
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}.get(
        str(header.get("alg"))
    )
    if digest is None:
        return False
    signed = f"{parts[0]}.{parts[1]}".encode()
    signature = parts[2] + "=" * (-len(parts[2]) % 4)
    try:
        expected = base64.urlsafe_b64decode(signature)
    except (binascii.Error, ValueError):
        return False
    return any(
        hmac.compare_digest(hmac.new(k, signed, digest).digest(), expected) for k in _DOC_JWT_KEYS
    )


def jwt_structure_suffix(secret: str, context: str) -> bool:
    """A token that wraps a JWT after its prefix (``ghs_[<app id>_]eyJ…``)."""
    at = secret.find("eyJ")
    return at != -1 and jwt_structure(secret[at:], context)


def azure_key(secret: str, context: str) -> bool:
    try:
        return len(base64.b64decode(secret, validate=True)) == 64
    except binascii.Error:
        return False


_ARMOR_HEADER = re.compile(r"(?:Proc-Type|DEK-Info|Version|Comment|Hash|Charset|MessageID):")
_B64_TAIL = re.compile(r"[A-Za-z0-9+/=]+$")
_CRC_LINE = re.compile(r"=[A-Za-z0-9+/]{4}")
# An elided or templated key body (the words a random body may spell are no evidence).
_ELIDED = re.compile(r"\.\.\.|\u2026|<[A-Za-z _\-]+>|\*{3}|x{8,}|X{8,}|\$\{|\{\{")


def key_body(secret: str) -> tuple[str, str | None]:
    """The base64 body of a private key block and its PGP armor checksum, whatever each
    line carries in front (timestamps, ``+ ``, ``##[debug]``, indentation, a YAML block
    scalar's indent) or behind (a quote, a comma), and with JSON's escaped newlines."""
    text = secret.replace("\\r", "").replace("\\n", "\n").replace("\r", "")
    body, crc = [], None
    for raw_line in text.split("\n")[1:-1]:
        line = raw_line.rstrip(" \t\"',\\")
        if not line.strip() or _ARMOR_HEADER.search(line):
            continue
        tail = _B64_TAIL.search(line)
        if tail is None:
            continue
        run = tail.group()
        if len(run) < 4:  # a prefix's own character ("+"), never a base64 line
            continue
        if _CRC_LINE.fullmatch(run):
            crc = run[1:]
            continue
        body.append(run)
    return "".join(body), crc


def key_structure(kind: str, decoded: bytes, crc: str | None) -> bool:
    """The key's own structure: an OpenSSH key's magic, a PGP block's CRC24, a DER
    SEQUENCE whose length is the body's length."""
    if "OPENSSH" in kind:
        return decoded.startswith(b"openssh-key-v1\0")
    if "PGP" in kind:
        if crc is None:
            return False
        try:
            expected = int.from_bytes(base64.b64decode(crc), "big")
        except binascii.Error:
            return False
        return crc24(decoded) == expected
    if len(decoded) < 2 or decoded[0] != 0x30:
        return False
    size = decoded[1]
    if size < 0x80:
        return 2 + size == len(decoded)
    width = size & 0x7F
    return 2 + width + int.from_bytes(decoded[2 : 2 + width], "big") == len(decoded)


def crc24(data: bytes) -> int:
    """OpenPGP's armor checksum (RFC 4880, section 6.1)."""
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def pem_body(secret: str, context: str) -> bool:
    """A private key block: its body is base64 holding the key's structure, or (a key
    mangled by a copy, a test key from a generator) at least a long random base64 body;
    an elided or templated body (``...``, ``<key>``) is not a key."""
    body, crc = key_body(secret)
    if len(body) < 40 or _ELIDED.search(secret):
        return False
    try:
        decoded = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
    except binascii.Error:
        return False
    kind = secret[: secret.find("\n") if "\n" in secret else 60]
    if key_structure(kind, decoded, crc):
        return True
    return len(body) >= 64 and shannon_entropy(body) >= 4.5


def hex_entropy(secret: str, context: str) -> bool:
    hexdigits = secret[-32:]
    return shannon_entropy(hexdigits) >= 3.0 and not_placeholder(secret, context)


_URLPLACEHOLDERS = frozenset(
    {"password", "passwd", "pass", "pwd", "secret", "token", "changeme", "admin", "root",
     "guest", "user", "username", "test", "testing", "default", "example", "foo", "bar",
     "xxx", "mypassword", "yourpassword", "letmein", "postgres", "mysql", "redis", "none"}
)  # fmt: skip


def url_password(secret: str, context: str) -> bool:
    """``user:pass@`` holds a credential, not a variable, a port, a mask, a word from the
    documentation (``password``, ``REPLACE_WITH_PASSWORD``) or the user name again
    (``postgres:postgres``)."""
    if secret.isdigit() or secret.startswith(("$", "%", "{", "<", "[")) or len(set(secret)) <= 3:
        return False
    if secret.lower() in _URLPLACEHOLDERS or PLACEHOLDER.search(secret):
        return False
    user = context[: context.rfind(":" + secret + "@")].rsplit("/", 1)[-1]
    if user.lower() == secret.lower() or re.fullmatch(r"[A-Z]+(?:_[A-Z]+)+", secret):
        return False
    # a word or slug with no digit ("thing", "my-pass") is prose, not a generated password
    return not (wordy(secret) and not any(c.isdigit() for c in secret))


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


_SLUG_PART = re.compile(r"(?:[a-z]{2,}|[A-Z][a-z]+|[A-Z]{2,})[0-9]{0,3}|[0-9]{1,4}")
_PIECES = re.compile(r"[A-Z]?[a-z]{2,}")
_VOWEL_CHARS = re.compile(r"[aeiouyAEIOUY]")


def wordy(value: str, share: float = 0.7) -> bool:
    """Made of words (an identifier, a phrase, a slug), not drawn at random: half of it or
    more is pronounceable runs of four letters or longer (by default 70%: a random base62
    string is judged wordy 0.2% of the time, an identifier of the standard library 95%)."""
    parts = re.split(r"[_\-.]", value)
    if all(_SLUG_PART.fullmatch(p) for p in parts) and not parts[0].isdigit():
        return True  # snake_case, kebab-case, dotted.names, a lowercase word
    covered = 0
    # upper-case runs count as words only in an upper-case value (in a mixed one they are
    # acronyms, or random)
    for piece in _PIECES.findall(value.lower() if value.isupper() else value):
        vowels = len(_VOWEL_CHARS.findall(piece))
        if len(piece) >= 4 and 0.2 <= vowels / len(piece) <= 0.6:
            covered += len(piece)
    return covered >= share * len(value)


def not_words(secret: str, context: str) -> bool:
    """The body after a token's prefix is random, not an identifier that starts alike."""
    body = secret.rsplit("_", 1)[-1]
    return not wordy(body)


_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def age_bech32(secret: str, context: str) -> bool:
    """An age secret key is bech32 (BIP 173) with the HRP ``age-secret-key-``: its last six
    characters are a checksum of the rest."""
    text = secret.lower()
    hrp, _, data = text.rpartition("1")
    if not hrp or any(c not in _BECH32 for c in data):
        return False
    values = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    values += [_BECH32.index(c) for c in data]
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            chk ^= generator[i] if (top >> i) & 1 else 0
    return chk == 1


CHECKS: dict[str, Callable[[str, str], bool]] = {
    "not_words": not_words,
    "age_bech32": age_bech32,
    "not_placeholder": not_placeholder,
    "github_crc32": github_crc32,
    "npm_crc32": npm_crc32,
    "jwt_structure": jwt_structure,
    "jwt_structure_suffix": jwt_structure_suffix,
    "azure_key": azure_key,
    "pem_body": pem_body,
    "hex_entropy": hex_entropy,
    "url_password": url_password,
    "entropy_4": lambda secret, context: shannon_entropy(secret) >= 4.0,
    "assignment_value": assignment_value,
}


def github_style_token(prefix: str, payload: str) -> str:
    """A token with a valid checksum (for tests and the benchmark's fake secrets)."""
    return prefix + payload + _base62(zlib.crc32(payload.encode()) & 0xFFFFFFFF, 6)
