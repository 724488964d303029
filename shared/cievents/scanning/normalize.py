"""Buildkite log normalization with an offset map back to the original text.

The Buildkite agent prefixes every line with a timestamp as an APC escape,
``ESC _bk;t=<ms> BEL``, and build tools colour their output with ANSI CSI and
OSC sequences. A token glued to a colour code would be invisible to the rules
(``\\x1b[33mghp_…`` has an ``m`` before the token), so they are removed first;
the offset map turns every position in the clean text back into the
original's, so reported columns and redactions point at the real bytes.

No sequence removed here spans a newline, so line numbers never move. The
scanner normalizes only the small windows around candidates, never a whole
log: at hundreds of thousands of markers per log, whole-text normalization
would cost more than the scan itself.
"""

from __future__ import annotations

import bisect
import re

NOISE = re.compile(
    r"\x1b_[^\x07\x1b\n]*(?:\x07|\x1b\\)"  # APC: the agent's ESC _bk;t=<ms> BEL
    r"|_bk;t=\d+\x07?"  # the same marker with its ESC already stripped
    r"|\x1b\[[0-9;?]*[ -/]*[@-~]"  # CSI (colours, cursor)
    r"|\x1b\][^\x07\x1b\n]*(?:\x07|\x1b\\)"  # OSC (links, titles)
    r"|\x1b[@-Z\\-_]"  # other two-byte escapes
)


class Normalized:
    """Clean text and the map back: where each removed run was, in clean offsets, and how
    many characters had been removed up to and including it. A plain slotted class: one is
    built per candidate window, so construction cost matters."""

    __slots__ = ("_clean_starts", "_shifts", "text")

    def __init__(
        self, text: str, clean_starts: tuple[int, ...] = (), shifts: tuple[int, ...] = ()
    ) -> None:
        self.text = text
        self._clean_starts = clean_starts
        self._shifts = shifts

    def original(self, position: int) -> int:
        """The original offset of a clean-text offset."""
        index = bisect.bisect_right(self._clean_starts, position) - 1
        return position + (self._shifts[index] if index >= 0 else 0)

    def clean(self, position: int) -> int:
        """The clean offset of an original offset outside any removed run."""
        low, high = 0, len(self._clean_starts)
        while low < high:  # the last run that ends at or before ``position``
            middle = (low + high) // 2
            if self._clean_starts[middle] + self._shifts[middle] <= position:
                low = middle + 1
            else:
                high = middle
        return position - (self._shifts[low - 1] if low else 0)


def normalize(text: str, noise: re.Pattern[str] | None = None) -> Normalized:
    """Remove ``noise`` (by default: Buildkite markers and terminal escapes) from ``text``,
    keeping the map back. A CI log format passes its own pattern (its line prefixes and
    markers as well as escapes; :mod:`cievents.cilogs.normalize`)."""
    if noise is not None:
        return _remove(text, noise)
    escape = text.find("\x1b")
    if escape == -1 and "_bk;t=" not in text:
        return Normalized(text)
    if escape == 0 and text.startswith("\x1b_bk;t=") and text.count("\x1b") == 1:
        # The common line: one agent marker in front, nothing else to remove.
        bell = text.find("\x07")
        if bell != -1 and text.find("_bk;t=", bell) == -1 and text.find("\n", 0, bell) == -1:
            return Normalized(text[bell + 1 :], (0,), (bell + 1,))
    return _remove(text, NOISE)


def _remove(text: str, noise: re.Pattern[str]) -> Normalized:
    pieces: list[str] = []
    clean_starts: list[int] = []
    shifts: list[int] = []
    removed = last = clean_len = 0
    for match in noise.finditer(text):
        pieces.append(text[last : match.start()])
        clean_len += match.start() - last
        removed += match.end() - match.start()
        clean_starts.append(clean_len)
        shifts.append(removed)
        last = match.end()
    pieces.append(text[last:])
    return Normalized("".join(pieces), tuple(clean_starts), tuple(shifts))
