"""The generic detectors: a credential-named assignment, an opaque bearer token.

They have no vendor prefix to lean on, so they judge the *value's own evidence*,
and they know code from configuration:

* a value that is code is no secret: an identifier (``token = next_token``), an
  attribute access or call (``self._current_token``, ``getpass()``), a subscript
  (``os.environ["TOKEN"]``), a type annotation (``password: Optional[str]``), an
  interpolation (``${DB_PASSWORD}``, ``{{ .Values.x }}``, ``f"{token}"``) or a
  documentation placeholder (``<your-api-key>``, ``change-me``);
* a literal (quoted anywhere, or the bare value of a shell/env/YAML/INI/properties/
  Makefile/HCL assignment) is a secret when it looks random: long enough, not made
  of words, not a path, a URL, a number, a format string or a regex, and with the
  entropy of a generated string (a letters-only value needs stronger evidence).

The name must be a credential's at a word boundary (``GITHUB_TOKEN``, ``dbPassword``,
``auth``, ``creds``; not ``tokenizer``, ``max_tokens``, ``author``) and not one that
names something about a credential (``TOKEN_URL``, ``PASSWORD_MIN_LENGTH``,
``SECRET_NAME``).
"""

from __future__ import annotations

import itertools
import math
import re

from cievents.scanning.rules import GENERIC_FAMILIES, RULES
from cievents.scanning.validate import DOC_EXAMPLES, PLACEHOLDER, shannon_entropy, wordy

__all__ = ["assignment", "bearer", "credential_name", "looks_random"]

_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_CREDENTIAL_WORDS = frozenset(
    {"token", "password", "passwd", "passwort", "secret", "auth", "credential", "credentials",
     "creds", "apikey", "pass", "pw", "pwd", "privatekey", "accesskey", "secretkey", "authtoken"}
)  # fmt: skip
_CREDENTIAL_PAIRS = frozenset(
    {("api", "key"), ("private", "key"), ("access", "key"), ("secret", "key")}
)
# A last word that names something about a credential rather than holding one.
_ABOUT = frozenset(
    {"file", "files", "path", "dir", "name", "names", "type", "types", "length", "len", "size",
     "field", "fields", "header", "param", "prompt", "pattern", "regex", "re", "url", "uri",
     "endpoint", "format", "env", "var", "label", "hint", "policy", "count", "max", "min",
     "expiry", "expires", "expiration", "ttl", "timeout", "id", "ids", "kind", "mode", "method",
     "scheme", "provider", "class", "store", "manager", "cache", "required", "enabled",
     "prefix", "suffix", "location", "source", "arn", "ref", "version", "hash", "salt",
     "rounds", "algorithm", "alg", "sep", "chars", "charset", "key_id", "placeholder", "help",
     "description", "desc", "msg", "message", "error", "ok", "valid", "set", "get", "index",
     "idx", "pos", "start", "end", "list", "map", "dict", "bytes", "str", "flag",
     "option", "options", "config", "cfg", "settings", "value_from", "from", "handler", "fn",
     "func", "callback", "reset", "changed", "updated", "created", "at", "on", "by"}
)  # fmt: skip
# Qualifiers that make a token a cursor or a parser's token, not a credential.
_NOT_CREDENTIAL = frozenset(
    {"page", "next", "continuation", "cancel", "cancellation", "sync", "csrf", "xsrf", "sort",
     "lexer", "parser", "current", "last", "first", "prev", "previous", "start", "end", "eof",
     "bos", "eos", "pad", "unk", "mask", "sep", "cls", "special", "num", "max", "min", "n"}
)  # fmt: skip


def credential_name(name: str) -> bool:
    """The assigned name is a credential's (at a word boundary) and not a name *about* one."""
    words = [w.lower() for w in _WORDS.findall(name.strip("\"'`$@:-.[]"))]
    if not words:
        return False
    hit = any(w in _CREDENTIAL_WORDS for w in words) or any(
        pair in _CREDENTIAL_PAIRS for pair in itertools.pairwise(words)
    )
    if not hit:
        return False
    if words[-1] in _ABOUT or any(w in _NOT_CREDENTIAL for w in words):
        return False
    return not words[-1].isdigit() or len(words) > 1


_INTERPOLATION = re.compile(
    r"\$\{|\$\(|\{\{|\}\}|%\(|#\{|<%|\{[A-Za-z_][\w.]*\}|^\$[A-Za-z_]|^%[A-Za-z_]+%$"
)
_CODE = re.compile(r"[()\[\]{}]|->|::|^[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+$")
_FORMATS = re.compile(
    r"\\[nrtx0u]|%[-0-9.]*[sdrfx](?![A-Za-z0-9])|\{\}|\[\^?[^\]]*\]|\\[dswbSWD]|\(\?|\.\*|\.\+"
)
_NOT_LITERAL = (
    "/",
    "./",
    "../",
    "~/",
    "http://",
    "https://",
    "file:",
    "arn:",
    "projects/",
    "s3://",
    "gs://",
)
_NUMERIC = re.compile(r"[0-9.:_/+\-]+")
_HEX = re.compile(r"[0-9a-fA-F]+")
# A value that spells a credential's name ("my-password", "AUTH=CRAM-MD5" aside) or a host
# (``www.python.org:080``, ``user@example.com``) is an example or a setting.
_CREDENTIAL_WORD = re.compile(r"(?i)passw(?:or)?d|secret|token|apikey|api_key")
_HOSTLIKE = re.compile(
    r"[A-Za-z]\.(?:com|org|net|io|dev|local|internal|example|test)\b|:[0-9]{2,5}$|@[A-Za-z]"
)
# A value that starts like a vendor's token is that vendor rule's to judge: when the rule
# rejected it (a broken checksum, a documented example), the generic detector must not
# report it anyway.
_VENDOR_PREFIXES = tuple(
    sorted(
        {
            anchor
            for rule in RULES
            if rule.family not in GENERIC_FAMILIES and not rule.anchor_nocase and rule.back is None
            for anchor in rule.anchors
            if len(anchor) >= 3
        }
    )
)


_CAMEL = re.compile(r"[A-Z][a-z]{2,}")
_VOWEL = re.compile(r"[aeiouy]")
_LETTER = re.compile(r"[A-Za-z]")
_HOME_ROW = frozenset("asdfghjkl")
_KEYBOARD_RUNS = tuple(
    row[i : i + 3] for row in ("qwertyuiop", "asdfghjkl", "zxcvbnm") for i in range(len(row) - 2)
)


def _camel_case(value: str) -> bool:
    """A type or class name (``PKCS7PrivateKeyTypes``): capitalised words, most of it."""
    pieces = [p for p in _CAMEL.findall(value) if 0.2 <= len(_VOWEL.findall(p)) / len(p) <= 0.7]
    letters = len(_LETTER.findall(value))
    return len(pieces) >= 2 and sum(map(len, pieces)) >= 0.75 * letters


def _keyboard_mash(value: str) -> bool:
    """Documentation's typed-at-random values (``lsdkfol23w54jlksdef``, ``h480djs93hd8``):
    lower case and digits, and the letters mostly from the keyboard's home row, which a
    generator draws a third of the time."""
    letters = [c for c in value if c.isalpha()]
    if not letters or not value.islower() or not value.isalnum() or len(value) > 24:
        return False
    home = sum(c in _HOME_ROW for c in letters) / len(letters)
    return home >= 0.7 or (home >= 0.5 and any(run in value for run in _KEYBOARD_RUNS))


def looks_random(value: str, *, min_length: int = 8) -> bool:
    """The value's own evidence that it is a generated credential."""
    if len(value) < min_length or len(set(value)) < 5 or " " in value:
        return False
    if value in DOC_EXAMPLES or value.startswith(_VENDOR_PREFIXES):
        return False
    if _CREDENTIAL_WORD.search(value) or _HOSTLIKE.search(value) or _keyboard_mash(value):
        return False
    if PLACEHOLDER.search(value) or _INTERPOLATION.search(value) or _FORMATS.search(value):
        return False
    if value.startswith(_NOT_LITERAL) or _NUMERIC.fullmatch(value):
        return False
    entropy = shannon_entropy(value)
    if len(value) < 16 and len(_LETTER.findall(value)) < 3:
        return False  # an identifier of digits with a letter or two: T1098.001, v2.10.3-rc1
    if len(value) < 16 and value.isalnum() and value.islower():
        return False  # short lower-case values are typed, not generated (kjerht2309u)
    if _HEX.fullmatch(value):  # hex keys: long, and not one repeated pattern
        return len(value) >= 32 and entropy >= 3.0
    if value.isalpha():  # letters only: only with strong evidence
        return (
            len(value) >= 16
            and not value.islower()
            and not value.isupper()
            and entropy >= 3.8
            and not wordy(value)
        )
    floor = min(3.2, math.log2(len(value)) - 0.8)
    return entropy >= floor and not wordy(value)


_WORD_BEFORE = re.compile(r"([A-Za-z]+)[ \t]+$")
# What stands before the quoted name of setProperty("password", "…"): an opening parenthesis.
_ARGUMENT_BEFORE = re.compile(r"\([ \t]*$")


def assignment(match: re.Match[str]) -> bool:
    """``NAME = value`` in any common syntax, judged as code or as configuration."""
    if not credential_name(match.group("name")):
        return False
    # prose names the kind of token in the word before: "Next page token: …"
    prose = _WORD_BEFORE.search(match.string, max(0, match.start("name") - 24), match.start("name"))
    if prose and prose.group(1).lower() in _NOT_CREDENTIAL:
        return False
    value = match.group("secret")
    quoted = match.group("q") is not None
    op = match.group("op")
    if match.group("nq"):
        # a quoted name is the whole string: "password": …, setProperty("password", …),
        # not the tail of one ('User:Pass', …)
        before = match.string[match.start("name") - 1 : match.start("name")]
        if before not in ("'", '"', "`", "["):
            return False
    if op == "," and not (match.group("nq") and quoted):  # only setProperty("password", "v")
        return False
    if op == "," and _WORDS.findall(match.group("name"))[-1].lower() not in _CREDENTIAL_WORDS:
        return False  # ("password", "…") names the credential last, not ('ABPassKit', …)
    if op == "," and not _ARGUMENT_BEFORE.search(
        match.string, max(0, match.start("name") - 40), match.start("name") - 1
    ):
        return False  # the first argument of a call, not two items of a list: ["x-secret", "y"]
    if not quoted:
        value = value.rstrip(",;")
        if _CODE.search(value) or value.startswith("_") or _camel_case(value):
            return False  # an identifier path, a call, a subscript, a private or type name
        if op == ":" and not value[:1].isalnum():
            return False
        rest = match.string[match.end("secret") : match.end("secret") + 3].lstrip(" ")
        if op == ":" and rest[:1] in (",", "|", "=", ")", "]"):
            return False  # a parameter's type annotation: "key: KeyType," / "key: A | B"
    return looks_random(value)


def bearer(match: re.Match[str]) -> bool:
    """An opaque token after ``Authorization: Bearer`` (curl -v, a header file)."""
    value = match.group("secret")
    return looks_random(value, min_length=20) and shannon_entropy(value) >= 3.5


JUDGES = {"assignment": assignment, "bearer": bearer}
