"""Buildkite log normalization with an offset map back to the original text.

Buildkite logs carry ``_bk;t=<ms>`` timestamp markers (optionally ended by a
BEL) and ANSI colour / OSC sequences. A token glued to a colour code would be
invisible to the rules, so they are removed first; the offset map turns every
position in the clean text back into the original's, so reported columns and
redactions point at the real bytes.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

_NOISE = re.compile(
    r"_bk;t=\d+\x07?"  # Buildkite timestamp markers
    r"|\x1b\[[0-9;?]*[ -/]*[@-~]"  # CSI (colours, cursor)
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC (links, titles)
    r"|\x1b[@-Z\\-_]"  # other two-byte escapes
)


@dataclass(frozen=True)
class Normalized:
    text: str
    _clean_starts: list[int]
    _shifts: list[int]

    def original(self, position: int) -> int:
        """The original offset of a clean-text offset."""
        index = bisect.bisect_right(self._clean_starts, position) - 1
        return position + (self._shifts[index] if index >= 0 else 0)


def normalize(text: str) -> Normalized:
    if "\x1b" not in text and "_bk;t=" not in text:
        return Normalized(text, [], [])
    pieces: list[str] = []
    clean_starts: list[int] = []
    shifts: list[int] = []
    removed = 0
    last = 0
    clean_len = 0
    for match in _NOISE.finditer(text):
        pieces.append(text[last : match.start()])
        clean_len += match.start() - last
        removed += match.end() - match.start()
        clean_starts.append(clean_len)
        shifts.append(removed)
        last = match.end()
    pieces.append(text[last:])
    return Normalized("".join(pieces), clean_starts, shifts)
