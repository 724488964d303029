"""Candidate finding: one pass over the raw bytes that names every place a rule could match.

A *pattern* is a rule's literal anchor (a token's fixed prefix, or the word that
introduces it), optionally followed by a *tail*: a cheap necessary condition
(``://`` only matters when an ``@`` follows before the next space). Both
engines report the same candidates, ``(pattern id, anchor start)`` in byte
offsets, sorted and unique:

* ``hyperscan`` compiles every pattern into one database (anchor + tail as one
  expression, leftmost start of match where a tail makes the end ambiguous)
  and scans at memory speed. The database can be compiled once at package
  time and loaded at cold start (:mod:`cievents.scanning.database`).
* ``aho-corasick`` (pyahocorasick) finds the anchors, then Python's ``re``
  checks each tail at the anchor. Slower, pure wheels, the same answers.

Candidates come from the raw text, escapes and all; the rules' own regexes then
run on a normalized window around each candidate (see the scanner), so a token
glued to a colour code or a Buildkite timestamp is still found.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol


@dataclass(frozen=True)
class Pattern:
    anchor: str
    tail: str | None
    nocase: bool

    @cached_property
    def tail_regex(self) -> re.Pattern[str] | None:
        """Anchor and tail for Python's ``re``: it decides which anchors a tail holds for."""
        if not self.tail:
            return None
        flags = re.ASCII | (re.IGNORECASE if self.nocase else 0)
        return re.compile(re.escape(self.anchor) + self.tail, flags)

    def anchors_in(self, raw: str, start: int, end: int, proven: int = -1) -> list[int]:
        """Where the anchor occurs in ``raw[start:end]`` and the tail holds after it.

        ``proven`` is an offset already known to match (hyperscan reported it), not rechecked.
        """
        text = raw[start:end].lower() if self.nocase else raw[start:end]
        needle = self.anchor.lower() if self.nocase else self.anchor
        regex = self.tail_regex
        found, at = [], text.find(needle)
        while at != -1:
            if start + at == proven or regex is None or regex.match(raw, start + at):
                found.append(start + at)
            at = text.find(needle, at + 1)
        return found

    @property
    def expression(self) -> bytes:
        """The hyperscan expression: the anchor as escaped bytes, then the tail."""
        literal = b"".join(b"\\x%02x" % byte for byte in self.anchor.encode())
        return literal + (self.tail or "").encode()


class Engine(Protocol):
    name: str

    def candidates(self, data: bytes, raw: str) -> list[tuple[int, int]]:
        """Sorted unique ``(pattern id, anchor start)``; ``raw`` is ``data`` decoded as latin-1."""
        ...


def available_engines() -> list[str]:
    """Installed engines, fastest first."""
    engines = []
    for name, module in (("hyperscan", "hyperscan"), ("aho-corasick", "ahocorasick")):
        try:
            __import__(module)
            engines.append(name)
        except ImportError:
            pass
    return engines


def hyperscan_flags(patterns: Sequence[Pattern]) -> list[int]:
    import hyperscan

    return [
        (hyperscan.HS_FLAG_CASELESS if p.nocase else 0)
        | (hyperscan.HS_FLAG_SOM_LEFTMOST if p.tail else 0)
        for p in patterns
    ]


class HyperscanEngine:
    name = "hyperscan"

    def __init__(self, patterns: Sequence[Pattern], database: Any | None = None) -> None:
        import hyperscan

        self._hs = hyperscan
        self._patterns = list(patterns)
        self._lengths = [len(p.anchor.encode()) for p in patterns]
        self._tailed = [bool(p.tail) for p in patterns]
        # Only tailed patterns need a finder, and only when a match spans another anchor:
        # compiled on demand (hundreds of patterns would cost every start-up ~30 ms).
        self._finders: dict[int, re.Pattern[str]] = {}
        if database is None:
            from cievents.scanning.database import compile_database

            database = compile_database(patterns)
        self.db = database
        self._local = threading.local()

    def _finder(self, pattern_id: int) -> re.Pattern[str]:
        finder = self._finders.get(pattern_id)
        if finder is None:
            p = self._patterns[pattern_id]
            flags = re.IGNORECASE if p.nocase else 0
            finder = self._finders[pattern_id] = re.compile(re.escape(p.anchor), flags)
        return finder

    def candidates(self, data: bytes, raw: str) -> list[tuple[int, int]]:
        found: set[tuple[int, int]] = set()
        spans: list[tuple[int, int, int]] = []
        add, lengths, tailed = found.add, self._lengths, self._tailed

        def on_match(pattern_id: int, start: int, end: int, flags: int, context: Any) -> None:
            if tailed[pattern_id]:
                add((pattern_id, start))  # the leftmost start of a match: proven
                spans.append((pattern_id, start, end))
            else:
                add((pattern_id, end - lengths[pattern_id]))

        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._hs.Scratch(self.db)
            self._local.scratch = scratch
        self.db.scan(data, match_event_handler=on_match, scratch=scratch)
        # A tailed match reports only its leftmost start per end: several anchors can share
        # one match (``TOKEN=a TOKEN=b`` on a line), so a span holding another occurrence of
        # its anchor has every occurrence checked. Most spans hold just the one.
        for pattern_id, start, end in spans:
            if self._finder(pattern_id).search(raw, start + 1, end):
                for at in self._patterns[pattern_id].anchors_in(raw, start, end, proven=start):
                    add((pattern_id, at))
        return sorted(found, key=lambda c: (c[1], c[0]))


class AhoCorasickEngine:
    name = "aho-corasick"

    def __init__(self, patterns: Sequence[Pattern]) -> None:
        import ahocorasick

        self._lengths = [len(p.anchor) for p in patterns]
        self._tails = [p.tail_regex for p in patterns]
        self._sensitive = ahocorasick.Automaton()
        self._insensitive = ahocorasick.Automaton()
        for index, pattern in enumerate(patterns):
            automaton = self._insensitive if pattern.nocase else self._sensitive
            key = pattern.anchor.lower() if pattern.nocase else pattern.anchor
            automaton.add_word(key, (*automaton.get(key, ()), index))
        for automaton in (self._sensitive, self._insensitive):
            if len(automaton):
                automaton.make_automaton()

    def candidates(self, data: bytes, raw: str) -> list[tuple[int, int]]:
        found: set[tuple[int, int]] = set()
        for automaton, text in ((self._sensitive, raw), (self._insensitive, None)):
            if not len(automaton):
                continue
            # Lower-casing latin-1 text keeps every offset: no character changes length.
            for end, ids in automaton.iter(text if text is not None else raw.lower()):
                for pattern_id in ids:
                    start = end + 1 - self._lengths[pattern_id]
                    tail = self._tails[pattern_id]
                    if tail is None or tail.match(raw, start):
                        found.add((pattern_id, start))
        return sorted(found, key=lambda c: (c[1], c[0]))


_ENGINES: dict[tuple[str, tuple[Pattern, ...]], Engine] = {}
_ENGINES_LOCK = threading.Lock()


def make_engine(name: str | None, patterns: Sequence[Pattern]) -> Engine:
    """One engine per process and pattern set: scanners share the loaded database.

    ``name`` None picks the fastest installed engine.
    """
    if name is None:
        name = (available_engines() or ["none"])[0]
    key = (name, tuple(patterns))
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = _ENGINES[key] = _build(name, key[1])
        return engine


def _build(name: str, patterns: Sequence[Pattern]) -> Engine:
    if name == "hyperscan":
        from cievents.scanning.database import packaged_or_cached

        return HyperscanEngine(patterns, packaged_or_cached(patterns))
    if name == "aho-corasick":
        return AhoCorasickEngine(patterns)
    raise RuntimeError(f"unknown scanning engine {name!r}: install hyperscan or pyahocorasick")
