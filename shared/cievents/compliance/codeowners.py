"""CODEOWNERS files (GitHub's syntax): which owners a changed path needs.

Each line is a pattern and its owners (``@user``, ``@org/team``, an e-mail); the *last*
matching line wins, and a line with a pattern but no owners means "no owner". Patterns
follow gitignore: a leading ``/`` anchors at the root, a trailing ``/`` means a folder
and everything under it, ``*`` stays within a path segment, ``**`` crosses them, and a
pattern without a ``/`` (other than a trailing one) matches at any depth.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["CodeOwnersFile", "parse"]

LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")


@dataclass(frozen=True)
class _Line:
    pattern: str
    regex: re.Pattern[str]
    owners: tuple[str, ...]


def _compile(pattern: str) -> re.Pattern[str]:
    anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
    body = pattern.strip("/")
    folder = pattern.endswith("/")
    out = []
    i = 0
    while i < len(body):
        if body.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif body.startswith("**", i):
            out.append(".*")
            i += 2
        elif body[i] == "*":
            out.append("[^/]*")
            i += 1
        elif body[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(body[i]))
            i += 1
    core = "".join(out)
    prefix = "" if anchored else "(?:.*/)?"
    # A pattern naming a folder (or any name, which may be one) also owns what is inside it.
    suffix = "/.*" if folder else "(?:/.*)?"
    return re.compile(f"^{prefix}{core}{suffix}$")


@dataclass(frozen=True)
class CodeOwnersFile:
    lines: tuple[_Line, ...]
    path: str = "CODEOWNERS"

    def owners_of(self, path: str) -> tuple[str, ...]:
        for line in reversed(self.lines):
            if line.regex.match(path.lstrip("/")):
                return line.owners
        return ()

    def required(self, paths: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """Each path with the owners one of whom must approve it (paths without owners left out)."""
        out = {}
        for path in paths:
            owners = self.owners_of(path)
            if owners:
                out[path] = owners
        return out


def parse(text: str, path: str = "CODEOWNERS") -> CodeOwnersFile:
    lines = []
    for raw in text.splitlines():
        content = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not content:
            continue
        parts: Sequence[str] = content.split()
        pattern, owners = parts[0].replace("\\#", "#"), tuple(parts[1:])
        lines.append(_Line(pattern, _compile(pattern), owners))
    return CodeOwnersFile(tuple(lines), path)
