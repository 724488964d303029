"""A pull request's added lines, from a unified diff or from two versions of each file.

``AddedLines.files`` maps each path on the new side to its added lines as
``(line number in the new file, text)``. ``truncated`` is set when the diff was
cut at its byte bound or the SCM declined to send part of it (too large): a
caller that gates on the diff must fail closed then, since the unread part may
hold exactly what it looks for.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["AddedLines", "added_by_versions", "from_stream", "parse_unified"]

_HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


@dataclass
class AddedLines:
    files: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    size: int = 0
    truncated: bool = False
    reasons: list[str] = field(default_factory=list)

    def cut(self, reason: str) -> None:
        self.truncated = True
        if reason not in self.reasons:
            self.reasons.append(reason)

    def add(self, path: str, lines: list[tuple[int, str]]) -> None:
        if lines:
            self.files.setdefault(path, []).extend(lines)

    def add_patch(self, path: str, patch: str, max_bytes: int) -> bool:
        """Add one file's hunks within the byte budget; False (and ``truncated``) past it."""
        size = len(patch.encode("utf-8"))
        if self.size + size > max_bytes:
            self.cut(f"diff over {max_bytes} bytes: later files were not scanned")
            return False
        self.size += size
        self.add(path, parse_unified(patch, path=path).get(path, []))
        return True

    @property
    def line_count(self) -> int:
        return sum(len(v) for v in self.files.values())


def from_stream(chunks: Iterable[bytes], max_bytes: int) -> AddedLines:
    """The added lines of a unified diff read in chunks, at most ``max_bytes`` of it."""
    out, data = AddedLines(), bytearray()
    for chunk in chunks:
        data += chunk
        if len(data) > max_bytes:
            out.cut(f"diff over {max_bytes} bytes: only the first {max_bytes} were scanned")
            break
    out.size = min(len(data), max_bytes)
    for path, lines in parse_unified(bytes(data[:max_bytes]).decode("utf-8", "replace")).items():
        out.add(path, lines)
    return out


def parse_unified(diff: str, path: str | None = None) -> dict[str, list[tuple[int, str]]]:
    """File → [(new line number, text)] for every added line of a unified diff.

    ``path`` names the file when the text is one file's hunks without ``+++`` headers
    (GitLab's per-file ``diff``). Deleted files contribute nothing; ``\\ No newline
    at end of file`` lines are not content.
    """
    files: dict[str, list[tuple[int, str]]] = {}
    current = path
    number = old_left = new_left = 0  # lines still due in the current hunk, per side
    for line in diff.splitlines():
        if old_left > 0 or new_left > 0:
            if line.startswith("+"):
                if current is not None:
                    files.setdefault(current, []).append((number, line[1:]))
                number, new_left = number + 1, new_left - 1
            elif line.startswith("-"):
                old_left -= 1
            elif line.startswith("\\"):
                pass  # "\ No newline at end of file"
            else:  # context (a blank line is context whose leading space was stripped)
                number, old_left, new_left = number + 1, old_left - 1, new_left - 1
            continue
        hunk = _HUNK.match(line)
        if hunk:
            old_left = int(hunk.group(1) or 1)
            number = int(hunk.group(2))
            new_left = int(hunk.group(3) or 1)
            continue
        if line.startswith("diff --git "):
            current = None
        elif line.startswith("+++ "):
            target = line[4:].split("\t", 1)[0].strip()
            current = None if target == "/dev/null" else _strip_prefix(target)
    return files


def _strip_prefix(target: str) -> str:
    if target.startswith('"') and target.endswith('"'):
        target = target[1:-1]
    return target[2:] if target.startswith(("b/", "w/", "i/")) else target


def added_by_versions(old: str, new: str) -> list[tuple[int, str]]:
    """The lines ``new`` adds to ``old`` (for SCMs with no unified-diff API: Azure Repos)."""
    old_lines, new_lines = old.splitlines(), new.splitlines()
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    added: list[tuple[int, str]] = []
    for tag, _i1, _i2, j1, j2 in matcher.get_opcodes():
        if tag in ("replace", "insert"):
            added.extend((j + 1, new_lines[j]) for j in range(j1, j2))
    return added
