"""The scanner: prefilter every rule's anchors in one pass, confirm in small windows.

1. Normalize (Buildkite markers, ANSI) keeping an offset map.
2. One multi-pattern pass finds every anchor of every rule: hyperscan when it is
   installed (one compiled database for all rules, compiled once per process or
   loaded from the serialized file written at package time), else an
   Aho–Corasick automaton (pyahocorasick) over the same anchors. Both produce
   the same hits, so both engines report the same findings.
3. Each hit opens a window around itself; the rule's own regex runs there.
4. Precision checks, then grouping: one finding per distinct secret and place,
   repeated occurrences of a secret grouped under one fingerprint, different
   secrets never merged.

Fingerprints are keyed HMAC-SHA256 of (rule, secret): stable across runs for
one key, useless to an attacker without it, never a plain hash.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
from collections.abc import Callable, Collection, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from cievents.scanning.normalize import normalize
from cievents.scanning.rules import RULES, Rule
from cievents.scanning.validate import CHECKS, shannon_entropy

DEFAULT_FINGERPRINT_KEY = "cievents-local-fingerprint-key"
ALLOW_MARKER = "cievents:allow"


@dataclass(frozen=True)
class Finding:
    rule_id: str
    family: str
    description: str
    severity: str
    confidence: str
    path: str
    line: int
    end_line: int
    start_column: int
    end_column: int
    secret: str
    fingerprint: str
    occurrences: int = 1
    start: int = field(default=0, repr=False)
    end: int = field(default=0, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("start")
        data.pop("end")
        return data


def redact(secret: str) -> str:
    """Enough to recognise a secret, never enough to use it."""
    if len(secret) <= 8:
        return "*" * len(secret)
    keep = 4 if len(secret) >= 16 else 2
    return f"{secret[:keep]}…[{len(secret) - keep} redacted]"


class _Hyperscan:
    def __init__(self, anchors: list[tuple[str, bool]]) -> None:
        import hyperscan

        self._hs = hyperscan
        expressions = [anchor.encode() for anchor, _ in anchors]
        flags = [hyperscan.HS_FLAG_CASELESS if nocase else 0 for _, nocase in anchors]
        self.db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        self.db.compile(
            expressions=[_escape(e) for e in expressions],
            ids=list(range(len(anchors))),
            elements=len(anchors),
            flags=flags,
        )
        self._local = threading.local()

    def hits(self, data: bytes) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = []

        def on_match(anchor_id: int, start: int, end: int, flags: int, context: Any) -> None:
            found.append((anchor_id, end))

        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._hs.Scratch(self.db)
            self._local.scratch = scratch
        self.db.scan(data, match_event_handler=on_match, scratch=scratch)
        return found


def _escape(expression: bytes) -> bytes:
    return b"".join(b"\\x%02x" % byte for byte in expression)


class _AhoCorasick:
    def __init__(self, anchors: list[tuple[str, bool]]) -> None:
        import ahocorasick

        self.sensitive = ahocorasick.Automaton()
        self.insensitive = ahocorasick.Automaton()
        for index, (anchor, nocase) in enumerate(anchors):
            automaton = self.insensitive if nocase else self.sensitive
            key = anchor.lower() if nocase else anchor
            existing = automaton.get(key, ())
            automaton.add_word(key, (*existing, index))
        for automaton in (self.sensitive, self.insensitive):
            if len(automaton):
                automaton.make_automaton()

    def hits(self, text: str) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = []
        if len(self.sensitive):
            for end, ids in self.sensitive.iter(text):
                found.extend((i, end + 1) for i in ids)
        if len(self.insensitive):
            for end, ids in self.insensitive.iter(text.lower()):
                found.extend((i, end + 1) for i in ids)
        return found


def available_engines() -> list[str]:
    engines = []
    for name, module in (("hyperscan", "hyperscan"), ("aho-corasick", "ahocorasick")):
        try:
            __import__(module)
            engines.append(name)
        except ImportError:
            pass
    return engines


class Scanner:
    def __init__(
        self,
        *,
        rules: Iterable[Rule] = RULES,
        engine: str | None = None,
        fingerprint_key: str | None = None,
        suppressed: Collection[str] | Callable[[str], bool] = (),
        allowed_fingerprints: Collection[str] = (),
    ) -> None:
        self.rules = tuple(rules)
        for rule in self.rules:
            if rule.back and rule.back != "window" and rule.back not in _BACK:
                _BACK[rule.back] = re.compile(rule.back)
        self.anchors: list[tuple[str, bool]] = []
        self.anchor_rule: list[Rule] = []
        for rule in self.rules:
            for anchor in rule.anchors:
                self.anchors.append((anchor, rule.anchor_nocase))
                self.anchor_rule.append(rule)
        chosen = engine or (available_engines() or ["none"])[0]
        if chosen == "hyperscan":
            self._engine: _Hyperscan | _AhoCorasick = _Hyperscan(self.anchors)
        elif chosen == "aho-corasick":
            self._engine = _AhoCorasick(self.anchors)
        else:
            raise RuntimeError("no scanning engine: install hyperscan or pyahocorasick")
        self.engine = chosen
        key = (
            fingerprint_key or os.environ.get("CIEVENTS_FINGERPRINT_KEY") or DEFAULT_FINGERPRINT_KEY
        )
        self._key = key.encode()
        self._suppressed = suppressed
        self._allowed = set(allowed_fingerprints)

    def fingerprint(self, rule_id: str, secret: str) -> str:
        return hmac.new(self._key, f"{rule_id}\0{secret}".encode(), hashlib.sha256).hexdigest()

    def _is_suppressed(self, fingerprint: str) -> bool:
        if fingerprint in self._allowed:
            return True
        if callable(self._suppressed):
            return bool(self._suppressed(fingerprint))
        return fingerprint in self._suppressed

    def _raw_hits(self, text: str) -> list[tuple[int, int]]:
        if isinstance(self._engine, _Hyperscan):
            data = text.encode("utf-8")
            if len(data) == len(text):  # ASCII: byte offsets are character offsets
                return self._engine.hits(data)
            # Anchors are ASCII, so every hit ends on a character boundary: count the
            # characters between consecutive hits (one pass, in C).
            hits = sorted(self._engine.hits(data), key=lambda h: h[1])
            mapped, previous, chars = [], 0, 0
            for anchor_id, end in hits:
                chars += len(data[previous:end].decode("utf-8", errors="replace"))
                previous = end
                mapped.append((anchor_id, chars))
            return mapped
        return self._engine.hits(text)

    def matches(self, text: str) -> list[tuple[Rule, int, int, str]]:
        """(rule, start, end, secret) in clean-text offsets, validated, deduplicated."""
        seen: set[tuple[str, int, int]] = set()
        tried: set[tuple[str, int]] = set()
        out: list[tuple[Rule, int, int, str]] = []
        for anchor_id, end in self._raw_hits(text):
            rule = self.anchor_rule[anchor_id]
            at = end - len(self.anchors[anchor_id][0])
            hi = min(len(text), end + rule.window_after)
            if rule.back == "window":
                lo = max(0, at - rule.window_before)
                found = list(rule.regex.finditer(text, lo, hi))
            else:
                if rule.back is not None:
                    at = _walk_back(text, at, _BACK[rule.back], rule.window_before)
                if (rule.id, at) in tried:
                    continue
                tried.add((rule.id, at))
                match = rule.regex.match(text, at, hi)
                found = [match] if match else []
            for match in found:
                start, stop = match.span("secret")
                if (rule.id, start, stop) in seen:
                    continue
                seen.add((rule.id, start, stop))
                secret = match.group("secret")
                context = text[max(0, start - 80) : stop + 20]
                if rule.min_entropy and shannon_entropy(secret) < rule.min_entropy:
                    continue
                if not all(CHECKS[c](secret, context) for c in rule.checks):
                    continue
                out.append((rule, start, stop, secret))
        return _prefer_specific(out)

    def scan_text(self, text: str, path: str = "-", redacted: bool = True) -> list[Finding]:
        normalized = normalize(text)
        clean = normalized.text
        original = normalized.original if normalized._clean_starts else (lambda p: p)
        found = self.matches(clean)
        by_rule = {(rule.id, start) for rule, start, _, _ in found}
        line_starts = _line_starts(text)
        results: list[Finding] = []
        counts: dict[str, int] = {}
        for rule, start, stop, secret in found:
            fingerprint = self.fingerprint(rule.id, secret)
            if self._is_suppressed(fingerprint):
                continue
            o_start, o_end = original(start), original(stop - 1) + 1
            line, column = _position(line_starts, o_start)
            end_line, end_column = _position(line_starts, o_end - 1)
            line_text = text[
                line_starts[line - 1] : line_starts[line] if line < len(line_starts) else len(text)
            ]
            if ALLOW_MARKER in line_text:
                continue
            confidence = rule.confidence
            if rule.companion and any(
                r == rule.companion for r, s in by_rule if abs(s - start) < 400
            ):
                confidence = "high"
            counts[fingerprint] = counts.get(fingerprint, 0) + 1
            results.append(
                Finding(
                    rule_id=rule.id,
                    family=rule.family,
                    description=rule.description,
                    severity=rule.severity,
                    confidence=confidence,
                    path=path,
                    line=line,
                    end_line=end_line,
                    start_column=column,
                    end_column=end_column,
                    secret=redact(secret) if redacted else secret,
                    fingerprint=fingerprint,
                    start=o_start,
                    end=o_end,
                )
            )
        # A private key's body also contains anchors of other rules: keep the widest match.
        results = _drop_contained(results)
        results.sort(key=lambda f: (f.start, f.rule_id))
        return [_with_count(f, counts[f.fingerprint]) for f in results]

    def redact_text(self, text: str) -> str:
        """The text with every finding's secret replaced in the original bytes."""
        findings = sorted(self.scan_text(text, redacted=True), key=lambda f: f.start, reverse=True)
        for finding in findings:
            text = text[: finding.start] + finding.secret + text[finding.end :]
        return text


GENERIC_FAMILIES = frozenset({"assignment"})
_BACK: dict[str, re.Pattern[str]] = {}


def _walk_back(text: str, position: int, allowed: re.Pattern[str], limit: int) -> int:
    """The start of the run of ``allowed`` characters that ends at ``position``."""
    floor = max(0, position - limit)
    while position > floor and allowed.fullmatch(text[position - 1]):
        position -= 1
    return position


def _prefer_specific(found: list[tuple[Rule, int, int, str]]) -> list[tuple[Rule, int, int, str]]:
    """A generic NAME=value match is dropped where a specific rule explains the same secret."""
    specific = [(s, e) for rule, s, e, _ in found if rule.family not in GENERIC_FAMILIES]
    return [
        item
        for item in found
        if item[0].family not in GENERIC_FAMILIES
        or not any(s < item[2] and item[1] < e for s, e in specific)
    ]


def _with_count(finding: Finding, count: int) -> Finding:
    from dataclasses import replace

    return replace(finding, occurrences=count)


def _drop_contained(findings: list[Finding]) -> list[Finding]:
    keep = []
    spans = [(f.start, f.end) for f in findings]
    for finding in findings:
        inside = any(
            s <= finding.start and finding.end <= e and (s, e) != (finding.start, finding.end)
            for s, e in spans
        )
        if not inside:
            keep.append(finding)
    return keep


def _line_starts(text: str) -> list[int]:
    starts = [0]
    index = text.find("\n")
    while index != -1:
        starts.append(index + 1)
        index = text.find("\n", index + 1)
    return starts


def _position(line_starts: list[int], offset: int) -> tuple[int, int]:
    import bisect

    line = bisect.bisect_right(line_starts, offset)
    return line, offset - line_starts[line - 1] + 1
