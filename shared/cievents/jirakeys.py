"""Jira issue keys (``PROJ-123``) named in commit messages, branches and PR titles."""

from __future__ import annotations

import re
from collections.abc import Iterable

# A key is a project key (a letter, then letters, digits or underscores, upper case)
# and a number, not glued to other word characters: "feature/PROJ-12-fix" has PROJ-12,
# "ABC-1x" and "utf-8" have none.
_KEY = re.compile(r"(?<![A-Za-z0-9_])([A-Z][A-Z0-9_]+-[1-9][0-9]*)(?![A-Za-z0-9_])")


def extract(*texts: str | None, projects: Iterable[str] | None = None) -> tuple[str, ...]:
    """Keys in order of first appearance, without duplicates, optionally only for ``projects``."""
    allowed = {p.upper() for p in projects} if projects else None
    seen: dict[str, None] = {}
    for text in texts:
        if not text:
            continue
        for match in _KEY.finditer(text):
            key = match.group(1)
            if allowed is not None and key.rsplit("-", 1)[0] not in allowed:
                continue
            seen.setdefault(key, None)
    return tuple(seen)
