"""The scanner: candidates in one pass over the raw bytes, rules confirmed in small windows.

1. One multi-pattern pass over the raw bytes names every candidate: hyperscan
   when it is installed (one database for all rules, loaded from the file
   compiled at package time), else Aho–Corasick and ``re`` over the same
   patterns (:mod:`cievents.scanning.engines`). Both produce the same
   candidates, so both report the same findings.
2. Each candidate opens a window around itself, snapped to whole lines; only
   that window is normalized (Buildkite markers, ANSI), keeping an offset map,
   and the rule's own regex runs there. Work is proportional to candidates,
   not to the size of the log.
3. Precision checks, then grouping: one finding per distinct secret and place,
   repeated occurrences of a secret grouped under one fingerprint, different
   secrets never merged.

The text is handled as bytes (decoded as latin-1, one character per byte), so
offsets are byte offsets into the original and redaction replaces the original
bytes; columns are counted in characters of the UTF-8 line.

Fingerprints are keyed HMAC-SHA256 of (rule, secret): stable across runs for
one key, useless to an attacker without it, never a plain hash.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import hashlib
import hmac
import os
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, fields
from typing import Any, BinaryIO

from cievents.scanning.engines import make_engine
from cievents.scanning.generic import JUDGES
from cievents.scanning.normalize import Normalized, normalize
from cievents.scanning.rules import GENERIC_FAMILIES, RULES, Rule, patterns_of
from cievents.scanning.validate import CHECKS, shannon_entropy

DEFAULT_FINGERPRINT_KEY = "cievents-local-fingerprint-key"
ALLOW_MARKER = "cievents:allow"
_ALLOW_MARKER_BYTES = ALLOW_MARKER.encode()
# How far a window may reach to find a line boundary, and the extra room escapes may take.
LINE_SNAP = 4096
ESCAPE_SLACK = 32
VERDICT_CACHE = 50_000
# Streaming: window size, and the overlap scanned past it (longer than any match can be).
STREAM_WINDOW = 8 * 1024 * 1024
STREAM_OVERLAP = 64 * 1024
Normalizer = Callable[[str], Normalized]


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
    start: int = field(default=0, repr=False)  # byte offsets into the scanned data
    end: int = field(default=0, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """The public fields (offsets are internal), built directly: asdict deep-copies."""
        return {name: getattr(self, name) for name in PUBLIC_FIELDS}


PUBLIC_FIELDS = tuple(f.name for f in fields(Finding) if f.name not in ("start", "end"))


def redact(secret: str) -> str:
    """Enough to recognise a secret, never enough to use it."""
    if len(secret) <= 8:
        return "*" * len(secret)
    keep = 4 if len(secret) >= 16 else 2
    return f"{secret[:keep]}…[{len(secret) - keep} redacted]"


@dataclass(frozen=True)
class _Match:
    rule: Rule
    start: int  # byte offsets in the raw data
    end: int
    secret: str  # the clean secret, escapes removed


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
        self._back = {
            r.back: re.compile(r.back) for r in self.rules if r.back and r.back != "window"
        }
        self.patterns = patterns_of(self.rules)
        self._pattern_rule = [rule for rule in self.rules for _ in rule.anchors]
        # Pattern ids past the rules' anchors are base64 fragments of them: decode there.
        self._direct = len(self._pattern_rule)
        self._anchor_lengths = [len(p.anchor) for p in self.patterns]
        self._engine = make_engine(engine, self.patterns)
        self.engine = self._engine.name
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

    def matches(
        self, data: bytes, normalizer: Normalizer = normalize, decode: bool = True
    ) -> list[_Match]:
        """Every validated match in raw byte offsets; a generic one yields to a specific one.
        ``normalizer`` cleans each candidate's window (a CI log format may pass its own).

        With ``decode``, a base64 run holding an anchor's encoding is decoded and scanned
        once (no deeper), its findings pointing at the encoded run.
        """
        raw = data.decode("latin-1")
        candidates = self._engine.candidates(data, raw)
        if not candidates:  # most text a masker sees: no anchor, nothing to verify
            return []
        seen: set[tuple[str, int, int]] = set()
        out: list[_Match] = []
        cached, window = (-1, -1), normalizer("")
        # Logs repeat themselves (``+ secret = (sensitive value)`` in every Terraform plan):
        # a verdict depends only on the rule, the clean line and the anchor's place in it.
        verdicts: dict[tuple[str, str, int], tuple[tuple[int, int, str], ...]] = {}
        encoded: list[int] = []
        for pattern_id, anchor in candidates:
            if pattern_id >= self._direct:
                encoded.append(anchor)
                continue
            rule = self._pattern_rule[pattern_id]
            length = self._anchor_lengths[pattern_id]
            lo, hi = _window(raw, anchor, rule, length)
            if (lo, hi) != cached:  # several candidates on one line share its normalization
                cached, window = (lo, hi), normalizer(raw[lo:hi])
            at = window.clean(anchor - lo)
            key = (rule.id, window.text, at)
            verdict = verdicts.get(key)
            if verdict is None:
                if len(verdicts) > VERDICT_CACHE:
                    verdicts.clear()
                verdict = verdicts[key] = self._verify(rule, window.text, at, length)
            for clean_start, clean_end, secret in verdict:
                start = lo + window.original(clean_start)
                end = lo + window.original(clean_end - 1) + 1
                if (rule.id, start, end) not in seen:
                    seen.add((rule.id, start, end))
                    out.append(_Match(rule, start, end, secret))
        if decode and encoded:
            out += self._decoded(raw, encoded)
        return _prefer_specific(out)

    def secrets(self, data: bytes) -> set[str]:
        """The secret of every match, nothing placed: what a masker needs, at the cost of the
        matches alone (no line index, no fingerprint unless suppressions are configured, no
        grouping into findings).

        Every secret ``scan_bytes`` reports on ``data`` is in it (tests hold it on the vendor
        fixtures and every planted sample). It may hold more, never fewer: a match nested in
        a wider one is kept, and a line's ``cievents:allow`` marker does not exempt it, since
        what this returns is masked, and text from outside must not be able to unmask it."""
        matches = self.matches(data)
        if not matches:
            return set()
        if self._allowed or self._suppressed:
            return {
                m.secret
                for m in matches
                if m.secret and not self._is_suppressed(self.fingerprint(m.rule.id, m.secret))
            }
        return {m.secret for m in matches if m.secret}

    def _decoded(self, raw: str, positions: list[int]) -> list[_Match]:
        """Matches inside the base64 runs around ``positions``, each run decoded once."""
        out: list[_Match] = []
        done_until = -1
        for position in positions:
            if position < done_until:
                continue
            start, end = _base64_run(raw, position)
            done_until = end
            if end - start < 16:
                continue
            # every alignment's decoding in one scan (one line each): a match in any of them
            # points at the run; decoded text holds no log markers and is not decoded again
            decoded = b"\n".join(_decodings(raw[start:end]))
            out += [
                _Match(m.rule, start, end, m.secret) for m in self.matches(decoded, decode=False)
            ]
        return out

    def _verify(
        self, rule: Rule, text: str, at: int, length: int
    ) -> tuple[tuple[int, int, str], ...]:
        """The rule's regex at (or around) the anchor, then the precision layer."""
        stop = min(len(text), at + length + rule.window_after)
        if rule.back == "window":
            found = list(rule.regex.finditer(text, max(0, at - rule.window_before), stop))
        else:
            if rule.back is not None:
                at = _walk_back(text, at, self._back[rule.back], rule.window_before)
            match = rule.regex.match(text, at, stop)
            found = [match] if match else []
        judge = JUDGES[rule.judge] if rule.judge else None
        accepted = []
        for match in found:
            if judge is not None and not judge(match):
                continue
            clean_start, clean_end = match.span("secret")
            secret = match.group("secret")
            if _passes(rule, secret, text, clean_start, clean_end):
                if not secret.isascii():
                    secret = secret.encode("latin-1").decode("utf-8", errors="replace")
                accepted.append((clean_start, clean_end, secret))
        return tuple(accepted)

    def scan_bytes(
        self,
        data: bytes,
        path: str = "-",
        redacted: bool = True,
        normalizer: Normalizer = normalize,
    ) -> list[Finding]:
        return self._findings(self._located(data, normalizer), path, redacted)

    def _located(
        self,
        data: bytes,
        normalizer: Normalizer,
        keep: int | None = None,
        lines_before: int = 0,
        base: int = 0,
    ) -> list[_Located]:
        """Matches placed in the file (line, columns, offsets shifted by ``lines_before`` and
        ``base``), suppressed and allowed ones removed, the widest of nested ones kept; with
        ``keep``, only those starting before it."""
        found = sorted(self.matches(data, normalizer), key=lambda m: (m.start, m.rule.id))
        starts_by_rule: dict[str, list[int]] = {}
        for m in found:
            starts_by_rule.setdefault(m.rule.id, []).append(m.start)
        located: list[_Located] = []
        lines = _LineIndex(data)
        for m in found:
            if keep is not None and m.start >= keep:
                continue
            rule = m.rule
            fingerprint = self.fingerprint(rule.id, m.secret)
            if self._is_suppressed(fingerprint):
                continue
            line, column, line_text = lines.locate(m.start)
            if _ALLOW_MARKER_BYTES in line_text:
                continue
            end_line, end_column, _ = lines.locate(m.end - 1)
            confidence = rule.confidence
            if rule.companion and _near(starts_by_rule.get(rule.companion, []), m.start, 400):
                confidence = "high"
            located.append(
                _Located(
                    m,
                    fingerprint,
                    confidence,
                    (line + lines_before, end_line + lines_before, column, end_column),
                    m.start + base,
                    m.end + base,
                )
            )
        # A private key's body also contains anchors of other rules: keep the widest match.
        return _drop_contained(located)

    @staticmethod
    def _findings(located: list[_Located], path: str, redacted: bool) -> list[Finding]:
        """Findings, repeated secrets counted (one fingerprint, several places)."""
        counts: dict[str, int] = {}
        for place in located:
            counts[place.fingerprint] = counts.get(place.fingerprint, 0) + 1
        findings = []
        for place in located:
            rule, (line, end_line, column, end_column) = place.match.rule, place.lines
            secret = place.match.secret
            findings.append(
                Finding(
                    rule_id=rule.id,
                    family=rule.family,
                    description=rule.description,
                    severity=rule.severity,
                    confidence=place.confidence,
                    path=path,
                    line=line,
                    end_line=end_line,
                    start_column=column,
                    end_column=end_column,
                    secret=redact(secret) if redacted else secret,
                    fingerprint=place.fingerprint,
                    occurrences=counts[place.fingerprint],
                    start=place.start,
                    end=place.end,
                )
            )
        return findings

    def scan_stream(
        self,
        stream: BinaryIO,
        path: str = "-",
        redacted: bool = True,
        window_bytes: int = STREAM_WINDOW,
        normalizer: Normalizer = normalize,
    ) -> list[Finding]:
        """Scan a file of any size in bounded memory: windows of ``window_bytes`` that end
        at a line boundary, each scanned with the next ``STREAM_OVERLAP`` bytes after it
        (longer than any match), keeping the findings that start inside it. A secret that
        straddles a boundary is found whole, once; line numbers and byte offsets are the
        file's; occurrences are counted over the whole file."""
        located: list[_Located] = []
        carry, base, lines_before = b"", 0, 0
        while True:
            block = stream.read(window_bytes)
            data = carry + block
            if not block:
                keep = len(data)
            else:
                floor = max(0, len(data) - STREAM_OVERLAP)
                newline = data.rfind(b"\n", 0, floor)
                keep = newline + 1 if newline != -1 else floor
            if data:
                located += self._located(data, normalizer, keep, lines_before, base)
            if not block:
                break
            lines_before += data.count(b"\n", 0, keep)
            base += keep
            carry = data[keep:]
        return self._findings(located, path, redacted)

    def scan_text(self, text: str, path: str = "-", redacted: bool = True) -> list[Finding]:
        """Scan text; ``start``/``end`` of the findings are offsets into its UTF-8 bytes."""
        return self.scan_bytes(text.encode("utf-8", errors="surrogateescape"), path, redacted)

    def redact_bytes(self, data: bytes) -> bytes:
        """The data with every finding's secret replaced in the original bytes."""
        for finding in sorted(self.scan_bytes(data), key=lambda f: f.start, reverse=True):
            data = data[: finding.start] + finding.secret.encode() + data[finding.end :]
        return data

    def redact_text(self, text: str) -> str:
        return self.redact_bytes(text.encode("utf-8", errors="surrogateescape")).decode(
            "utf-8", errors="replace"
        )


def warm(engine: str | None = None) -> str:
    """Load (or compile) the default rules' engine now, at cold start, not on the first message."""
    return make_engine(engine, patterns_of(RULES)).name


def _window(raw: str, anchor: int, rule: Rule, length: int) -> tuple[int, int]:
    """The raw span to normalize around a candidate: the rule's reach, escapes, whole lines.

    A single-line rule gets the anchor's line (clipped to the rule's reach when the line
    is longer than ``LINE_SNAP``). A multi-line rule's reach grows by half, since escapes
    make raw text longer than clean text (a Buildkite marker is ~20 bytes a line), and
    ends at the line holding its terminator when there is one. Spans snap outwards to line
    boundaries, so no escape is cut in two and a lookbehind sees the true line start.
    """
    reach_back = rule.window_before + rule.window_before // 2 + ESCAPE_SLACK
    reach = length + rule.window_after
    reach += reach // 2 + ESCAPE_SLACK
    lo = max(0, anchor - reach_back)
    hi = min(len(raw), anchor + reach)
    if not rule.multiline:
        line_start = raw.rfind("\n", max(0, anchor - LINE_SNAP), anchor) + 1
        if line_start == 0 and anchor > LINE_SNAP:
            line_start = lo
        line_end = raw.find("\n", anchor, hi)
        return line_start, line_end if line_end != -1 else hi
    if rule.terminator:
        found = raw.find(rule.terminator, anchor, hi)
        if found != -1:
            hi = min(len(raw), found + len(rule.terminator) + ESCAPE_SLACK)
    if lo:
        newline = raw.rfind("\n", max(0, lo - LINE_SNAP), lo)
        lo = newline + 1 if newline != -1 else (0 if lo <= LINE_SNAP else lo)
    if hi < len(raw):
        newline = raw.find("\n", hi, hi + LINE_SNAP)
        hi = newline if newline != -1 else min(len(raw), hi + LINE_SNAP)
    return lo, hi


_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")


def _base64_run(raw: str, position: int) -> tuple[int, int]:
    """The run of base64 (either alphabet) around ``position``, padding included."""
    start = position
    while start > 0 and raw[start - 1] in _BASE64_CHARS:
        start -= 1
    end = position
    while end < len(raw) and raw[end] in _BASE64_CHARS:
        end += 1
    while end < len(raw) and raw[end] == "=" and end - start < (end - start + 3) // 4 * 4:
        end += 1
    return start, end


def _decodings(run: str) -> list[bytes]:
    """The run decoded at each alignment (a run may start mid-group: ``key=QUJD…``)."""
    body = run.rstrip("=")
    urlsafe = "-" in body or "_" in body
    out = []
    for skip in range(4):
        part = body[skip:]
        part = part[: len(part) - len(part) % 4] if len(part) % 4 == 1 else part
        try:
            padded = part + "=" * (-len(part) % 4)
            out.append(base64.urlsafe_b64decode(padded) if urlsafe else base64.b64decode(padded))
        except (binascii.Error, ValueError):
            continue
    return out


def _near(sorted_starts: list[int], position: int, distance: int) -> bool:
    index = bisect.bisect_left(sorted_starts, position - distance + 1)
    return index < len(sorted_starts) and sorted_starts[index] < position + distance


class _LineIndex:
    """Line and column of byte offsets, computed only where findings are."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._offset = 0
        self._line = 1

    def locate(self, position: int) -> tuple[int, int, bytes]:
        data = self._data
        if position >= self._offset:
            self._line += data.count(b"\n", self._offset, position)
        else:
            self._line -= data.count(b"\n", position, self._offset)
        self._offset = position
        line_start = data.rfind(b"\n", 0, position) + 1
        line_end = data.find(b"\n", position)
        column = len(data[line_start:position].decode("utf-8", errors="replace")) + 1
        return self._line, column, data[line_start : line_end if line_end != -1 else len(data)]


def _passes(rule: Rule, secret: str, text: str, start: int, end: int) -> bool:
    """The precision layer in order: the rule's checks (checksum, structure, placeholders,
    documented examples), then entropy, the least specific, last."""
    if rule.checks:
        context = text[max(0, start - 80) : end + 20]
        if not all(CHECKS[c](secret, context) for c in rule.checks):
            return False
    return not rule.min_entropy or shannon_entropy(secret) >= rule.min_entropy


def _walk_back(text: str, position: int, allowed: re.Pattern[str], limit: int) -> int:
    """The start of the run of ``allowed`` characters that ends at ``position``."""
    floor = max(0, position - limit)
    while position > floor and allowed.match(text, position - 1, position):
        position -= 1
    return position


def _prefer_specific(found: list[_Match]) -> list[_Match]:
    """A generic NAME=value match is dropped where a specific rule explains the same secret."""
    specific = sorted((m.start, m.end) for m in found if m.rule.family not in GENERIC_FAMILIES)
    starts = [s for s, _ in specific]
    longest = max((e - s for s, e in specific), default=0)

    def explained(m: _Match) -> bool:
        # Only specific spans starting within ``longest`` before m can overlap it.
        index = bisect.bisect_left(starts, m.start - longest)
        while index < len(specific) and specific[index][0] < m.end:
            if specific[index][1] > m.start:
                return True
            index += 1
        return False

    return [m for m in found if m.rule.family not in GENERIC_FAMILIES or not explained(m)]


@dataclass(frozen=True, slots=True)
class _Located:
    match: _Match
    fingerprint: str
    confidence: str
    lines: tuple[int, int, int, int]  # line, end line, start column, end column
    start: int  # byte offsets in the whole file
    end: int


def _drop_contained(findings: list[_Located]) -> list[_Located]:
    """Matches inside another, wider match's span are dropped; identical spans all stay."""
    widest_end, widest_span = -1, (-1, -1)
    dropped: set[int] = set()
    for index, finding in sorted(enumerate(findings), key=lambda p: (p[1].start, -p[1].end)):
        span = (finding.start, finding.end)
        if widest_end >= finding.end and widest_span != span:
            dropped.add(index)
        elif finding.end > widest_end:
            widest_end, widest_span = finding.end, span
    return [f for index, f in enumerate(findings) if index not in dropped]
